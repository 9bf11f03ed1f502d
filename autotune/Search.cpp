//===- Search.cpp - Choosing which candidates to measure -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Search.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <numeric>
#include <set>

namespace kiln::autotune {

namespace {
/// The state of one search: what was measured, and the budgets.
class Searcher {
public:
  Searcher(const std::function<TrialResult(const CandidateIndices &)> &measure,
           const SearchOptions &options, Clock &clock)
      : measureFn(measure), options(options), clock(clock), start(clock.now()) {
  }

  bool hasBudget() const {
    return static_cast<int64_t>(result.trials.size()) < options.maxTrials &&
           clock.now() - start < options.maxSeconds;
  }
  bool wasMeasured(const CandidateIndices &candidate) const {
    return measured.count(candidate) != 0;
  }

  /// Measures `candidate` unless it was; false when out of budget.
  bool measure(const CandidateIndices &candidate) {
    if (wasMeasured(candidate))
      return true;
    if (!hasBudget())
      return false;
    measured.insert(candidate);
    result.trials.push_back({candidate, measureFn(candidate)});
    const TrialResult &trial = result.trials.back().result;
    if (trial.ok() &&
        (!result.best || trial.seconds.median <
                             result.trials[*result.best].result.seconds.median))
      result.best = result.trials.size() - 1;
    return true;
  }

  const CandidateIndices *getBest() const {
    return result.best ? &result.trials[*result.best].candidate : nullptr;
  }

  SearchResult result;

private:
  const std::function<TrialResult(const CandidateIndices &)> &measureFn;
  const SearchOptions &options;
  Clock &clock;
  double start;
  std::set<CandidateIndices> measured;
};
} // namespace

/// Whether `a` and `b` differ in exactly one knob, by one step.
static bool areNeighbours(const CandidateIndices &a,
                          const CandidateIndices &b) {
  int64_t differences = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    int64_t step = std::abs(a[k] - b[k]);
    if (step > 1)
      return false;
    differences += step;
  }
  return differences == 1;
}

SearchResult
search(const std::vector<CandidateIndices> &legal,
       const std::vector<CandidateIndices> &first,
       const std::function<double(const CandidateIndices &)> &predict,
       const std::function<TrialResult(const CandidateIndices &)> &measure,
       const SearchOptions &options, Clock &clock) {
  Searcher searcher(measure, options, clock);
  // 1. What was asked for first.
  for (const CandidateIndices &candidate : first)
    searcher.measure(candidate);

  // 2. Small spaces whole.
  std::set<CandidateIndices> unmeasured;
  for (const CandidateIndices &candidate : legal)
    if (!searcher.wasMeasured(candidate))
      unmeasured.insert(candidate);
  if (static_cast<int64_t>(searcher.result.trials.size() + unmeasured.size()) <=
      options.maxTrials) {
    for (const CandidateIndices &candidate : legal)
      if (!searcher.measure(candidate))
        break;
    searcher.result.exhaustive = std::all_of(
        legal.begin(), legal.end(), [&](const CandidateIndices &candidate) {
          return searcher.wasMeasured(candidate);
        });
    return std::move(searcher.result);
  }

  // 3. Large spaces by rank (stable: ties keep the enumeration order).
  std::vector<double> predicted(legal.size());
  for (size_t i = 0; i < legal.size(); ++i)
    predicted[i] = predict(legal[i]);
  std::vector<size_t> ranked(legal.size());
  std::iota(ranked.begin(), ranked.end(), 0);
  std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
    return predicted[a] < predicted[b];
  });
  int64_t explore = (options.maxTrials + 1) / 2;
  size_t next = 0;
  for (; next < ranked.size() &&
         static_cast<int64_t>(searcher.result.trials.size()) < explore;
       ++next)
    if (!searcher.measure(legal[ranked[next]]))
      return std::move(searcher.result);

  // 4. Refine around the fastest so far.
  while (searcher.hasBudget()) {
    std::optional<size_t> pick;
    if (const CandidateIndices *best = searcher.getBest())
      for (size_t index : ranked)
        if (!searcher.wasMeasured(legal[index]) &&
            areNeighbours(legal[index], *best)) {
          pick = index;
          break;
        }
    while (!pick && next < ranked.size()) {
      if (!searcher.wasMeasured(legal[ranked[next]]))
        pick = ranked[next];
      ++next;
    }
    if (!pick)
      break;
    searcher.measure(legal[*pick]);
  }
  return std::move(searcher.result);
}

} // namespace kiln::autotune
