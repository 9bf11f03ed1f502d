//===- Measure.h - Timing a piece of work robustly -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The one timing loop of Kiln, shared by `kiln bench`, the benchmarks and the
// autotuner: warm up, batch calls so each sample is long enough to time,
// repeat until the median is stable or the budget runs out. A measurement
// still wide after its budget (another process took the core for a while)
// may be taken once more, keeping the tighter of the two. Work compared
// with other work (a kernel and its peers) is measured side by side, the
// samples of each taken in turns. The caches a call meets can be set up
// before each call, untimed (MeasureOptions::beforeEachCall): a kernel of a
// model meets its weights cold, and one timed back to back with its inputs
// warm can rank configs in an order the model does not see.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_MEASURE_H_
#define KILN_AUTOTUNE_MEASURE_H_

#include "autotune/Statistics.h"

#include <functional>
#include <vector>

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
  /// When the interquartile range is still above this fraction of the
  /// median after the budget, everything (warm-up included) is done once
  /// more and the sample set with the smaller spread is kept (0: never).
  double remeasureSpread = 0;
  /// Side by side only: each turn first runs its work untimed for this
  /// long, so that what the last turn's work left behind (another library's
  /// worker threads still spinning on the cores) is gone before sampling.
  double settleSeconds = 0;
  /// Side by side only: the samples of each turn.
  int samplesPerTurn = 1;
  /// When set, runs untimed before every call (warm-up and settling
  /// included), e.g. to evict the call's inputs (evictFromCaches). Calls
  /// are then timed one by one, and a sample is their mean.
  std::function<void()> beforeEachCall;
};

struct Measurement {
  /// Seconds per call, one entry per sample.
  std::vector<double> samples;
  Summary summary;
  int64_t callsPerSample = 1;
  /// Whether the spread reached `stableSpread` within the budget.
  bool stable = false;
  /// Whether the work was measured twice (MeasureOptions::remeasureSpread);
  /// `discarded` then summarizes the wider sample set, which was dropped.
  bool remeasured = false;
  Summary discarded;
};

/// Times `work` under `options`, reading time from `clock`.
Measurement measure(const std::function<void()> &work,
                    const MeasureOptions &options, Clock &clock);

/// Times several pieces of work side by side: each is warmed up and batched
/// as by `measure`, then they take turns, round after round (each turn
/// settles, then samples), until all are stable or their combined budget
/// (`maxSeconds` each) is spent. A machine whose speed drifts during the run then slows them
/// alike, and their ratios stay true. All get the same number of samples;
/// none is measured twice (`remeasureSpread` does not apply).
std::vector<Measurement>
measureSideBySide(const std::vector<std::function<void()>> &works,
                  const MeasureOptions &options, Clock &clock);

/// Writes back and evicts the `bytes` at `data` from every cache level of
/// every core, so that the next access reads them from memory.
void evictFromCaches(const void *data, size_t bytes);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_MEASURE_H_
