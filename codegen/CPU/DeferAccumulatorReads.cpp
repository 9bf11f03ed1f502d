//===- DeferAccumulatorReads.cpp - Accumulate from zero ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A micro kernel that accumulates into the kernel's result in place (see
// `m_block`) starts its k loop from its tile, read from the result: its
// first FMAs wait on those reads, from L2 or further wherever the previous
// micro kernel's prefetch (kiln-cpu-prefetch-accumulators) has not brought
// a line to L1 yet, and the core idles meanwhile. Started from zeros, with
// the tile read and added after the k loop, the FMAs start at once and the
// reads go out while the loop's last iterations still run, their latency
// hidden behind them. The k block's products are summed before they meet
// the tile: the same sum, rounded as a blocked sum is.
//
// Measured (session 23; the kernels and oneDNN called in turns, with their
// inputs flushed before each call): 3% faster at 2048^3 on one thread (8 x
// 32, k blocks of 256, m blocks of 256), 2.5% on two, 1-2% at 1024^3, and
// 0.6% and 1.3% at 512x384x1536 on one and two threads.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define DEBUG_TYPE "kiln-cpu-defer-accumulator-reads"

namespace kiln::cpu {
#define GEN_PASS_DEF_DEFERACCUMULATORREADSPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// Whether the iteration argument `sum` of `loop` only accumulates: its one
/// use, and each value after it, is the accumulator of a vector.contract of
/// kind add, an operand of an addition, or the initial value of a loop
/// whose own iteration argument only accumulates, until `loop` yields it.
/// Such a loop yields its start plus terms that do not depend on it, so it
/// may start from zero and add its start after.
static bool onlyAccumulates(scf::ForOp loop, BlockArgument sum) {
  Value value = sum;
  while (value.hasOneUse()) {
    OpOperand &use = *value.use_begin();
    Operation *user = use.getOwner();
    if (isa<scf::YieldOp>(user))
      return &use == loop.getTiedLoopYieldedValue(sum);
    if (auto contract = dyn_cast<vector::ContractionOp>(user)) {
      if (contract.getKind() != vector::CombiningKind::ADD ||
          &use != &contract.getAccMutable())
        return false;
      value = contract.getResult();
    } else if (isa<arith::AddFOp, arith::AddIOp>(user)) {
      value = user->getResult(0);
    } else if (auto inner = dyn_cast<scf::ForOp>(user)) {
      OpResult result = inner.getTiedLoopResult(&use);
      if (!result ||
          !onlyAccumulates(inner, inner.getTiedLoopRegionIterArg(&use)))
        return false;
      value = result;
    } else {
      return false;
    }
  }
  return false;
}

/// Whether `op` or an op nested in it may write memory. Prefetches do not
/// change what memory holds, though they declare no effects.
static bool mayWriteMemory(Operation *op) {
  WalkResult result = op->walk([](Operation *nested) {
    if (isa<memref::PrefetchOp>(nested) ||
        nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    auto effects = dyn_cast<MemoryEffectOpInterface>(nested);
    if (!effects || effects.hasEffect<MemoryEffects::Write>())
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

/// Whether the ops from `read` up to `write` (the k loop among them), which
/// the read moves past, may write memory: a write there could change the
/// tile the read would see. Both in one block, so that the read still runs
/// once per write.
static bool mayWriteMemoryBetween(vector::TransferReadOp read,
                                  vector::TransferWriteOp write) {
  if (read->getBlock() != write->getBlock())
    return true;
  for (Operation *op = read->getNextNode(); op != write.getOperation();
       op = op->getNextNode())
    if (mayWriteMemory(op))
      return true;
  return false;
}

/// Rewrites the k loop of accumulator write `write` to start from zeros and
/// adds the tile after it, when the loop starts from a read of the tile
/// that `write` writes, only accumulates, and nothing the read moves past
/// writes memory.
static void deferAccumulatorRead(RewriterBase &rewriter,
                                 vector::TransferWriteOp write) {
  auto kLoop = write.getVector().getDefiningOp<scf::ForOp>();
  auto result = cast<OpResult>(write.getVector());
  OpOperand &init = kLoop.getInitArgsMutable()[result.getResultNumber()];
  auto read = init.get().getDefiningOp<vector::TransferReadOp>();
  if (!read || !read->hasOneUse() || read.getBase() != write.getBase() ||
      !llvm::equal(read.getIndices(), write.getIndices()) ||
      read.getPermutationMap() != write.getPermutationMap() || read.getMask() ||
      write.getMask() ||
      !onlyAccumulates(kLoop, kLoop.getTiedLoopRegionIterArg(&init)) ||
      mayWriteMemoryBetween(read, write))
    return;
  Type elementType = read.getVectorType().getElementType();
  if (!isa<FloatType, IntegerType>(elementType))
    return;

  rewriter.setInsertionPoint(kLoop);
  Value zeros = arith::ConstantOp::create(
      rewriter, read.getLoc(), rewriter.getZeroAttr(read.getVectorType()));
  rewriter.modifyOpInPlace(kLoop, [&] { init.set(zeros); });
  rewriter.moveOpBefore(read, write);
  rewriter.setInsertionPoint(write);
  Value sum =
      isa<FloatType>(elementType)
          ? arith::AddFOp::create(rewriter, write.getLoc(), read, result)
                .getResult()
          : arith::AddIOp::create(rewriter, write.getLoc(), read, result)
                .getResult();
  rewriter.modifyOpInPlace(write,
                           [&] { write.getValueToStoreMutable().set(sum); });
}

namespace {

struct DeferAccumulatorReadsPass
    : kiln::cpu::impl::DeferAccumulatorReadsPassBase<
          DeferAccumulatorReadsPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void DeferAccumulatorReadsPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  IRRewriter rewriter(&getContext());
  SmallVector<vector::TransferWriteOp> writes;
  getInPlaceAccumulators(function, writes);
  for (vector::TransferWriteOp write : writes)
    deferAccumulatorRead(rewriter, write);
}
