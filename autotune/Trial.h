//===- Trial.h - One candidate compiled, checked and timed -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What `kiln-tune-worker` does for a candidate, in its own process:
//
//   1. parse the kernel module (one kernel, its candidate config attached);
//   2. compile it for the target into a shared object and load it; for a
//      GPU target (sm_80, sm_90a) generate its CUDA C++, compile it to a
//      cubin with NVRTC and load it on device 0 with the CUDA runtime as a
//      one-kernel model;
//   3. run it once on the trial data's inputs and compare every result with
//      the reference evaluator's (reference/Compare.h): a wrong candidate
//      never gets timed, so it can never win;
//   4. time it with the shared timing loop (autotune/Measure.h) on a thread
//      pool, or on the GPU by the device time driver events stamp on its
//      stream, and answer one JSON line (read by autotune/Worker.h).
//
// On the CPU a worker may take several candidates of one kernel (the tuner's
// final round): each is compiled and checked, then those that pass are
// timed side by side on the same buffers, their samples taken in turns,
// and the worker answers a line per candidate, in order. The same code runs
// a steady few percent faster in one process than in another, whatever its
// buffers' pages, the CPU or the address layout (session 24, bench/NOTES.md);
// within one process the candidates' ratios hold to a fraction of a percent.
//
// On the GPU, a candidate that cannot load (too many registers or too much
// shared memory for the device) is a compile error, one that faults while
// running has crashed, and one whose buffers the device cannot allocate
// (CUDA_ERROR_OUT_OF_MEMORY) ran out of memory.
//
// The trial data (inputs and expected outputs, safetensors "in<i>" and
// "out<i>") is computed once per kernel by the tuner: the reference
// evaluator is slow for large kernels, and every candidate shares it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_TRIAL_H_
#define KILN_AUTOTUNE_TRIAL_H_

#include "autotune/Measure.h"
#include "codegen/CUDA/Nvrtc.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace kiln::cuda {
struct CudaDevice;
} // namespace kiln::cuda

namespace kiln::autotune {

/// A fault the worker injects on purpose, so the tests can check that the
/// tuner survives each kind of bad candidate.
enum class InjectedFault { None, Crash, Hang, WrongResult, OutOfMemory };

struct TrialOptions {
  /// The kernel modules (.mlir, one candidate each; one on a GPU target).
  std::vector<std::string> kernelPaths;
  /// The trial data (.safetensors), shared by the candidates.
  std::string dataPath;
  /// A folder for the compiled shared object.
  std::string workDirectory;
  /// The target name (codegen/Common/Target.h), or a GPU architecture.
  std::string target = "host";
  int threads = 1;
  MeasureOptions measure;
  InjectedFault fault = InjectedFault::None;
  /// GPU targets: NVRTC, its headers and cache, and the driver library the
  /// device is opened with.
  codegen::NvrtcOptions nvrtc;
  std::string cudaDriver = "libcuda.so.1";
};

/// Writes the trial data of `kernel` to `path`: inputs seeded by `seed`
/// (reference::makeSeededInputs) and the reference evaluator's results.
/// Emits an error at the kernel and returns failure when it cannot.
mlir::LogicalResult writeTrialData(mlir::func::FuncOp kernel,
                                   const std::string &path, uint64_t seed);

/// Runs the trial and returns a JSON answer line per kernel module, in
/// order: {"status": "ok", "median": ..., "q1": ..., ...} or {"status":
/// "<failure>", "reason": "..."} (status names of getTrialStatusName).
std::vector<std::string> runTrial(const TrialOptions &options);

/// Runs the trial of a GPU target (`options.target` "sm_80" or "sm_90a") on
/// `device`: what runTrial does once it has opened device 0 with the
/// driver `options.cudaDriver`.
std::string runCudaTrial(const TrialOptions &options,
                         const cuda::CudaDevice &device);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_TRIAL_H_
