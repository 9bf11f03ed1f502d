//===- SplitRegisterTiles.cpp - Micro kernels row by row ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A micro kernel (kiln-cpu-vectorize) is one vector.contract per k step into
// an m x n register tile, which its k loops carry as one n-D vector. Left so,
// LLVM receives each row of the tile as one n-lane vector: with n a multiple
// of the vector width but not a power of two (8 x 48, oneDNN's AVX-512 tile:
// 24 accumulators, 3 rhs vectors and a broadcast in 32 registers) it
// legalizes the rows through wider vectors and shuffles, at 4 GFLOP/s. And
// the contraction lowers column block by column block, each with its own m
// lhs broadcasts, which LLVM keeps live across the blocks and spills.
//
// This pass splits each register tile into its rows of `vector_width` lanes:
//
//  1. every contraction whose accumulator is more than one such row is
//     unrolled into contractions of 1 x `vector_width`, k steps outermost,
//     then rows, then columns: each row's lhs broadcast feeds that row's
//     FMAs one after another and then dies;
//  2. the transfers that read and write the tile, and those that read the
//     contraction's operands, are unrolled into the same rows;
//  3. the loops that carry the tile carry its rows, innermost loops first,
//     so that the extracts and inserts between them fold away.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#define DEBUG_TYPE "kiln-cpu-split-register-tiles"

namespace kiln::cpu {
#define GEN_PASS_DEF_SPLITREGISTERTILESPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// The shape of one row of `lanes` lanes of `type` (unit dimensions but the
/// innermost), or nullopt when its innermost dimension does not split into
/// such rows.
static std::optional<SmallVector<int64_t>> getRowShape(VectorType type,
                                                       int64_t lanes) {
  if (type.getRank() == 0 || type.isScalable())
    return std::nullopt;
  int64_t width = std::min(type.getShape().back(), lanes);
  if (type.getShape().back() % width != 0)
    return std::nullopt;
  SmallVector<int64_t> shape(type.getRank(), 1);
  shape.back() = width;
  return shape;
}

/// What steps 1 and 2 unroll, and which loops carry a register tile.
struct RegisterTiles {
  llvm::SetVector<Operation *> unrolled;
  llvm::MapVector<Operation *, llvm::SetVector<unsigned>> carriedIterArgs;
};

/// Whether contraction `contract` holds a register tile of more than one row
/// of `lanes` lanes.
static bool isRegisterTile(vector::ContractionOp contract, int64_t lanes) {
  auto accType = dyn_cast<VectorType>(contract.getAccType());
  if (!accType || contract.isMasked())
    return false;
  std::optional<SmallVector<int64_t>> row = getRowShape(accType, lanes);
  return row && accType.getNumElements() > row->back();
}

/// Collects the contractions of `function` with a register tile, the
/// transfers that read their operands and read and write their tiles, and
/// the loop iter args that carry the tiles.
static RegisterTiles findRegisterTiles(func::FuncOp function, int64_t lanes) {
  RegisterTiles tiles;
  auto addRead = [&](Value value) {
    if (auto read = value.getDefiningOp<vector::TransferReadOp>())
      tiles.unrolled.insert(read);
  };
  function.walk([&](vector::ContractionOp contract) {
    if (!isRegisterTile(contract, lanes))
      return;
    tiles.unrolled.insert(contract);
    addRead(contract.getLhs());
    addRead(contract.getRhs());
    // Up through the loops that carry the tile to where it is read...
    Value tile = contract.getAcc();
    while (auto arg = dyn_cast<BlockArgument>(tile)) {
      auto loop = dyn_cast<scf::ForOp>(arg.getOwner()->getParentOp());
      OpOperand *init = loop ? loop.getTiedLoopInit(arg) : nullptr;
      if (!init)
        break;
      tiles.carriedIterArgs[loop].insert(init->getOperandNumber() -
                                         loop.getNumControlOperands());
      tile = init->get();
    }
    addRead(tile);
    // ...and down through the same loops to where it is written.
    tile = contract.getResult();
    while (tile.hasOneUse()) {
      OpOperand &use = *tile.use_begin();
      if (auto write = dyn_cast<vector::TransferWriteOp>(use.getOwner())) {
        tiles.unrolled.insert(write);
        break;
      }
      auto loop = dyn_cast<scf::ForOp>(use.getOwner()->getParentOp());
      if (!isa<scf::YieldOp>(use.getOwner()) || !loop)
        break;
      tile = loop.getResult(use.getOperandNumber());
    }
  });
  return tiles;
}

/// Steps 1 and 2: unrolls `tiles.unrolled` into rows of `lanes` lanes; a
/// contraction's k steps outermost, then its rows, then its columns. Only
/// those ops are rewritten, none that the unrolling creates.
static LogicalResult unrollIntoRows(MLIRContext *context,
                                    const RegisterTiles &tiles, int64_t lanes) {
  vector::UnrollVectorOptions options;
  options.setNativeShapeFn(
      [lanes](Operation *op) -> std::optional<SmallVector<int64_t>> {
        auto contract = dyn_cast<vector::ContractionOp>(op);
        if (!contract)
          return getRowShape(
              cast<VectorTransferOpInterface>(op).getVectorType(), lanes);
        // The iteration space of a contraction by one k step and one row.
        SmallVector<int64_t> shape(contract.getIteratorTypes().size(), 1);
        AffineMap accMap = contract.getIndexingMapsArray()[2];
        unsigned columnLoop = accMap.getDimPosition(accMap.getNumResults() - 1);
        shape[columnLoop] =
            getRowShape(cast<VectorType>(contract.getAccType()), lanes)->back();
        return shape;
      });
  options.setUnrollTraversalOrderFn(
      [](Operation *op) -> std::optional<SmallVector<int64_t>> {
        auto contract = dyn_cast<vector::ContractionOp>(op);
        if (!contract)
          return std::nullopt;
        // The reduction loops, then the accumulator's loops in its order.
        SmallVector<int64_t> order;
        for (auto [loop, type] : llvm::enumerate(contract.getIteratorTypes()))
          if (vector::isReductionIterator(type))
            order.push_back(loop);
        for (AffineExpr result : contract.getIndexingMapsArray()[2].getResults())
          order.push_back(cast<AffineDimExpr>(result).getPosition());
        return order;
      });
  RewritePatternSet patterns(context);
  vector::populateVectorUnrollPatterns(patterns, options);
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingOps);
  return applyOpPatternsGreedily(tiles.unrolled.getArrayRef(),
                                 std::move(patterns), config);
}

/// Slices `vector` into pieces of `pieceShape`, in row-major order.
static SmallVector<Value> slicePieces(OpBuilder &builder, Location loc,
                                      Value vector,
                                      ArrayRef<int64_t> pieceShape) {
  auto type = cast<VectorType>(vector.getType());
  SmallVector<int64_t> strides(type.getRank(), 1);
  SmallVector<Value> pieces;
  for (SmallVector<int64_t> offsets :
       StaticTileOffsetRange(type.getShape(), pieceShape))
    pieces.push_back(builder.createOrFold<vector::ExtractStridedSliceOp>(
        loc, vector, offsets, pieceShape, strides));
  return pieces;
}

/// The vector of `type` that `pieces` (of `pieceShape`, in row-major order)
/// make up.
static Value assemblePieces(OpBuilder &builder, Location loc, VectorType type,
                            ValueRange pieces, ArrayRef<int64_t> pieceShape) {
  Value vector = arith::ConstantOp::create(builder, loc, type,
                                           builder.getZeroAttr(type));
  SmallVector<int64_t> strides(type.getRank(), 1);
  for (auto [piece, offsets] :
       llvm::zip_equal(pieces, StaticTileOffsetRange(type.getShape(),
                                                     pieceShape)))
    vector = builder.createOrFold<vector::InsertStridedSliceOp>(
        loc, piece, vector, offsets, strides);
  return vector;
}

/// Step 3: replaces `loop` by one that carries each of its iter args
/// `carried` (vectors) as rows of `lanes` lanes.
static void carryRows(RewriterBase &rewriter, scf::ForOp loop,
                      const llvm::SetVector<unsigned> &carried,
                      int64_t lanes) {
  Location loc = loop.getLoc();
  // The row shape of each carried iter arg, and the number of new iter args
  // that each old one becomes.
  SmallVector<std::optional<SmallVector<int64_t>>> rowShapes;
  for (auto [index, arg] : llvm::enumerate(loop.getRegionIterArgs())) {
    auto type = dyn_cast<VectorType>(arg.getType());
    rowShapes.push_back(carried.contains(index) && type
                            ? getRowShape(type, lanes)
                            : std::nullopt);
  }
  auto split = [&](ValueRange values) {
    SmallVector<Value> pieces;
    for (auto [value, rowShape] : llvm::zip_equal(values, rowShapes)) {
      if (rowShape)
        llvm::append_range(pieces,
                           slicePieces(rewriter, loc, value, *rowShape));
      else
        pieces.push_back(value);
    }
    return pieces;
  };
  auto assemble = [&](ValueRange pieces, TypeRange types) {
    SmallVector<Value> values;
    for (auto [type, rowShape] : llvm::zip_equal(types, rowShapes)) {
      if (!rowShape) {
        values.push_back(pieces.front());
        pieces = pieces.drop_front();
        continue;
      }
      auto vectorType = cast<VectorType>(type);
      int64_t count = vectorType.getNumElements() / rowShape->back();
      values.push_back(assemblePieces(rewriter, loc, vectorType,
                                      pieces.take_front(count), *rowShape));
      pieces = pieces.drop_front(count);
    }
    return values;
  };

  rewriter.setInsertionPoint(loop);
  auto rows = scf::ForOp::create(rewriter, loc, loop.getLowerBound(),
                                 loop.getUpperBound(), loop.getStep(),
                                 split(loop.getInitArgs()));
  rewriter.setInsertionPointToStart(rows.getBody());
  SmallVector<Value> arguments = {rows.getInductionVar()};
  llvm::append_range(arguments, assemble(rows.getRegionIterArgs(),
                                         loop.getResultTypes()));
  rewriter.mergeBlocks(loop.getBody(), rows.getBody(), arguments);
  auto yield = cast<scf::YieldOp>(rows.getBody()->getTerminator());
  rewriter.setInsertionPoint(yield);
  rewriter.replaceOpWithNewOp<scf::YieldOp>(yield, split(yield.getOperands()));
  rewriter.setInsertionPointAfter(rows);
  rewriter.replaceOp(loop, assemble(rows.getResults(), loop.getResultTypes()));
}

namespace {

struct SplitRegisterTilesPass
    : kiln::cpu::impl::SplitRegisterTilesPassBase<SplitRegisterTilesPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void SplitRegisterTilesPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> config = getKernelConfig(function);
  if (failed(config))
    return signalPassFailure();
  MLIRContext *context = &getContext();
  int64_t lanes = config->getVectorWidth();
  RegisterTiles tiles = findRegisterTiles(function, lanes);
  if (tiles.unrolled.empty())
    return;
  if (failed(unrollIntoRows(context, tiles, lanes))) {
    function.emitError("failed to unroll a register tile into rows of ")
        << lanes << " lanes";
    return signalPassFailure();
  }

  // Innermost loops first: an outer loop's tile then feeds rows to the inner
  // loop's, and its own rows come back from it.
  IRRewriter rewriter(context);
  SmallVector<scf::ForOp> loops;
  function.walk([&](scf::ForOp loop) {
    if (tiles.carriedIterArgs.contains(loop))
      loops.push_back(loop);
  });
  for (scf::ForOp loop : loops)
    carryRows(rewriter, loop, tiles.carriedIterArgs.lookup(loop), lanes);

  // Not converging within the iteration limit leaves correct IR, with some
  // extracts and inserts that kiln-cpu-lower-vectors lowers as any other.
  RewritePatternSet patterns(context);
  vector::ExtractStridedSliceOp::getCanonicalizationPatterns(patterns, context);
  vector::InsertStridedSliceOp::getCanonicalizationPatterns(patterns, context);
  (void)applyPatternsGreedily(function, std::move(patterns));
}
