//===- Measure.cpp - Timing a piece of work robustly -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace kiln::autotune {

Clock::~Clock() = default;

double SteadyClock::now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Warms `work` up; returns how many calls one sample batches so that it
/// lasts at least `minSampleSeconds` (the last warm-up call estimates the
/// cost of one).
static int64_t warmUp(const std::function<void()> &work,
                      const MeasureOptions &options, Clock &clock) {
  double perCall = 0;
  for (int i = 0; i < options.warmupCalls; ++i) {
    double before = clock.now();
    work();
    perCall = clock.now() - before;
  }
  if (perCall > 0 && perCall < options.minSampleSeconds)
    return static_cast<int64_t>(std::ceil(options.minSampleSeconds / perCall));
  return 1;
}

/// Appends one sample of `work` (seconds per call over `result`'s batch)
/// to `result`.
static void takeSample(const std::function<void()> &work,
                       Measurement &result, Clock &clock) {
  double before = clock.now();
  for (int64_t call = 0; call < result.callsPerSample; ++call)
    work();
  double after = clock.now();
  result.samples.push_back((after - before) /
                           static_cast<double>(result.callsPerSample));
}

/// Summarizes the samples of `result`; returns whether they are stable.
static bool summarizeSamples(Measurement &result,
                             const MeasureOptions &options) {
  result.summary = summarize(result.samples);
  result.stable = result.samples.size() >= 2 &&
                  result.summary.relativeSpread <= options.stableSpread;
  return result.stable;
}

/// One measurement: warm-up, batching and sampling within the budget.
static Measurement sample(const std::function<void()> &work,
                          const MeasureOptions &options, Clock &clock) {
  Measurement result;
  double start = clock.now();
  result.callsPerSample = warmUp(work, options, clock);
  // Sample until the median is stable or the budget is spent.
  while (static_cast<int>(result.samples.size()) < options.maxSamples) {
    takeSample(work, result, clock);
    if (static_cast<int>(result.samples.size()) >= options.minSamples &&
        (summarizeSamples(result, options) ||
         clock.now() - start >= options.maxSeconds))
      break;
  }
  summarizeSamples(result, options);
  return result;
}

std::vector<Measurement>
measureSideBySide(const std::vector<std::function<void()>> &works,
                  const MeasureOptions &options, Clock &clock) {
  std::vector<Measurement> results(works.size());
  double start = clock.now();
  for (size_t i = 0; i < works.size(); ++i)
    results[i].callsPerSample = warmUp(works[i], options, clock);
  double budget = options.maxSeconds * static_cast<double>(works.size());
  int perTurn = std::max(1, options.samplesPerTurn);
  for (int taken = 0; taken < options.maxSamples;) {
    for (size_t i = 0; i < works.size(); ++i) {
      for (double settled = clock.now() + options.settleSeconds;
           clock.now() < settled;)
        works[i]();
      for (int turnSample = 0; turnSample < perTurn; ++turnSample)
        takeSample(works[i], results[i], clock);
    }
    taken += perTurn;
    if (taken < options.minSamples)
      continue;
    bool allStable = true;
    for (Measurement &result : results)
      allStable &= summarizeSamples(result, options);
    if (allStable || clock.now() - start >= budget)
      break;
  }
  for (Measurement &result : results)
    summarizeSamples(result, options);
  return results;
}

Measurement measure(const std::function<void()> &work,
                    const MeasureOptions &options, Clock &clock) {
  Measurement first = sample(work, options, clock);
  if (options.remeasureSpread <= 0 ||
      first.summary.relativeSpread <= options.remeasureSpread)
    return first;
  // Wide after the whole budget: once more, and the tighter set stays (the
  // first on a tie, so a steady wide spread is not measured for nothing).
  Measurement second = sample(work, options, clock);
  bool keepSecond =
      second.summary.relativeSpread < first.summary.relativeSpread;
  Measurement &kept = keepSecond ? second : first;
  kept.remeasured = true;
  kept.discarded = keepSecond ? first.summary : second.summary;
  return std::move(kept);
}

} // namespace kiln::autotune
