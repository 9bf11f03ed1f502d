//===- Tuner.h - Tuning one kernel end to end ------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Ties the pieces together for one kernel: its signature and the database
// key; a cached tuning when there is one; otherwise the search space, the
// trial data, the default config measured as the baseline, the search with
// each candidate in a worker process, and the best correct config stored.
//
// The same for a GPU target: the space is the kernel's CUDA space
// (autotune/CudaSpace.h), the worker measures each candidate on the device,
// and the key's target is the GPU's fingerprint. No cost model ranks GPU
// candidates yet: every prediction is equal, so the search explores in
// enumeration order and its refinement ranks by the measured effect of each
// knob value alone.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_TUNER_H_
#define KILN_AUTOTUNE_TUNER_H_

#include "autotune/CudaSpace.h"
#include "autotune/Database.h"
#include "autotune/Search.h"
#include "autotune/Space.h"
#include "codegen/CUDA/Nvrtc.h"
#include "codegen/Common/Target.h"
#include "runtime/MachinePeaks.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::autotune {

/// The thread count of GPU tunings' keys: a GPU kernel is called from one
/// host thread.
inline constexpr int kCudaTuningThreads = 1;

struct TunerOptions {
  /// The code-generation target and its tuning fingerprint
  /// (codegen::getTuningFingerprint, or getCudaFingerprint for a GPU).
  codegen::CpuTarget target;
  std::string fingerprint;
  /// A GPU target: the limits of its architecture on the device, `arch`
  /// naming it; unset for the CPU `target`.
  std::optional<CudaSpaceLimits> cuda;
  /// GPU targets: how the worker finds NVRTC, the CUDA headers and the
  /// cubin cache.
  codegen::NvrtcOptions nvrtc;
  std::string compilerVersion;
  /// The worker executable (kiln-tune-worker).
  std::string workerPath;
  /// Threads the candidates run on, part of the key; also in `peaks`.
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
  /// A candidate whose interquartile range is above this fraction of its
  /// median after its timing budget is timed once more, and the tighter of
  /// the two sample sets kept (0: never).
  double remeasureSpread = 0.1;
  /// Extra worker arguments (the tests inject faults with them).
  std::vector<std::string> workerArguments;
  /// Seed of the trial inputs.
  uint64_t seed = 1;
  /// A folder that keeps each kernel's trial data (inputs and reference
  /// results) between runs, named by the kernel's signature and the seed:
  /// tuning a kernel again (for another thread count, or a study) then
  /// skips the reference evaluator, slow on large kernels. Empty: the data
  /// is written to the scratch folder and removed with it.
  std::string trialDataFolder;
};

/// Options for tuning for `target` on this machine on `threads` threads (0:
/// one per hardware thread): the host's tuning fingerprint and L2 size, and
/// the roofline measured on those threads. The caller sets the worker, the
/// compiler version and the budgets.
TunerOptions getHostTunerOptions(codegen::CpuTarget target, int threads);

/// Options for tuning for the GPU architecture `arch` on `device`: its
/// fingerprint and limits, kCudaTuningThreads, no roofline. std::nullopt
/// when `arch` is not one kiln compiles for. The caller sets the worker,
/// the compiler version, NVRTC and the budgets.
std::optional<TunerOptions>
getCudaTunerOptions(llvm::StringRef arch, const cuda::CudaDeviceInfo &device);

/// The target name the worker compiles for: the GPU architecture, or the
/// CPU target's name.
std::string getTargetName(const TunerOptions &options);

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
  /// Search trials timed twice because their first spread was wide.
  int64_t remeasured = 0;
  /// Trials of the final round (confirmBest), beyond `trials`.
  int64_t confirmationTrials = 0;
  /// Why nothing was stored: every candidate, the default included, failed
  /// (the first failure's status and reason). Empty when tuned or cached.
  std::string error;
  /// Wall time spent on this kernel.
  double wallSeconds = 0;
};

/// One kernel's search space, and its candidates measured each in a worker
/// process on trial data written once: what tuning and the tuning study
/// (autotune/Study.h) share.
class KernelTrials {
public:
  /// Builds the space of `kernel` and writes its trial data to a scratch
  /// folder, removed with this object. Emits an error at the kernel and
  /// returns failure when it cannot.
  static mlir::FailureOr<std::unique_ptr<KernelTrials>>
  create(mlir::func::FuncOp kernel, const TunerOptions &options);
  ~KernelTrials();

  /// The number of candidates of the space before filtering.
  int64_t getSpaceSize() const;
  /// Every legal candidate, in enumeration order.
  const std::vector<Candidate> &getLegal() const { return legal; }
  /// The default config's candidate, when the space holds it.
  const std::optional<Candidate> &getBase() const { return base; }
  /// The candidates a search measures first: the default's, then
  /// GotoBLAS's blockings where the space has them (getBlockedCandidates).
  const std::vector<Candidate> &getSeeds() const { return seeds; }

  /// Compiles, checks and times `candidate` in a worker.
  TrialResult measure(const Candidate &candidate);
  /// Compiles, checks and times `candidates`, on the CPU side by side in
  /// one worker (their ratios then hold whatever that process's own
  /// speed), on a GPU each in its own; their results in order. When none
  /// comes back ok, each is timed again alone: a candidate that kills the
  /// worker takes none of the others with it.
  std::vector<TrialResult>
  measureTogether(const std::vector<Candidate> &candidates);
  /// The cost model's seconds for `candidate`.
  double predict(const Candidate &candidate) const;
  /// The config `candidate` gives, as the database stores it.
  std::string getConfigText(const Candidate &candidate) const;

private:
  KernelTrials(mlir::func::FuncOp kernel, const TunerOptions &options)
      : kernel(kernel), options(options) {}

  mlir::func::FuncOp kernel;
  /// The candidate's config attribute.
  mlir::Attribute getConfig(const Candidate &candidate) const;

  TunerOptions options;
  /// The space: the CPU's, or the GPU's for a GPU target.
  SearchSpace space;
  std::optional<CudaSearchSpace> cudaSpace;
  std::vector<Candidate> legal;
  std::optional<Candidate> base;
  std::vector<Candidate> seeds;
  std::string folder;
  std::string dataPath;
  int64_t written = 0;

  /// Runs one worker on `candidates`: their results in order.
  std::vector<TrialResult>
  runWorkerOn(const std::vector<Candidate> &candidates);
};

/// The key `kernel` is stored under.
TuningKey getTuningKey(mlir::func::FuncOp kernel, const TunerOptions &options);

/// The tuned config stored for `kernel` (an outlined kernel function)
/// under the target `fingerprint`, `compilerVersion` and the `threads` it
/// will run on, parsed in the kernel's context; null when none is stored. A stored text that is not a
/// CPU config (a file edited by hand, or written by another version that
/// kept the version string) is ignored with a warning at the kernel, so the
/// compile goes on with the default.
CpuConfigAttr findTunedConfig(mlir::func::FuncOp kernel,
                              const std::string &fingerprint,
                              const std::string &compilerVersion,
                              int64_t threads, TuningDatabase &database);

/// As findTunedConfig, for a GPU `fingerprint` (getCudaFingerprint): the
/// stored #kiln.cuda_config of `kernel` under kCudaTuningThreads; a stored
/// text that is not a CUDA config is ignored with a warning.
CudaConfigAttr findTunedCudaConfig(mlir::func::FuncOp kernel,
                                   const std::string &fingerprint,
                                   const std::string &compilerVersion,
                                   TuningDatabase &database);

/// Tunes `kernel` (a kiln kernel function) or finds it in `database`, and
/// stores a new tuning there. When every candidate fails, the default
/// included, nothing is stored and KernelTuning::error says why. Emits an
/// error at the kernel and returns failure when the kernel cannot be tuned
/// at all (no trial data, or the database cannot be written).
mlir::FailureOr<KernelTuning> tuneKernel(mlir::func::FuncOp kernel,
                                         const TunerOptions &options,
                                         TuningDatabase &database);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_TUNER_H_
