//===- Explain.cpp - What each outlined kernel does and costs ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "passes/Fusion/Explain.h"

#include "passes/Fusion/KernelGroups.h"

#include "ir/Cost.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace kiln::graph {

RooflineBound getRooflineBound(const KernelExplanation &kernel,
                               double ridgeFlopsPerByte) {
  return kernel.getIntensity() < ridgeFlopsPerByte ? RooflineBound::Memory
                                                   : RooflineBound::Compute;
}

std::vector<KernelExplanation> explainKernels(ModuleOp module) {
  // 1. The first call of each kernel, to tell weights from activations.
  llvm::StringMap<func::CallOp> firstCall;
  module.walk([&](func::CallOp call) {
    firstCall.try_emplace(call.getCallee(), call);
  });

  // 2. One explanation per kernel function.
  std::vector<KernelExplanation> kernels;
  for (auto function : module.getOps<func::FuncOp>()) {
    if (!function->hasAttr(kKernelAttrName) || function.isExternal())
      continue;
    KernelExplanation &kernel = kernels.emplace_back();
    kernel.name = function.getSymName().str();
    if (auto kind = function->getAttrOfType<StringAttr>(kFusionKindAttrName))
      kernel.kind = kind.str();
    function.walk([&](Operation *op) {
      if (op == function || op->hasTrait<OpTrait::IsTerminator>())
        return;
      kernel.ops.push_back(op->getName().getStringRef().str());
      kernel.flops += countFlops(op);
    });
    func::CallOp call = firstCall.lookup(function.getSymName());
    for (auto [index, argument] : llvm::enumerate(function.getArguments())) {
      Operation *def = call ? call.getOperand(index).getDefiningOp() : nullptr;
      int64_t bytes = countBytes(argument.getType());
      if (isa_and_nonnull<WeightOp, ConstantOp>(def))
        kernel.weightBytes += bytes;
      else
        kernel.inputBytes += bytes;
    }
    for (Type type : function.getResultTypes())
      kernel.outputBytes += countBytes(type);
  }
  return kernels;
}

} // namespace kiln::graph
