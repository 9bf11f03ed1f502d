//===- StudyTest.cpp - The tuning study's sub-space and replay -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The candidates a study measures, and the replay of the search on recorded
// measurements that finds how many trials it needs to come within a
// tolerance of the best: no worker, no clock.
//
//===----------------------------------------------------------------------===//

#include "autotune/Study.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace kiln::autotune;

namespace {

/// `count` one-knob candidates, {0} to {count - 1}.
static std::vector<Candidate> makeLine(int64_t count) {
  std::vector<Candidate> line;
  for (int64_t i = 0; i < count; ++i)
    line.push_back({i});
  return line;
}

/// Recorded ok results: candidate {i} takes seconds[i].
static std::vector<std::pair<Candidate, TrialResult>>
record(const std::vector<double> &seconds) {
  std::vector<std::pair<Candidate, TrialResult>> recorded;
  for (size_t i = 0; i < seconds.size(); ++i) {
    TrialResult result;
    result.status = TrialStatus::Ok;
    result.seconds.count = 5;
    result.seconds.median = seconds[i];
    recorded.push_back({{static_cast<int64_t>(i)}, result});
  }
  return recorded;
}

/// A model that ranks candidates by their first index.
static double byFirstIndex(const Candidate &c) { return 1.0 + c[0]; }

TEST(StudyTest, SmallSpacesAreMeasuredWhole) {
  std::vector<Candidate> legal = makeLine(10);
  EXPECT_EQ(selectStudyCandidates(legal, {Candidate{3}}, byFirstIndex, 10, 2),
            legal);
  EXPECT_EQ(selectStudyCandidates(legal, {}, byFirstIndex, 64, 16),
            legal);
}

/// Every candidate of an `a x b x c` grid, in odometer order.
static std::vector<Candidate> makeGrid(int64_t a, int64_t b, int64_t c) {
  std::vector<Candidate> grid;
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < c; ++k)
        grid.push_back({i, j, k});
  return grid;
}

TEST(StudyTest, LargeSpacesTakeTheModelsBestAndAStratifiedSample) {
  // 8 x 6 x 5 = 240 candidates, 40 measured: the model's best 10, then 30
  // stratified.
  std::vector<Candidate> legal = makeGrid(8, 6, 5);
  auto predict = [](const Candidate &c) {
    return 1.0 + c[0] + 0.1 * c[1] + 0.01 * c[2];
  };
  std::vector<Candidate> selected =
      selectStudyCandidates(legal, {Candidate{7, 5, 4}}, predict, 40, 10);
  ASSERT_EQ(selected.size(), 41u);
  // The model's best first, in rank order.
  for (int64_t i = 0; i < 10; ++i)
    EXPECT_EQ(selected[i], legal[i]);
  // The default last.
  EXPECT_EQ(selected.back(), (Candidate{7, 5, 4}));
  // No repeats.
  std::set<Candidate> distinct(selected.begin(), selected.end());
  EXPECT_EQ(distinct.size(), selected.size());
  // The stratified 30 take every value of every knob, as evenly as 30
  // picks allow: 3 or 4 per value of the first knob, 5 per value of the
  // second, 6 per value of the third.
  std::vector<std::map<int64_t, int64_t>> counts(3);
  for (size_t i = 10; i < 40; ++i)
    for (size_t k = 0; k < 3; ++k)
      ++counts[k][selected[i][k]];
  for (int64_t v = 0; v < 8; ++v) {
    EXPECT_GE(counts[0][v], 3) << "first knob value " << v;
    EXPECT_LE(counts[0][v], 4) << "first knob value " << v;
  }
  for (int64_t v = 0; v < 6; ++v)
    EXPECT_EQ(counts[1][v], 5) << "second knob value " << v;
  for (int64_t v = 0; v < 5; ++v)
    EXPECT_EQ(counts[2][v], 6) << "third knob value " << v;
  // Deterministic.
  EXPECT_EQ(selectStudyCandidates(legal, {Candidate{7, 5, 4}}, predict, 40, 10),
            selected);
}

TEST(StudyTest, AReplayMeasuresTheRecordedSubspaceInEnumerationOrder) {
  // The recorded candidates are the even ones; a new model would select
  // others, but the replay keeps the recorded ones and the default, all in
  // enumeration order.
  std::vector<Candidate> legal = makeLine(20);
  auto isEven = [](const Candidate &c) { return c[0] % 2 == 0; };
  std::vector<Candidate> selected =
      selectRecordedCandidates(legal, {Candidate{7}}, isEven);
  std::vector<Candidate> expected = {{0},  {2},  {4},  {6},  {7}, {8},
                                     {10}, {12}, {14}, {16}, {18}};
  EXPECT_EQ(selected, expected);
  // A default outside the legal candidates comes last.
  selected = selectRecordedCandidates(legal, {Candidate{25}}, isEven);
  ASSERT_EQ(selected.size(), 11u);
  EXPECT_EQ(selected.back(), (Candidate{25}));
}

TEST(StudyTest, AGoodCostModelNeedsFewTrials) {
  // 40 candidates; {35} is the fastest and {31} within 3% of it.
  std::vector<double> seconds(40, 2.0);
  seconds[35] = 1.0;
  seconds[31] = 1.02;
  auto recorded = record(seconds);
  std::vector<Candidate> first = {{0}};
  // A model that ranks {31} first and {35} second. Budget 2: the default,
  // then the most promising candidate one knob away from it, {31}: within
  // 3%. Within 1% takes {35} too, the refinement's next pick (the most
  // promising anywhere) with a budget of 3.
  auto good = [](const Candidate &c) {
    return c[0] == 31 ? 0.5 : c[0] == 35 ? 0.6 : 1.0;
  };
  EXPECT_EQ(findTrialsToWithin(recorded, first, good, 0.03), 2);
  EXPECT_EQ(findTrialsToWithin(recorded, first, good, 0.01), 3);
}

TEST(StudyTest, ABadCostModelNeedsManyAndNeverMoreThanAll) {
  std::vector<double> seconds(40, 2.0);
  seconds[30] = 1.0;
  auto recorded = record(seconds);
  // A model that ranks the fastest last: only a budget that covers the
  // whole space finds it.
  auto bad = [](const Candidate &c) { return c[0] == 30 ? 9.0 : 1.0; };
  int64_t trials = findTrialsToWithin(recorded, {{0}}, bad, 0.03);
  EXPECT_GT(trials, 20);
  EXPECT_LE(trials, 40);
  // No candidate ok: 0.
  for (auto &entry : recorded)
    entry.second.status = TrialStatus::Crashed;
  EXPECT_EQ(findTrialsToWithin(recorded, {{0}}, bad, 0.03), 0);
}

} // namespace
