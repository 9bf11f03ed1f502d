//===- CompareTest.cpp - The verdicts of `kiln bench compare` ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The gate must catch a real slowdown and must not fail two runs of the
// same build on a loaded machine. The samples here are synthetic, drawn
// from a model of such a machine: a few percent of log-normal jitter and,
// now and then, a sample that another job slowed by 10 to 100%.
//
//===----------------------------------------------------------------------===//

#include "bench/Compare.h"

#include "runtime/Random.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace kiln::bench;

namespace {

/// `count` seconds-per-call samples of work taking `seconds`, as a loaded
/// machine times it.
std::vector<double> loadedMachineSamples(double seconds, int count,
                                         uint64_t seed) {
  kiln::Random random(seed);
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    double sample = seconds * std::exp(0.03 * random.normal());
    if (random.uniform() < 0.15)
      sample *= 1 + random.uniform(0.1, 1.0);
    samples.push_back(sample);
  }
  return samples;
}

/// A one-benchmark report.
BenchReport makeReport(std::vector<double> samples,
                       std::optional<int64_t> instructions = std::nullopt) {
  BenchReport report;
  report.machine.fingerprint = "x86_64/test/avx2";
  BenchResult &result = report.benchmarks.emplace_back();
  result.name = "matmul/64x64x64/kiln";
  result.samples = std::move(samples);
  result.instructions = instructions;
  return report;
}

TEST(CompareTest, TwentyPercentSlowdownIsCaught) {
  CompareOptions options;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    BenchComparison c =
        compareSamples(loadedMachineSamples(1e-3, 40, seed),
                       loadedMachineSamples(1.2e-3, 40, seed + 1000), options);
    EXPECT_EQ(c.timeVerdict, Verdict::Slower) << "seed " << seed;
    EXPECT_NEAR(c.ratio, 1.2, 0.08);
    EXPECT_GT(c.interval.low, 1.0);
    EXPECT_LT(c.pValue, options.alpha);
  }
}

TEST(CompareTest, TwoRunsOfTheSameBuildPass) {
  CompareOptions options;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    ReportComparison c = compareReports(
        makeReport(loadedMachineSamples(1e-3, 40, seed)),
        makeReport(loadedMachineSamples(1e-3, 40, seed + 1000)), options);
    ASSERT_EQ(c.benchmarks.size(), 1u);
    EXPECT_FALSE(c.hasRegression()) << "seed " << seed;
    EXPECT_NE(c.benchmarks[0].timeVerdict, Verdict::Faster) << "seed " << seed;
  }
}

TEST(CompareTest, SpeedupIsFaster) {
  BenchComparison c =
      compareSamples(loadedMachineSamples(1e-3, 40, 3),
                     loadedMachineSamples(0.7e-3, 40, 4), CompareOptions());
  EXPECT_EQ(c.timeVerdict, Verdict::Faster);
  EXPECT_LT(c.interval.high, 1.0);
}

TEST(CompareTest, FewWildSamplesAreTooNoisy) {
  // Three samples a side, spread over a factor of two: a 10% change can
  // neither be seen nor ruled out.
  BenchComparison c = compareSamples({1.0, 1.5, 2.0}, {1.1, 1.6, 2.2},
                                     CompareOptions());
  EXPECT_EQ(c.timeVerdict, Verdict::TooNoisy);
}

TEST(CompareTest, SmallSignificantChangeBelowTheThresholdIsNotSlower) {
  // 2% slower with tight samples: significant, but under the 5% threshold.
  kiln::Random random(9);
  std::vector<double> base, candidate;
  for (int i = 0; i < 60; ++i) {
    base.push_back(1.0 + 0.002 * random.normal());
    candidate.push_back(1.02 + 0.002 * random.normal());
  }
  BenchComparison c = compareSamples(base, candidate, CompareOptions());
  EXPECT_LT(c.pValue, 1e-6);
  EXPECT_EQ(c.timeVerdict, Verdict::Same);
}

TEST(CompareTest, InstructionCountsGateExactly) {
  std::vector<double> samples = loadedMachineSamples(1e-3, 30, 5);
  CompareOptions options;
  ReportComparison grew = compareReports(makeReport(samples, 1000000),
                                         makeReport(samples, 1020000), options);
  EXPECT_EQ(grew.benchmarks[0].timeVerdict, Verdict::Same);
  EXPECT_EQ(grew.benchmarks[0].countVerdict, Verdict::Slower);
  EXPECT_DOUBLE_EQ(*grew.benchmarks[0].countRatio, 1.02);
  EXPECT_TRUE(grew.hasRegression());

  ReportComparison within = compareReports(
      makeReport(samples, 1000000), makeReport(samples, 1005000), options);
  EXPECT_EQ(within.benchmarks[0].countVerdict, Verdict::Same);
  EXPECT_FALSE(within.hasRegression());

  // Counts in one report only: no count verdict.
  ReportComparison oneSided = compareReports(
      makeReport(samples, 1000000), makeReport(samples), options);
  EXPECT_FALSE(oneSided.benchmarks[0].countVerdict.has_value());
}

TEST(CompareTest, UnmatchedBenchmarksAndMachinesAreListed) {
  BenchReport base = makeReport({1, 1, 1});
  BenchReport candidate = makeReport({1, 1, 1});
  candidate.benchmarks[0].name = "softmax/8x100/kiln";
  candidate.machine.fingerprint = "x86_64/other/avx512";
  ReportComparison c = compareReports(base, candidate, CompareOptions());
  EXPECT_TRUE(c.benchmarks.empty());
  EXPECT_EQ(c.onlyInBase, std::vector<std::string>{"matmul/64x64x64/kiln"});
  EXPECT_EQ(c.onlyInNew, std::vector<std::string>{"softmax/8x100/kiln"});
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("machines differ"), std::string::npos);
}

TEST(CompareTest, MarkdownTableHasOneRowPerBenchmark) {
  CompareOptions options;
  ReportComparison c = compareReports(
      makeReport(loadedMachineSamples(1e-3, 40, 1)),
      makeReport(loadedMachineSamples(1.2e-3, 40, 2)), options);
  std::string markdown = renderMarkdown(c, options);
  EXPECT_EQ(markdown.rfind("| benchmark | base | new | ratio |", 0), 0u)
      << markdown;
  EXPECT_NE(markdown.find("| matmul/64x64x64/kiln | 1."), std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("**slower**"), std::string::npos);
  EXPECT_NE(markdown.find("1 of 1 benchmarks slower"), std::string::npos);
  EXPECT_NE(markdown.find("FAIL"), std::string::npos);
  std::string text = renderText(c, options);
  EXPECT_EQ(text.find("**"), std::string::npos) << text;
}

} // namespace
