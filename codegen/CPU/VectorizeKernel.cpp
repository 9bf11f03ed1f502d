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
//     packing its own lhs rows (columns past the last whole panel are a
//     second, narrower contraction whose loops merge with the first's);
//     then by the config's micro tile
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

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"
#include "mlir/Transforms/CSE.h"
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
/// then read it back from memory). Returns the loop, or a null loop for a
/// contraction no deeper than a block, which is left alone.
static FailureOr<scf::ForOp>
tileKBlock(RewriterBase &rewriter, linalg::LinalgOp op,
           const linalg::ContractionDimensions &dims, int64_t kBlock) {
  auto [blockLoop, blockSize] = getKBlockLoop(op, dims, kBlock);
  int64_t kExtent = op.getStaticLoopRanges()[blockLoop];
  if (blockSize <= 0 || (!ShapedType::isDynamic(kExtent) && kExtent <= blockSize))
    return scf::ForOp();
  // Only the operand packs move into the loop; the accumulator's fill stays
  // outside, as the loop's initial value. A padded pack (partial panels)
  // stays outside too: its tiles inside a k block do not decompose.
  FailureOr<scf::ForOp> loop = tileLoopAndFusePacks(
      rewriter, op, blockLoop, blockSize,
      [](linalg::PackOp pack) { return !pack.getPaddingValue(); });
  if (failed(loop))
    return op.emitError("failed to tile a contraction by its k block");
  return loop;
}

/// Step 0a continued: the contractions of k block loop `loop` that
/// accumulate from a value (kAccumulateFromAttrName) do so in the first k
/// block only: that block is peeled off the loop, and the others accumulate
/// into its result.
static LogicalResult peelFirstKBlock(RewriterBase &rewriter, scf::ForOp loop) {
  bool accumulatesFromValue = false;
  loop.walk([&](linalg::LinalgOp inner) {
    accumulatesFromValue |= inner->hasAttr(kAccumulateFromAttrName);
  });
  if (!accumulatesFromValue)
    return success();
  scf::ForOp first;
  if (failed(scf::peelForLoopFirstIteration(rewriter, loop, first)))
    return loop.emitError("failed to peel the first k block of a contraction");
  if (first != loop)
    loop.walk([](linalg::LinalgOp inner) {
      inner->removeAttr(kAccumulateFromAttrName);
    });
  return success();
}

/// The input of contraction `op` indexed by its m loop and not its n loop.
static OpOperand *getLhsOperand(linalg::LinalgOp op,
                                const linalg::ContractionDimensions &dims) {
  MLIRContext *context = op.getContext();
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (map.getResultPosition(getAffineDimExpr(dims.m.back(), context)) &&
        !map.getResultPosition(getAffineDimExpr(dims.n.back(), context)))
      return input;
  }
  return nullptr;
}

/// The ops after loop `first` that loop `second` uses (its operands and
/// the values its body uses, transitively), in block order, when `second`
/// can join `first`: both in one block, `first` before `second`, over the
/// same iterations, and neither they nor what `second` uses have memory
/// effects or what `second` uses depends on `first`.
static FailureOr<SmallVector<Operation *>>
getSiblingDependencies(scf::ForOp first, scf::ForOp second) {
  Block *block = first->getBlock();
  if (block != second->getBlock() || !first->isBeforeInBlock(second) ||
      !isMemoryEffectFree(first) || !isMemoryEffectFree(second) ||
      !isEqualConstantIntOrValue(first.getLowerBound(),
                                 second.getLowerBound()) ||
      !isEqualConstantIntOrValue(first.getUpperBound(),
                                 second.getUpperBound()) ||
      !isEqualConstantIntOrValue(first.getStep(), second.getStep()))
    return failure();
  BackwardSliceOptions options;
  options.omitUsesFromAbove = false;
  options.filter = [&](Operation *op) {
    return op->getBlock() == block && !op->isBeforeInBlock(first);
  };
  SetVector<Operation *> slice;
  if (failed(getBackwardSlice(second.getOperation(), &slice, options)) ||
      slice.contains(first) ||
      !llvm::all_of(slice, [](Operation *op) { return isMemoryEffectFree(op); }))
    return failure();
  SmallVector<Operation *> dependencies = slice.takeVector();
  llvm::sort(dependencies,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  return dependencies;
}

/// Merges loop `second` into loop `first` when they are independent
/// siblings (getSiblingDependencies): what `second` uses, then `second`,
/// move right after `first`, and the two become one loop there. Returns the
/// merged loop, or a null loop when they are not siblings.
static scf::ForOp fuseSiblingLoops(RewriterBase &rewriter, scf::ForOp first,
                                   scf::ForOp second) {
  FailureOr<SmallVector<Operation *>> dependencies =
      getSiblingDependencies(first, second);
  if (failed(dependencies))
    return nullptr;
  Operation *last = first;
  for (Operation *op : *dependencies) {
    rewriter.moveOpAfter(op, last);
    last = op;
  }
  rewriter.moveOpAfter(second, last);
  return fuseIndependentSiblingForLoops(first, second, rewriter);
}

/// Tiles every contraction of `kernel` with `tile`, which returns the new
/// loop (null when it left the contraction alone), and merges the loops of
/// consecutive contractions that read the same lhs when they are
/// independent siblings: the pieces of a result split into panels
/// (accumulateInPlace) then go through the same k blocks and m blocks, and
/// the lhs block they share is packed once (after CSE). Returns the loops.
static FailureOr<SmallVector<scf::ForOp>> tileContractionsSharingLhs(
    RewriterBase &rewriter, func::FuncOp kernel,
    llvm::function_ref<FailureOr<scf::ForOp>(
        linalg::LinalgOp, const linalg::ContractionDimensions &)>
        tile) {
  SmallVector<scf::ForOp> loops;
  Value previousLhs;
  for (auto &[op, dims] : getContractions(kernel)) {
    OpOperand *lhsOperand = getLhsOperand(op, dims);
    Value lhs = lhsOperand ? lhsOperand->get() : Value();
    FailureOr<scf::ForOp> loop = tile(op, dims);
    if (failed(loop))
      return failure();
    if (*loop && lhs && lhs == previousLhs && !loops.empty())
      if (scf::ForOp fused = fuseSiblingLoops(rewriter, loops.back(), *loop)) {
        loops.pop_back();
        *loop = fused;
      }
    if (*loop)
      loops.push_back(*loop);
    previousLhs = lhs;
  }
  return loops;
}

namespace {
/// Columns of a result that one contraction accumulates: `width` columns
/// from `offset`, in panels of `panel` columns (0: not in panels), the last
/// one padded when `panel` does not divide `width`.
struct ColumnRun {
  int64_t offset, width, panel;

  /// The columns of its accumulator, padding included.
  int64_t getPaddedWidth() const {
    return panel ? llvm::alignTo(width, panel) : width;
  }
};
} // namespace

/// The contractions that accumulate a result of `extent` columns in panels
/// of `n0`: one when the panels divide it; else one over its whole panels
/// and one over a narrower panel of the rest (padded to whole vectors of
/// `lanes`), which a narrower micro kernel computes; none when it has no
/// whole panel.
static SmallVector<ColumnRun> getColumnRuns(int64_t extent, int64_t n0,
                                            int64_t lanes) {
  int64_t rest = extent % n0;
  if (rest == 0)
    return {{0, extent, n0}};
  if (extent < n0)
    return {};
  return {{0, extent - rest, n0},
          {extent - rest, rest, static_cast<int64_t>(llvm::alignTo(rest, lanes))}};
}

/// The pack of columns `run` of the source of rhs pack `pack`, whose inner
/// tile `tileIndex` tiles the columns: the same layout in panels of
/// `run.panel` columns, right after `pack` (a pack hoisted out of the tile
/// loop stays there).
static Value packColumns(RewriterBase &rewriter, linalg::PackOp pack,
                         int64_t tileIndex, const ColumnRun &run) {
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointAfter(pack);
  Location loc = pack.getLoc();
  int64_t column = pack.getInnerDimsPos()[tileIndex];
  int64_t rank = pack.getSourceRank();
  SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(rewriter, loc, pack.getSource());
  SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
  offsets[column] = rewriter.getIndexAttr(run.offset);
  sizes[column] = rewriter.getIndexAttr(run.width);
  Value columns = tensor::ExtractSliceOp::create(
      rewriter, loc, pack.getSource(), offsets, sizes, strides);
  SmallVector<OpFoldResult> tiles = pack.getMixedTiles();
  tiles[tileIndex] = rewriter.getIndexAttr(run.panel);
  Value dest = linalg::PackOp::createDestinationTensor(
      rewriter, loc, columns, tiles, pack.getInnerDimsPos(),
      pack.getOuterDimsPerm());
  std::optional<Value> padding;
  if (linalg::PackOp::requirePaddingValue(
          cast<RankedTensorType>(columns.getType()).getShape(),
          pack.getInnerDimsPos(),
          cast<RankedTensorType>(dest.getType()).getShape(),
          pack.getOuterDimsPerm(), tiles))
    padding = pack.getPaddingValue();
  return linalg::PackOp::create(rewriter, loc, columns, dest,
                                pack.getInnerDimsPos(), tiles, padding,
                                pack.getOuterDimsPerm())
      .getResult();
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
/// first block's reads of it). Where the n0-column panels do not divide the
/// columns (getColumnRuns), the contraction is split in two: one over the
/// whole panels, in place, and one over a panel of the rest, in a buffer of
/// its own, each with its own rhs pack, both reading the same lhs pack. A result whose panels do not
/// divide it otherwise, or that does not start from a fill, keeps its
/// packed buffer.
static LogicalResult accumulateInPlace(RewriterBase &rewriter,
                                       linalg::GenericOp op, int64_t lanes) {
  if (op.getNumDpsInits() != 1 || !op->getResult(0).hasOneUse())
    return success();
  auto unpack = dyn_cast<linalg::UnPackOp>(*op->getResult(0).user_begin());
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  RankedTensorType resultType = unpack ? unpack.getDestType() : nullptr;
  if (!unpack || !fill || !resultType.hasStaticShape() ||
      !unpack.getOuterDimsPerm().empty())
    return success();
  ArrayRef<int64_t> tiledDims = unpack.getInnerDimsPos();
  ArrayRef<int64_t> tiles = unpack.getStaticInnerTiles();
  if (llvm::any_of(tiles, ShapedType::isDynamic))
    return success();

  // The expanded dimensions of the result, each tiled one followed by its
  // tile, and for each the dimension of the packed layout it comes from
  // (the packed layout is the outer dimensions, then the tiles). Only the
  // columns, the innermost dimension, may have a partial panel.
  int64_t rank = resultType.getRank();
  int64_t columnDim = rank - 1;
  SmallVector<int64_t> packedDims;
  SmallVector<ReassociationIndices> groups;
  for (int64_t dim = 0; dim < rank; ++dim) {
    ReassociationIndices &group = groups.emplace_back();
    group.push_back(packedDims.size());
    packedDims.push_back(dim);
    auto position = llvm::find(tiledDims, dim);
    if (position == tiledDims.end())
      continue;
    int64_t index = position - tiledDims.begin();
    if (dim != columnDim && resultType.getDimSize(dim) % tiles[index] != 0)
      return success();
    group.push_back(packedDims.size());
    packedDims.push_back(rank + index);
  }
  AffineMap packedMap = op.getIndexingMapsArray().back();
  int64_t columns = resultType.getDimSize(columnDim);
  auto columnTile = llvm::find(tiledDims, columnDim);
  SmallVector<ColumnRun> runs = {{0, columns, 0}};
  if (columnTile != tiledDims.end())
    runs = getColumnRuns(columns, tiles[columnTile - tiledDims.begin()],
                         lanes);
  if (runs.empty())
    return success();

  // Split in two, the rhs pack goes with the columns: find the input indexed
  // by the columns' tile loop, and the inner tile of its pack that tiles it.
  OpOperand *rhs = nullptr;
  linalg::PackOp rhsPack;
  int64_t rhsTileIndex = 0;
  if (runs.size() > 1) {
    int64_t index = columnTile - tiledDims.begin();
    AffineExpr columnLoop = packedMap.getResult(rank + index);
    for (OpOperand *input : op.getDpsInputOperands())
      if (op.getMatchingIndexingMap(input).getResultPosition(columnLoop))
        rhs = input;
    rhsPack = rhs ? rhs->get().getDefiningOp<linalg::PackOp>() : nullptr;
    if (!rhsPack)
      return success();
    int64_t position = *op.getMatchingIndexingMap(rhs).getResultPosition(
        columnLoop);
    int64_t firstTile = rhsPack.getDestRank() - rhsPack.getInnerDimsPos().size();
    if (position < firstTile ||
        rhsPack.getStaticInnerTiles()[position - firstTile] != tiles[index])
      return success();
    rhsTileIndex = position - firstTile;
  }

  // The view of the accumulator of `run` in panels.
  auto getViewShape = [&](const ColumnRun &run) {
    SmallVector<int64_t> shape;
    for (int64_t dim = 0; dim < rank; ++dim) {
      int64_t extent = dim == columnDim ? run.getPaddedWidth()
                                        : resultType.getDimSize(dim);
      auto position = llvm::find(tiledDims, dim);
      if (position == tiledDims.end()) {
        shape.push_back(extent);
        continue;
      }
      int64_t tile =
          dim == columnDim ? run.panel : tiles[position - tiledDims.begin()];
      shape.append({extent / tile, tile});
    }
    return shape;
  };

  // Where the result's slice is defined: before the unpack, after `op`.
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(unpack);
  // Only a static contraction accumulates from the constant: its k block
  // loop has static bounds, so peeling its first iteration cannot fail.
  Attribute fillValue;
  if (!op.hasDynamicShape())
    (void)matchPattern(fill.getInputs()[0], m_Constant(&fillValue));
  SmallVector<AffineExpr> results;
  for (int64_t dim : packedDims)
    results.push_back(packedMap.getResult(dim));
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  maps.back() = AffineMap::get(packedMap.getNumDims(), 0, results,
                               op.getContext());
  // The offsets, sizes and strides of `width` columns from `offset`.
  SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
  auto getColumnSlice = [&](int64_t offset, int64_t width) {
    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes =
        getAsIndexOpFoldResult(op.getContext(), resultType.getShape());
    offsets[columnDim] = rewriter.getIndexAttr(offset);
    sizes[columnDim] = rewriter.getIndexAttr(width);
    return std::make_pair(offsets, sizes);
  };

  // The pieces first, then their results: nothing between them uses the
  // first piece's result, so their loops can merge (vectorizeKernel). Only
  // the first accumulates in the result itself; the narrower panel has a
  // buffer of its own, copied into the result at the end (in one loop, two
  // views of one buffer would alias, and bufferization would copy it in
  // and out anyway).
  SmallVector<Value> pieces;
  for (const ColumnRun &run : runs) {
    auto [offsets, sizes] = getColumnSlice(run.offset, run.getPaddedWidth());
    Value accumulator = unpack.getDest();
    if (run.offset != 0)
      accumulator = tensor::EmptyOp::create(
          rewriter, loc, getConstantIntValues(sizes).value(),
          resultType.getElementType());
    else if (runs.size() > 1)
      accumulator = tensor::ExtractSliceOp::create(
          rewriter, loc, accumulator, offsets, sizes, strides);
    auto viewType =
        RankedTensorType::get(getViewShape(run), resultType.getElementType());
    Value view = tensor::ExpandShapeOp::create(rewriter, loc, viewType,
                                               accumulator, groups);
    Value init = view;
    if (!fillValue)
      init = linalg::FillOp::create(rewriter, loc, fill.getInputs(), view)
                 .result();
    Value rhsColumns;
    if (rhsPack)
      rhsColumns = packColumns(rewriter, rhsPack, rhsTileIndex, run);
    auto piece = cast<linalg::GenericOp>(rewriter.clone(*op));
    piece.getDpsInitsMutable()[0].assign(init);
    if (rhsPack)
      piece->setOperand(rhs->getOperandNumber(), rhsColumns);
    if (fillValue)
      piece->setAttr(kAccumulateFromAttrName, fillValue);
    piece->getResult(0).setType(viewType);
    piece.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
    pieces.push_back(piece->getResult(0));
  }
  Value result = unpack.getDest();
  for (auto [run, piece] : llvm::zip_equal(runs, pieces)) {
    auto [offsets, sizes] = getColumnSlice(run.offset, run.getPaddedWidth());
    Value columns = tensor::CollapseShapeOp::create(
        rewriter, loc,
        RankedTensorType::get(*getConstantIntValues(sizes),
                              resultType.getElementType()),
        piece, groups);
    if (runs.size() == 1) {
      result = columns;
      continue;
    }
    std::tie(offsets, sizes) = getColumnSlice(run.offset, run.width);
    if (run.width != run.getPaddedWidth())
      columns = tensor::ExtractSliceOp::create(
          rewriter, loc, columns, getColumnSlice(0, run.width).first, sizes,
          strides);
    result = tensor::InsertSliceOp::create(rewriter, loc, columns, result,
                                           offsets, sizes, strides);
  }
  rewriter.replaceOp(unpack, result);
  rewriter.eraseOp(op);
  if (rhsPack && rhsPack->use_empty())
    rewriter.eraseOp(rhsPack);
  return success();
}

/// Step 0c (`m_block`): tiles a contraction whose lhs is packed (inside its
/// k block) by `mBlock` rows and fuses the lhs pack into the loop: each m
/// block packs its own rows of the k block, which stay in L2 while its micro
/// kernels read them, and the rhs panels packed for the k block serve every
/// m block. A padded lhs pack stays outside, as in tileKBlock.
static FailureOr<scf::ForOp>
tileMBlock(RewriterBase &rewriter, linalg::LinalgOp op,
           const linalg::ContractionDimensions &dims, int64_t mBlock) {
  if (dims.m.size() < 2)
    return scf::ForOp();
  unsigned blockLoop = dims.m[dims.m.size() - 2];
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t rows = ranges[dims.m.back()];
  if (ShapedType::isDynamic(rows) || ShapedType::isDynamic(ranges[blockLoop]))
    return scf::ForOp();
  int64_t blockSize = llvm::divideCeil(mBlock, rows);
  if (ranges[blockLoop] <= blockSize)
    return scf::ForOp();
  linalg::PackOp lhsPack;
  if (OpOperand *lhs = getLhsOperand(op, dims))
    lhsPack = lhs->get().getDefiningOp<linalg::PackOp>();
  FailureOr<scf::ForOp> loop = tileLoopAndFusePacks(
      rewriter, op, blockLoop, blockSize, [lhsPack](linalg::PackOp pack) {
        return pack == lhsPack && !pack.getPaddingValue();
      });
  if (failed(loop))
    return op.emitError("failed to tile a contraction by its m block");
  return loop;
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
  // The narrower panel of a split result (accumulateInPlace) is one micro
  // tile as wide as the panel.
  int64_t columns = op.getStaticLoopRanges()[nLoop];
  tiles[nLoop] = ShapedType::isDynamic(columns)
                     ? microTile[1]
                     : std::min(microTile[1], columns);
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
        if (failed(accumulateInPlace(rewriter, generic, lanes)))
          return failure();
  // The pieces of a result split into panels read the same lhs pack; CSE
  // merges the copies of it that each loop fuses.
  if (tileContractions && config.getKBlock() > 0) {
    FailureOr<SmallVector<scf::ForOp>> loops = tileContractionsSharingLhs(
        rewriter, kernel,
        [&](linalg::LinalgOp op, const linalg::ContractionDimensions &dims) {
          return tileKBlock(rewriter, op, dims, config.getKBlock());
        });
    if (failed(loops))
      return failure();
    for (scf::ForOp loop : *loops)
      if (failed(peelFirstKBlock(rewriter, loop)))
        return failure();
    DominanceInfo dominance;
    eliminateCommonSubExpressions(rewriter, dominance, kernel);
  }
  if (blockRows) {
    if (failed(tileContractionsSharingLhs(
            rewriter, kernel,
            [&](linalg::LinalgOp op,
                const linalg::ContractionDimensions &dims) {
              return tileMBlock(rewriter, op, dims, config.getMBlock());
            })))
      return failure();
    DominanceInfo dominance;
    eliminateCommonSubExpressions(rewriter, dominance, kernel);
  }
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
