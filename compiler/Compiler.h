//===- Compiler.h - A kiln model to a runtime artifact ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The driver that runs Kiln's stages in order and packs what they produce
// into a runtime Artifact (runtime/Artifact.h):
//
//   graph pipeline (fuse, outline kernels)
//     -> materialize the outputs (a copy kernel for an output that no
//        kernel writes: an input, a weight, a constant, a repeated value)
//     -> the tuned configs of `CompileOptions::configLookup`, if any
//     -> kiln-select-kernel-config (configs already on the IR are kept)
//     -> manifest: inputs, outputs, one step per kernel call, buffers and
//        their memory plan, FLOPs and bytes from explainKernels
//     -> kiln-cpu-lower-kernel on the kernels -> one shared object
//     -> artifact: manifest, code, the weights the model reads, and the
//        model's original kiln graph (without weights) for checking
//
// For a GPU target (sm_80, sm_90a) the configs are #kiln.cuda_config
// (codegen/CUDA/EmitCuda.h's defaults for kernels not tuned), and each
// kernel becomes CUDA C++ compiled to a cubin with NVRTC; the artifact holds
// them in its "cuda" section instead of a shared object.
//
// The result depends only on the module, the weights, the target and the
// configs on the IR: compiling twice gives the same bytes. Every failure is
// emitted as a diagnostic (with the location of the op at fault) on the
// module's context.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_COMPILER_H_
#define KILN_COMPILER_COMPILER_H_

#include "codegen/CUDA/Nvrtc.h"
#include "passes/Fusion/Explain.h"
#include "runtime/Artifact.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace kiln::compiler {

/// Where and when to print the IR while compiling, as mlir-opt's
/// --mlir-print-ir-after-all / --mlir-print-ir-after do: the whole module,
/// after each pass that runs.
struct IRPrintingOptions {
  /// Receives the dumps; nothing is printed when null.
  llvm::raw_ostream *stream = nullptr;
  /// Print after every pass.
  bool afterAll = false;
  /// Print after the passes with these arguments (e.g.
  /// "kiln-fusion-form-kernel-groups", "kiln-cpu-tile-and-fuse-kernel").
  std::vector<std::string> afterPasses;

  bool isEnabled() const {
    return stream && (afterAll || !afterPasses.empty());
  }
};

/// Supplies a tuned config for an outlined kernel function (a function with
/// the `kiln.kernel` attribute, before any config is chosen), or a null
/// attribute when it knows none. The autotuner's database answers it; the
/// compiler only asks, so it depends on no database.
using KernelConfigLookup = std::function<mlir::Attribute(mlir::func::FuncOp)>;

struct CompileOptions {
  /// The CPU to compile for (codegen/Common/Target.h): "host", "x86-64-v3",
  /// ...; or the GPU architecture, "sm_80" or "sm_90a".
  std::string target = "host";
  /// GPU targets: where NVRTC and the CUDA headers are, and its cache.
  codegen::NvrtcOptions nvrtc;
  /// Fuse ops into kernels; with false every op is its own kernel.
  bool fusion = true;
  /// Store the model's kiln graph in the artifact (version 2), so that it
  /// can be checked against the reference evaluator after loading.
  bool storeGraph = true;
  /// Tuned configs; kernels it knows no config for (and all kernels, when
  /// it is empty) get the default heuristic's.
  KernelConfigLookup configLookup;
  IRPrintingOptions printIR;
};

/// Where a kernel's config came from.
struct KernelConfigChoice {
  /// The kernel function's name.
  std::string kernel;
  /// Whether `CompileOptions::configLookup` gave it; otherwise the default
  /// heuristic chose it.
  bool tuned = false;
};

/// What a compile produced, and figures for reports.
struct CompiledArtifact {
  Artifact artifact;
  /// Kernels in the shared object (distinct kernel functions).
  int64_t numKernels = 0;
  /// Kernel calls per transformer block: the kernel calls whose location
  /// names a block ("<model>.layers.<i>..." as the zoo names them) over the
  /// number of such blocks; unset for a model without blocks.
  std::optional<double> kernelsPerBlock;
  /// One entry per kernel, in outlining order.
  std::vector<KernelConfigChoice> configs;
  /// GPU targets: per kernel of the artifact's CUDA section, in its order,
  /// the CUDA C++ it was compiled from (a whole .cu file).
  std::vector<std::string> cudaSources;
};

/// The fusion of a model, without code: what `kiln explain` shows.
struct ModelExplanation {
  /// The kernels in the order outlining creates them (explainKernels).
  std::vector<graph::KernelExplanation> kernels;
  /// As in CompiledArtifact.
  std::optional<double> kernelsPerBlock;
};

/// The compiler's version, as artifacts and tuning-database keys record it.
std::string getCompilerVersion();

/// Whether `target` names a GPU architecture rather than a CPU.
bool isCudaTarget(llvm::StringRef target);

/// Registers what compiling needs in a context: the kiln dialect and every
/// dialect, interface and translation of the graph passes and the CPU
/// backend. `compileModel` also registers them itself.
void registerCompilerDialects(mlir::DialectRegistry &registry);

/// Compiles `module` (a kiln model: an entry function `@main`, or the only
/// function, whose `kiln.weight` ops name tensors of `weights`) for
/// `options.target`. `module` is not changed. On failure emits one error and
/// returns failure.
mlir::FailureOr<CompiledArtifact> compileModel(mlir::ModuleOp module,
                                               const TensorMap &weights,
                                               const CompileOptions &options);

/// Runs the graph stages of `compileModel` on a clone of `module` (the
/// target, fusion and IR printing options apply) and explains the kernels.
/// On failure emits one error and returns failure.
mlir::FailureOr<ModelExplanation> explainModel(mlir::ModuleOp module,
                                               const CompileOptions &options);

/// Runs the graph stages of `compileModel` that come before the configs (the
/// graph pipeline and output materialization) on a clone of `module`, and
/// returns that clone: its `kiln.kernel` functions are exactly the kernels
/// `compileModel` asks `configLookup` about, so the autotuner tunes what
/// compiling compiles. On failure emits one error and returns failure.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
outlineKernels(mlir::ModuleOp module, const CompileOptions &options);

} // namespace kiln::compiler

#endif // KILN_COMPILER_COMPILER_H_
