//===- FuseElementwiseOps.cpp - Elementwise fusion on tensors ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Upstream's elementwise fusion and reshape propagation, with a control
// function that keeps contractions and convolutions as they were built:
// their bodies stay a multiply-add, which the matmul path (micro tiles,
// vector.contract) recognizes, and their operands stay computed once per
// element instead of once per multiply-add.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "kiln-cpu-fuse-elementwise-ops"

namespace kiln::cpu {
#define GEN_PASS_DEF_FUSEELEMENTWISEOPSPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;

/// Whether `op` is a linalg contraction or convolution.
static bool isContractionOrConvolution(Operation *op) {
  auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(op);
  return linalgOp && (linalg::isaContractionOpInterface(linalgOp) ||
                      linalg::isaConvolutionOpInterface(linalgOp));
}

/// Whether the linalg op owning `operand` reads one element of it per
/// iteration at most once: its indexing map is a permutation, no broadcast.
static bool readsEachElementOnce(OpOperand *operand) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(operand->getOwner());
  return !linalgOp ||
         linalgOp.getMatchingIndexingMap(operand).isPermutation();
}

/// Fuses the producer of `fused` into its owner (or moves a reshape between
/// them) when the producer has no other use, neither of the two is a
/// contraction or a convolution, and the owner reads the producer's result
/// without broadcasting it: a broadcast producer fused in would be
/// recomputed for every element it is broadcast to (the per-row factor of
/// a normalization for every element of the row).
static bool shouldFuse(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  return producer && producer->hasOneUse() &&
         !isContractionOrConvolution(producer) &&
         !isContractionOrConvolution(fused->getOwner()) &&
         readsEachElementOnce(fused);
}

namespace {

struct FuseElementwiseOpsPass
    : kiln::cpu::impl::FuseElementwiseOpsPassBase<FuseElementwiseOpsPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void FuseElementwiseOpsPass::runOnOperation() {
  MLIRContext *context = &getContext();
  RewritePatternSet patterns(context);
  linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
  linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, shouldFuse);
  tensor::populateBubbleUpExpandShapePatterns(patterns);
  linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
  affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
  linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
  tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
  tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
  context->getLoadedDialect<linalg::LinalgDialect>()
      ->getCanonicalizationPatterns(patterns);
  if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
    signalPassFailure();
}
