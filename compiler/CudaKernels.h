//===- CudaKernels.h - The GPU half of the compiler driver -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What compileModel does for a GPU target once the kernels are outlined:
// give every kernel a #kiln.cuda_config, then generate each kernel's CUDA
// C++ (codegen/CUDA/EmitCuda.h) and compile it to a cubin with NVRTC, into
// the artifact's CUDA section.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_CUDAKERNELS_H_
#define KILN_COMPILER_CUDAKERNELS_H_

#include "codegen/CUDA/Nvrtc.h"
#include "runtime/CUDA/CudaProgram.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace kiln::compiler {

/// Sets the default #kiln.cuda_config for `arch` on every kernel of
/// `module` that has none (a tuned one is kept).
void setDefaultCudaConfigs(mlir::ModuleOp module, llvm::StringRef arch);

/// Generates and compiles every kernel of `module` for `arch`, in module
/// order; `sources` receives each kernel's whole .cu file. Fails with one
/// error at `module` naming every kernel the generator does not cover (and
/// why), or with NVRTC's.
mlir::FailureOr<CudaProgram>
compileCudaKernels(mlir::ModuleOp module, llvm::StringRef arch,
                   const codegen::NvrtcOptions &nvrtc,
                   std::vector<std::string> &sources);

} // namespace kiln::compiler

#endif // KILN_COMPILER_CUDAKERNELS_H_
