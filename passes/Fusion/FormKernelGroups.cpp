//===- FormKernelGroups.cpp - Form kernel groups ----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "passes/Fusion/KernelGroups.h"
#include "passes/Fusion/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "kiln-fusion-form-kernel-groups"

namespace kiln::graph {

#define GEN_PASS_DEF_FORMKERNELGROUPSPASS
#include "passes/Fusion/Passes.h.inc"

namespace {
class FormKernelGroupsPass
    : public impl::FormKernelGroupsPassBase<FormKernelGroupsPass> {
public:
  using Base::Base;

  void runOnOperation() override;
};
} // namespace

void FormKernelGroupsPass::runOnOperation() {
  mlir::func::FuncOp function = getOperation();
  if (function.isExternal() || function->hasAttr(kKernelAttrName))
    return;
  mlir::Region &region = function.getBody();
  if (!region.hasOneBlock()) {
    function.emitError("expected a single-block body (got ")
        << region.getBlocks().size() << " blocks)";
    return signalPassFailure();
  }
  mlir::Block &body = region.front();

  // 1. Analyse: plan the groups and check the plan.
  FusionOptions options;
  options.enable = enable;
  llvm::SmallVector<KernelGroup> groups = planKernelGroups(body, options);
  if (mlir::failed(verifyKernelGroups(body, groups)))
    return signalPassFailure();
  LLVM_DEBUG({
    for (const KernelGroup &group : groups)
      if (group.isKernel())
        llvm::dbgs() << "group " << group.kind << ": " << group.ops.size()
                     << " ops\n";
  });

  // 2. Rewrite: one kiln.fused per group, in plan order.
  mlir::IRRewriter rewriter(&getContext());
  for (const KernelGroup &group : groups)
    if (group.isKernel())
      numFusedOps += group.ops.size();
  numGroups += formKernelGroups(rewriter, body, groups).size();
}

} // namespace kiln::graph
