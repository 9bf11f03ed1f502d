//===- Evaluator.h - Reference semantics of the kiln dialect ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The numerical oracle: executes a kiln function op by op on host tensors
// with the kernels of Kernels.h. Every compiled kernel and model is checked
// against it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_REFERENCE_EVALUATOR_H_
#define KILN_REFERENCE_EVALUATOR_H_

#include "runtime/HostTensor.h"
#include "runtime/Safetensors.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

#include <vector>

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace kiln::reference {

/// The host tensor holding the elements of `attr`.
mlir::FailureOr<HostTensor> toHostTensor(mlir::ElementsAttr attr);
/// The dense attribute holding `tensor`, typed as `type`.
mlir::DenseElementsAttr toElementsAttr(const HostTensor &tensor,
                                       mlir::RankedTensorType type);

/// Evaluates `function` on `inputs`, reading `kiln.weight` ops from
/// `weights`. On bad inputs (count, shape or type), a missing or mismatched
/// weight, an index out of range or an op without reference semantics, emits
/// one error at the offending location and returns failure.
mlir::FailureOr<std::vector<HostTensor>> evaluate(mlir::func::FuncOp function,
                                            llvm::ArrayRef<HostTensor> inputs,
                                            const TensorMap &weights);

/// Deterministic inputs for `function`: floats from a standard normal,
/// integers uniform in the argument's `kiln.range` [lo, hi) (zeros without
/// one). Argument `i` draws from its own stream of `seed`. Emits an error
/// for an argument type the evaluator cannot feed.
mlir::FailureOr<std::vector<HostTensor>> makeSeededInputs(mlir::func::FuncOp function,
                                                    uint64_t seed);

} // namespace kiln::reference

#endif // KILN_REFERENCE_EVALUATOR_H_
