//===- EmitCudaKernels.cpp - Write a module's kernels as CUDA --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The dumpable form of the CUDA backend's output: one .cu file per module,
// which nvcc compiles as is.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/EmitCuda.h"
#include "codegen/CUDA/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace kiln::cuda {
#define GEN_PASS_DEF_EMITCUDAKERNELSPASS
#include "codegen/CUDA/Passes.h.inc"
} // namespace kiln::cuda

using namespace mlir;
using namespace kiln;

namespace {

struct EmitCudaKernelsPass
    : kiln::cuda::impl::EmitCudaKernelsPassBase<EmitCudaKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (arch != "sm_80" && arch != "sm_90a") {
      module.emitError() << "unknown CUDA architecture '" << arch
                         << "' (expected sm_80 or sm_90a)";
      return signalPassFailure();
    }
    if (output.empty()) {
      module.emitError() << "kiln-cuda-emit-kernels needs an output file";
      return signalPassFailure();
    }
    std::string source = codegen::getCudaPrelude().str();
    bool covered = true;
    for (auto kernel : module.getOps<func::FuncOp>()) {
      if (!kernel->hasAttr("kiln.kernel"))
        continue;
      FailureOr<std::string> emitted = codegen::emitCudaKernel(kernel, arch);
      if (failed(emitted))
        covered = false;
      else
        source += "\n" + *emitted;
    }
    if (!covered)
      return signalPassFailure();
    std::error_code error;
    llvm::raw_fd_ostream file(output, error);
    if (error) {
      module.emitError() << "cannot write " << output << ": "
                         << error.message();
      return signalPassFailure();
    }
    file << source;
  }
};

} // namespace
