//===- Passes.td - Passes of the CUDA backend -------------*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CUDA_PASSES_TD
#define KILN_CODEGEN_CUDA_PASSES_TD

include "mlir/Pass/PassBase.td"

def EmitCudaKernelsPass : Pass<"kiln-cuda-emit-kernels", "::mlir::ModuleOp"> {
  let summary = "writes the CUDA C++ of every kernel of a module to one .cu file";
  let description = [{
    Generates each kernel function (`kiln.kernel`) as CUDA C++ for `arch`
    (EmitCuda.h) and writes the prelude, then the kernels in module order,
    to `output`. The IR is left unchanged. Fails with one error per kernel
    the generator does not cover, and writes nothing then.
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "the CUDA architecture: sm_80 or sm_90a">,
    Option<"output", "output", "std::string", /*default=*/"\"\"",
           "the .cu file to write">
  ];
}

#endif // KILN_CODEGEN_CUDA_PASSES_TD
