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

#include <map>
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

/// A search result of candidates {0}, {1}, ... timed at `seconds`, the
/// fastest the best.
static SearchResult searched(const std::vector<double> &seconds) {
  SearchResult result;
  for (size_t i = 0; i < seconds.size(); ++i) {
    result.trials.push_back({{static_cast<int64_t>(i)}, timed(seconds[i])});
    if (!result.best ||
        seconds[i] < result.trials[*result.best].result.seconds.median)
      result.best = i;
  }
  return result;
}

/// Times candidates together by timing each with `measure`, in order,
/// counting the calls in `calls` when given.
static MeasureTogether
oneByOne(std::function<TrialResult(const CandidateIndices &)> measure,
         std::vector<size_t> *calls = nullptr) {
  return [measure, calls](const std::vector<CandidateIndices> &candidates) {
    if (calls)
      calls->push_back(candidates.size());
    std::vector<TrialResult> results;
    for (const CandidateIndices &candidate : candidates)
      results.push_back(measure(candidate));
    return results;
  };
}

TEST(SearchTest, TheFinalRoundPicksByInterleavedTimesAlone) {
  // The search timed the default (candidate 0) in a fast moment; timed
  // again together, candidate 2 is the fastest.
  SearchResult result = searched({1.0, 1.3, 1.05, 1.1, 1.2});
  std::vector<double> now = {1.2, 1.25, 1.0, 1.1, 1.15};
  FakeClock clock;
  std::vector<int64_t> order;
  auto measure = [&](const CandidateIndices &c) {
    order.push_back(c[0]);
    clock.time += 1;
    return timed(now[c[0]]);
  };
  std::vector<size_t> together;
  ConfirmOptions options;
  options.finalists = 3;
  Confirmation confirmation =
      confirmBest(result, oneByOne(measure, &together), options, clock);
  // The three fastest as the search timed them, the default among them.
  EXPECT_EQ(confirmation.finalists, (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(confirmation.rounds, 3);
  EXPECT_EQ(confirmation.trials, 9);
  // All three timed together in each round, each round rotated by one.
  EXPECT_EQ(together, (std::vector<size_t>{3, 3, 3}));
  EXPECT_EQ(order, (std::vector<int64_t>{0, 2, 3, 2, 3, 0, 3, 0, 2}));
  ASSERT_TRUE(confirmation.best);
  EXPECT_EQ(confirmation.finalists[*confirmation.best], 2u);
  EXPECT_EQ(confirmation.results[0].seconds.median, 1.2);
}

TEST(SearchTest, TheFinalRoundTakesTheMedianRoundAndRulesOutFailures) {
  // The default is slow but joins the finalists; candidate 1's second
  // round is an outlier, candidate 2 crashes once.
  SearchResult result = searched({2.0, 1.0, 1.1, 1.2});
  FakeClock clock;
  std::map<int64_t, int> calls;
  auto measure = [&](const CandidateIndices &c) {
    int call = calls[c[0]]++;
    if (c[0] == 1)
      return timed(call == 1 ? 9.0 : 1.3);
    if (c[0] == 2 && call == 2)
      return TrialResult{TrialStatus::Crashed, "signal 11"};
    return timed(c[0] == 3 ? 1.4 : 2.0);
  };
  ConfirmOptions options;
  options.finalists = 3;
  Confirmation confirmation =
      confirmBest(result, oneByOne(measure), options, clock);
  EXPECT_EQ(confirmation.finalists, (std::vector<size_t>{1, 2, 3, 0}));
  EXPECT_EQ(confirmation.results[0].seconds.median, 1.3);
  EXPECT_FALSE(confirmation.results[1].ok());
  EXPECT_EQ(confirmation.results[1].reason, "signal 11");
  ASSERT_TRUE(confirmation.best);
  EXPECT_EQ(confirmation.finalists[*confirmation.best], 1u);
}

TEST(SearchTest, TheFinalRoundRanksByTimesRelativeToEachRound) {
  // Candidates 0 and 1 in rounds the machine runs at different speeds: 0
  // is the faster in two rounds of three, 1 has the lower median of its
  // own times (its slow round fell in a fast moment).
  SearchResult result = searched({1.0, 1.0});
  FakeClock clock;
  std::vector<std::vector<double>> rounds = {
      {1.0, 1.05}, {2.0, 1.9}, {2.0, 2.1}};
  std::map<int64_t, int> calls;
  auto measure = [&](const CandidateIndices &c) {
    return timed(rounds[calls[c[0]]++][c[0]]);
  };
  Confirmation confirmation = confirmBest(result, oneByOne(measure), {}, clock);
  EXPECT_EQ(confirmation.rounds, 3);
  ASSERT_TRUE(confirmation.best);
  EXPECT_EQ(confirmation.finalists[*confirmation.best], 0u);
  // Each keeps its median round's result.
  EXPECT_EQ(confirmation.results[0].seconds.median, 2.0);
  EXPECT_EQ(confirmation.results[1].seconds.median, 1.9);
  // The ranking's scores: 0 is each round's fastest but in the second, 1 is
  // 5% slower in the first and third.
  EXPECT_DOUBLE_EQ(confirmation.scores[0], 1.0);
  EXPECT_DOUBLE_EQ(confirmation.scores[1], 1.05);
}

TEST(SearchTest, TheFinalRoundKeepsToTheBudget) {
  SearchResult result = searched({1.0, 1.1, 1.2});
  FakeClock clock;
  int64_t calls = 0;
  auto measure = [&](const CandidateIndices &c) {
    ++calls;
    clock.time += 1;
    return timed(c[0] == 2 ? 0.5 : 1.0);
  };
  // No time left: the search's own times decide.
  ConfirmOptions options;
  options.maxSeconds = 0;
  Confirmation none = confirmBest(result, oneByOne(measure), options, clock);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(none.rounds, 0);
  ASSERT_TRUE(none.best);
  EXPECT_EQ(none.finalists[*none.best], 0u);
  // Time for two rounds of three trials: the third does not start.
  options.maxSeconds = 4;
  Confirmation two = confirmBest(result, oneByOne(measure), options, clock);
  EXPECT_EQ(two.rounds, 2);
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(two.finalists[*two.best], 2u);
  // One ok trial: nothing to compare.
  calls = 0;
  SearchResult single = searched({1.0});
  single.trials.push_back({{1}, TrialResult{TrialStatus::Failed, "no"}});
  Confirmation alone = confirmBest(single, oneByOne(measure), {}, clock);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(alone.finalists, (std::vector<size_t>{0}));
}
