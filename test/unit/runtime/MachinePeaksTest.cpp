//===- MachinePeaksTest.cpp - Tests of the measured roofline ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "runtime/MachinePeaks.h"

#include "runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kiln {
namespace {

// The figures depend on the machine; these bounds only catch a measurement
// that is broken (zero, infinite, or off by orders of magnitude): any x86-64
// core streams between 100 MB/s and 10 TB/s and computes between 100
// MFLOP/s and 100 TFLOP/s.
TEST(MachinePeaksTest, StreamBandwidthIsPlausible) {
  ThreadPool pool(1);
  StreamBandwidth bandwidth =
      measureStreamBandwidth(pool, /*elementsPerArray=*/1 << 20,
                             /*repetitions=*/2);
  for (double value :
       {bandwidth.copy, bandwidth.scale, bandwidth.add, bandwidth.triad}) {
    EXPECT_GT(value, 1e8);
    EXPECT_LT(value, 1e13);
  }
  EXPECT_EQ(bandwidth.getBest(),
            std::max({bandwidth.copy, bandwidth.scale, bandwidth.add,
                      bandwidth.triad}));
}

TEST(MachinePeaksTest, FmaPeakIsPlausible) {
  ThreadPool pool(1);
  double flops = measureFmaPeak(pool, /*repetitions=*/1);
  EXPECT_GT(flops, 1e8);
  EXPECT_LT(flops, 1e14);
}

TEST(MachinePeaksTest, MinSecondsIsTheSlowerCeiling) {
  MachinePeaks peaks;
  peaks.flopsPerSecond = 100;
  peaks.bytesPerSecond = 10;
  EXPECT_DOUBLE_EQ(peaks.getRidge(), 10);
  EXPECT_DOUBLE_EQ(peaks.getMinSeconds(/*flops=*/1000, /*bytes=*/20), 10);
  EXPECT_DOUBLE_EQ(peaks.getMinSeconds(/*flops=*/100, /*bytes=*/50), 5);
}

} // namespace
} // namespace kiln
