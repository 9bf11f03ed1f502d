//===- OutlineKernels.cpp - Outline kernel groups ---------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "passes/Fusion/KernelGroups.h"
#include "passes/Fusion/Passes.h"

#define DEBUG_TYPE "kiln-fusion-outline-kernels"

namespace kiln::graph {

#define GEN_PASS_DEF_OUTLINEKERNELSPASS
#include "passes/Fusion/Passes.h.inc"

namespace {
class OutlineKernelsPass
    : public impl::OutlineKernelsPassBase<OutlineKernelsPass> {
public:
  using Base::Base;

  void runOnOperation() override;
};
} // namespace

void OutlineKernelsPass::runOnOperation() {
  numKernels += outlineKernels(getOperation(), prefix);
}

} // namespace kiln::graph
