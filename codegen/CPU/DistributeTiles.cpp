//===- DistributeTiles.cpp - A kernel computes a range of tiles -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The runtime calls a kernel with a range [tile_begin, tile_end) of its tile
// space, so that threads split the tiles. The tile loop (an scf.forall that
// bufferization left without results) becomes a sequential loop over the
// range; each tile index is delinearized row-major over the loop's bounds.
//
// Splitting is only safe when each tile writes its part of the results in
// place. Where bufferization could not do that (a result the tiles also
// read, kept in a copy that is written back whole after the loop), two
// calls running at once would each write back the other's tiles stale: such
// a kernel gets one tile, whose call runs the whole loop.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#define DEBUG_TYPE "kiln-cpu-distribute-tiles"

namespace kiln::cpu {
#define GEN_PASS_DEF_DISTRIBUTETILESPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// Whether an op after `loop` in its block writes (a view of) an argument
/// of `kernel`: a result the loop built out of place and copies back whole.
static bool writesArgumentsAfter(scf::ForallOp loop, func::FuncOp kernel) {
  for (Operation *op = loop->getNextNode(); op; op = op->getNextNode()) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects)
      continue;
    SmallVector<MemoryEffects::EffectInstance> instances;
    effects.getEffects(instances);
    for (const MemoryEffects::EffectInstance &instance : instances) {
      Value target = instance.getValue();
      if (!target || !isa<MemoryEffects::Write>(instance.getEffect()))
        continue;
      while (auto view = target.getDefiningOp<ViewLikeOpInterface>())
        target = view.getViewSource();
      auto argument = dyn_cast<BlockArgument>(target);
      if (argument && argument.getOwner() == &kernel.front())
        return true;
    }
  }
  return false;
}

/// Runs everything of `entry` but its terminator only when the range
/// [`begin`, `end`) holds tile 0.
static void guardByTileZero(RewriterBase &rewriter, Location loc, Block &entry,
                            Value begin, Value end) {
  rewriter.setInsertionPointToStart(&entry);
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value startsAtZero = arith::CmpIOp::create(
      rewriter, loc, arith::CmpIPredicate::sle, begin, zero);
  Value endsAfterZero = arith::CmpIOp::create(
      rewriter, loc, arith::CmpIPredicate::sgt, end, zero);
  Value holdsZero =
      arith::AndIOp::create(rewriter, loc, startsAtZero, endsAfterZero);
  Operation *terminator = entry.getTerminator();
  rewriter.setInsertionPoint(terminator);
  auto guard = scf::IfOp::create(rewriter, loc, holdsZero,
                                 /*withElseRegion=*/false);
  Block *then = guard.thenBlock();
  then->getOperations().splice(
      then->begin(), entry.getOperations(),
      std::next(holdsZero.getDefiningOp()->getIterator()),
      guard->getIterator());
}

LogicalResult kiln::cpu::distributeTiles(RewriterBase &rewriter,
                                         func::FuncOp kernel) {
  if (!kernel.getBody().hasOneBlock())
    return kernel.emitError("expected a kernel body of one block");
  Block &entry = kernel.front();
  Location loc = kernel.getLoc();
  auto countAttr = kernel->getAttrOfType<IntegerAttr>(kTileCountAttrName);
  int64_t count = countAttr ? countAttr.getInt() : 1;

  // 1. The tile loop, if any, directly in the body.
  SmallVector<scf::ForallOp> loops;
  for (Operation &op : entry)
    if (auto forall = dyn_cast<scf::ForallOp>(op))
      loops.push_back(forall);
  if (loops.size() > 1)
    return kernel.emitError("expected at most one tile loop (got ")
           << loops.size() << ")";

  // 2. The range arguments.
  Type index = rewriter.getIndexType();
  Value begin = entry.addArgument(index, loc);
  Value end = entry.addArgument(index, loc);
  SmallVector<Type> inputs(entry.getArgumentTypes());
  kernel.setFunctionType(rewriter.getFunctionType(inputs, {}));

  if (loops.empty()) {
    // 3. One tile: run the body when the range holds tile 0.
    if (count != 1)
      return kernel.emitError("expected a tile loop for ") << count << " tiles";
    guardByTileZero(rewriter, loc, entry, begin, end);
    return success();
  }

  // 4. The tile loop over [max(begin, 0), min(end, count)), or over all
  //    tiles in the call that holds tile 0 when the tiles cannot be split.
  scf::ForallOp forall = loops.front();
  bool whole = writesArgumentsAfter(forall, kernel);
  if (!forall.getOutputs().empty())
    return forall.emitError("expected a bufferized tile loop");
  ArrayRef<int64_t> lower = forall.getStaticLowerBound();
  ArrayRef<int64_t> upper = forall.getStaticUpperBound();
  ArrayRef<int64_t> steps = forall.getStaticStep();
  if (llvm::any_of(llvm::concat<const int64_t>(lower, upper, steps),
                   ShapedType::isDynamic))
    return forall.emitError("expected a tile loop with static bounds");
  SmallVector<int64_t> trips;
  int64_t product = 1;
  for (auto [lo, up, step] : llvm::zip_equal(lower, upper, steps)) {
    trips.push_back(llvm::divideCeil(up - lo, step));
    product *= trips.back();
  }
  if (product != count)
    return forall.emitError("expected the tile loop to have ")
           << count << " iterations (got " << product << ")";

  rewriter.setInsertionPoint(forall);
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value total = arith::ConstantIndexOp::create(rewriter, loc, count);
  Value first =
      whole ? zero : arith::MaxSIOp::create(rewriter, loc, begin, zero);
  Value last =
      whole ? total : arith::MinSIOp::create(rewriter, loc, end, total);
  auto loop = scf::ForOp::create(rewriter, loc, first, last, one);
  rewriter.setInsertionPointToStart(loop.getBody());
  auto delinearized = affine::AffineDelinearizeIndexOp::create(
      rewriter, loc, loop.getInductionVar(), ValueRange(), trips);
  SmallVector<Value> ivs;
  for (auto [position, tile] : llvm::enumerate(delinearized.getResults())) {
    Value iv = tile;
    if (steps[position] != 1)
      iv = arith::MulIOp::create(
          rewriter, loc, iv,
          arith::ConstantIndexOp::create(rewriter, loc, steps[position]));
    if (lower[position] != 0)
      iv = arith::AddIOp::create(
          rewriter, loc, iv,
          arith::ConstantIndexOp::create(rewriter, loc, lower[position]));
    ivs.push_back(iv);
  }
  Block *body = forall.getBody();
  rewriter.eraseOp(body->getTerminator());
  rewriter.inlineBlockBefore(body, loop.getBody()->getTerminator(), ivs);
  rewriter.eraseOp(forall);
  if (whole) {
    guardByTileZero(rewriter, loc, entry, begin, end);
    kernel->setAttr(kTileCountAttrName, rewriter.getI64IntegerAttr(1));
  }
  return success();
}

namespace {

struct DistributeTilesPass
    : kiln::cpu::impl::DistributeTilesPassBase<DistributeTilesPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void DistributeTilesPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  IRRewriter rewriter(&getContext());
  if (failed(distributeTiles(rewriter, function)))
    signalPassFailure();
}
