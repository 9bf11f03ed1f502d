//===- ModelPlan.h - An outlined entry function as runtime steps -*- C++
//-*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The half of the driver that reads the outlined model: after the graph
// pipeline, the entry function holds only `kiln.weight` and `kiln.constant`
// ops, calls to kernel functions and the return. This turns it into the
// runtime's view: inputs, outputs, one step per call with its arguments,
// the intermediate buffers with a memory plan, and the weights to ship.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_MODELPLAN_H_
#define KILN_COMPILER_MODELPLAN_H_

#include "passes/Fusion/Explain.h"
#include "runtime/Manifest.h"
#include "runtime/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <vector>

namespace kiln::compiler {

/// The fusion kind of the kernels that `materializeOutputs` creates.
inline constexpr llvm::StringLiteral kCopyKernelKind = "copy";

/// Makes every result of `entry` a result of its own kernel call, the form
/// `planModel` needs: a returned value that no kernel computes (an argument,
/// a weight or a constant) or that is returned more than once gets a copy
/// kernel `<entry>_copy` (`kiln.kernel`, fusion kind "copy"), called right
/// before the return. Returns the number of copies made.
unsigned materializeOutputs(mlir::func::FuncOp entry);

/// The runtime's view of an outlined model.
struct ModelPlan {
  /// Inputs, outputs, steps (with tiles 1 and the figures of `kernels`),
  /// buffers and the memory plan; compiler version and target are left to
  /// the caller.
  Manifest manifest;
  /// The weights the steps read: those of `weights` named by `kiln.weight`
  /// ops, and each `kiln.constant` under a generated name.
  TensorMap weights;
  /// Per step, the called kernel's symbol.
  std::vector<std::string> callees;
};

/// Plans `entry` after `materializeOutputs`. Names come from the `kiln.name`
/// argument and result attributes ("input<i>"/"output<i>" without one).
/// Every kernel result is written to its output, or else to an intermediate
/// buffer (an unused result too), live from its step to its last reader; a
/// model output that later kernels read is read from the output itself.
/// Emits an error at the op at fault and returns failure on anything else in
/// `entry` (an op that was not outlined into a kernel, a call to a function
/// that is not a kernel), on a missing weight, or on duplicate names.
mlir::FailureOr<ModelPlan>
planModel(mlir::func::FuncOp entry, const TensorMap &weights,
          llvm::ArrayRef<graph::KernelExplanation> kernels);

} // namespace kiln::compiler

#endif // KILN_COMPILER_MODELPLAN_H_
