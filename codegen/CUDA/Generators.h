//===- Generators.h - One CUDA generator per kernel kind -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The entry points of the kernel kinds' generators (Emit<Kind>.cpp), which
// EmitCuda.cpp dispatches to: each writes one kernel's CUDA source for a
// config, says how it launches, and proposes its default config.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CUDA_GENERATORS_H_
#define KILN_CODEGEN_CUDA_GENERATORS_H_

#include "codegen/CUDA/EmitCuda.h"

namespace kiln::codegen {

/// Elementwise and data movement (EmitElementwise.cpp).
std::string emitElementwise(mlir::func::FuncOp kernel, CudaConfigAttr config);
CudaLaunch getElementwiseLaunch(mlir::func::FuncOp kernel,
                                CudaConfigAttr config);

/// One softmax or norm per block row (EmitRow.cpp).
mlir::FailureOr<std::string> emitRow(mlir::func::FuncOp kernel,
                                     CudaConfigAttr config);
CudaLaunch getRowLaunch(mlir::func::FuncOp kernel, CudaConfigAttr config);
CudaConfigAttr getDefaultRowConfig(mlir::func::FuncOp kernel);
/// The kernel's row op, the anchor of a row kernel.
mlir::Operation *getRowOp(mlir::func::FuncOp kernel);

/// Matmuls and conv2d as implicit GEMM, with prologues and epilogues
/// (EmitContraction.cpp).
mlir::FailureOr<std::string> emitContraction(mlir::func::FuncOp kernel,
                                             CudaConfigAttr config,
                                             llvm::StringRef arch);
CudaLaunch getContractionLaunch(mlir::func::FuncOp kernel,
                                CudaConfigAttr config, llvm::StringRef arch);
CudaConfigAttr getDefaultContractionConfig(mlir::func::FuncOp kernel,
                                           llvm::StringRef arch);
/// Checks the kernel's contractions can be generated; one error otherwise.
mlir::LogicalResult checkContractions(mlir::func::FuncOp kernel);

/// Flash attention (EmitAttention.cpp).
mlir::FailureOr<std::string> emitAttention(mlir::func::FuncOp kernel,
                                           CudaConfigAttr config);
CudaLaunch getAttentionLaunch(mlir::func::FuncOp kernel, CudaConfigAttr config);
CudaConfigAttr getDefaultAttentionConfig(mlir::func::FuncOp kernel);

/// Mixture-of-experts routing and experts (EmitMoe.cpp).
mlir::FailureOr<std::string> emitMoe(mlir::func::FuncOp kernel,
                                     CudaConfigAttr config);
CudaLaunch getMoeLaunch(mlir::func::FuncOp kernel, CudaConfigAttr config);
CudaConfigAttr getDefaultMoeConfig(mlir::func::FuncOp kernel);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_CUDA_GENERATORS_H_
