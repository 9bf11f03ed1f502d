//===- Study.cpp - How many trials the search needs ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Study.h"

#include <algorithm>
#include <limits>
#include <map>

using namespace mlir;

namespace kiln::autotune {

namespace {
/// Replays take no time: only the trial budget ends them.
class StoppedClock : public Clock {
public:
  double now() override { return 0; }
};
} // namespace

std::vector<Candidate> selectStudyCandidates(const std::vector<Candidate> &legal,
                                             const std::optional<Candidate> &base,
                                             int64_t maxCandidates) {
  int64_t count = static_cast<int64_t>(legal.size());
  std::vector<Candidate> selected;
  if (count <= maxCandidates) {
    selected = legal;
  } else {
    for (int64_t i = 0; i < maxCandidates; ++i)
      selected.push_back(legal[i * count / maxCandidates]);
  }
  if (base && std::find(selected.begin(), selected.end(), *base) ==
                  selected.end())
    selected.push_back(*base);
  return selected;
}

/// The search with `budget` trials replayed on `recorded`.
static SearchResult
replaySearch(const std::vector<std::pair<Candidate, TrialResult>> &recorded,
             const std::vector<Candidate> &first,
             const std::function<double(const Candidate &)> &predict,
             int64_t budget) {
  std::vector<Candidate> legal;
  std::map<Candidate, TrialResult> results;
  for (const auto &[candidate, result] : recorded) {
    legal.push_back(candidate);
    results[candidate] = result;
  }
  SearchOptions options;
  options.maxTrials = budget;
  options.maxSeconds = std::numeric_limits<double>::infinity();
  StoppedClock clock;
  return search(
      legal, first, predict,
      [&](const Candidate &candidate) { return results.at(candidate); },
      options, clock);
}

/// The median of the fastest ok trial of `result`; infinity when none.
static double getBestSeconds(const SearchResult &result) {
  return result.best ? result.trials[*result.best].result.seconds.median
                     : std::numeric_limits<double>::infinity();
}

int64_t findTrialsToWithin(
    const std::vector<std::pair<Candidate, TrialResult>> &recorded,
    const std::vector<Candidate> &first,
    const std::function<double(const Candidate &)> &predict,
    double tolerance) {
  double best = std::numeric_limits<double>::infinity();
  for (const auto &entry : recorded)
    if (entry.second.ok())
      best = std::min(best, entry.second.seconds.median);
  if (best == std::numeric_limits<double>::infinity())
    return 0;
  int64_t count = static_cast<int64_t>(recorded.size());
  for (int64_t budget = 1; budget <= count; ++budget)
    if (getBestSeconds(replaySearch(recorded, first, predict, budget)) <=
        best * (1 + tolerance))
      return budget;
  return count;
}

FailureOr<KernelStudy> studyKernel(func::FuncOp kernel,
                                   const TunerOptions &options,
                                   const StudyOptions &study) {
  SteadyClock clock;
  double start = clock.now();
  KernelStudy result;
  result.kernel = kernel.getSymName().str();

  // 1. The space, and the candidates to measure.
  FailureOr<std::unique_ptr<KernelTrials>> trials =
      KernelTrials::create(kernel, options);
  if (failed(trials))
    return failure();
  const std::optional<Candidate> &base = (*trials)->getBase();
  result.spaceSize = (*trials)->getSpace().getSize();
  result.legalCandidates = static_cast<int64_t>((*trials)->getLegal().size());
  std::vector<Candidate> selected =
      selectStudyCandidates((*trials)->getLegal(), base, study.maxCandidates);
  result.measured = static_cast<int64_t>(selected.size());
  result.subspace = result.measured < result.legalCandidates;

  // 2. Each measured once.
  std::vector<std::pair<Candidate, TrialResult>> recorded;
  std::optional<size_t> best;
  for (const Candidate &candidate : selected) {
    recorded.emplace_back(candidate, (*trials)->measure(candidate));
    const TrialResult &trial = recorded.back().second;
    if (!trial.ok()) {
      ++result.failed;
      continue;
    }
    if (!best || trial.seconds.median < recorded[*best].second.seconds.median)
      best = recorded.size() - 1;
    if (base && candidate == *base)
      result.defaultSeconds = trial.seconds.median;
  }
  result.wallSeconds = clock.now() - start;
  if (!best)
    return kernel.emitError("no candidate config of kernel '")
           << result.kernel << "' compiled and computed the right result ("
           << result.measured << " tried)";
  result.bestSeconds = recorded[*best].second.seconds.median;
  result.bestConfig = (*trials)->getConfigText(recorded[*best].first);

  // 3. The search replayed on the measurements.
  std::vector<Candidate> first;
  if (base)
    first.push_back(*base);
  auto predict = [&](const Candidate &candidate) {
    return (*trials)->predict(candidate);
  };
  result.trialsToWithin =
      findTrialsToWithin(recorded, first, predict, study.tolerance);
  result.searchBudget = options.search.maxTrials;
  result.searchSeconds = getBestSeconds(
      replaySearch(recorded, first, predict, options.search.maxTrials));
  return result;
}

} // namespace kiln::autotune
