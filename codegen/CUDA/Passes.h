//===- Passes.h - Passes of the CUDA backend -------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CUDA_PASSES_H_
#define KILN_CODEGEN_CUDA_PASSES_H_

#include "mlir/Pass/Pass.h"

namespace kiln::cuda {

#define GEN_PASS_DECL
#include "codegen/CUDA/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "codegen/CUDA/Passes.h.inc"

} // namespace kiln::cuda

#endif // KILN_CODEGEN_CUDA_PASSES_H_
