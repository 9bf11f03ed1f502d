//===- DecomposeKernelOps.cpp - Attention and MoE ops left whole -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Tile-and-fuse computes the tiles of kiln.attention and the MoE ops it
// tiles or fuses; this pass computes the ones it left whole, as a single
// tile of their TilingInterface models (KernelOpTiling.cpp).
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#define DEBUG_TYPE "kiln-cpu-decompose-kernel-ops"

namespace kiln::cpu {
#define GEN_PASS_DEF_DECOMPOSEKERNELOPSPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln::cpu;

namespace {

struct DecomposeKernelOpsPass
    : kiln::cpu::impl::DecomposeKernelOpsPassBase<DecomposeKernelOpsPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void DecomposeKernelOpsPass::runOnOperation() {
  IRRewriter rewriter(&getContext());
  if (failed(decomposeKernelOps(rewriter, getOperation())))
    signalPassFailure();
}
