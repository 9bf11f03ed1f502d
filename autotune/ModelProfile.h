//===- ModelProfile.h - Per-kernel times against the roofline --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Runs a loaded model a number of times and reports, per kernel call, its
// median time, the rate it reached (FLOP/s for a compute-bound kernel, bytes
// per second for a memory-bound one) and the fraction of this machine's
// roofline that is (runtime/MachinePeaks.h): the data of `kiln run`'s table.
// No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_MODELPROFILE_H_
#define KILN_AUTOTUNE_MODELPROFILE_H_

#include "autotune/Statistics.h"
#include "runtime/MachinePeaks.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {
class CompiledModel;
} // namespace kiln

namespace kiln::autotune {

/// One kernel call of a profiled model.
struct KernelProfile {
  std::string kernel;
  std::vector<std::string> fusedOps;
  int64_t flops = 0;
  int64_t bytes = 0;
  /// Its times over the timed runs, in seconds.
  Summary seconds;
  /// Whether compute, rather than memory bandwidth, bounds it on the machine
  /// (its FLOPs take longer at peak than its bytes do).
  bool computeBound = false;
  /// FLOP/s when compute-bound, bytes per second otherwise, at the median.
  double rate = 0;
  /// The roofline's least time for the kernel over its median time.
  double rooflineFraction = 0;
};

/// A profiled model.
struct ModelProfile {
  std::vector<KernelProfile> kernels;
  /// Whole runs, in seconds.
  Summary latency;
};

/// Runs `model` (inputs bound) `warmupRuns` times untimed, then `runs`
/// times, and profiles each kernel call against `peaks`. Requires runs >= 1.
/// On a failed run returns std::nullopt and sets `error`.
std::optional<ModelProfile> profileModel(CompiledModel &model, int warmupRuns,
                                         int runs, const MachinePeaks &peaks,
                                         std::string &error);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_MODELPROFILE_H_
