//===- MachinePeaks.h - This machine's measured roofline --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The two ceilings every kernel report is measured against: the sustained
// memory bandwidth (STREAM-style copy, scale, add and triad over arrays much
// larger than the last-level cache) and the f32 FMA throughput (independent
// FMA chains in the widest vector registers the CPU has). Both are measured
// on the running machine with a given thread pool, never looked up from a
// table: a VM, a power cap or a shared host all change them.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MACHINEPEAKS_H_
#define KILN_RUNTIME_MACHINEPEAKS_H_

#include <cstdint>

namespace kiln {

class ThreadPool;

/// Best bandwidths of the four STREAM kernels, in bytes per second, counted
/// as STREAM counts them (copy and scale move 2 arrays, add and triad 3).
struct StreamBandwidth {
  double copy = 0;
  double scale = 0;
  double add = 0;
  double triad = 0;

  /// The best of the four: the bandwidth a streaming kernel can hope for.
  double getBest() const;
};

/// Runs the STREAM kernels over three arrays of `elementsPerArray` doubles,
/// split across `pool`, `repetitions` times each, and keeps each kernel's
/// best time. `elementsPerArray` 0 picks four times the last-level cache
/// (at least 8 Mi elements, at most 64 Mi). Requires repetitions >= 1.
StreamBandwidth measureStreamBandwidth(ThreadPool &pool,
                                       int64_t elementsPerArray = 0,
                                       int repetitions = 5);

/// The f32 FMA throughput of `pool`'s threads in FLOP/s (an FMA counts as
/// 2), with AVX-512, AVX2+FMA or SSE as the CPU supports: the best of
/// `repetitions` runs, and with more than one, of all runs within a third
/// of a second.
double measureFmaPeak(ThreadPool &pool, int repetitions = 5);

/// The roofline of this machine for `pool`'s threads.
struct MachinePeaks {
  double flopsPerSecond = 0;
  double bytesPerSecond = 0;
  int numThreads = 0;

  /// FLOPs per byte at which a kernel turns from memory- to compute-bound.
  double getRidge() const {
    return bytesPerSecond > 0 ? flopsPerSecond / bytesPerSecond : 0;
  }
  /// The time a kernel moving `bytes` and computing `flops` takes at least.
  double getMinSeconds(int64_t flops, int64_t bytes) const;
};

/// measureFmaPeak and the best STREAM bandwidth with `pool`.
MachinePeaks measureMachinePeaks(ThreadPool &pool);

} // namespace kiln

#endif // KILN_RUNTIME_MACHINEPEAKS_H_
