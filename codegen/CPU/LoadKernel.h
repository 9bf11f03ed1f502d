//===- LoadKernel.h - Compile one kernel and load it in-process -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// For the programs that run a freshly compiled kernel in their own process,
// the unit tests and the benchmarks: lower a module holding one kiln kernel
// with kiln-cpu-lower-kernel, compile it into a shared object and dlopen it.
// Errors are diagnostics at the module; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_LOADKERNEL_H_
#define KILN_CODEGEN_CPU_LOADKERNEL_H_

#include "codegen/CPU/Compile.h"
#include "runtime/KernelAbi.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

namespace kiln::cpu {

/// A compiled kernel whose shared object is loaded into this process; the
/// object stays loaded as long as this value lives.
class LoadedKernel {
public:
  LoadedKernel() = default;
  LoadedKernel(LoadedKernel &&other) noexcept;
  LoadedKernel &operator=(LoadedKernel &&other) noexcept;
  LoadedKernel(const LoadedKernel &) = delete;
  LoadedKernel &operator=(const LoadedKernel &) = delete;
  ~LoadedKernel();

  /// The entry point; null in a default-constructed value.
  KilnKernelFn getEntry() const { return entry; }
  const KernelEntry &getInfo() const { return info; }

  /// Calls the kernel on tiles [begin, end) of `buffers` (inputs, then
  /// results).
  void operator()(void *const *buffers, int64_t begin, int64_t end) const {
    entry(buffers, begin, end);
  }

private:
  friend mlir::FailureOr<LoadedKernel>
  loadKernel(mlir::Location loc, mlir::StringRef path,
             const KernelEntry &info);

  void *library = nullptr;
  KilnKernelFn entry = nullptr;
  KernelEntry info;
};

/// dlopens the shared object at `path` and looks up `info.symbol`.
mlir::FailureOr<LoadedKernel> loadKernel(mlir::Location loc,
                                         mlir::StringRef path,
                                         const KernelEntry &info);

/// Lowers `module`, which holds exactly one kernel function in kiln ops, in
/// place with kiln-cpu-lower-kernel for `target` (a name getCpuTarget knows),
/// compiles it into the shared object `path` and loads it.
mlir::FailureOr<LoadedKernel> compileAndLoadKernel(mlir::ModuleOp module,
                                                   mlir::StringRef target,
                                                   mlir::StringRef path);

} // namespace kiln::cpu

#endif // KILN_CODEGEN_CPU_LOADKERNEL_H_
