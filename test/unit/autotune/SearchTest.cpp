//===- SearchTest.cpp - The search strategy under a fake timer -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Candidates are measured by a made-up function of their indices and the
// clock advances by a fixed step per trial, so every run of the search is
// the same: the tests pin its order, its exploration of every knob value,
// its correction of a wrong model by the measurements, its budgets and its
// handling of failed candidates.
//
//===----------------------------------------------------------------------===//

#include "autotune/Search.h"

#include <gtest/gtest.h>

#include <set>

using namespace kiln::autotune;

namespace {

/// A clock that advances only when a trial is measured.
class FakeClock : public Clock {
public:
  double now() override { return time; }
  double time = 0;
};

/// Every candidate of a `sizes[0] x sizes[1] x ...` grid, in odometer order.
std::vector<CandidateIndices> grid(const std::vector<int64_t> &sizes) {
  std::vector<CandidateIndices> all = {{}};
  for (int64_t size : sizes) {
    std::vector<CandidateIndices> next;
    for (const CandidateIndices &prefix : all)
      for (int64_t i = 0; i < size; ++i) {
        next.push_back(prefix);
        next.back().push_back(i);
      }
    all = std::move(next);
  }
  return all;
}

/// A bowl with its minimum at `center`: seconds grow with the distance.
double bowl(const CandidateIndices &c, const CandidateIndices &center) {
  double distance = 0;
  for (size_t k = 0; k < c.size(); ++k)
    distance += std::abs(c[k] - center[k]);
  return 1e-3 * (1 + distance);
}

TrialResult timed(double seconds) {
  TrialResult result;
  result.status = TrialStatus::Ok;
  result.seconds.count = 5;
  result.seconds.median = seconds;
  return result;
}

struct Fixture {
  FakeClock clock;
  std::vector<CandidateIndices> order;
  std::function<TrialResult(const CandidateIndices &)>
  measureBowl(CandidateIndices center) {
    return [this, center](const CandidateIndices &c) {
      order.push_back(c);
      clock.time += 1;
      return timed(bowl(c, center));
    };
  }
};

TEST(SearchTest, SmallSpacesAreMeasuredWhole) {
  Fixture f;
  std::vector<CandidateIndices> legal = grid({3, 2});
  SearchOptions options;
  options.maxTrials = 10;
  SearchResult result = search(
      legal, {{1, 1}}, [](const CandidateIndices &) { return 0.0; },
      f.measureBowl({2, 0}), options, f.clock);
  EXPECT_TRUE(result.exhaustive);
  ASSERT_EQ(result.trials.size(), 6u);
  // The first candidate first, then enumeration order without repeats.
  EXPECT_EQ(f.order[0], (CandidateIndices{1, 1}));
  EXPECT_EQ(f.order[1], (CandidateIndices{0, 0}));
  ASSERT_TRUE(result.best);
  EXPECT_EQ(result.trials[*result.best].candidate, (CandidateIndices{2, 0}));
}

TEST(SearchTest, LargeSpacesFollowTheCostModelThenRefine) {
  Fixture f;
  std::vector<CandidateIndices> legal = grid({8, 8, 4});
  SearchOptions options;
  options.maxTrials = 24;
  // The model is close but wrong: it ranks (3, 3, 1) best, the truth is
  // (4, 5, 2). The refinement walks there through neighbours.
  CandidateIndices modelCenter = {3, 3, 1}, trueCenter = {4, 5, 2};
  SearchResult result = search(
      legal, {},
      [&](const CandidateIndices &c) { return bowl(c, modelCenter); },
      f.measureBowl(trueCenter), options, f.clock);
  EXPECT_FALSE(result.exhaustive);
  EXPECT_EQ(result.trials.size(), 24u);
  EXPECT_EQ(f.order[0], modelCenter);
  ASSERT_TRUE(result.best);
  EXPECT_EQ(result.trials[*result.best].candidate, trueCenter);
  // Deterministic: the same inputs give the same trials.
  Fixture again;
  search(
      legal, {},
      [&](const CandidateIndices &c) { return bowl(c, modelCenter); },
      again.measureBowl(trueCenter), options, again.clock);
  EXPECT_EQ(again.order, f.order);
}

TEST(SearchTest, ExplorationTakesEveryKnobValueEarly) {
  Fixture f;
  std::vector<CandidateIndices> legal = grid({8, 8});
  SearchOptions options;
  options.maxTrials = 32;
  // The model ranks the first knob's small values far ahead; its half of
  // the budget still takes each value of each knob once, best-ranked first,
  // every other trial, and the model's best-ranked candidate in between.
  auto predict = [](const CandidateIndices &c) {
    return 1.0 + c[0] + 0.01 * c[1];
  };
  search(legal, {}, predict, f.measureBowl({7, 3}), options, f.clock);
  ASSERT_EQ(f.order.size(), 32u);
  std::set<int64_t> first, second;
  for (size_t i = 0; i < 16; ++i) {
    first.insert(f.order[i][0]);
    second.insert(f.order[i][1]);
  }
  EXPECT_EQ(first.size(), 8u);
  EXPECT_EQ(second.size(), 8u);
  EXPECT_EQ(f.order[0], (CandidateIndices{0, 0}));
  EXPECT_EQ(f.order[2], (CandidateIndices{1, 2}));
  // The model's best-ranked candidates not measured yet in between.
  EXPECT_EQ(f.order[1], (CandidateIndices{0, 1}));
  EXPECT_EQ(f.order[3], (CandidateIndices{0, 2}));
}

TEST(SearchTest, MeasurementsCorrectAWrongModel) {
  Fixture f;
  std::vector<CandidateIndices> legal = grid({10, 10});
  SearchOptions options;
  options.maxTrials = 32;
  // The model misses that the second knob's value 7 halves the time: it
  // ranks 28 candidates ahead of any with that value, yet the fastest is
  // {0, 7}. Exploration measures the value once, and the corrected model
  // then favours it everywhere.
  auto predict = [](const CandidateIndices &c) {
    return 1.0 + 0.1 * c[0] + 0.1 * c[1];
  };
  auto measure = [&](const CandidateIndices &c) {
    f.order.push_back(c);
    f.clock.time += 1;
    return timed(predict(c) * (c[1] == 7 ? 0.5 : 1.0));
  };
  SearchResult result = search(legal, {}, predict, measure, options, f.clock);
  ASSERT_TRUE(result.best);
  EXPECT_EQ(result.trials[*result.best].candidate, (CandidateIndices{0, 7}));
}

TEST(SearchTest, StopsWhenTheTimeBudgetIsSpent) {
  Fixture f;
  SearchOptions options;
  options.maxTrials = 100;
  options.maxSeconds = 4.5;
  SearchResult result = search(
      grid({10, 10}), {}, [](const CandidateIndices &) { return 0.0; },
      f.measureBowl({0, 0}), options, f.clock);
  // One fake second per trial: trials start at t = 0, 1, 2, 3 and 4.
  EXPECT_EQ(result.trials.size(), 5u);
}

TEST(SearchTest, FailedCandidatesCountButNeverWin) {
  Fixture f;
  SearchOptions options;
  options.maxTrials = 10;
  auto measure = [&](const CandidateIndices &c) {
    f.clock.time += 1;
    if (c[0] == 0) {
      TrialResult crashed;
      crashed.status = TrialStatus::Crashed;
      crashed.reason = "signal 11";
      return crashed;
    }
    return timed(1e-3 * c[0]);
  };
  SearchResult result = search(
      grid({3}), {}, [](const CandidateIndices &) { return 0.0; }, measure,
      options, f.clock);
  ASSERT_EQ(result.trials.size(), 3u);
  EXPECT_EQ(result.trials[0].result.status, TrialStatus::Crashed);
  ASSERT_TRUE(result.best);
  EXPECT_EQ(result.trials[*result.best].candidate, (CandidateIndices{1}));
}

TEST(SearchTest, NoCorrectCandidateMeansNoBest) {
  Fixture f;
  SearchOptions options;
  auto measure = [&](const CandidateIndices &) {
    TrialResult wrong;
    wrong.status = TrialStatus::WrongResult;
    return wrong;
  };
  SearchResult result = search(
      grid({4}), {}, [](const CandidateIndices &) { return 0.0; }, measure,
      options, f.clock);
  EXPECT_EQ(result.trials.size(), 4u);
  EXPECT_FALSE(result.best);
}

} // namespace
