//===- Measure.cpp - Timing a piece of work robustly -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kiln::autotune {

Clock::~Clock() = default;

double SteadyClock::now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void evictFromCaches(const void *data, size_t bytes) {
  // No cache of a supported CPU has lines shorter than 64 bytes: a flush
  // every 64 bytes reaches every line.
  constexpr uintptr_t kLine = 64;
  auto begin = reinterpret_cast<uintptr_t>(data) & ~(kLine - 1);
  auto end = reinterpret_cast<uintptr_t>(data) + bytes;
#if defined(__x86_64__) || defined(__i386__)
  // clflush (SSE2, so every x86-64) evicts from all cores' caches; the
  // fence orders the flushes before the timed call's loads.
  for (uintptr_t line = begin; line < end; line += kLine)
    _mm_clflush(reinterpret_cast<const void *>(line));
  _mm_mfence();
#elif defined(__aarch64__)
  // Clean and invalidate to the point of coherency, then wait for it.
  for (uintptr_t line = begin; line < end; line += kLine)
    asm volatile("dc civac, %0" : : "r"(line) : "memory");
  asm volatile("dsb ish" : : : "memory");
#else
#error "evictFromCaches: no cache flush for this architecture"
#endif
}

/// Runs one call of `work` (after `options.beforeEachCall`, untimed);
/// returns its seconds.
static double timeCall(const std::function<void()> &work,
                       const MeasureOptions &options, Clock &clock) {
  if (options.beforeEachCall)
    options.beforeEachCall();
  double before = clock.now();
  work();
  return clock.now() - before;
}

/// Warms `work` up; returns how many calls one sample batches so that it
/// lasts at least `minSampleSeconds` (the last warm-up call estimates the
/// cost of one).
static int64_t warmUp(const std::function<void()> &work,
                      const MeasureOptions &options, Clock &clock) {
  double perCall = 0;
  for (int i = 0; i < options.warmupCalls; ++i)
    perCall = timeCall(work, options, clock);
  if (perCall > 0 && perCall < options.minSampleSeconds)
    return static_cast<int64_t>(std::ceil(options.minSampleSeconds / perCall));
  return 1;
}

/// Appends one sample of `work` (seconds per call over `result`'s batch)
/// to `result`.
static void takeSample(const std::function<void()> &work,
                       const MeasureOptions &options, Measurement &result,
                       Clock &clock) {
  double seconds = 0;
  if (options.beforeEachCall) {
    // Each call after its own set-up, which stays off the clock.
    for (int64_t call = 0; call < result.callsPerSample; ++call)
      seconds += timeCall(work, options, clock);
  } else {
    // The batch on one clock: a clock read per call would weigh on calls
    // of a few hundred nanoseconds.
    double before = clock.now();
    for (int64_t call = 0; call < result.callsPerSample; ++call)
      work();
    seconds = clock.now() - before;
  }
  result.samples.push_back(seconds /
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
    takeSample(work, options, result, clock);
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
        timeCall(works[i], options, clock);
      for (int turnSample = 0; turnSample < perTurn; ++turnSample)
        takeSample(works[i], options, results[i], clock);
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
