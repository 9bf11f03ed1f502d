//===- PrefetchAccumulators.cpp - Prefetch in-place accumulators -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A micro kernel that accumulates into the kernel's result in place (see
// `m_block`) reads its accumulator rows from wherever the last k block left
// them, a whole result tile ago, in L3 or memory, and writes them back (the
// first k block's micro kernels only write theirs). The hardware
// prefetchers do not follow rows a result row apart, so each micro kernel
// prefetches the accumulator rows of the next one for writing: the next
// iteration of the loop around it or, after its last, the first of the
// next panel. The lines go out a few per iteration of its own k loop, in
// the loop's second half.
//
// Measured with bench/structure (2048^3, one thread): the GotoBLAS structure
// runs at 0.95 of Kiln's 256 x 256 tiles without this prefetch, 1.12-1.14
// with it; issuing the lines one per k iteration rather than all 16 before
// the k loop gained another 2-9% (session 11; a burst of 16 misses
// presumably fills the line fill buffers that the micro kernel's own loads
// need, which this VM's missing counters cannot confirm). Session 23, the
// kernel alone (8 x 32, k blocks of 256, m blocks of 256) and oneDNN called
// in turns: the next panel's first tile, which its panel's last micro
// kernel used to leave cold, gained 0.9% at 2048^3; the lines issued in
// the k loop's second half rather than across it another 0.3-0.6%
// (issued from its first iteration, some are presumably evicted from L1 by
// the micro kernel's own panel and lhs reads before they are used; in its
// last quarter they come too late); both 1.5% on one thread and on two, and
// 0-0.8% at 1024^3 and 512x384x1536.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

#define DEBUG_TYPE "kiln-cpu-prefetch-accumulators"

namespace kiln::cpu {
#define GEN_PASS_DEF_PREFETCHACCUMULATORSPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

BlockArgument kiln::cpu::getViewedArgument(Value buffer) {
  while (Operation *op = buffer.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(op);
    if (!view)
      return {};
    buffer = view.getViewSource();
  }
  return dyn_cast<BlockArgument>(buffer);
}

Value kiln::cpu::buildNextInductionVar(RewriterBase &rewriter, Location loc,
                                       scf::ForOp loop) {
  Value stepped = arith::AddIOp::create(rewriter, loc, loop.getInductionVar(),
                                        loop.getStep());
  Value last =
      arith::SubIOp::create(rewriter, loc, loop.getUpperBound(), loop.getStep());
  return arith::MinSIOp::create(rewriter, loc, stepped, last);
}

void kiln::cpu::getInPlaceAccumulators(
    func::FuncOp function, SmallVectorImpl<vector::TransferWriteOp> &writes) {
  function.walk([&](vector::TransferWriteOp write) {
    if (write.getVector().getDefiningOp<scf::ForOp>() &&
        getViewedArgument(write.getBase()) &&
        write->getParentOfType<scf::ForOp>())
      writes.push_back(write);
  });
}

/// Maps the induction variables of `loop` (the loop around a micro kernel)
/// and of the loop directly around it, if any, to those of the micro kernel
/// that runs next: the next iteration of `loop` or, after its last, its
/// first in the next iteration of the loop around (the next panel's first
/// row group, whose tile would otherwise be met cold: one micro kernel in
/// 32 at m blocks of 256). The outer loop's last iteration is its own next,
/// as in buildNextInductionVar, so the very last micro kernel repeats the
/// first row group of its panel: 16 lines, once per run of the outer loop.
static IRMapping mapNextInductionVars(RewriterBase &rewriter, Location loc,
                                      scf::ForOp loop) {
  IRMapping next;
  Value iv = loop.getInductionVar();
  auto outer = dyn_cast<scf::ForOp>(loop->getParentOp());
  if (!outer) {
    next.map(iv, buildNextInductionVar(rewriter, loc, loop));
    return next;
  }
  Value stepped = arith::AddIOp::create(rewriter, loc, iv, loop.getStep());
  Value inLoop = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::slt,
                                       stepped, loop.getUpperBound());
  next.map(iv, arith::SelectOp::create(rewriter, loc, inLoop, stepped,
                                       loop.getLowerBound()));
  next.map(outer.getInductionVar(),
           arith::SelectOp::create(rewriter, loc, inLoop,
                                   outer.getInductionVar(),
                                   buildNextInductionVar(rewriter, loc, outer)));
  return next;
}

/// `index` for the next micro kernel, whose induction variables `next`
/// maps: an index computed inside `scope` (the loops `next` maps) from
/// them is computed again from their next values; it must be an
/// affine.apply, of such indices and of values from outside the scope.
static FailureOr<Value> getNextIndex(RewriterBase &rewriter, Value index,
                                     Operation *scope, IRMapping &next) {
  if (Value mapped = next.lookupOrNull(index))
    return mapped;
  Operation *def = index.getDefiningOp();
  Operation *owner = def ? def
                         : cast<BlockArgument>(index).getOwner()->getParentOp();
  if (!scope->isAncestor(owner))
    return index;
  auto apply = dyn_cast_if_present<affine::AffineApplyOp>(def);
  if (!apply)
    return failure();
  for (Value operand : apply.getOperands())
    if (failed(getNextIndex(rewriter, operand, scope, next)))
      return failure();
  return rewriter.clone(*apply, next)->getResult(0);
}

/// The indices of `write` for the micro kernel after the one at the
/// current iteration of `loop` (see mapNextInductionVars).
static FailureOr<SmallVector<Value>>
getNextIndices(RewriterBase &rewriter, vector::TransferWriteOp write,
               scf::ForOp loop) {
  IRMapping next = mapNextInductionVars(rewriter, write.getLoc(), loop);
  Operation *scope = loop;
  if (auto outer = dyn_cast<scf::ForOp>(loop->getParentOp()))
    scope = outer;
  SmallVector<Value> indices;
  for (Value index : write.getIndices()) {
    FailureOr<Value> nextIndex = getNextIndex(rewriter, index, scope, next);
    if (failed(nextIndex))
      return failure();
    indices.push_back(*nextIndex);
  }
  return indices;
}

/// The cache lines of an accumulator tile, numbered along the vector's
/// outer dimensions and then along its innermost one.
struct AccumulatorLines {
  /// The vector's outer dimensions, then the lines of its innermost one.
  SmallVector<int64_t> basis;
  /// Elements per line.
  int64_t lineElements = 0;
  /// Lines in the whole tile: the product of `basis`.
  int64_t count = 0;
};

/// The cache lines of the accumulator tile that `write` writes; none when
/// the vector's innermost dimension is not contiguous in memory (stride 1),
/// as a line must hold consecutive elements.
static std::optional<AccumulatorLines>
getAccumulatorLines(vector::TransferWriteOp write) {
  auto type = cast<MemRefType>(write.getBase().getType());
  auto innermost =
      dyn_cast<AffineDimExpr>(write.getPermutationMap().getResults().back());
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  if (!innermost || elementBytes == 0 || !type.isLastDimUnitStride() ||
      innermost.getPosition() != static_cast<unsigned>(type.getRank() - 1))
    return std::nullopt;
  AccumulatorLines lines;
  lines.lineElements = std::max<int64_t>(1, kCacheLineBytes / elementBytes);
  ArrayRef<int64_t> shape = write.getVectorType().getShape();
  lines.basis.assign(shape.begin(), shape.end());
  lines.basis.back() = llvm::divideCeil(shape.back(), lines.lineElements);
  lines.count = 1;
  for (int64_t size : lines.basis)
    lines.count *= size;
  return lines;
}

/// Prefetches for writing line `line` (an index value) of the accumulator
/// tile of `write` that starts at `base`.
static void prefetchLine(RewriterBase &rewriter, Location loc,
                         vector::TransferWriteOp write, ArrayRef<Value> base,
                         const AccumulatorLines &lines, Value line) {
  auto position = affine::AffineDelinearizeIndexOp::create(
      rewriter, loc, line, lines.basis, /*hasOuterBound=*/true);
  AffineMap map = write.getPermutationMap();
  SmallVector<Value> indices(base);
  int64_t rank = static_cast<int64_t>(lines.basis.size());
  for (int64_t dim = 0; dim < rank; ++dim) {
    // A broadcast dimension has no memref dimension to step along.
    auto memrefDim = dyn_cast<AffineDimExpr>(map.getResult(dim));
    if (!memrefDim)
      continue;
    int64_t scale = dim == rank - 1 ? lines.lineElements : 1;
    Value &index = indices[memrefDim.getPosition()];
    index = affine::AffineApplyOp::create(
                rewriter, loc,
                AffineMap::get(2, 0,
                               rewriter.getAffineDimExpr(0) +
                                   rewriter.getAffineDimExpr(1) * scale),
                ValueRange{index, position.getResult(dim)})
                .getResult();
  }
  memref::PrefetchOp::create(rewriter, loc, write.getBase(), indices,
                             /*isWrite=*/true, /*localityHint=*/3,
                             /*isDataCache=*/true);
}

/// Prefetches for writing every cache line of the accumulator tile that
/// `write` would write in the next micro kernel (see mapNextInductionVars),
/// spread over the second half of the iterations of the loop that
/// accumulates it (all of them before that loop when its trip count is not
/// static).
static void prefetchNext(RewriterBase &rewriter,
                         vector::TransferWriteOp write) {
  auto loop = write->getParentOfType<scf::ForOp>();
  auto kLoop = write.getVector().getDefiningOp<scf::ForOp>();
  std::optional<AccumulatorLines> lines = getAccumulatorLines(write);
  if (!lines)
    return;
  rewriter.setInsertionPoint(kLoop);
  FailureOr<SmallVector<Value>> base = getNextIndices(rewriter, write, loop);
  if (failed(base))
    return;

  Location loc = write.getLoc();
  std::optional<APInt> tripCount = kLoop.getStaticTripCount();
  std::optional<int64_t> lowerBound =
      getConstantIntValue(kLoop.getLowerBound());
  std::optional<int64_t> step = getConstantIntValue(kLoop.getStep());
  if (!tripCount || tripCount->isZero() || !lowerBound || !step) {
    // No static iterations to spread over: all lines before the loop.
    for (int64_t line = 0; line < lines->count; ++line)
      prefetchLine(rewriter, loc, write, *base, *lines,
                   arith::ConstantIndexOp::create(rewriter, loc, line));
    return;
  }
  // The lines go out over the second half of the k loop (see the header).
  int64_t iterations = tripCount->getSExtValue();
  int64_t first = iterations / 2;
  int64_t perIteration = llvm::divideCeil(lines->count, iterations - first);
  rewriter.setInsertionPointToStart(kLoop.getBody());
  AffineExpr iv = rewriter.getAffineDimExpr(0);
  for (int64_t offset = 0; offset < perIteration; ++offset) {
    Value line = affine::AffineApplyOp::create(
                     rewriter, loc,
                     AffineMap::get(1, 0,
                                    ((iv - *lowerBound).floorDiv(*step) -
                                     first) * perIteration +
                                        offset),
                     ValueRange{kLoop.getInductionVar()})
                     .getResult();
    if (first == 0 && iterations * perIteration <= lines->count) {
      prefetchLine(rewriter, loc, write, *base, *lines, line);
      continue;
    }
    // Iterations without a line: those of the first half, whose (negative)
    // line compares unsigned as past the last, and those after the last.
    Value inRange = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::ult, line,
        arith::ConstantIndexOp::create(rewriter, loc, lines->count));
    auto guard = scf::IfOp::create(rewriter, loc, inRange);
    OpBuilder::InsertionGuard insideGuard(rewriter);
    rewriter.setInsertionPointToStart(guard.thenBlock());
    prefetchLine(rewriter, loc, write, *base, *lines, line);
  }
}

namespace {

struct PrefetchAccumulatorsPass
    : kiln::cpu::impl::PrefetchAccumulatorsPassBase<PrefetchAccumulatorsPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void PrefetchAccumulatorsPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> config = getKernelConfig(function);
  if (failed(config))
    return signalPassFailure();
  // Only m blocks accumulate a packed contraction into the result in place;
  // other kernels' accumulators are tiles of their own buffers.
  if (config->getMBlock() == 0)
    return;
  IRRewriter rewriter(&getContext());
  SmallVector<vector::TransferWriteOp> writes;
  getInPlaceAccumulators(function, writes);
  for (vector::TransferWriteOp write : writes)
    prefetchNext(rewriter, write);
}
