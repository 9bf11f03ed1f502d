//===- MeasureTest.cpp - Timing loop and statistics tests ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The timing loop runs under a fake clock, so every count and decision is
// deterministic.
//
//===----------------------------------------------------------------------===//

#include "autotune/Measure.h"

#include "runtime/Random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using namespace kiln::autotune;

namespace {

/// A clock that only moves when the work under test says so.
class FakeClock : public Clock {
public:
  double now() override { return time; }
  double time = 100.0;
};

//===----------------------------------------------------------------------===//
// Statistics
//===----------------------------------------------------------------------===//

TEST(StatisticsTest, SummaryOfKnownSamples) {
  Summary s = summarize({5, 1, 4, 2, 3});
  EXPECT_EQ(s.count, 5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.q1, 2);
  EXPECT_DOUBLE_EQ(s.q3, 4);
  EXPECT_DOUBLE_EQ(s.relativeSpread, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(summarize({1, 2, 3, 4}).median, 2.5);
  EXPECT_EQ(summarize({}).count, 0);
}

TEST(StatisticsTest, MannWhitneyMatchesTheNormalApproximation) {
  // U = 0 for fully separated sets of five: z = (12.5 - 0.5) / sqrt(275/12),
  // two-sided p = erfc(z / sqrt 2) = 0.01219 (scipy's asymptotic value).
  double p = mannWhitneyPValue({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_NEAR(p, 0.01219, 1e-4);
  EXPECT_DOUBLE_EQ(mannWhitneyPValue({1, 2, 3}, {1, 2, 3}), 1.0);
  EXPECT_DOUBLE_EQ(mannWhitneyPValue({1}, {2, 3}), 1.0);
}

TEST(StatisticsTest, MannWhitneySeesASlowdownAndNotNoise) {
  kiln::Random random(1);
  std::vector<double> base, same, slower;
  for (int i = 0; i < 30; ++i) {
    base.push_back(1.0 + 0.02 * random.normal());
    same.push_back(1.0 + 0.02 * random.normal());
    slower.push_back(1.2 + 0.02 * random.normal());
  }
  EXPECT_LT(mannWhitneyPValue(base, slower), 1e-6);
  EXPECT_GT(mannWhitneyPValue(base, same), 0.01);
}

TEST(StatisticsTest, BootstrapIntervalHoldsTheTrueRatio) {
  kiln::Random random(2);
  std::vector<double> a, b;
  for (int i = 0; i < 40; ++i) {
    double noise = 0.01 * random.normal();
    a.push_back(1.0 + noise);
    b.push_back(1.2 * (1.0 + 0.01 * random.normal()));
  }
  Interval interval = bootstrapMedianRatio(a, b, 0.95, 2000, 7);
  EXPECT_LT(interval.low, 1.2);
  EXPECT_GT(interval.high, 1.2);
  EXPECT_LT(interval.high - interval.low, 0.05);
  Interval again = bootstrapMedianRatio(a, b, 0.95, 2000, 7);
  EXPECT_EQ(interval.low, again.low);
  EXPECT_EQ(interval.high, again.high);
}

//===----------------------------------------------------------------------===//
// The timing loop
//===----------------------------------------------------------------------===//

TEST(MeasureTest, ConstantWorkStopsAtTheMinimumAsStable) {
  FakeClock clock;
  int calls = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0; // one call per sample
  Measurement m = measure(
      [&] {
        ++calls;
        clock.time += 0.5;
      },
      options, clock);
  EXPECT_TRUE(m.stable);
  EXPECT_EQ(m.samples.size(), static_cast<size_t>(options.minSamples));
  EXPECT_EQ(calls, options.warmupCalls + options.minSamples);
  EXPECT_DOUBLE_EQ(m.summary.median, 0.5);
}

TEST(MeasureTest, ShortWorkIsBatched) {
  FakeClock clock;
  int64_t calls = 0;
  MeasureOptions options;
  options.minSampleSeconds = 1e-3;
  Measurement m = measure(
      [&] {
        ++calls;
        clock.time += 1e-5;
      },
      options, clock);
  EXPECT_EQ(m.callsPerSample, 100);
  EXPECT_NEAR(m.summary.median, 1e-5, 1e-12);
  EXPECT_EQ(calls,
            options.warmupCalls + 100 * static_cast<int64_t>(m.samples.size()));
}

TEST(MeasureTest, NoisyWorkRunsUntilTheBudgetAndIsNotStable) {
  FakeClock clock;
  int call = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSeconds = 10;
  Measurement m =
      measure([&] { clock.time += (call++ % 2) ? 0.1 : 0.2; }, options, clock);
  EXPECT_FALSE(m.stable);
  // Each sample takes 0.1 or 0.2 s; the loop stops once 10 s have passed.
  EXPECT_GE(m.samples.size(), 60u);
  EXPECT_LE(m.samples.size(), 70u);
}

TEST(MeasureTest, SampleCountIsCapped) {
  FakeClock clock;
  int call = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSamples = 12;
  Measurement m = measure([&] { clock.time += (call++ % 2) ? 1e-3 : 3e-3; },
                          options, clock);
  EXPECT_EQ(m.samples.size(), 12u);
}

TEST(MeasureTest, AWideSpreadIsMeasuredOnceMoreAndTheTighterKept) {
  // Noisy for the whole first budget (0.1 s or 0.2 s a call), then steady:
  // the second set is kept, and the first recorded as discarded.
  FakeClock clock;
  int call = 0;
  bool noisy = true;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSeconds = 2;
  options.remeasureSpread = 0.1;
  Measurement m = measure(
      [&] {
        clock.time += noisy ? ((call++ % 2) ? 0.1 : 0.2) : 0.15;
        if (clock.time >= 102.5)
          noisy = false;
      },
      options, clock);
  EXPECT_TRUE(m.remeasured);
  EXPECT_TRUE(m.stable);
  EXPECT_NEAR(m.summary.median, 0.15, 1e-9);
  EXPECT_LT(m.summary.relativeSpread, 0.03);
  EXPECT_GT(m.discarded.relativeSpread, 0.1);
  EXPECT_GE(m.discarded.count, options.minSamples);
}

TEST(MeasureTest, TheFirstSetStaysWhenTheSecondIsNoTighter) {
  FakeClock clock;
  int call = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSeconds = 2;
  options.remeasureSpread = 0.1;
  // Noisy throughout, equally so: measured twice, the first kept.
  Measurement m =
      measure([&] { clock.time += (call++ % 2) ? 0.1 : 0.2; }, options, clock);
  EXPECT_TRUE(m.remeasured);
  EXPECT_FALSE(m.stable);
  EXPECT_LE(m.summary.relativeSpread, m.discarded.relativeSpread);
  // Two budgets were spent, each stopping once it ran out.
  EXPECT_GE(clock.time - 100.0, 4.0);
  EXPECT_LT(clock.time - 100.0, 5.0);
}

TEST(MeasureTest, NoRemeasureWhenTightOrWhenOff) {
  FakeClock clock;
  int call = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSeconds = 2;
  // Within the threshold: once.
  options.remeasureSpread = 0.8;
  Measurement wide =
      measure([&] { clock.time += (call++ % 2) ? 0.1 : 0.2; }, options, clock);
  EXPECT_FALSE(wide.remeasured);
  EXPECT_EQ(wide.discarded.count, 0);
  // Off.
  options.remeasureSpread = 0;
  double before = clock.time;
  Measurement off =
      measure([&] { clock.time += (call++ % 2) ? 0.1 : 0.2; }, options, clock);
  EXPECT_FALSE(off.remeasured);
  EXPECT_LT(clock.time - before, 2.5);
}

TEST(MeasureTest, SetUpBeforeEachCallStaysOffTheClock) {
  // Calls of 10 us batched by 100, each after a set-up of a whole second:
  // every call gets its own set-up, and none of it is timed.
  FakeClock clock;
  int64_t calls = 0, setUps = 0;
  bool setUpFirst = true;
  MeasureOptions options;
  options.minSampleSeconds = 1e-3;
  options.beforeEachCall = [&] {
    setUpFirst &= setUps++ == calls;
    clock.time += 1.0;
  };
  Measurement m = measure(
      [&] {
        ++calls;
        clock.time += 1e-5;
      },
      options, clock);
  EXPECT_EQ(m.callsPerSample, 100);
  EXPECT_TRUE(m.stable);
  EXPECT_NEAR(m.summary.median, 1e-5, 1e-9);
  EXPECT_EQ(setUps, calls);
  EXPECT_TRUE(setUpFirst);
}

TEST(MeasureTest, EvictingKeepsTheBytes) {
  // Unaligned at both ends, so the first and last lines are partial.
  std::vector<uint8_t> bytes(4099);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 7);
  evictFromCaches(bytes.data() + 3, bytes.size() - 3);
  for (size_t i = 0; i < bytes.size(); ++i)
    ASSERT_EQ(bytes[i], static_cast<uint8_t>(i * 7)) << "byte " << i;
}

//===----------------------------------------------------------------------===//
// Side by side
//===----------------------------------------------------------------------===//

/// Work that appends `name` to `order` and takes `seconds` on `clock`.
static std::function<void()> namedWork(std::string &order, char name,
                                       FakeClock &clock, double seconds) {
  return [&order, name, &clock, seconds] {
    order += name;
    clock.time += seconds;
  };
}

TEST(MeasureTest, SideBySideTakesTurnsAfterTheWarmUps) {
  FakeClock clock;
  std::string order;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  std::vector<Measurement> m = measureSideBySide(
      {namedWork(order, 'a', clock, 0.5), namedWork(order, 'b', clock, 1.5)},
      options, clock);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(order, "aabb" + std::string("ababababab"));
  EXPECT_TRUE(m[0].stable && m[1].stable);
  EXPECT_EQ(m[0].samples.size(), static_cast<size_t>(options.minSamples));
  EXPECT_EQ(m[1].samples.size(), static_cast<size_t>(options.minSamples));
  EXPECT_DOUBLE_EQ(m[0].summary.median, 0.5);
  EXPECT_DOUBLE_EQ(m[1].summary.median, 1.5);
}

TEST(MeasureTest, SideBySideTurnsSettleThenSample) {
  // Turns of two samples, each after a second of untimed calls.
  FakeClock clock;
  std::string order;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.minSamples = 4;
  options.settleSeconds = 1;
  options.samplesPerTurn = 2;
  std::vector<Measurement> m = measureSideBySide(
      {namedWork(order, 'a', clock, 0.5), namedWork(order, 'b', clock, 0.5)},
      options, clock);
  EXPECT_EQ(order, "aabb" + std::string("aaaabbbb") + "aaaabbbb");
  EXPECT_EQ(m[0].samples.size(), 4u);
  EXPECT_EQ(m[1].samples.size(), 4u);
}

TEST(MeasureTest, SideBySideSetsUpEveryCall) {
  // Settling calls included.
  FakeClock clock;
  std::string order;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.minSamples = 1;
  options.maxSamples = 1;
  options.settleSeconds = 1;
  options.beforeEachCall = [&] { order += '.'; };
  measureSideBySide(
      {namedWork(order, 'a', clock, 0.5), namedWork(order, 'b', clock, 0.5)},
      options, clock);
  EXPECT_EQ(order, ".a.a.b.b" + std::string(".a.a.a") + ".b.b.b");
}

TEST(MeasureTest, SideBySideRatiosSurviveADriftingMachine) {
  // A machine that slows down steadily: a call costs its base time times
  // 1 + 5 s^-1 * (time since the start). One after the other, the second
  // work looks more than 5% slower than its true 2x; in turns, their ratio
  // stays within a call's drift of it.
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.stableSpread = 1; // stop at the minimum sample count
  options.minSamples = 20;
  auto work = [](FakeClock &clock, double base) {
    return [&clock, base] {
      clock.time += base * (1 + 5 * (clock.time - 100));
    };
  };
  FakeClock inTurns;
  std::vector<Measurement> turns = measureSideBySide(
      {work(inTurns, 1e-3), work(inTurns, 2e-3)}, options, inTurns);
  EXPECT_NEAR(turns[1].summary.median / turns[0].summary.median, 2.0, 0.03);
  FakeClock inSequence;
  Measurement first = measure(work(inSequence, 1e-3), options, inSequence);
  Measurement second = measure(work(inSequence, 2e-3), options, inSequence);
  EXPECT_GT(second.summary.median / first.summary.median, 2.1);
}

TEST(MeasureTest, SideBySideStopsAtTheCombinedBudget) {
  FakeClock clock;
  int call = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSeconds = 5;
  auto noisy = [&] { clock.time += (call++ % 2) ? 0.1 : 0.2; };
  auto steady = [&] { clock.time += 0.15; };
  std::vector<Measurement> m = measureSideBySide({noisy, steady}, options, clock);
  EXPECT_FALSE(m[0].stable);
  // Both ran until 10 s had passed, in rounds of about 0.3 s.
  EXPECT_EQ(m[0].samples.size(), m[1].samples.size());
  EXPECT_GE(m[0].samples.size(), 30u);
  EXPECT_LE(m[0].samples.size(), 35u);
  EXPECT_GE(clock.time, 10.0);
}

} // namespace
