//===- VectorizeKernel.cpp - Vector tiles inside a kernel tile --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Inside a kernel tile every linalg op is tiled once more, to the size of a
// few vector registers, and vectorized:
//
//  0. Packs and unpacks (kiln-cpu-pack-matmul) go by one inner tile, a
//     pack's tiles in the order of its source's rows, and
//     decompose into pads and slices; pads are vectorized with masks, and
//     the copies of whole inner tiles become vector reads and writes.
//  1. Contractions go by `k_block` of k first (the cache block; whole k0
//     tiles when the lhs is packed) and, with `m_block`, accumulate into
//     the result in place and go by m blocks inside each k block, each
//     packing its own lhs rows; then by the config's micro tile
//     [m, n, k], n loops outside m loops so that a rhs panel stays in L1 for
//     all the rows. The loops over m and n are peeled:
//     full micro tiles have static shapes and vectorize without masks into a
//     vector.contract; the remainders are tiled again into rows of
//     `vector_width` lanes.
//  2. Every other op goes by `vector_width` lanes of its innermost loop and
//     1 along the others. A reduction along the innermost loop accumulates
//     into `vector_width` partial results, one per lane, reduced across the
//     lanes once after the loop.
//  3. Each linalg op whose loop extents are then bounded by small constants
//     is vectorized with those bounds as vector sizes; a dynamic extent
//     becomes a mask. Ops the vectorizer cannot handle stay scalar.
//  4. Accumulators are hoisted out of the k loops: a micro tile's result
//     stays in registers for the whole k loop instead of being read and
//     written back at every step.
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
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"
#include "llvm/Support/MathExtras.h"

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

/// Marks a contraction, between steps 0b and 1 of this pass only, whose
/// accumulator operand is not read: it accumulates from this value (a
/// constant of the element type) instead. Step 1 gives each of its micro
/// tiles a fill of that value (tiles of the parallel loops keep the mark,
/// as their accumulators are disjoint; the k block loop peels its first
/// iteration, the only one that keeps it).
static constexpr llvm::StringLiteral kAccumulateFromAttrName =
    "kiln.accumulate_from";

/// Tiles `op` by `tileSizes` (one per loop, 0 = untiled) with scf.for and
/// replaces it; returns the loops, outermost first.
static FailureOr<SmallVector<scf::ForOp>>
tileWithFor(RewriterBase &rewriter, TilingInterface op,
            ArrayRef<int64_t> tileSizes, ArrayRef<int64_t> interchange = {}) {
  scf::SCFTilingOptions options;
  options.setTileSizes(
      getAsIndexOpFoldResult(rewriter.getContext(), tileSizes));
  options.setLoopType(scf::SCFTilingOptions::LoopType::ForOp);
  options.setInterchange(interchange);
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

/// Whether the only reduction loop of `op` is its innermost loop and spans
/// more than `lanes` (or an unknown number of) iterations.
static bool isLongInnerReduction(linalg::LinalgOp op, int64_t lanes) {
  unsigned numLoops = op.getNumLoops();
  SmallVector<unsigned> reductions;
  op.getReductionDims(reductions);
  if (reductions.size() != 1 || reductions.front() != numLoops - 1)
    return false;
  int64_t extent = op.getStaticLoopRanges().back();
  return ShapedType::isDynamic(extent) || extent > lanes;
}

/// Step 2 for a reduction along the innermost loop: the other loops go by 1,
/// and the reduction by `lanes` into a partial result of `lanes` lanes, one
/// accumulator per lane, which one reduction across the lanes merges after
/// the loop. The loop body is then elementwise and vectorizes into full
/// vectors; only the merge reduces horizontally, once per row.
static LogicalResult tileInnerReduction(RewriterBase &rewriter,
                                        linalg::LinalgOp op, int64_t lanes) {
  unsigned numLoops = op.getNumLoops();
  SmallVector<int64_t> rowTiles(numLoops, 1);
  rowTiles.back() = 0;
  scf::SCFTilingOptions rowOptions;
  rowOptions.setTileSizes(
      getAsIndexOpFoldResult(rewriter.getContext(), rowTiles));
  rowOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForOp);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> rows = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), rowOptions);
  if (failed(rows) || rows->tiledOps.size() != 1)
    return failure();
  rewriter.replaceOp(op, rows->replacements);

  SmallVector<int64_t> laneTiles(numLoops, 0);
  laneTiles.back() = lanes;
  scf::SCFTilingOptions laneOptions;
  laneOptions.setTileSizes(
      getAsIndexOpFoldResult(rewriter.getContext(), laneTiles));
  laneOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForOp);
  laneOptions.setReductionTilingStrategy(
      ReductionTilingStrategy::PartialReductionOuterReduction);
  laneOptions.setReductionDims({numLoops - 1});
  Operation *row = rows->tiledOps.front();
  rewriter.setInsertionPoint(row);
  FailureOr<scf::SCFTilingResult> partial =
      scf::tileUsingSCF(rewriter, cast<TilingInterface>(row), laneOptions);
  if (failed(partial) || partial->loops.size() != 1)
    return failure();
  rewriter.replaceOp(row, partial->replacements);

  // Full iterations have static shapes: their accumulator stays in a
  // register (step 4) and needs no mask; only the peeled last iteration
  // reads a partial vector.
  scf::ForOp remainder;
  (void)scf::peelForLoopAndSimplifyBounds(
      rewriter, cast<scf::ForOp>(partial->loops.front().getOperation()),
      remainder);
  return success();
}

/// Step 0: tiles every pack and unpack of `kernel` to one inner tile per
/// iteration and decomposes them into pads, transposes and slices.
static LogicalResult lowerRelayouts(RewriterBase &rewriter,
                                    func::FuncOp kernel) {
  SmallVector<Operation *> relayouts;
  kernel.walk([&](Operation *op) {
    if (isa<linalg::PackOp, linalg::UnPackOp>(op))
      relayouts.push_back(op);
  });
  for (Operation *op : relayouts) {
    // A pack's loops are its outer dimensions; an unpack's are the unpacked
    // dimensions, which go by whole inner tiles.
    SmallVector<int64_t> tiles, interchange;
    if (auto pack = dyn_cast<linalg::PackOp>(op)) {
      tiles.assign(pack.getSourceRank(), 1);
      // Its loops go in the order of the source's dimensions, whatever the
      // order of the packed outer ones: a transposed pack (the rhs panels,
      // n outermost) then copies each source row whole, across all panels,
      // instead of one panel's slice of every row in turn (a 4 KiB page and
      // a prefetch stream per row and panel).
      if (!pack.getOuterDimsPerm().empty())
        interchange = invertPermutationVector(pack.getOuterDimsPerm());
    } else {
      auto unpack = cast<linalg::UnPackOp>(op);
      tiles.assign(unpack.getDestRank(), 1);
      for (auto [pos, size] : llvm::zip_equal(unpack.getInnerDimsPos(),
                                              unpack.getStaticInnerTiles()))
        tiles[pos] = ShapedType::isDynamic(size) ? 1 : size;
    }
    if (failed(tileWithFor(rewriter, cast<TilingInterface>(op), tiles,
                           interchange)))
      return op->emitError("failed to tile a pack to its inner tiles");
  }
  RewritePatternSet patterns =
      linalg::getLinalgTilingCanonicalizationPatterns(kernel.getContext());
  linalg::populateDecomposePackUnpackPatterns(patterns);
  return applyPatternsGreedily(kernel, std::move(patterns));
}

/// The loop of `op` that a k block tiles: its k loop or, with the lhs
/// packed (k split into tiles of k0, the innermost k loop), the outer k
/// loop; with `kBlock` in iterations of that loop.
static std::pair<unsigned, int64_t>
getKBlockLoop(linalg::LinalgOp op, const linalg::ContractionDimensions &dims,
              int64_t kBlock) {
  unsigned kLoop = dims.k.back();
  if (dims.k.size() < 2)
    return {kLoop, kBlock};
  int64_t k0 = op.getStaticLoopRanges()[kLoop];
  if (!ShapedType::isDynamic(k0))
    kBlock = llvm::divideCeil(kBlock, k0);
  return {dims.k[dims.k.size() - 2], kBlock};
}

/// Tiles loop `loop` of `op` by `size` with scf.for and fuses into the loop
/// the packs of its operands that `fuse` accepts (never the accumulator);
/// returns the new loop.
static FailureOr<scf::ForOp>
tileLoopAndFusePacks(RewriterBase &rewriter, linalg::LinalgOp op,
                     unsigned loop, int64_t size,
                     llvm::function_ref<bool(linalg::PackOp)> fuse) {
  SmallVector<int64_t> tiles(op.getNumLoops(), 0);
  tiles[loop] = size;
  scf::SCFTilingOptions tilingOptions;
  tilingOptions.setTileSizes(
      getAsIndexOpFoldResult(rewriter.getContext(), tiles));
  tilingOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForOp);
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tilingOptions);
  options.setFusionControlFn(
      [fuse](tensor::ExtractSliceOp, OpResult producer, bool isDestination)
          -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
        auto pack = dyn_cast<linalg::PackOp>(producer.getOwner());
        if (isDestination || !pack || !fuse(pack))
          return std::nullopt;
        return scf::SCFTileAndFuseOptions::ControlFnResult{};
      });
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTileAndFuseResult> tiled =
      scf::tileConsumerAndFuseProducersUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled) || tiled->loops.size() != 1)
    return failure();
  for (auto [original, replacement] : tiled->replacements)
    rewriter.replaceAllUsesWith(original, replacement);
  return cast<scf::ForOp>(tiled->loops.front().getOperation());
}

/// Step 0a: tiles the k loop of a contraction by `kBlock` and fuses the
/// packs of its operands into the loop, so that each k block packs only the
/// panels it reads, right before reading them: the packed block stays in
/// L2 (a pack of the whole depth of a tile does not, and the micro kernels
/// then read it back from memory). A contraction no deeper than a block is
/// left alone. A contraction that accumulates from a value
/// (kAccumulateFromAttrName) does so in the first k block only: that block
/// is peeled off the loop, and the others accumulate into its result.
static LogicalResult tileKBlock(RewriterBase &rewriter, linalg::LinalgOp op,
                                const linalg::ContractionDimensions &dims,
                                int64_t kBlock) {
  auto [blockLoop, blockSize] = getKBlockLoop(op, dims, kBlock);
  int64_t kExtent = op.getStaticLoopRanges()[blockLoop];
  if (blockSize <= 0 || (!ShapedType::isDynamic(kExtent) && kExtent <= blockSize))
    return success();
  // Only the operand packs move into the loop; the accumulator's fill stays
  // outside, as the loop's initial value. A padded pack (partial panels)
  // stays outside too: its tiles inside a k block do not decompose.
  bool accumulatesFromValue = op->hasAttr(kAccumulateFromAttrName);
  FailureOr<scf::ForOp> loop = tileLoopAndFusePacks(
      rewriter, op, blockLoop, blockSize,
      [](linalg::PackOp pack) { return !pack.getPaddingValue(); });
  if (failed(loop))
    return op.emitError("failed to tile a contraction by its k block");
  if (!accumulatesFromValue)
    return success();
  scf::ForOp first;
  if (failed(scf::peelForLoopFirstIteration(rewriter, *loop, first)))
    return op.emitError("failed to peel the first k block of a contraction");
  if (first != *loop)
    loop->walk([](linalg::LinalgOp inner) {
      inner->removeAttr(kAccumulateFromAttrName);
    });
  return success();
}

/// Step 0b (`m_block`): the packed accumulator of contraction `op` becomes
/// a view of the tile's result: instead of a zero-filled buffer in the
/// packed layout, unpacked into the result after the k loop, the result
/// itself is viewed as [m / m0, m0, n / n0, n0] (or [m, n / n0, n0] with only
/// the rhs packed) and accumulated into by the micro kernels. A constant
/// fill is not written over the whole view first: the contraction is marked
/// to accumulate from the constant (kAccumulateFromAttrName), so the micro
/// kernels of the first k block start from it and write their tiles without
/// reading them (at 2048^3 that saves a pass over the 16 MiB result and the
/// first block's reads of it). A result whose panels do not divide it, or
/// that does not start from a fill, keeps its packed buffer.
static LogicalResult accumulateInPlace(RewriterBase &rewriter,
                                       linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || !op->getResult(0).hasOneUse())
    return success();
  auto unpack = dyn_cast<linalg::UnPackOp>(*op->getResult(0).user_begin());
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  RankedTensorType resultType = unpack ? unpack.getDestType() : nullptr;
  if (!unpack || !fill || !resultType.hasStaticShape() ||
      !unpack.getOuterDimsPerm().empty())
    return success();

  // The expanded dimensions of the result, each tiled one followed by its
  // tile, and for each the dimension of the packed layout it comes from
  // (the packed layout is the outer dimensions, then the tiles).
  int64_t rank = resultType.getRank();
  SmallVector<int64_t> shape, packedDims;
  SmallVector<ReassociationIndices> groups;
  for (int64_t dim = 0; dim < rank; ++dim) {
    int64_t extent = resultType.getDimSize(dim);
    ReassociationIndices &group = groups.emplace_back();
    group.push_back(shape.size());
    auto position = llvm::find(unpack.getInnerDimsPos(), dim);
    if (position == unpack.getInnerDimsPos().end()) {
      shape.push_back(extent);
      packedDims.push_back(dim);
      continue;
    }
    int64_t index = position - unpack.getInnerDimsPos().begin();
    int64_t tile = unpack.getStaticInnerTiles()[index];
    if (ShapedType::isDynamic(tile) || extent % tile != 0)
      return success();
    group.push_back(shape.size() + 1);
    shape.append({extent / tile, tile});
    packedDims.append({dim, rank + index});
  }

  // Where the result's slice is defined: before the unpack, after `op`.
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(unpack);
  auto expandedType = RankedTensorType::get(shape, resultType.getElementType());
  Value view = tensor::ExpandShapeOp::create(rewriter, loc, expandedType,
                                             unpack.getDest(), groups);
  // Only a static contraction accumulates from the constant: its k block
  // loop has static bounds, so peeling its first iteration cannot fail.
  Attribute fillValue;
  Value init = view;
  if (op.hasDynamicShape() ||
      !matchPattern(fill.getInputs()[0], m_Constant(&fillValue)))
    init =
        linalg::FillOp::create(rewriter, loc, fill.getInputs(), view).result();
  AffineMap packedMap = op.getIndexingMapsArray().back();
  SmallVector<AffineExpr> results;
  for (int64_t dim : packedDims)
    results.push_back(packedMap.getResult(dim));
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  maps.back() = AffineMap::get(packedMap.getNumDims(), 0, results,
                               op.getContext());
  auto inPlace = cast<linalg::GenericOp>(rewriter.clone(*op));
  inPlace.getDpsInitsMutable()[0].assign(init);
  if (fillValue)
    inPlace->setAttr(kAccumulateFromAttrName, fillValue);
  inPlace->getResult(0).setType(expandedType);
  inPlace.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
  rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
      unpack, resultType, inPlace->getResult(0), groups);
  rewriter.eraseOp(op);
  return success();
}

/// Step 0c (`m_block`): tiles a contraction whose lhs is packed (inside its
/// k block) by `mBlock` rows and fuses the lhs pack into the loop: each m
/// block packs its own rows of the k block, which stay in L2 while its micro
/// kernels read them, and the rhs panels packed for the k block serve every
/// m block. A padded lhs pack stays outside, as in tileKBlock.
static LogicalResult tileMBlock(RewriterBase &rewriter, linalg::LinalgOp op,
                                const linalg::ContractionDimensions &dims,
                                int64_t mBlock) {
  if (dims.m.size() < 2)
    return success();
  unsigned blockLoop = dims.m[dims.m.size() - 2];
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t rows = ranges[dims.m.back()];
  if (ShapedType::isDynamic(rows) || ShapedType::isDynamic(ranges[blockLoop]))
    return success();
  int64_t blockSize = llvm::divideCeil(mBlock, rows);
  if (ranges[blockLoop] <= blockSize)
    return success();
  linalg::PackOp lhsPack;
  MLIRContext *context = op.getContext();
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (map.getResultPosition(getAffineDimExpr(blockLoop, context)) &&
        !map.getResultPosition(getAffineDimExpr(dims.n.back(), context)))
      lhsPack = input->get().getDefiningOp<linalg::PackOp>();
  }
  if (failed(tileLoopAndFusePacks(
          rewriter, op, blockLoop, blockSize, [lhsPack](linalg::PackOp pack) {
            return pack == lhsPack && !pack.getPaddingValue();
          })))
    return op.emitError("failed to tile a contraction by its m block");
  return success();
}

/// Gives `op`, a micro tile of a contraction that accumulates from a value
/// (kAccumulateFromAttrName), an accumulator filled with that value. A
/// static accumulator is filled without its unit dimensions, in the shape
/// that step 2b leaves the micro tile's own: its vector read, hoisted before
/// the k loops (step 4), then folds into the constant, and its vector write
/// after them replaces the fill's (canonicalization), so the result is
/// written once and never read.
static void fillAccumulator(RewriterBase &rewriter, linalg::LinalgOp op) {
  auto value = op->getAttrOfType<TypedAttr>(kAccumulateFromAttrName);
  if (!value)
    return;
  op->removeAttr(kAccumulateFromAttrName);
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value constant = arith::ConstantOp::create(rewriter, loc, value);
  OpOperand &init = op.getDpsInitsMutable()[0];
  auto type = cast<RankedTensorType>(init.get().getType());
  Value filled;
  if (type.hasStaticShape()) {
    SmallVector<int64_t> shape;
    llvm::copy_if(type.getShape(), std::back_inserter(shape),
                  [](int64_t size) { return size != 1; });
    Value slice = tensor::createCanonicalRankReducingExtractSliceOp(
        rewriter, loc, init.get(), type.clone(shape));
    Value filledSlice =
        linalg::FillOp::create(rewriter, loc, constant, slice).result();
    filled = tensor::createCanonicalRankReducingInsertSliceOp(
        rewriter, loc, filledSlice, init.get());
  } else {
    filled =
        linalg::FillOp::create(rewriter, loc, constant, init.get()).result();
  }
  rewriter.modifyOpInPlace(op, [&] { init.assign(filled); });
}

/// Step 1: tiles a contraction (inside its k block) by the micro tile with
/// the n loops outermost, peels the m and n loops, then tiles the k loops of
/// each micro tile, the partial micro tiles into rows of `lanes`. Between
/// the two, the micro tiles of a contraction that accumulates from a value
/// get their accumulators filled with it.
static LogicalResult tileContraction(RewriterBase &rewriter,
                                     linalg::LinalgOp op,
                                     const linalg::ContractionDimensions &dims,
                                     ArrayRef<int64_t> microTile,
                                     int64_t lanes) {
  unsigned mLoop = dims.m.back(), nLoop = dims.n.back(), kLoop = dims.k.back();

  // Every batch loop and every m and n loop but the innermost one goes by 1,
  // the n loops first; the k loops stay whole.
  SmallVector<int64_t> tiles(op.getNumLoops(), 1);
  for (unsigned loop : dims.k)
    tiles[loop] = 0;
  tiles[mLoop] = microTile[0];
  tiles[nLoop] = microTile[1];
  SmallVector<int64_t> interchange(dims.n.begin(), dims.n.end());
  for (int64_t loop : llvm::seq<int64_t>(0, op.getNumLoops()))
    if (!llvm::is_contained(dims.n, loop))
      interchange.push_back(loop);
  FailureOr<SmallVector<scf::ForOp>> ordered = tileWithFor(
      rewriter, cast<TilingInterface>(op.getOperation()), tiles, interchange);
  if (failed(ordered) || ordered->empty())
    return op.emitError("failed to tile a contraction by its micro tile");
  // The tiled loops, in the interchanged order.
  DenseMap<int64_t, scf::ForOp> loops;
  for (auto [loop, forOp] :
       llvm::zip(llvm::make_filter_range(
                     interchange, [&](int64_t loop) { return tiles[loop]; }),
                 *ordered))
    loops[loop] = forOp;

  // Peel n, then m inside the full n iterations. A loop whose extent is a
  // multiple of its step has nothing to peel.
  SmallVector<scf::ForOp> partials;
  scf::ForOp partial;
  if (succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, loops[nLoop],
                                                  partial)))
    partials.push_back(partial);
  if (succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, loops[mLoop],
                                                  partial)))
    partials.push_back(partial);

  SmallVector<linalg::LinalgOp> microTiles;
  llvm::SmallPtrSet<Operation *, 4> remainders;
  auto collect = [&](scf::ForOp loop, bool isRemainder) {
    loop.walk([&](linalg::LinalgOp inner) {
      if (!isRemainder && remainders.contains(inner))
        return;
      microTiles.push_back(inner);
      if (isRemainder)
        remainders.insert(inner);
    });
  };
  for (scf::ForOp loop : partials)
    collect(loop, /*isRemainder=*/true);
  collect(ordered->front(), /*isRemainder=*/false);

  // The k loops: full micro tiles by the micro tile's k (the outer k loops
  // by 1), partial ones into rows of `lanes` as well.
  for (linalg::LinalgOp inner : microTiles) {
    fillAccumulator(rewriter, inner);
    bool isRemainder = remainders.contains(inner);
    SmallVector<int64_t> innerTiles(inner.getNumLoops(), isRemainder ? 1 : 0);
    for (unsigned loop : dims.k)
      innerTiles[loop] = 1;
    innerTiles[kLoop] = microTile[2];
    if (isRemainder)
      innerTiles[nLoop] = lanes;
    if (failed(tileWithFor(rewriter,
                           cast<TilingInterface>(inner.getOperation()),
                           innerTiles)))
      return inner.emitError("failed to tile a micro tile's k loops");
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

  bool tileContractions = vectorizeContractions && microTile.size() == 3;
  bool blockRows = tileContractions && config.getMBlock() > 0;
  if (blockRows)
    for (auto &[op, dims] : getContractions(kernel))
      if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation()))
        if (failed(accumulateInPlace(rewriter, generic)))
          return failure();
  if (tileContractions && config.getKBlock() > 0)
    for (auto &[op, dims] : getContractions(kernel))
      if (failed(tileKBlock(rewriter, op, dims, config.getKBlock())))
        return failure();
  if (blockRows)
    for (auto &[op, dims] : getContractions(kernel))
      if (failed(tileMBlock(rewriter, op, dims, config.getMBlock())))
        return failure();
  if (failed(lowerRelayouts(rewriter, kernel)))
    return failure();
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
            getMatmulDims(op)) {
      if (!tileContractions)
        continue;
      if (failed(tileContraction(rewriter, op, *dims, microTile, lanes)))
        return failure();
      continue;
    }
    if (isLongInnerReduction(op, lanes)) {
      if (failed(tileInnerReduction(rewriter, op, lanes)))
        return op.emitError("failed to tile a reduction to vector lanes");
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

/// Step 0 continued: vectorizes the pads of packed operands that have a
/// small static shape, reading the padded source with a mask, and the
/// copies of whole inner tiles.
static void vectorizePadsAndCopies(RewriterBase &rewriter,
                                   func::FuncOp kernel) {
  SmallVector<tensor::PadOp> pads;
  kernel.walk([&](tensor::PadOp pad) { pads.push_back(pad); });
  for (tensor::PadOp pad : pads) {
    // Packs pad at the high end only; a convolution's pads at the low end
    // stay with the bufferized copy.
    RankedTensorType type = pad.getResultType();
    if (!type.hasStaticShape() || type.getNumElements() > kMaxVectorElements ||
        !llvm::all_of(pad.getMixedLowPad(), isZeroInteger))
      continue;
    rewriter.setInsertionPoint(pad);
    FailureOr<linalg::VectorizationResult> vectorized =
        linalg::vectorize(rewriter, pad, type.getShape());
    if (succeeded(vectorized))
      rewriter.replaceOp(pad, vectorized->replacements);
  }

  // What a relayout of a whole inner tile leaves is a copy: an insert of an
  // extracted slice. Copied by vectors, it becomes one read and one write
  // instead of a scalar loop.
  SmallVector<tensor::InsertSliceOp> copies;
  kernel.walk([&](tensor::InsertSliceOp insert) {
    RankedTensorType type = insert.getSourceType();
    if (insert.getSource().getDefiningOp<tensor::ExtractSliceOp>() &&
        type.hasStaticShape() && type.getNumElements() <= kMaxVectorElements)
      copies.push_back(insert);
  });
  for (tensor::InsertSliceOp insert : copies) {
    rewriter.setInsertionPoint(insert);
    FailureOr<linalg::VectorizationResult> vectorized =
        linalg::vectorize(rewriter, insert, {});
    if (succeeded(vectorized))
      rewriter.replaceOp(insert, vectorized->replacements);
  }
}

/// Step 2b: drops the unit loops of the micro tiles of contractions with a
/// packed k (pack_lhs), all but the innermost k loop: the vectorized micro
/// tile is then one m x n outer product per k, as without packing, which
/// lowers to FMAs (a contraction over two reduction dimensions lowers to
/// multiplies and separate reductions).
static void dropMicroTileUnitDims(RewriterBase &rewriter, func::FuncOp kernel) {
  SmallVector<linalg::GenericOp> microTiles;
  kernel.walk([&](linalg::GenericOp op) {
    std::optional<linalg::ContractionDimensions> dims = getMatmulDims(op);
    if (op.hasPureTensorSemantics() && !op.hasDynamicShape() && dims &&
        dims->k.size() > 1)
      microTiles.push_back(op);
  });
  for (linalg::GenericOp op : microTiles) {
    unsigned innerK = getMatmulDims(op)->k.back();
    linalg::ControlDropUnitDims options;
    options.rankReductionStrategy = linalg::ControlDropUnitDims::
        RankReductionStrategy::ExtractInsertSlice;
    options.controlFn = [innerK](Operation *target) {
      SmallVector<unsigned> loops;
      for (auto [loop, extent] : llvm::enumerate(
               cast<linalg::LinalgOp>(target).getStaticLoopRanges()))
        if (extent == 1 && loop != innerK)
          loops.push_back(loop);
      return loops;
    };
    rewriter.setInsertionPoint(op);
    FailureOr<linalg::DropUnitDimsResult> dropped =
        linalg::dropUnitDims(rewriter, op, options);
    if (succeeded(dropped))
      rewriter.replaceOp(op, dropped->replacements);
  }
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
  dropMicroTileUnitDims(rewriter, function);
  vectorizePadsAndCopies(rewriter, function);
  vectorizeBoundedOps(rewriter, function);
  {
    RewritePatternSet patterns =
        linalg::getLinalgTilingCanonicalizationPatterns(context);
    populatePostVectorizationPatterns(patterns);
    if (failed(applyPatternsGreedily(function, std::move(patterns))))
      return signalPassFailure();
  }

  // 4. Accumulators out of the loops, innermost loops first.
  SmallVector<scf::ForOp> loops;
  function.walk([&](scf::ForOp loop) { loops.push_back(loop); });
  for (scf::ForOp loop : loops)
    hoistLoopInvariantSubsets(rewriter, loop);
}
