//===- PrefetchAccumulators.cpp - Prefetch in-place accumulators -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A micro kernel that accumulates into the kernel's result in place (see
// `m_block`) reads its accumulator rows from wherever the last k block left
// them: a whole result tile ago, in L3 or memory. The hardware prefetchers
// do not follow rows a result row apart, so each micro kernel prefetches
// the accumulator rows of the next one (the next iteration of the loop
// around it) for writing, one cache line at a time, while its own k loop
// runs. Measured with bench/structure (2048^3, one thread): the GotoBLAS
// structure runs at 0.95 of Kiln's 256 x 256 tiles without this prefetch,
// 1.12-1.14 with it.
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

/// The bytes of a cache line: what one prefetch brings in.
static constexpr int64_t kCacheLineBytes = 64;

/// Whether `buffer` is a view of one of the kernel's arguments (its result,
/// accumulated in place) rather than of a temporary.
static bool isArgumentView(Value buffer) {
  while (Operation *op = buffer.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(op);
    if (!view)
      return false;
    buffer = view.getViewSource();
  }
  return isa<BlockArgument>(buffer);
}

/// The accumulator reads of `function`: a transfer read of a view of a
/// kernel argument that is the initial value of a loop (a k loop whose
/// iterations accumulate into it), inside a loop of its own.
static SmallVector<vector::TransferReadOp>
getInPlaceAccumulators(func::FuncOp function) {
  SmallVector<vector::TransferReadOp> reads;
  function.walk([&](vector::TransferReadOp read) {
    bool feedsLoop = llvm::any_of(read->getUsers(), [](Operation *user) {
      return isa<scf::ForOp>(user);
    });
    if (feedsLoop && isArgumentView(read.getBase()) &&
        read->getParentOfType<scf::ForOp>())
      reads.push_back(read);
  });
  return reads;
}

/// The indices of `read` for the next iteration of `loop`: those computed
/// inside the loop from its induction variable are computed again from
/// min(iv + step, ub - step), the last iteration's own for the last one.
static FailureOr<SmallVector<Value>>
getNextIndices(RewriterBase &rewriter, vector::TransferReadOp read,
               scf::ForOp loop) {
  Location loc = read.getLoc();
  Value iv = loop.getInductionVar();
  Value stepped =
      arith::AddIOp::create(rewriter, loc, iv, loop.getStep()).getResult();
  Value last = arith::SubIOp::create(rewriter, loc, loop.getUpperBound(),
                                     loop.getStep())
                   .getResult();
  IRMapping next;
  next.map(iv, arith::MinSIOp::create(rewriter, loc, stepped, last).getResult());
  SmallVector<Value> indices;
  for (Value index : read.getIndices()) {
    Operation *def = index.getDefiningOp();
    if (index == iv) {
      indices.push_back(next.lookup(iv));
      continue;
    }
    if (!def || !loop->isAncestor(def)) {
      indices.push_back(index);
      continue;
    }
    // An index computed in the loop: an affine.apply of loop-invariant
    // values and the induction variable.
    auto apply = dyn_cast<affine::AffineApplyOp>(def);
    if (!apply || llvm::any_of(apply.getOperands(), [&](Value operand) {
          Operation *producer = operand.getDefiningOp();
          return operand != iv && producer && loop->isAncestor(producer);
        }))
      return failure();
    indices.push_back(rewriter.clone(*apply, next)->getResult(0));
  }
  return indices;
}

/// Prefetches for writing every cache line of the accumulator tile that
/// `read` would read at the next iteration of its loop.
static void prefetchNext(RewriterBase &rewriter, vector::TransferReadOp read) {
  auto loop = read->getParentOfType<scf::ForOp>();
  auto type = cast<MemRefType>(read.getBase().getType());
  VectorType vectorType = read.getVectorType();
  AffineMap map = read.getPermutationMap();
  // The memref dimension of the vector's innermost one must be contiguous
  // (stride 1) for a line to hold consecutive elements.
  auto innermost = dyn_cast<AffineDimExpr>(map.getResults().back());
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  if (!innermost || elementBytes == 0 || !type.isLastDimUnitStride() ||
      innermost.getPosition() != static_cast<unsigned>(type.getRank() - 1))
    return;
  rewriter.setInsertionPoint(read);
  FailureOr<SmallVector<Value>> base = getNextIndices(rewriter, read, loop);
  if (failed(base))
    return;

  Location loc = read.getLoc();
  int64_t lineElements = std::max<int64_t>(1, kCacheLineBytes / elementBytes);
  ArrayRef<int64_t> shape = vectorType.getShape();
  SmallVector<int64_t> position(shape.size(), 0);
  // Every position of the vector's outer dimensions, and along the
  // innermost one every line.
  while (true) {
    SmallVector<Value> indices(*base);
    for (auto [dim, offset] : llvm::enumerate(position)) {
      if (offset == 0)
        continue;
      auto memrefDim = dyn_cast<AffineDimExpr>(map.getResult(dim));
      if (!memrefDim)
        continue;
      Value &index = indices[memrefDim.getPosition()];
      index = arith::AddIOp::create(
                  rewriter, loc, index,
                  arith::ConstantIndexOp::create(rewriter, loc, offset))
                  .getResult();
    }
    memref::PrefetchOp::create(rewriter, loc, read.getBase(), indices,
                               /*isWrite=*/true, /*localityHint=*/3,
                               /*isDataCache=*/true);
    int64_t dim = static_cast<int64_t>(shape.size()) - 1;
    position[dim] += lineElements;
    while (dim > 0 && position[dim] >= shape[dim]) {
      position[dim] = 0;
      ++position[--dim];
    }
    if (position[0] >= shape[0])
      break;
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
  for (vector::TransferReadOp read : getInPlaceAccumulators(function))
    prefetchNext(rewriter, read);
}
