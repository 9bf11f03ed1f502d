//===- PackMatmul.cpp - Rhs panels for the matmul micro kernel --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Data tiling of contractions (see `kiln-cpu-pack-matmul` in Passes.td):
//
//  1. each contraction's innermost n loop is split by the micro tile's n
//     with linalg::pack, which packs every operand indexed by n (the rhs and
//     the result) and unpacks the result;
//  2. the rhs pack is transposed so that its n panels come outermost: one
//     panel is then K contiguous runs of n0 values;
//  3. the pack of a filled result folds into a fill of the packed one.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "kiln-cpu-pack-matmul"

namespace kiln::cpu {
#define GEN_PASS_DEF_PACKMATMULPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

std::optional<linalg::ContractionDimensions>
kiln::cpu::getMatmulDims(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() || dims->k.empty())
    return std::nullopt;
  return *dims;
}

/// The permutation of the rhs dimensions of `op` that puts its n dimension
/// right before its k dimension, or an empty one when it already comes
/// first; the rhs is the operand `rhs`.
static SmallVector<int64_t>
getPanelOuterPerm(linalg::LinalgOp op, OpOperand &rhs,
                  const linalg::ContractionDimensions &dims) {
  AffineMap map = op.getMatchingIndexingMap(&rhs);
  MLIRContext *context = op.getContext();
  std::optional<unsigned> n = map.getResultPosition(
      getAffineDimExpr(dims.n.back(), context));
  std::optional<unsigned> k = map.getResultPosition(
      getAffineDimExpr(dims.k.back(), context));
  if (!n || !k || *n < *k)
    return {};
  SmallVector<int64_t> perm =
      llvm::to_vector(llvm::seq<int64_t>(0, map.getNumResults()));
  perm.erase(perm.begin() + *n);
  perm.insert(perm.begin() + *k, *n);
  return perm;
}

/// Steps 1-2 for one contraction.
static LogicalResult packMatmul(RewriterBase &rewriter, linalg::LinalgOp op,
                                const linalg::ContractionDimensions &dims,
                                int64_t n0) {
  // The rhs is the input indexed by n and not by m.
  MLIRContext *context = op.getContext();
  Value rhs;
  SmallVector<int64_t> outerPerm;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (map.getResultPosition(getAffineDimExpr(dims.n.back(), context)) &&
        !map.getResultPosition(getAffineDimExpr(dims.m.back(), context))) {
      rhs = input->get();
      outerPerm = getPanelOuterPerm(op, *input, dims);
    }
  }

  SmallVector<OpFoldResult> sizes(op.getNumLoops(), rewriter.getIndexAttr(0));
  sizes[dims.n.back()] = rewriter.getIndexAttr(n0);
  rewriter.setInsertionPoint(op);
  FailureOr<linalg::PackResult> packed = linalg::pack(rewriter, op, sizes);
  if (failed(packed))
    return op.emitError("failed to pack a contraction by n0 (") << n0 << ")";
  if (outerPerm.empty())
    return success();
  for (linalg::PackOp pack : packed->packOps) {
    if (pack.getSource() != rhs)
      continue;
    if (failed(linalg::packTranspose(rewriter, pack, packed->packedLinalgOp,
                                     /*maybeUnPackOp=*/nullptr, outerPerm,
                                     /*innerPerm=*/{})))
      return op.emitError("failed to lay out the packed rhs in panels");
  }
  return success();
}

LogicalResult kiln::cpu::packMatmuls(RewriterBase &rewriter,
                                     func::FuncOp kernel,
                                     CpuConfigAttr config) {
  if (!config.getPackMatmul())
    return success();
  int64_t n0 = config.getMicroTile()[1];
  SmallVector<std::pair<linalg::LinalgOp, linalg::ContractionDimensions>>
      contractions;
  kernel.walk([&](linalg::LinalgOp op) {
    if (!op.hasPureTensorSemantics())
      return;
    if (std::optional<linalg::ContractionDimensions> dims = getMatmulDims(op))
      contractions.emplace_back(op, *dims);
  });
  for (auto &[op, dims] : contractions)
    if (failed(packMatmul(rewriter, op, dims, n0)))
      return failure();
  return success();
}

namespace {

struct PackMatmulPass
    : kiln::cpu::impl::PackMatmulPassBase<PackMatmulPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void PackMatmulPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> config = getKernelConfig(function);
  if (failed(config))
    return signalPassFailure();
  if (!config->getPackMatmul())
    return;
  IRRewriter rewriter(&getContext());
  if (failed(packMatmuls(rewriter, function, *config)))
    return signalPassFailure();

  // 3. Packs of fills become fills, and what packing left dead goes.
  MLIRContext *context = &getContext();
  RewritePatternSet patterns(context);
  linalg::FillOp::getCanonicalizationPatterns(patterns, context);
  linalg::PackOp::getCanonicalizationPatterns(patterns, context);
  linalg::UnPackOp::getCanonicalizationPatterns(patterns, context);
  tensor::populateFoldTensorEmptyPatterns(patterns);
  if (failed(applyPatternsGreedily(function, std::move(patterns))))
    signalPassFailure();
}
