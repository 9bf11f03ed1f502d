//===- Measure.h - Timing a piece of work robustly -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The one timing loop of Kiln, shared by `kiln bench`, the benchmarks and the
// autotuner: warm up, batch calls so each sample is long enough to time,
// repeat until the median is stable or the budget runs out.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_MEASURE_H_
#define KILN_AUTOTUNE_MEASURE_H_

#include "autotune/Statistics.h"

#include <functional>

namespace kiln::autotune {

/// A monotonic clock in seconds. Tests substitute a fake one so the timing
/// logic is deterministic.
class Clock {
public:
  virtual ~Clock();
  virtual double now() = 0;
};

/// std::chrono::steady_clock.
class SteadyClock : public Clock {
public:
  double now() override;
};

struct MeasureOptions {
  /// Calls before any sample is taken (caches, page faults, lazy binding).
  int warmupCalls = 2;
  int minSamples = 5;
  int maxSamples = 200;
  /// Stop sampling after this long, stable or not.
  double maxSeconds = 2.0;
  /// The median counts as stable once the interquartile range is at most
  /// this fraction of it.
  double stableSpread = 0.03;
  /// Calls are batched so that one sample lasts at least this long.
  double minSampleSeconds = 1e-3;
};

struct Measurement {
  /// Seconds per call, one entry per sample.
  std::vector<double> samples;
  Summary summary;
  int64_t callsPerSample = 1;
  /// Whether the spread reached `stableSpread` within the budget.
  bool stable = false;
};

/// Times `work` under `options`, reading time from `clock`.
Measurement measure(const std::function<void()> &work,
                    const MeasureOptions &options, Clock &clock);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_MEASURE_H_
