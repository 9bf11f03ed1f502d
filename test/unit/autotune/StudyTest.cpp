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

TEST(StudyTest, SmallSpacesAreMeasuredWhole) {
  std::vector<Candidate> legal = makeLine(10);
  EXPECT_EQ(selectStudyCandidates(legal, Candidate{3}, 10), legal);
  EXPECT_EQ(selectStudyCandidates(legal, std::nullopt, 64), legal);
}

TEST(StudyTest, LargeSpacesAreThinnedEvenlyWithTheDefault) {
  std::vector<Candidate> legal = makeLine(10);
  EXPECT_EQ(selectStudyCandidates(legal, std::nullopt, 4),
            (std::vector<Candidate>{{0}, {2}, {5}, {7}}));
  EXPECT_EQ(selectStudyCandidates(legal, Candidate{9}, 4),
            (std::vector<Candidate>{{0}, {2}, {5}, {7}, {9}}));
  // A default already among them is not added twice.
  EXPECT_EQ(selectStudyCandidates(legal, Candidate{5}, 4).size(), 4u);
}

TEST(StudyTest, AGoodCostModelNeedsFewTrials) {
  // 40 candidates; {35} is the fastest and {31} within 3% of it.
  std::vector<double> seconds(40, 2.0);
  seconds[35] = 1.0;
  seconds[31] = 1.02;
  auto recorded = record(seconds);
  std::vector<Candidate> first = {{0}};
  // A model that ranks {31} first and {35} second. Budget 3: the default
  // and the best-ranked half, {31}: within 3%. Within 1% takes {35} too,
  // which a budget of 4 spends on {31}'s neighbours and 5 reaches.
  auto good = [](const Candidate &c) {
    return c[0] == 31 ? 0.5 : c[0] == 35 ? 0.6 : 1.0;
  };
  EXPECT_EQ(findTrialsToWithin(recorded, first, good, 0.03), 3);
  EXPECT_EQ(findTrialsToWithin(recorded, first, good, 0.01), 5);
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
