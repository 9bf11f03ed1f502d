//===- PackMatmul.cpp - Operand panels for matmul micro kernels -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Data tiling of contractions (see `kiln-cpu-pack-matmul` in Passes.td):
//
//  1. each contraction's innermost n loop is split by the micro tile's n
//     with linalg::pack, which packs every operand indexed by n (the rhs and
//     the result) and unpacks the result; with `pack_lhs` its innermost m
//     loop is split by the micro tile's m and its innermost k loop by the
//     vector width too, which packs the lhs into tiles of m0 rows of one
//     vector of k each;
//  2. the operand packs are transposed so that their panels come outermost
//     and the rhs tiles hold rows of n0: one rhs panel is then K contiguous
//     runs of n0 values, one lhs panel K / k0 contiguous m0 x k0 tiles. A
//     micro kernel reads both as streams, and the lhs is packed by copying
//     vectors, not by gathering columns;
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

SmallVector<std::pair<linalg::LinalgOp, linalg::ContractionDimensions>>
kiln::cpu::getContractions(func::FuncOp kernel) {
  SmallVector<std::pair<linalg::LinalgOp, linalg::ContractionDimensions>>
      contractions;
  kernel.walk([&](linalg::LinalgOp op) {
    if (!op.hasPureTensorSemantics())
      return;
    if (std::optional<linalg::ContractionDimensions> dims = getMatmulDims(op))
      contractions.emplace_back(op, *dims);
  });
  return contractions;
}

/// The permutation of the dimensions of the operand `input` of `op` that
/// puts its `panel` dimension right before its k dimension, or an empty one
/// when it already comes first.
static SmallVector<int64_t>
getPanelOuterPerm(linalg::LinalgOp op, OpOperand &input, unsigned panel,
                  const linalg::ContractionDimensions &dims) {
  AffineMap map = op.getMatchingIndexingMap(&input);
  MLIRContext *context = op.getContext();
  std::optional<unsigned> outer =
      map.getResultPosition(getAffineDimExpr(panel, context));
  std::optional<unsigned> k = map.getResultPosition(
      getAffineDimExpr(dims.k.back(), context));
  if (!outer || !k || *outer < *k)
    return {};
  SmallVector<int64_t> perm =
      llvm::to_vector(llvm::seq<int64_t>(0, map.getNumResults()));
  perm.erase(perm.begin() + *outer);
  perm.insert(perm.begin() + *k, *outer);
  return perm;
}

/// The permutation of the inner tiles of the pack of the rhs `input` of
/// `op` that puts the n tile last, or an empty one when it already is.
static SmallVector<int64_t>
getPanelInnerPerm(linalg::LinalgOp op, OpOperand &input,
                  const linalg::ContractionDimensions &dims,
                  ArrayRef<unsigned> packedLoops) {
  // linalg::pack orders an operand's inner tiles by their loops.
  SmallVector<unsigned> tiled;
  AffineMap map = op.getMatchingIndexingMap(&input);
  for (unsigned loop : packedLoops)
    if (map.getResultPosition(getAffineDimExpr(loop, op.getContext())))
      tiled.push_back(loop);
  auto n = llvm::find(tiled, dims.n.back());
  if (tiled.size() < 2 || n == tiled.end() - 1)
    return {};
  SmallVector<int64_t> perm;
  for (auto [position, loop] : llvm::enumerate(tiled))
    if (loop != dims.n.back())
      perm.push_back(position);
  perm.push_back(n - tiled.begin());
  return perm;
}

/// Steps 1-2 for one contraction: n split by `n0` and, when `m0` is not 0,
/// m by `m0` and k by `k0`.
static LogicalResult packMatmul(RewriterBase &rewriter, linalg::LinalgOp op,
                                const linalg::ContractionDimensions &dims,
                                int64_t m0, int64_t n0, int64_t k0) {
  MLIRContext *context = op.getContext();
  unsigned m = dims.m.back(), n = dims.n.back(), k = dims.k.back();
  SmallVector<unsigned> packedLoops = {n};
  if (m0 != 0)
    packedLoops = {m, n, k};
  llvm::sort(packedLoops);

  // The rhs is the input indexed by n and not by m, the lhs the other way
  // round; each keeps its panel dimension outside k.
  struct Layout {
    SmallVector<int64_t> outerPerm, innerPerm;
  };
  DenseMap<unsigned, Layout> layouts;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    bool hasM = map.getResultPosition(getAffineDimExpr(m, context)).has_value();
    bool hasN = map.getResultPosition(getAffineDimExpr(n, context)).has_value();
    if (hasN && !hasM)
      layouts[input->getOperandNumber()] = {
          getPanelOuterPerm(op, *input, n, dims),
          getPanelInnerPerm(op, *input, dims, packedLoops)};
    else if (hasM && !hasN && m0 != 0)
      layouts[input->getOperandNumber()] = {
          getPanelOuterPerm(op, *input, m, dims), {}};
  }

  SmallVector<OpFoldResult> sizes(op.getNumLoops(), rewriter.getIndexAttr(0));
  sizes[n] = rewriter.getIndexAttr(n0);
  if (m0 != 0) {
    sizes[m] = rewriter.getIndexAttr(m0);
    sizes[k] = rewriter.getIndexAttr(k0);
  }
  rewriter.setInsertionPoint(op);
  FailureOr<linalg::PackResult> packed = linalg::pack(rewriter, op, sizes);
  if (failed(packed))
    return op.emitError("failed to pack a contraction by m0 (")
           << m0 << "), n0 (" << n0 << ") and k0 (" << k0 << ")";
  linalg::LinalgOp packedOp = packed->packedLinalgOp;
  // linalg::pack keeps the operand order; a packed operand is read once.
  for (linalg::PackOp pack : packed->packOps) {
    OpOperand &use = *pack->getUses().begin();
    auto layout = layouts.find(use.getOperandNumber());
    if (layout == layouts.end() || (layout->second.outerPerm.empty() &&
                                    layout->second.innerPerm.empty()))
      continue;
    FailureOr<linalg::PackTransposeResult> transposed = linalg::packTranspose(
        rewriter, pack, packedOp, /*maybeUnPackOp=*/nullptr,
        layout->second.outerPerm, layout->second.innerPerm);
    if (failed(transposed))
      return op.emitError("failed to lay out a packed operand in panels");
    packedOp = transposed->transposedLinalgOp;
  }
  return success();
}

LogicalResult kiln::cpu::packMatmuls(RewriterBase &rewriter,
                                     func::FuncOp kernel,
                                     CpuConfigAttr config) {
  if (!config.getPackMatmul())
    return success();
  int64_t m0 = config.getPackLhs() ? config.getMicroTile()[0] : 0;
  int64_t n0 = config.getMicroTile()[1];
  int64_t k0 = config.getVectorWidth();
  for (auto &[op, dims] : getContractions(kernel))
    if (failed(packMatmul(rewriter, op, dims, m0, n0, k0)))
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
