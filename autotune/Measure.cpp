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

/// One measurement: warm-up, batching and sampling within the budget.
static Measurement sample(const std::function<void()> &work,
                          const MeasureOptions &options, Clock &clock) {
  Measurement result;
  double start = clock.now();

  // 1. Warm up; the last warm-up call estimates the cost of one call.
  double perCall = 0;
  for (int i = 0; i < options.warmupCalls; ++i) {
    double before = clock.now();
    work();
    perCall = clock.now() - before;
  }

  // 2. Batch calls so a sample is long enough for the clock to resolve.
  if (perCall > 0 && perCall < options.minSampleSeconds)
    result.callsPerSample =
        static_cast<int64_t>(std::ceil(options.minSampleSeconds / perCall));

  // 3. Sample until the median is stable or the budget is spent.
  while (static_cast<int>(result.samples.size()) < options.maxSamples) {
    double before = clock.now();
    for (int64_t call = 0; call < result.callsPerSample; ++call)
      work();
    double after = clock.now();
    result.samples.push_back((after - before) /
                             static_cast<double>(result.callsPerSample));
    if (static_cast<int>(result.samples.size()) < options.minSamples)
      continue;
    result.summary = summarize(result.samples);
    result.stable = result.summary.relativeSpread <= options.stableSpread;
    if (result.stable || after - start >= options.maxSeconds)
      break;
  }
  result.summary = summarize(result.samples);
  result.stable = result.samples.size() >= 2 &&
                  result.summary.relativeSpread <= options.stableSpread;
  return result;
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
