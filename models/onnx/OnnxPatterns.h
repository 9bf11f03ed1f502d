//===- OnnxPatterns.h - Subgraphs of ONNX exports as kiln ops --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Exporters spell some ops as subgraphs: scaled dot-product attention as
// MatMul -> Div -> (mask) -> Softmax -> MatMul, exact GELU as
// x * 0.5 * (1 + erf(x / sqrt(2))). These patterns recognize them in the
// imported kiln IR and put back the kiln op, which the compiler fuses and
// tunes as one kernel.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ONNX_ONNXPATTERNS_H_
#define KILN_MODELS_ONNX_ONNXPATTERNS_H_

#include "runtime/Safetensors.h"

#include "mlir/IR/PatternMatch.h"

namespace kiln::onnx {

/// The elements of `value` when it is a `kiln.constant` or a `kiln.weight`
/// whose tensor `weights` holds.
std::optional<HostTensor> getConstant(mlir::Value value,
                                      const TensorMap &weights);

/// Adds the attention and GELU patterns. `weights` holds the tensors of the
/// module's `kiln.weight` ops, which attention masks may be.
void populateOnnxImportPatterns(mlir::RewritePatternSet &patterns,
                                const TensorMap &weights);

} // namespace kiln::onnx

#endif // KILN_MODELS_ONNX_ONNXPATTERNS_H_
