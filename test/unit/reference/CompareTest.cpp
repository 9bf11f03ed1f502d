//===- CompareTest.cpp - The tolerance policy -------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "reference/Compare.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace kiln;
using namespace kiln::reference;

namespace {

HostTensor makeTensor(ElementType type, std::vector<float> values) {
  HostTensor tensor(type, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i)
    tensor.setFloat(static_cast<int64_t>(i), values[i]);
  return tensor;
}

TEST(CompareTest, DocumentedTolerances) {
  EXPECT_EQ(getTolerance(ElementType::F32).rtol, 1e-4);
  EXPECT_EQ(getTolerance(ElementType::F32).atol, 1e-5);
  EXPECT_EQ(getTolerance(ElementType::BF16).rtol, 2e-2);
  EXPECT_EQ(getTolerance(ElementType::BF16).atol, 1e-2);
  EXPECT_EQ(getTolerance(ElementType::F16).rtol, 2e-3);
  EXPECT_EQ(getTolerance(ElementType::F16).atol, 1e-3);
  EXPECT_EQ(getTolerance(ElementType::I32).rtol, 0);
}

TEST(CompareTest, WholeModelsHaveALooserAtolInNarrowTypes) {
  const ToleranceScope model = ToleranceScope::Model;
  EXPECT_EQ(getTolerance(ElementType::F32, model).atol, 1e-5);
  EXPECT_EQ(getTolerance(ElementType::BF16, model).rtol, 2e-2);
  EXPECT_EQ(getTolerance(ElementType::BF16, model).atol, 5e-2);
  EXPECT_EQ(getTolerance(ElementType::F16, model).rtol, 2e-3);
  EXPECT_EQ(getTolerance(ElementType::F16, model).atol, 1e-2);
  EXPECT_EQ(getTolerance(ElementType::I64, model).atol, 0);
  HostTensor expected = makeTensor(ElementType::F16, {0.0f});
  HostTensor actual = makeTensor(ElementType::F16, {0.004f});
  EXPECT_FALSE(compareWithReference(actual, expected).passed());
  EXPECT_TRUE(compareWithReference(actual, expected, model).passed());
}

TEST(CompareTest, CancellationToleranceScalesWithTheResult) {
  // RMS of {3, -4, 0, 0} is 2.5, so atol becomes 1e-4 * 2.5.
  HostTensor expected = makeTensor(ElementType::F32, {3.0f, -4.0f, 0.0f, 0.0f});
  Tolerance tolerance = getCancellationTolerance(expected);
  EXPECT_DOUBLE_EQ(tolerance.rtol, 1e-4);
  EXPECT_DOUBLE_EQ(tolerance.atol, 2.5e-4);
  HostTensor zeros = makeTensor(ElementType::F32, {0.0f, 0.0f});
  EXPECT_DOUBLE_EQ(getCancellationTolerance(zeros).atol, 1e-5);
}

TEST(CompareTest, WithinAndOutsideTolerance) {
  HostTensor expected = makeTensor(ElementType::F32, {1.0f, 100.0f, 0.0f});
  // 1 + 1e-4 * 1 + 1e-5 is the edge for the first element.
  Comparison close = compareWithReference(
      makeTensor(ElementType::F32, {1.0001f, 100.009f, 5e-6f}), expected);
  EXPECT_TRUE(close.passed());
  Comparison far = compareWithReference(
      makeTensor(ElementType::F32, {1.0f, 100.02f, 2e-5f}), expected);
  EXPECT_FALSE(far.passed());
  EXPECT_EQ(far.mismatches, 2);
  EXPECT_EQ(far.firstMismatch, 1);
  EXPECT_NEAR(far.maxAbsError, 0.02, 1e-4);
  EXPECT_NEAR(far.maxRelError, 2e-4, 1e-6);
}

TEST(CompareTest, NanMatchesOnlyNan) {
  HostTensor expected = makeTensor(ElementType::F32, {NAN, 1.0f});
  EXPECT_TRUE(
      compareWithReference(makeTensor(ElementType::F32, {NAN, 1.0f}), expected)
          .passed());
  EXPECT_FALSE(
      compareWithReference(makeTensor(ElementType::F32, {0.0f, NAN}), expected)
          .passed());
}

TEST(CompareTest, IntegersAreExact) {
  HostTensor expected(ElementType::I64, {2}), actual(ElementType::I64, {2});
  expected.setInt(0, int64_t(1) << 60);
  actual.setInt(0, (int64_t(1) << 60) + 1);
  EXPECT_FALSE(compareWithReference(actual, expected).passed());
}

TEST(CompareTest, TypeOrShapeMismatch) {
  Comparison comparison =
      compareWithReference(makeTensor(ElementType::F32, {1, 2}),
                           makeTensor(ElementType::BF16, {1, 2}));
  EXPECT_FALSE(comparison.passed());
  EXPECT_EQ(comparison.typeMismatch, "expected 2xbf16, got 2xf32");
}

} // namespace
