//===- Search.h - Choosing which candidates to measure ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The search strategy, apart from how a candidate is measured (a callback)
// and from the clock (a Clock), so it runs deterministically under a fake
// timer in the tests:
//
//   1. the candidates asked for first (the default config) are measured;
//   2. a space no larger than the trial budget is measured exhaustively, in
//      enumeration order;
//   3. a larger one is ranked by the cost model and explored until every
//      knob value was measured, for half the budget at most: every other
//      trial is the best-ranked candidate among those with the most knob
//      values not measured yet, so that a model wrong about a whole knob
//      (the row tile of a memory-bound kernel, say) cannot keep the search
//      away from that knob's good values; the trials in between are the
//      model's best-ranked candidates. Among good candidates the model's
//      order is mostly right (the best matmul configs of the recorded
//      study rank in its top 20 of 250), while the candidates that show new
//      values are often slow for reasons of their own: without measurements
//      among the good ones, the corrected model blames their slowness on
//      the good values they share;
//   4. the rest of the budget refines. The measurements correct the model:
//      the log of measured over predicted time is fitted as a sum of one
//      effect per knob value (ridge, so a value seldom measured keeps the
//      model's word; a candidate many times slower than the rest, clipped),
//      and the corrected prediction picks, in turn, the most promising of
//      the candidates that differ from the fastest so far in the fewest
//      knobs (one, in a whole space) and the most promising anywhere.
//
// The search stops at the trial budget or when the time budget is spent. A
// failed candidate counts as a trial and is never the best.
//
// Its trials are timed one after another, each in a process of its own,
// minutes apart on a large kernel, and a machine whose speed drifts by more
// than the candidates differ (a VM's neighbours), or a process that runs
// the same code a steady few percent slower than the next one, can crown
// whichever was timed in a fast moment. The final round (confirmBest)
// times the few fastest and the default again, together in each round (on
// the CPU side by side in one process, samples in turns), and picks among
// them by those times alone: by each one's time over the fastest of its
// round, the median over the rounds, so that a round the machine ran slow
// weighs like any other.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_SEARCH_H_
#define KILN_AUTOTUNE_SEARCH_H_

#include "autotune/Measure.h"
#include "autotune/Worker.h"

#include <functional>
#include <optional>
#include <vector>

namespace kiln::autotune {

/// A candidate as the search sees it: one index per knob.
using CandidateIndices = std::vector<int64_t>;

struct SearchOptions {
  /// Candidates measured at most, the first ones included.
  int64_t maxTrials = 32;
  /// Seconds of search at most (a trial under way is finished).
  double maxSeconds = 300;
};

/// One measured candidate.
struct SearchTrial {
  CandidateIndices candidate;
  TrialResult result;
};

struct SearchResult {
  /// In the order measured.
  std::vector<SearchTrial> trials;
  /// The fastest correct trial's index in `trials`.
  std::optional<size_t> best;
  /// Whether every legal candidate was measured.
  bool exhaustive = false;
};

struct ConfirmOptions {
  /// The fastest trials timed again (the first trial, the default, joins
  /// them when it is not among them). Six, because one timing in a process
  /// of its own is one draw: in one 512x384x1536 tuning, the config that
  /// won side by side in other tunings (one m block of 512, k blocks of
  /// 192) came fifth by the search's own times.
  int64_t finalists = 6;
  /// Rounds, each timing every finalist once, together, in an order
  /// rotated by one per round.
  int64_t rounds = 3;
  /// No round starts after this many seconds.
  double maxSeconds = 300;
};

/// The finalists of a search, timed again together.
struct Confirmation {
  /// Indices into the search's trials: the fastest first, as the search
  /// timed them, then the first trial when it is not among them.
  std::vector<size_t> finalists;
  /// Per finalist, its median round's result (the one whose median is the
  /// median of its rounds), or a failure when any of its rounds failed;
  /// without a round, the search's own result.
  std::vector<TrialResult> results;
  /// Per finalist, what `best` is chosen by: the median over the rounds of
  /// its time over the round's fastest; without a round, the search's
  /// median seconds. Only their ratios mean anything across finalists.
  std::vector<double> scores;
  /// The finalist (index into `finalists`) with the lowest median over
  /// the rounds of its time over the round's fastest; without a round, the
  /// fastest result.
  std::optional<size_t> best;
  int64_t rounds = 0;
  /// Trials the rounds took.
  int64_t trials = 0;
};

/// Times candidates together: their results, in order.
using MeasureTogether = std::function<std::vector<TrialResult>(
    const std::vector<CandidateIndices> &)>;

/// Times the fastest ok trials of `result` and its first trial again, all
/// of them together in each round (`measureTogether`), while `clock` is
/// within the budget. Nothing is timed when fewer than two trials are ok.
Confirmation confirmBest(const SearchResult &result,
                         const MeasureTogether &measureTogether,
                         const ConfirmOptions &options, Clock &clock);

/// Searches `legal` (candidates in enumeration order; `first` are measured
/// before anything else and need not be in it), ranked by `predict`
/// (predicted seconds), measuring with `measure`, timed by `clock`.
SearchResult
search(const std::vector<CandidateIndices> &legal,
       const std::vector<CandidateIndices> &first,
       const std::function<double(const CandidateIndices &)> &predict,
       const std::function<TrialResult(const CandidateIndices &)> &measure,
       const SearchOptions &options, Clock &clock);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_SEARCH_H_
