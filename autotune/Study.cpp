//===- Study.cpp - How many trials the search needs ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Study.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

using namespace mlir;

namespace kiln::autotune {

namespace {
/// Replays take no time: only the trial budget ends them.
class StoppedClock : public Clock {
public:
  double now() override { return 0; }
};
} // namespace

/// A fixed pseudo-random order of candidate indices (splitmix64), so that
/// ties in the stratified sample favour no region of the enumeration.
static uint64_t scramble(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Adds `count` candidates of `legal` not yet `taken` to `selected`, each
/// the one whose knob values, then pairs of values, were picked least so
/// far by this sample.
static void addStratified(const std::vector<Candidate> &legal, int64_t count,
                          std::vector<bool> &taken,
                          std::vector<Candidate> &selected) {
  size_t numKnobs = legal.front().size();
  std::vector<int64_t> numValues(numKnobs, 0);
  for (const Candidate &candidate : legal)
    for (size_t k = 0; k < numKnobs; ++k)
      numValues[k] = std::max(numValues[k], candidate[k] + 1);
  // Picks per value of each knob, and per pair of values of knobs k < l.
  std::vector<std::vector<int64_t>> single(numKnobs);
  std::map<std::pair<size_t, size_t>, std::vector<int64_t>> pairs;
  for (size_t k = 0; k < numKnobs; ++k) {
    single[k].assign(numValues[k], 0);
    for (size_t l = k + 1; l < numKnobs; ++l)
      pairs[{k, l}].assign(numValues[k] * numValues[l], 0);
  }
  // How often this sample picked the candidate's knob values, each count
  // scaled by its knob's number of values (1 is a fair share), and then its
  // pairs of values: the fewer the better, the values first.
  auto load = [&](const Candidate &c) {
    double values = 0, valuePairs = 0;
    for (size_t k = 0; k < numKnobs; ++k) {
      values += static_cast<double>(single[k][c[k]] * numValues[k]);
      for (size_t l = k + 1; l < numKnobs; ++l)
        valuePairs += static_cast<double>(
            pairs[{k, l}][c[k] * numValues[l] + c[l]] * numValues[k] *
            numValues[l]);
    }
    return std::make_pair(values, valuePairs);
  };
  for (int64_t n = 0; n < count; ++n) {
    std::optional<size_t> pick;
    std::pair<double, double> pickLoad;
    for (size_t i = 0; i < legal.size(); ++i) {
      if (taken[i])
        continue;
      std::pair<double, double> l = load(legal[i]);
      if (!pick || l < pickLoad ||
          (l == pickLoad && scramble(i) < scramble(*pick))) {
        pick = i;
        pickLoad = l;
      }
    }
    if (!pick)
      return;
    taken[*pick] = true;
    const Candidate &c = legal[*pick];
    for (size_t k = 0; k < numKnobs; ++k) {
      ++single[k][c[k]];
      for (size_t l = k + 1; l < numKnobs; ++l)
        ++pairs[{k, l}][c[k] * numValues[l] + c[l]];
    }
    selected.push_back(c);
  }
}

/// Appends the `seeds` that `selected` lacks.
static void addSeeds(const std::vector<Candidate> &seeds,
                     std::vector<Candidate> &selected) {
  for (const Candidate &seed : seeds)
    if (!llvm::is_contained(selected, seed))
      selected.push_back(seed);
}

std::vector<Candidate>
selectStudyCandidates(const std::vector<Candidate> &legal,
                      const std::vector<Candidate> &seeds,
                      const std::function<double(const Candidate &)> &predict,
                      int64_t maxCandidates, int64_t modelTop) {
  int64_t count = static_cast<int64_t>(legal.size());
  std::vector<Candidate> selected;
  if (count <= maxCandidates) {
    selected = legal;
  } else {
    // 1. The model's best ranked (stable: ties keep the enumeration order).
    std::vector<double> predicted;
    for (const Candidate &candidate : legal)
      predicted.push_back(predict(candidate));
    std::vector<size_t> ranked(legal.size());
    std::iota(ranked.begin(), ranked.end(), 0);
    std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
      return predicted[a] < predicted[b];
    });
    std::vector<bool> taken(legal.size(), false);
    modelTop = std::clamp<int64_t>(modelTop, 0, maxCandidates);
    for (int64_t i = 0; i < modelTop; ++i) {
      taken[ranked[i]] = true;
      selected.push_back(legal[ranked[i]]);
    }
    // 2. A stratified sample of the rest.
    addStratified(legal, maxCandidates - modelTop, taken, selected);
  }
  addSeeds(seeds, selected);
  return selected;
}

std::vector<Candidate> selectRecordedCandidates(
    const std::vector<Candidate> &legal, const std::vector<Candidate> &seeds,
    const std::function<bool(const Candidate &)> &isRecorded) {
  std::vector<Candidate> selected;
  for (const Candidate &candidate : legal)
    if (isRecorded(candidate) || llvm::is_contained(seeds, candidate))
      selected.push_back(candidate);
  addSeeds(seeds, selected);
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
  const std::vector<Candidate> &seeds = (*trials)->getSeeds();
  result.spaceSize = (*trials)->getSpaceSize();
  result.legalCandidates = static_cast<int64_t>((*trials)->getLegal().size());
  auto predict = [&](const Candidate &candidate) {
    return (*trials)->predict(candidate);
  };
  int64_t modelTop = static_cast<int64_t>(
      std::llround(study.maxCandidates * study.modelTopFraction));
  std::vector<Candidate> selected =
      study.recorded.empty()
          ? selectStudyCandidates((*trials)->getLegal(), seeds, predict,
                                  study.maxCandidates, modelTop)
          : selectRecordedCandidates(
                (*trials)->getLegal(), seeds, [&](const Candidate &candidate) {
                  return study.recorded.count(
                             (*trials)->getConfigText(candidate)) != 0;
                });
  // Measured, and the search replayed on them, in enumeration order, as
  // tuning gives the search the legal candidates (ties in the model's
  // ranking keep that order), and a replay lists them as its recording
  // did; a default that is not legal last.
  std::map<Candidate, size_t> position;
  for (const auto &[index, candidate] : llvm::enumerate((*trials)->getLegal()))
    position[candidate] = index;
  auto positionOf = [&](const Candidate &candidate) {
    auto it = position.find(candidate);
    return it == position.end() ? position.size() : it->second;
  };
  std::stable_sort(selected.begin(), selected.end(),
                   [&](const Candidate &a, const Candidate &b) {
                     return positionOf(a) < positionOf(b);
                   });
  result.measured = static_cast<int64_t>(selected.size());
  result.subspace = result.measured < result.legalCandidates;
  if (result.subspace) {
    result.modelTop = modelTop;
    result.stratified = result.measured - modelTop;
  }

  // 2. Each measured once.
  std::vector<std::pair<Candidate, TrialResult>> recorded;
  std::optional<size_t> best;
  for (const Candidate &candidate : selected) {
    std::string config = (*trials)->getConfigText(candidate);
    auto earlier = study.recorded.find(config);
    if (earlier != study.recorded.end())
      ++result.reused;
    recorded.emplace_back(candidate, earlier != study.recorded.end()
                                         ? earlier->second
                                         : (*trials)->measure(candidate));
    const TrialResult &trial = recorded.back().second;
    result.candidates.push_back(
        {candidate, config, (*trials)->predict(candidate), trial});
    if (!trial.ok()) {
      ++result.failed;
      continue;
    }
    if (!best || trial.seconds.median < recorded[*best].second.seconds.median)
      best = recorded.size() - 1;
    if (candidate == (*trials)->getBase())
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
  result.trialsToWithin =
      findTrialsToWithin(recorded, seeds, predict, study.tolerance);
  result.searchBudget = options.search.maxTrials;
  SearchResult atBudget =
      replaySearch(recorded, seeds, predict, options.search.maxTrials);
  result.searchSeconds = getBestSeconds(atBudget);
  for (const SearchTrial &trial : atBudget.trials)
    for (size_t i = 0; i < recorded.size(); ++i)
      if (recorded[i].first == trial.candidate)
        result.searchOrder.push_back(i);
  return result;
}

} // namespace kiln::autotune
