//===- Tuner.h - Tuning one kernel end to end ------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Ties the pieces together for one kernel: its signature and the database
// key; a cached tuning when there is one; otherwise the search space, the
// trial data, the default config measured as the baseline, the search with
// each candidate in a worker process, and the best correct config stored.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_TUNER_H_
#define KILN_AUTOTUNE_TUNER_H_

#include "autotune/Database.h"
#include "autotune/Search.h"
#include "autotune/Space.h"
#include "codegen/Common/Target.h"
#include "runtime/MachinePeaks.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace kiln::autotune {

struct TunerOptions {
  /// The code-generation target and its tuning fingerprint
  /// (codegen::getTuningFingerprint).
  codegen::CpuTarget target;
  std::string fingerprint;
  std::string compilerVersion;
  /// The worker executable (kiln-tune-worker).
  std::string workerPath;
  /// Threads the candidates run on; also in `peaks`.
  int threads = 1;
  /// The machine's roofline for the cost model.
  MachinePeaks peaks;
  /// L2 bytes for the space's limits (0: assumed).
  int64_t l2Bytes = 0;
  SearchOptions search;
  /// Per candidate: the worker's timing budget and its kill timeout.
  double measureSeconds = 0.3;
  double trialTimeoutSeconds = 60;
  int64_t workerMemoryBytes = int64_t(8) << 30;
  /// Extra worker arguments (the tests inject faults with them).
  std::vector<std::string> workerArguments;
  /// Seed of the trial inputs.
  uint64_t seed = 1;
};

/// A failed candidate, for the report.
struct FailedCandidate {
  std::string config;
  TrialResult result;
};

/// What tuning one kernel gave.
struct KernelTuning {
  std::string kernel;
  std::string signature;
  /// Whether the tuning came from the database (nothing was measured).
  bool cached = false;
  /// The best config, as attribute text.
  std::string config;
  double defaultSeconds = 0, tunedSeconds = 0;
  int64_t trials = 0;
  int64_t spaceSize = 0, legalCandidates = 0;
  std::vector<FailedCandidate> failures;
  /// Wall time spent on this kernel.
  double wallSeconds = 0;
};

/// The key `kernel` is stored under.
TuningKey getTuningKey(mlir::func::FuncOp kernel, const TunerOptions &options);

/// The tuned config stored for `kernel` (an outlined kernel function)
/// under the target `fingerprint` and `compilerVersion`, parsed in the
/// kernel's context; null when none is stored. A stored text that is not a
/// CPU config (a file edited by hand, or written by another version that
/// kept the version string) is ignored with a warning at the kernel, so the
/// compile goes on with the default.
CpuConfigAttr findTunedConfig(mlir::func::FuncOp kernel,
                              const std::string &fingerprint,
                              const std::string &compilerVersion,
                              TuningDatabase &database);

/// Tunes `kernel` (a kiln kernel function) or finds it in `database`, and
/// stores a new tuning there. Emits an error at the kernel and returns
/// failure when the kernel cannot be tuned at all (no trial data, or even
/// the default config fails).
mlir::FailureOr<KernelTuning> tuneKernel(mlir::func::FuncOp kernel,
                                         const TunerOptions &options,
                                         TuningDatabase &database);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_TUNER_H_
