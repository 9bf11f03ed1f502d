//===- Search.cpp - Choosing which candidates to measure -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Search.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

/// The number of knobs in which `a` and `b` differ.
static int64_t countDifferences(const CandidateIndices &a,
                                const CandidateIndices &b) {
  int64_t differences = 0;
  for (size_t k = 0; k < a.size(); ++k)
    differences += a[k] != b[k];
  return differences;
}

/// The log of `x`, of a tiny positive number for x <= 0.
static double logOf(double x) { return std::log(std::max(x, 1e-30)); }

namespace {
/// The cost model corrected by the measurements: log(measured / predicted)
/// fitted as a sum of one effect per knob value by backfitting a ridge
/// regression, so that a knob value measured a few times moves the
/// prediction of every candidate that has it, and one never measured keeps
/// the model's.
class CorrectedModel {
public:
  /// `numValues[k]` values of knob k.
  explicit CorrectedModel(const std::vector<int64_t> &numValues) {
    for (int64_t count : numValues)
      effects.emplace_back(count, 0.0);
  }

  /// Refits the effects to the ok trials of `trials`, whose predictions
  /// are `predicted` (one per trial).
  void fit(const std::vector<SearchTrial> &trials,
           const std::vector<double> &predicted) {
    std::vector<size_t> ok;
    std::vector<double> residual;
    for (size_t i = 0; i < trials.size(); ++i)
      if (trials[i].result.ok()) {
        ok.push_back(i);
        residual.push_back(logOf(trials[i].result.seconds.median) -
                           logOf(predicted[i]));
      }
    for (std::vector<double> &knob : effects)
      std::fill(knob.begin(), knob.end(), 0.0);
    if (ok.empty())
      return;
    // The median residual is the model's overall error; a candidate many
    // times slower than that (a register tile that spills) says its values
    // are bad, not how bad, and is clipped so it does not drown the rest.
    std::vector<double> sorted = residual;
    std::sort(sorted.begin(), sorted.end());
    double offset = sorted[sorted.size() / 2];
    for (double &r : residual)
      r = std::clamp(r, offset - kClip, offset + kClip);
    // Each sweep sets every knob's effects to the shrunk mean of what the
    // other knobs leave unexplained; a few sweeps settle.
    constexpr int kSweeps = 8;
    for (int sweep = 0; sweep < kSweeps; ++sweep)
      for (size_t k = 0; k < effects.size(); ++k) {
        std::vector<double> sum(effects[k].size(), 0.0);
        std::vector<double> count(effects[k].size(), 0.0);
        for (size_t j = 0; j < ok.size(); ++j) {
          const CandidateIndices &c = trials[ok[j]].candidate;
          double rest = residual[j] - offset;
          for (size_t l = 0; l < effects.size(); ++l)
            if (l != k)
              rest -= effects[l][c[l]];
          sum[c[k]] += rest;
          count[c[k]] += 1;
        }
        for (size_t v = 0; v < effects[k].size(); ++v)
          effects[k][v] = sum[v] / (count[v] + kRidge);
      }
  }

  /// The log of the corrected prediction of `candidate`, whose model
  /// prediction is `predicted`.
  double score(const CandidateIndices &candidate, double predicted) const {
    double score = logOf(predicted);
    for (size_t k = 0; k < effects.size(); ++k)
      score += effects[k][candidate[k]];
    return score;
  }

private:
  /// Pseudo-trials of no effect each value starts with: one measurement
  /// moves its value's effect four fifths of the way (the noise of a
  /// measurement is a few percent, the model's errors are often 2x).
  static constexpr double kRidge = 0.25;
  /// Residuals are clipped to within a factor of 3 of the median.
  static constexpr double kClip = 1.0986;
  std::vector<std::vector<double>> effects;
};
} // namespace

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

  // 3. Large spaces by rank (stable: ties keep the enumeration order), the
  //    best-ranked of the candidates with the most knob values not yet
  //    measured first, until every value was or half the budget is spent.
  std::vector<double> predicted(legal.size());
  for (size_t i = 0; i < legal.size(); ++i)
    predicted[i] = predict(legal[i]);
  std::vector<size_t> ranked(legal.size());
  std::iota(ranked.begin(), ranked.end(), 0);
  std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
    return predicted[a] < predicted[b];
  });
  std::vector<int64_t> numValues(legal.front().size(), 0);
  for (const std::vector<CandidateIndices> *list : {&legal, &first})
    for (const CandidateIndices &candidate : *list)
      for (size_t k = 0; k < candidate.size(); ++k)
        numValues[k] = std::max(numValues[k], candidate[k] + 1);
  std::set<std::pair<size_t, int64_t>> seenValues;
  auto addSeen = [&] {
    for (const SearchTrial &trial : searcher.result.trials)
      for (size_t k = 0; k < trial.candidate.size(); ++k)
        seenValues.insert({k, trial.candidate[k]});
  };
  auto countNewValues = [&](const CandidateIndices &candidate) {
    int64_t count = 0;
    for (size_t k = 0; k < candidate.size(); ++k)
      count += !seenValues.count({k, candidate[k]});
    return count;
  };
  int64_t explore = (options.maxTrials + 1) / 2;
  for (int64_t step = 0;
       searcher.hasBudget() &&
       static_cast<int64_t>(searcher.result.trials.size()) < explore;
       ++step) {
    addSeen();
    // Every other trial is the model's best-ranked candidate not measured:
    // among the good candidates the model's order is mostly right, and the
    // corrected model learns from a few measurements there more than from
    // the slow candidates that show new values.
    bool byRank = step % 2 == 1;
    std::optional<size_t> pick;
    int64_t pickNew = -1;
    for (size_t index : ranked) {
      if (searcher.wasMeasured(legal[index]))
        continue;
      int64_t count = countNewValues(legal[index]);
      if (count > pickNew) {
        pick = index;
        pickNew = count;
      }
      if (byRank)
        break;
    }
    if (!pick)
      return std::move(searcher.result);
    if (pickNew == 0 && !byRank)
      break;
    searcher.measure(legal[*pick]);
  }

  // 4. Refine with the corrected model, in turn among the candidates that
  //    differ from the fastest in the fewest knobs and anywhere.
  CorrectedModel model(numValues);
  std::vector<double> trialPredicted;
  for (int64_t step = 0; searcher.hasBudget(); ++step) {
    // Two steps near the fastest for one anywhere: once a good region is
    // found, its neighbourhood holds most of what is left to gain.
    bool nearBest = step % 3 != 2;
    for (size_t i = trialPredicted.size(); i < searcher.result.trials.size();
         ++i)
      trialPredicted.push_back(predict(searcher.result.trials[i].candidate));
    model.fit(searcher.result.trials, trialPredicted);
    const CandidateIndices *best = searcher.getBest();
    std::optional<size_t> pick, anywhere;
    std::pair<int64_t, double> pickKey;
    double anywhereScore = 0;
    for (size_t index : ranked) {
      if (searcher.wasMeasured(legal[index]))
        continue;
      double score = model.score(legal[index], predicted[index]);
      if (!anywhere || score < anywhereScore) {
        anywhere = index;
        anywhereScore = score;
      }
      if (!nearBest || !best)
        continue;
      std::pair<int64_t, double> key = {
          countDifferences(legal[index], *best), score};
      if (!pick || key < pickKey) {
        pick = index;
        pickKey = key;
      }
    }
    if (!pick)
      pick = anywhere;
    if (!pick)
      break;
    searcher.measure(legal[*pick]);
  }
  return std::move(searcher.result);
}

/// Per finalist (`rounds[i]`, one result per round), the median over the
/// rounds of its median over the round's fastest; none for a finalist that
/// failed a round.
static std::vector<std::optional<double>>
getRelativeTimes(const std::vector<std::vector<TrialResult>> &rounds) {
  std::vector<std::optional<double>> relative(rounds.size());
  size_t numRounds = rounds.front().size();
  std::vector<std::vector<double>> ratios(rounds.size());
  for (size_t round = 0; round < numRounds; ++round) {
    double fastest = std::numeric_limits<double>::infinity();
    for (const std::vector<TrialResult> &timed : rounds)
      if (timed[round].ok())
        fastest = std::min(fastest, timed[round].seconds.median);
    for (size_t i = 0; i < rounds.size(); ++i)
      if (rounds[i][round].ok())
        ratios[i].push_back(rounds[i][round].seconds.median / fastest);
  }
  for (size_t i = 0; i < rounds.size(); ++i)
    if (ratios[i].size() == numRounds)
      relative[i] = summarize(ratios[i]).median;
  return relative;
}

Confirmation confirmBest(const SearchResult &result,
                         const MeasureTogether &measureTogether,
                         const ConfirmOptions &options, Clock &clock) {
  double start = clock.now();
  Confirmation confirmation;
  // 1. The finalists: the fastest ok trials, and the first one.
  std::vector<size_t> ok;
  for (size_t i = 0; i < result.trials.size(); ++i)
    if (result.trials[i].result.ok())
      ok.push_back(i);
  std::stable_sort(ok.begin(), ok.end(), [&](size_t a, size_t b) {
    return result.trials[a].result.seconds.median <
           result.trials[b].result.seconds.median;
  });
  confirmation.finalists.assign(
      ok.begin(),
      ok.begin() + std::min<size_t>(ok.size(), std::max<int64_t>(
                                                   options.finalists, 1)));
  if (!ok.empty() && result.trials.front().result.ok() &&
      !llvm::is_contained(confirmation.finalists, 0))
    confirmation.finalists.push_back(0);
  size_t count = confirmation.finalists.size();
  std::vector<double> &scores = confirmation.scores;
  for (size_t finalist : confirmation.finalists) {
    confirmation.results.push_back(result.trials[finalist].result);
    scores.push_back(result.trials[finalist].result.seconds.median);
  }

  // 2. Rounds, each timing them together in an order rotated by one.
  std::vector<std::vector<TrialResult>> rounds(count);
  if (count >= 2)
    for (int64_t round = 0; round < options.rounds &&
                            clock.now() - start < options.maxSeconds;
         ++round) {
      std::vector<CandidateIndices> candidates;
      for (size_t i = 0; i < count; ++i)
        candidates.push_back(
            result.trials[confirmation.finalists[(i + round) % count]]
                .candidate);
      std::vector<TrialResult> timed = measureTogether(candidates);
      for (size_t i = 0; i < count; ++i)
        rounds[(i + round) % count].push_back(std::move(timed[i]));
      ++confirmation.rounds;
      confirmation.trials += static_cast<int64_t>(count);
    }

  // 3. Each finalist's median round and its time relative to the rounds'
  //    fastest; a failed round rules it out.
  if (confirmation.rounds > 0) {
    std::vector<std::optional<double>> relative = getRelativeTimes(rounds);
    for (size_t i = 0; i < count; ++i) {
      std::vector<TrialResult> &timed = rounds[i];
      auto failed = llvm::find_if(
          timed, [](const TrialResult &trial) { return !trial.ok(); });
      if (failed != timed.end()) {
        confirmation.results[i] = *failed;
        continue;
      }
      std::sort(timed.begin(), timed.end(),
                [](const TrialResult &a, const TrialResult &b) {
                  return a.seconds.median < b.seconds.median;
                });
      confirmation.results[i] = timed[(timed.size() - 1) / 2];
      scores[i] = *relative[i];
    }
  }
  for (size_t i = 0; i < count; ++i)
    if (confirmation.results[i].ok() &&
        (!confirmation.best || scores[i] < scores[*confirmation.best]))
      confirmation.best = i;
  return confirmation;
}

} // namespace kiln::autotune
