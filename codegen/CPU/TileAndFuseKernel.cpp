//===- TileAndFuseKernel.cpp - The tile loop of a kernel --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The kernel's tiles are the iterations of one scf.forall over the parallel
// loops of its root op, the op that computes its first result, tiled by the
// config. Every producer inside the kernel is fused into the loop, so one
// tile computes everything it needs; the runtime runs ranges of tiles on
// different threads.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/Dominance.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "kiln-cpu-tile-and-fuse"

namespace kiln::cpu {
#define GEN_PASS_DEF_TILEANDFUSEKERNELPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

static void setTileCount(func::FuncOp kernel, int64_t count) {
  kernel->setAttr(
      kTileCountAttrName,
      IntegerAttr::get(IntegerType::get(kernel.getContext(), 64), count));
}

/// The loop tile sizes of `root` that tile the dimensions of its result
/// `result` by `tiles`: through the indexing map of a linalg op; for the
/// kiln ops with tiling models and for the unpack of a packed matmul (see
/// kiln-cpu-pack-matmul), loop d is dimension d of the result and the
/// dimensions past the loops stay whole. Fails with a remark when the
/// result is not indexed by loops.
static FailureOr<SmallVector<OpFoldResult>>
getLoopTiles(RewriterBase &rewriter, TilingInterface root, OpResult result,
             ArrayRef<int64_t> tiles) {
  size_t numLoops = root.getLoopIteratorTypes().size();
  SmallVector<OpFoldResult> loopTiles(numLoops, rewriter.getIndexAttr(0));
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(root.getOperation())) {
    AffineMap outputMap = linalgOp.getIndexingMapMatchingResult(result);
    if (!outputMap.isProjectedPermutation())
      return failure();
    for (auto [dim, tile] : llvm::enumerate(tiles))
      loopTiles[outputMap.getDimPosition(dim)] = rewriter.getIndexAttr(tile);
    return loopTiles;
  }
  for (auto [dim, tile] : llvm::enumerate(tiles)) {
    if (dim < numLoops)
      loopTiles[dim] = rewriter.getIndexAttr(tile);
    else if (tile != 0)
      return failure();
  }
  return loopTiles;
}

/// The tiles of the source of `expand` that give its result the tiles
/// `tiles`: a group of result dimensions is one tiled source dimension when
/// only its first dimension is tiled, by its tile times the extents of the
/// others; fails when a tile splits a group otherwise.
static FailureOr<SmallVector<int64_t>>
getSourceTiles(tensor::ExpandShapeOp expand, ArrayRef<int64_t> tiles) {
  ArrayRef<int64_t> shape = expand.getResultType().getShape();
  SmallVector<int64_t> sourceTiles;
  for (const ReassociationIndices &group :
       expand.getReassociationIndices()) {
    int64_t inner = 1;
    for (int64_t dim : llvm::drop_begin(group)) {
      if (tiles[dim] != 0)
        return failure();
      inner *= shape[dim];
    }
    sourceTiles.push_back(tiles[group.front()] * inner);
  }
  return sourceTiles;
}

/// Tiles the op computing `result` by `tiles` (one per result dimension)
/// into an scf.forall and fuses its producers; returns the loop, or null
/// with a remark when the op cannot be tiled that way. A result that only
/// expands the shape of another (a convolution's matmul, see the conv2d
/// lowering) is tiled through the expansion.
static FailureOr<scf::ForallOp>
tileRoot(RewriterBase &rewriter, func::FuncOp kernel, Value result,
         ArrayRef<int64_t> tiles,
         tensor::ExpandShapeOp expansion = tensor::ExpandShapeOp()) {
  if (auto expand = result.getDefiningOp<tensor::ExpandShapeOp>();
      expand && !expansion) {
    FailureOr<SmallVector<int64_t>> sourceTiles =
        getSourceTiles(expand, tiles);
    if (succeeded(sourceTiles))
      return tileRoot(rewriter, kernel, expand.getSrc(), *sourceTiles,
                      expand);
  }
  auto opResult = dyn_cast<OpResult>(result);
  auto root = opResult ? dyn_cast<TilingInterface>(opResult.getOwner())
                       : TilingInterface();
  auto dps = root ? dyn_cast<DestinationStyleOpInterface>(root.getOperation())
                  : DestinationStyleOpInterface();
  if (!root || (dps && !dps.hasPureTensorSemantics())) {
    kernel.emitRemark("the root of the kernel is not a tileable op; it runs "
                      "as one tile");
    return scf::ForallOp();
  }
  FailureOr<SmallVector<OpFoldResult>> loopTiles =
      getLoopTiles(rewriter, root, opResult, tiles);
  if (failed(loopTiles)) {
    kernel.emitRemark("the root of the kernel does not index its result by "
                      "loops; it runs as one tile");
    return scf::ForallOp();
  }

  // Tile into an scf.forall and fuse every producer, greedily; slices move
  // up through reshapes on the way.
  scf::SCFTilingOptions tilingOptions;
  tilingOptions.setTileSizes(*loopTiles);
  tilingOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tilingOptions);
  RewritePatternSet cleanup(rewriter.getContext());
  tensor::populateBubbleUpExtractSliceOpPatterns(cleanup);
  options.cleanupPatterns = FrozenRewritePatternSet(std::move(cleanup));
  rewriter.setInsertionPoint(root);
  FailureOr<scf::SCFTileAndFuseResult> tiled =
      scf::tileConsumerAndFuseProducersUsingSCF(rewriter, root, options);
  if (failed(tiled))
    return root.emitError("failed to tile the root op of the kernel");
  // Only the kernel's outputs (or the expansion of the result they read)
  // read the tiled results; other consumers keep the original op, which
  // fuses into their own tile loops.
  for (auto [original, replacement] : tiled->replacements)
    rewriter.replaceUsesWithIf(original, replacement, [&](OpOperand &use) {
      return isa<bufferization::MaterializeInDestinationOp>(use.getOwner()) ||
             use.getOwner() == expansion;
    });
  return cast<scf::ForallOp>(tiled->loops.front().getOperation());
}

/// Makes the tile loop write `output`, the result materialized into an
/// output buffer, in place: a shared output that is a tensor.empty (the
/// destination of an op without one) becomes the buffer, collapsed when the
/// loop computes the result before a shape expansion.
static void writeInPlace(RewriterBase &rewriter, scf::ForallOp loop,
                         bufferization::MaterializeInDestinationOp output) {
  Value source = output.getSource();
  auto expand = source.getDefiningOp<tensor::ExpandShapeOp>();
  if (expand)
    source = expand.getSrc();
  for (OpOperand &init : loop.getOutputsMutable()) {
    if (loop.getTiedOpResult(&init) != source ||
        !init.get().getDefiningOp<tensor::EmptyOp>())
      continue;
    rewriter.setInsertionPoint(loop);
    Value buffer = bufferization::ToTensorOp::create(
        rewriter, loop.getLoc(), output.getSource().getType(),
        output.getDest(), /*restrict=*/true, /*writable=*/true);
    if (expand)
      buffer = tensor::CollapseShapeOp::create(
          rewriter, loop.getLoc(), init.get().getType(), buffer,
          expand.getReassociationIndices());
    rewriter.modifyOpInPlace(loop, [&] { init.set(buffer); });
  }
}

LogicalResult kiln::cpu::tileAndFuseKernel(RewriterBase &rewriter,
                                           func::FuncOp kernel,
                                           CpuConfigAttr config) {
  // 1. The results, in output order.
  SmallVector<bufferization::MaterializeInDestinationOp> outputs;
  kernel.walk([&](bufferization::MaterializeInDestinationOp op) {
    outputs.push_back(op);
  });
  if (kernel->hasAttr(kTileCountAttrName) || outputs.empty()) {
    if (!kernel->hasAttr(kTileCountAttrName))
      setTileCount(kernel, 1);
    return success();
  }

  // 2. The tile sizes of the first result's dimensions; a size of at least
  //    the dimension leaves it whole. Every result is tiled alike: they
  //    share the tiled dimensions (see verifyCpuConfig).
  Value result = outputs.front().getSource();
  auto resultType = cast<RankedTensorType>(result.getType());
  ArrayRef<int64_t> shape = resultType.getShape();
  ArrayRef<int64_t> configured = config.getTileSizes().asArrayRef();
  if (static_cast<int64_t>(configured.size()) != resultType.getRank())
    return kernel.emitError("expected one tile size per dimension of the "
                            "first result (rank ")
           << resultType.getRank() << ", got " << configured.size()
           << " tile sizes)";
  SmallVector<int64_t> tiles(configured);
  int64_t tileCount = 1;
  for (auto [tile, size] : llvm::zip_equal(tiles, shape)) {
    if (tile >= size)
      tile = 0;
    if (tile > 0)
      tileCount *= llvm::divideCeil(size, tile);
  }
  if (tileCount == 1) {
    setTileCount(kernel, 1);
    return success();
  }

  // 3. One tile loop per result, each with its producers fused; the loops
  //    are then merged into one, so that a tile computes every result.
  SmallVector<scf::ForallOp> loops;
  for (bufferization::MaterializeInDestinationOp output : outputs) {
    // A result of an op with several results is tiled with the first.
    if (output.getSource().getDefiningOp<scf::ForallOp>()) {
      writeInPlace(rewriter, output.getSource().getDefiningOp<scf::ForallOp>(),
                   output);
      continue;
    }
    auto type = cast<RankedTensorType>(output.getSource().getType());
    SmallVector<int64_t> resultTiles(tiles.begin(),
                                     tiles.begin() + std::min<int64_t>(
                                                         tiles.size(),
                                                         type.getRank()));
    FailureOr<scf::ForallOp> loop =
        tileRoot(rewriter, kernel, output.getSource(), resultTiles);
    if (failed(loop))
      return failure();
    if (!*loop) {
      if (!loops.empty())
        return kernel.emitError("expected every result of the kernel to be "
                                "tileable like the first one");
      setTileCount(kernel, 1);
      return success();
    }
    writeInPlace(rewriter, *loop, output);
    loops.push_back(*loop);
  }
  scf::ForallOp merged = loops.front();
  for (scf::ForallOp loop : llvm::drop_begin(loops))
    merged = fuseIndependentSiblingForallLoops(merged, loop, rewriter);
  setTileCount(kernel, tileCount);
  return success();
}

namespace {

/// A tile's unpack into a padded buffer (tiling an unpack rounds its tile up
/// to whole inner tiles) whose leading slice is the tile of the result
/// unpacks into that tile of the result instead, dropping the padding
/// itself: the result is then written in place (and accumulated in place,
/// see kiln-cpu-vectorize's m blocks), not in a buffer copied afterwards.
struct UnpackIntoResultTile : OpRewritePattern<tensor::ExtractSliceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::ExtractSliceOp slice,
                                PatternRewriter &rewriter) const override {
    auto unpack = slice.getSource().getDefiningOp<linalg::UnPackOp>();
    if (!unpack || !unpack->hasOneUse() || !slice->hasOneUse() ||
        !unpack.getDest().getDefiningOp<tensor::EmptyOp>() ||
        !areAllConstantIntValue(slice.getMixedOffsets(), 0) ||
        !areAllConstantIntValue(slice.getMixedStrides(), 1) ||
        !unpack.canFoldSliceOp(slice))
      return failure();
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(*slice->user_begin());
    if (!insert || insert.getSourceType() != slice.getType() ||
        insert.getSourceType().getRank() != insert.getDestType().getRank())
      return failure();
    DominanceInfo dominance;
    for (Value operand : insert->getOperands())
      if (operand != slice.getResult() &&
          !dominance.properlyDominates(operand, unpack))
        return failure();
    rewriter.setInsertionPoint(unpack);
    Value tile = tensor::ExtractSliceOp::create(
        rewriter, unpack.getLoc(), insert.getDest(), insert.getMixedOffsets(),
        insert.getMixedSizes(), insert.getMixedStrides());
    rewriter.replaceOpWithNewOp<linalg::UnPackOp>(
        slice, unpack.getSource(), tile, unpack.getInnerDimsPos(),
        unpack.getMixedTiles(), unpack.getOuterDimsPerm());
    return success();
  }
};

struct TileAndFuseKernelPass
    : kiln::cpu::impl::TileAndFuseKernelPassBase<TileAndFuseKernelPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void TileAndFuseKernelPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> maybeConfig = getKernelConfig(function);
  if (failed(maybeConfig))
    return signalPassFailure();
  CpuConfigAttr config = *maybeConfig;
  IRRewriter rewriter(&getContext());
  if (failed(tileAndFuseKernel(rewriter, function, config)))
    return signalPassFailure();

  // Drop what fusion left dead and fold the tile arithmetic. A padded pack
  // bounds each tile of its source by what is left of it, min(tile,
  // size - offset): folded with the loop's bounds, a whole tile becomes
  // static through the reshapes above the pack, and CSE makes a partial
  // tile's bound the loop's own. The decomposition of packs into inner tiles
  // (kiln-cpu-vectorize) needs both to see that each inner tile is whole.
  RewritePatternSet patterns =
      linalg::getLinalgTilingCanonicalizationPatterns(&getContext());
  scf::populateSCFForLoopCanonicalizationPatterns(patterns);
  tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, &getContext());
  scf::ForallOp::getCanonicalizationPatterns(patterns, &getContext());
  tensor::populateFoldTensorEmptyPatterns(patterns);
  // Fused producers whose tiles tiling left dynamic (an im2col copy, see
  // the conv2d lowering) take the static shapes their tensor.casts hide:
  // packs need them to decompose.
  getContext().getLoadedDialect<tensor::TensorDialect>()
      ->getCanonicalizationPatterns(patterns);
  tensor::CastOp::getCanonicalizationPatterns(patterns, &getContext());
  tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns,
                                                       &getContext());
  patterns.add<UnpackIntoResultTile>(&getContext());
  if (failed(applyPatternsGreedily(function, std::move(patterns))))
    return signalPassFailure();
  DominanceInfo dominance;
  eliminateCommonSubExpressions(rewriter, dominance, function);
}
