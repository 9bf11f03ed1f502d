//===- Compile.h - LLVM-dialect kernels to a shared object ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The last steps of the CPU backend: the LLVM-dialect module that
// `kiln-cpu-lower-kernel` produces becomes LLVM IR, is optimized at O3 for
// the target CPU, emitted as an object file and linked into a shared object
// whose exported symbols are the kernels' entry points (runtime/KernelAbi.h).
// Errors are reported as diagnostics at the module; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_COMPILE_H_
#define KILN_CODEGEN_CPU_COMPILE_H_

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>

namespace kiln::codegen {
struct CpuTarget;
} // namespace kiln::codegen

namespace kiln::cpu {

/// An entry point of a compiled kernel.
struct KernelEntry {
  /// The exported symbol: `void symbol(void *const *buffers, int64_t
  /// tileBegin, int64_t tileEnd)`.
  std::string symbol;
  /// The number of tiles; a call computes tiles [tileBegin, tileEnd).
  int64_t tileCount = 1;
  /// The number of buffer pointers: the kernel's inputs, then its results.
  int64_t numBuffers = 0;
};

/// The kernel entry points of `module`, a module in the LLVM dialect after
/// `kiln-cpu-lower-kernel`, in the module's order.
mlir::SmallVector<KernelEntry> getKernelEntries(mlir::ModuleOp module);

/// Translates `module` to LLVM IR, optimizes it at O3 for `target` and
/// appends the object code to `object`.
mlir::LogicalResult emitObjectFile(mlir::ModuleOp module,
                                   const codegen::CpuTarget &target,
                                   mlir::SmallVectorImpl<char> &object);

/// Links the object files at `objectPaths` into the shared object
/// `outputPath` with the system C compiler driver (`cc -shared`, with libm).
/// Errors are emitted at `loc`, with the linker's messages.
mlir::LogicalResult linkSharedObject(mlir::Location loc,
                                     mlir::ArrayRef<std::string> objectPaths,
                                     mlir::StringRef outputPath);

/// emitObjectFile, then linkSharedObject into `outputPath` through a
/// temporary object file.
mlir::LogicalResult compileToSharedObject(mlir::ModuleOp module,
                                          const codegen::CpuTarget &target,
                                          mlir::StringRef outputPath);

} // namespace kiln::cpu

#endif // KILN_CODEGEN_CPU_COMPILE_H_
