//===- VectorizeKernel.cpp - Vector tiles inside a kernel tile --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Inside a kernel tile every linalg op is tiled once more, to the size of a
// few vector registers, and vectorized:
//
//  1. Contractions go by the config's micro tile [m, n, k]. The loops over m
//     and n are peeled: full micro tiles have static shapes and vectorize
//     without masks into a vector.contract; the remainders are tiled again
//     into rows of `vector_width` lanes.
//  2. Every other op goes by `vector_width` lanes of its innermost loop and
//     1 along the others.
//  3. Each linalg op whose loop extents are then bounded by small constants
//     is vectorized with those bounds as vector sizes; a dynamic extent
//     becomes a mask. Ops the vectorizer cannot handle stay scalar.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "kiln-cpu-vectorize"

namespace kiln::cpu {
#define GEN_PASS_DEF_VECTORIZEKERNELPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// The most elements a vectorized op may span: a micro tile of 8 x 64 x 2.
static constexpr int64_t kMaxVectorElements = 1024;

/// Tiles `op` by `tileSizes` (one per loop, 0 = untiled) with scf.for and
/// replaces it; returns the loops, outermost first.
static FailureOr<SmallVector<scf::ForOp>>
tileWithFor(RewriterBase &rewriter, TilingInterface op,
            ArrayRef<int64_t> tileSizes) {
  scf::SCFTilingOptions options;
  options.setTileSizes(
      getAsIndexOpFoldResult(rewriter.getContext(), tileSizes));
  options.setLoopType(scf::SCFTilingOptions::LoopType::ForOp);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled =
      scf::tileUsingSCF(rewriter, op, options);
  if (failed(tiled))
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  SmallVector<scf::ForOp> loops;
  for (LoopLikeOpInterface loop : tiled->loops)
    loops.push_back(cast<scf::ForOp>(loop.getOperation()));
  return loops;
}

/// The tile sizes that leave `lanes` lanes of the innermost loop and 1 of
/// every other loop.
static SmallVector<int64_t> getLaneTiles(linalg::LinalgOp op, int64_t lanes) {
  SmallVector<int64_t> tiles(op.getNumLoops(), 1);
  if (!tiles.empty())
    tiles.back() = lanes;
  return tiles;
}

/// The contraction dimensions of `op` when it is a contraction with at least
/// one m, n and k loop.
static std::optional<linalg::ContractionDimensions>
getContraction(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() || dims->k.empty())
    return std::nullopt;
  return *dims;
}

/// Step 1: tiles a contraction by the micro tile, peels the m and n loops,
/// and tiles the partial micro tiles into rows of `lanes`.
static LogicalResult tileContraction(RewriterBase &rewriter,
                                     linalg::LinalgOp op,
                                     const linalg::ContractionDimensions &dims,
                                     ArrayRef<int64_t> microTile,
                                     int64_t lanes) {
  // Every batch loop and every m, n, k loop but the innermost one goes by 1.
  SmallVector<int64_t> tiles(op.getNumLoops(), 1);
  unsigned mLoop = dims.m.back(), nLoop = dims.n.back(), kLoop = dims.k.back();
  tiles[mLoop] = microTile[0];
  tiles[nLoop] = microTile[1];
  tiles[kLoop] = microTile[2];
  FailureOr<SmallVector<scf::ForOp>> loops =
      tileWithFor(rewriter, cast<TilingInterface>(op.getOperation()), tiles);
  if (failed(loops))
    return op.emitError("failed to tile a contraction by its micro tile");

  // Peel m, then n inside the full m iterations. A loop whose extent is a
  // multiple of its step has nothing to peel.
  SmallVector<scf::ForOp> partials;
  scf::ForOp partial;
  if (succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, (*loops)[mLoop],
                                                  partial)))
    partials.push_back(partial);
  if (succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, (*loops)[nLoop],
                                                  partial)))
    partials.push_back(partial);

  // Partial micro tiles go by rows of `lanes`.
  SmallVector<linalg::LinalgOp> remainders;
  for (scf::ForOp loop : partials)
    loop.walk([&](linalg::LinalgOp inner) { remainders.push_back(inner); });
  for (linalg::LinalgOp inner : remainders) {
    SmallVector<int64_t> rowTiles(inner.getNumLoops(), 1);
    rowTiles[nLoop] = lanes;
    rowTiles[kLoop] = microTile[2];
    if (failed(tileWithFor(
            rewriter, cast<TilingInterface>(inner.getOperation()), rowTiles)))
      return inner.emitError("failed to tile a partial micro tile");
  }
  return success();
}

LogicalResult kiln::cpu::vectorizeKernel(RewriterBase &rewriter,
                                         func::FuncOp kernel,
                                         CpuConfigAttr config,
                                         bool vectorizeContractions) {
  int64_t lanes = config.getVectorWidth();
  ArrayRef<int64_t> microTile;
  if (config.getMicroTile())
    microTile = config.getMicroTile().asArrayRef();

  SmallVector<linalg::LinalgOp> ops;
  kernel.walk([&](linalg::LinalgOp op) {
    if (op.hasPureTensorSemantics() && op.getNumLoops() > 0)
      ops.push_back(op);
  });
  for (linalg::LinalgOp op : ops) {
    // Convolutions stay scalar loops for now.
    if (linalg::isaConvolutionOpInterface(op))
      continue;
    if (std::optional<linalg::ContractionDimensions> dims =
            getContraction(op)) {
      if (!vectorizeContractions || microTile.size() != 3)
        continue;
      if (failed(tileContraction(rewriter, op, *dims, microTile, lanes)))
        return failure();
      continue;
    }
    if (failed(tileWithFor(rewriter, cast<TilingInterface>(op.getOperation()),
                           getLaneTiles(op, lanes))))
      return op.emitError("failed to tile to vectors");
  }
  return success();
}

/// The constant upper bound of every loop extent of `op`, or failure when
/// one is unbounded.
static FailureOr<SmallVector<int64_t>> getLoopBounds(linalg::LinalgOp op) {
  SmallVector<int64_t> bounds = op.getStaticLoopRanges();
  for (auto [loop, bound] : llvm::enumerate(bounds)) {
    if (!ShapedType::isDynamic(bound))
      continue;
    // A dynamic extent is the size of an operand dimension indexed by the
    // loop alone.
    AffineExpr dim = getAffineDimExpr(loop, op.getContext());
    for (OpOperand &operand : op->getOpOperands()) {
      AffineMap map = op.getMatchingIndexingMap(&operand);
      for (auto [position, expr] : llvm::enumerate(map.getResults())) {
        if (expr != dim || !ShapedType::isDynamic(bound))
          continue;
        FailureOr<int64_t> upper =
            ValueBoundsConstraintSet::computeConstantBound(
                presburger::BoundType::UB,
                ValueBoundsConstraintSet::Variable(operand.get(), position),
                /*stopCondition=*/nullptr, /*closedUB=*/true);
        if (succeeded(upper))
          bound = *upper;
      }
    }
    if (ShapedType::isDynamic(bound))
      return failure();
  }
  return bounds;
}

/// Step 3: vectorizes every linalg op of `kernel` whose loops are bounded by
/// small constants.
static void vectorizeBoundedOps(RewriterBase &rewriter, func::FuncOp kernel) {
  SmallVector<linalg::LinalgOp> ops;
  kernel.walk([&](linalg::LinalgOp op) {
    if (op.hasPureTensorSemantics())
      ops.push_back(op);
  });
  for (linalg::LinalgOp op : ops) {
    FailureOr<SmallVector<int64_t>> bounds = getLoopBounds(op);
    if (failed(bounds))
      continue;
    int64_t elements = 1;
    for (int64_t bound : *bounds)
      elements *= bound;
    if (elements > kMaxVectorElements)
      continue;
    bool isStatic = !op.hasDynamicShape();
    ArrayRef<int64_t> sizes = isStatic ? ArrayRef<int64_t>() : *bounds;
    SmallVector<bool> scalable(sizes.size(), false);
    if (failed(linalg::vectorizeOpPrecondition(op, sizes, scalable,
                                               /*vectorizeNDExtract=*/true))) {
      LLVM_DEBUG(llvm::dbgs() << "not vectorizable: " << op << "\n");
      continue;
    }
    rewriter.setInsertionPoint(op);
    FailureOr<linalg::VectorizationResult> vectorized =
        linalg::vectorize(rewriter, op, sizes, scalable,
                          /*vectorizeNDExtract=*/true);
    if (failed(vectorized))
      continue;
    if (!vectorized->replacements.empty())
      rewriter.replaceOp(op, vectorized->replacements);
    else
      rewriter.eraseOp(op);
  }
}

void kiln::cpu::populatePostVectorizationPatterns(RewritePatternSet &patterns) {
  vector::populateVectorReductionToContractPatterns(patterns);
  vector::populateFoldArithExtensionPatterns(patterns);
  vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
  vector::populateSinkVectorOpsPatterns(patterns);
}

namespace {

struct VectorizeKernelPass
    : kiln::cpu::impl::VectorizeKernelPassBase<VectorizeKernelPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void VectorizeKernelPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> maybeConfig = getKernelConfig(function);
  if (failed(maybeConfig))
    return signalPassFailure();
  CpuConfigAttr config = *maybeConfig;
  MLIRContext *context = &getContext();
  IRRewriter rewriter(context);

  // 1-2. Tile to vector sizes, then fold the tile arithmetic so that full
  //      tiles get static shapes.
  if (failed(
          vectorizeKernel(rewriter, function, config, vectorizeContractions)))
    return signalPassFailure();
  {
    RewritePatternSet patterns =
        linalg::getLinalgTilingCanonicalizationPatterns(context);
    scf::populateSCFForLoopCanonicalizationPatterns(patterns);
    tensor::populateFoldTensorEmptyPatterns(patterns);
    if (failed(applyPatternsGreedily(function, std::move(patterns))))
      return signalPassFailure();
  }

  // 3. Vectorize, then clean up on tensors.
  vectorizeBoundedOps(rewriter, function);
  RewritePatternSet patterns =
      linalg::getLinalgTilingCanonicalizationPatterns(context);
  populatePostVectorizationPatterns(patterns);
  if (failed(applyPatternsGreedily(function, std::move(patterns))))
    signalPassFailure();
}
