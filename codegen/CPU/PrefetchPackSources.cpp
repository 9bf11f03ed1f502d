//===- PrefetchPackSources.cpp - Prefetch the next operand pack -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A packed contraction copies each k block of its rhs (and each m block of
// its lhs) into panels before the micro kernels that read them. Those
// copies read a kernel argument that a model's kernel meets cold, in
// memory: each one waits on memory before its micro kernels can start, and
// the micro kernels leave the memory idle meanwhile. So:
//
//  1. with `pack_rhs_per_panel`, a rhs block is packed one panel at a time,
//     right before the first micro kernels that read the panel (in the
//     first m block, which is peeled off its loop), instead of all at once
//     before them; with one m block, which alone reads the panels, into
//     one panel's space that every panel reuses, in L1, instead of the
//     whole block's, whose writes and reads would pass through L2 and L3;
//  2. the micro kernels that follow a pack prefetch what the next pack of
//     the same operand will read, a few cache lines per micro kernel: the
//     next panel's rhs (step 1; after the last panel, the next k block's
//     first), the next m block's lhs, the next k block's rhs where it is
//     packed whole. The next pack finds its source in the caches; with
//     step 1, of a first k block's rhs only its first panel waits on
//     memory, where the whole block did.
//
// Measured with cold inputs (512x384x1536, k blocks of 128): see
// bench/NOTES.md, sessions 16 to 18.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define DEBUG_TYPE "kiln-cpu-prefetch-pack-sources"

namespace kiln::cpu {
#define GEN_PASS_DEF_PREFETCHPACKSOURCESPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

/// The locality hint of the prefetches: into L2 (prefetcht1 on x86), not
/// L1, where the micro kernels' panels live.
static constexpr int32_t kPackSourceLocality = 2;

/// The static iteration space of loop `loop`: lower bound, step and trip
/// count, when all three are constants.
struct StaticLoop {
  scf::ForOp loop;
  int64_t lowerBound = 0;
  int64_t step = 1;
  int64_t tripCount = 0;
};

static std::optional<StaticLoop> getStaticLoop(scf::ForOp loop) {
  std::optional<int64_t> lowerBound = getConstantIntValue(loop.getLowerBound());
  std::optional<int64_t> step = getConstantIntValue(loop.getStep());
  std::optional<APInt> tripCount = loop.getStaticTripCount();
  if (!lowerBound || !step || !tripCount || tripCount->isZero())
    return std::nullopt;
  return StaticLoop{loop, *lowerBound, *step, tripCount->getSExtValue()};
}

static bool containsContraction(Operation *op) {
  return op
      ->walk([](vector::ContractionOp) { return WalkResult::interrupt(); })
      .wasInterrupted();
}

/// One operand pack: a vector transfer read of a view of a kernel argument,
/// stored as it is into a temporary buffer, in a nest of loops with static
/// bounds that contain no contraction.
struct Pack {
  vector::TransferReadOp read;
  BlockArgument source;
  /// The loops of the nest, outermost first.
  SmallVector<StaticLoop> loops;

  Operation *root() {
    return loops.empty() ? read.getOperation() : loops.front().loop;
  }
};

static std::optional<Pack> getPack(vector::TransferReadOp read) {
  BlockArgument source = getViewedArgument(read.getBase());
  if (!source || !read->hasOneUse())
    return std::nullopt;
  auto store = dyn_cast<vector::TransferWriteOp>(*read->user_begin());
  if (!store || !store.getBase().getDefiningOp<memref::AllocOp>())
    return std::nullopt;
  Pack pack{read, source, {}};
  for (Operation *parent = read->getParentOp(); parent;
       parent = parent->getParentOp()) {
    auto loop = dyn_cast<scf::ForOp>(parent);
    if (!loop || containsContraction(loop))
      break;
    std::optional<StaticLoop> bounds = getStaticLoop(loop);
    if (!bounds)
      return std::nullopt;
    pack.loops.insert(pack.loops.begin(), *bounds);
  }
  return pack;
}

/// The cache lines that one execution of a pack reads, numbered along its
/// loops, then the vector's outer dimensions, then the lines of its
/// innermost dimension.
struct PackLines {
  SmallVector<int64_t> basis;
  /// Elements per line.
  int64_t lineElements = 0;
  /// Lines in all: the product of `basis`.
  int64_t count = 0;
};

/// None when the vector's innermost dimension is not contiguous in memory
/// (or it has none).
static std::optional<PackLines> getPackLines(Pack &pack) {
  auto type = cast<MemRefType>(pack.read.getBase().getType());
  AffineMap map = pack.read.getPermutationMap();
  if (!map.isMinorIdentity() || !type.isLastDimUnitStride())
    return std::nullopt;
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  ArrayRef<int64_t> shape = pack.read.getVectorType().getShape();
  if (elementBytes == 0 || shape.empty())
    return std::nullopt;
  PackLines lines;
  lines.lineElements = std::max<int64_t>(1, kCacheLineBytes / elementBytes);
  for (StaticLoop loop : pack.loops)
    lines.basis.push_back(loop.tripCount);
  lines.basis.append(shape.begin(), shape.end());
  lines.basis.back() = llvm::divideCeil(shape.back(), lines.lineElements);
  lines.count = 1;
  for (int64_t size : lines.basis)
    lines.count *= size;
  return lines;
}

/// The next execution of a pack: the pack, the loop around it whose
/// induction variable moves its source, and whether that is its next
/// iteration (the pack's own loop) or its first (a loop after the micro
/// kernels, from which the pack's first iteration was peeled); the loops
/// between that loop and the pack's nest run their first iteration.
struct NextPack {
  Pack *pack = nullptr;
  scf::ForOp loop;
  bool nextIteration = false;
  SmallVector<scf::ForOp> atFirst;
};

/// The ops inside `scope` that compute the base and indices of the read of
/// `pack`, in order, or failure when one of them has side effects or
/// regions.
static FailureOr<SetVector<Operation *>> getAddressSlice(Pack &pack,
                                                         scf::ForOp scope) {
  BackwardSliceOptions options;
  options.omitBlockArguments = true;
  options.inclusive = true;
  options.filter = [&](Operation *op) {
    return scope->isProperAncestor(op) && !isa<scf::ForOp>(op);
  };
  SetVector<Operation *> slice;
  SmallVector<Value> addresses = {pack.read.getBase()};
  llvm::append_range(addresses, pack.read.getIndices());
  for (Value address : addresses)
    if (Operation *def = address.getDefiningOp();
        def && scope->isProperAncestor(def) &&
        failed(getBackwardSlice(def, &slice, options)))
      return failure();
  for (Operation *op : slice)
    if (op->getNumRegions() != 0 || !isMemoryEffectFree(op))
      return failure();
  return mlir::topologicalSort(slice);
}

/// Whether the address of the read of `pack` depends on the induction
/// variable of `loop`.
static bool movesWith(Pack &pack, scf::ForOp loop) {
  FailureOr<SetVector<Operation *>> slice = getAddressSlice(pack, loop);
  if (failed(slice))
    return false;
  Value iv = loop.getInductionVar();
  auto usesIv = [&](Operation *op) {
    return llvm::is_contained(op->getOperands(), iv);
  };
  return llvm::any_of(*slice, usesIv) ||
         llvm::is_contained(pack.read.getIndices(), iv) ||
         pack.read.getBase() == iv;
}

/// The micro kernels that follow the pack rooted at `root` in its block:
/// the first op after it that contains a contraction, when that is a loop.
static scf::ForOp getFollowingMicroKernels(Operation *root) {
  for (Operation *op = root->getNextNode(); op; op = op->getNextNode())
    if (containsContraction(op))
      return dyn_cast<scf::ForOp>(op);
  return {};
}

/// The loops from `nest` (inclusive) down to the loop that runs one micro
/// kernel per iteration (the innermost around a contraction that carries no
/// accumulators), for the micro kernel with the most iterations; empty
/// when one of them has no static bounds.
static SmallVector<StaticLoop> getMicroKernelLoops(scf::ForOp nest) {
  SmallVector<StaticLoop> best;
  int64_t bestIterations = 0;
  nest.walk([&](vector::ContractionOp contract) {
    auto site = contract->getParentOfType<scf::ForOp>();
    while (site && site.getNumRegionIterArgs() != 0)
      site = site->getParentOfType<scf::ForOp>();
    if (!site)
      return;
    SmallVector<StaticLoop> loops;
    int64_t iterations = 1;
    for (Operation *op = site; op; op = op->getParentOp()) {
      auto loop = dyn_cast<scf::ForOp>(op);
      std::optional<StaticLoop> bounds =
          loop ? getStaticLoop(loop) : std::nullopt;
      if (!bounds)
        return;
      loops.insert(loops.begin(), *bounds);
      iterations *= bounds->tripCount;
      if (op == nest)
        break;
    }
    if (loops.front().loop == nest && iterations > bestIterations) {
      best = std::move(loops);
      bestIterations = iterations;
    }
  });
  return best;
}

/// Where the pack that `pack`'s micro kernels `microKernels` should prefetch
/// for is, among `packs` (in program order); none when no later pack of the
/// same operand moves with a loop.
static std::optional<NextPack> getNextPack(Pack &pack,
                                           scf::ForOp microKernels,
                                           MutableArrayRef<Pack> packs) {
  if (auto loop = dyn_cast<scf::ForOp>(pack.root()->getParentOp());
      loop && movesWith(pack, loop))
    return NextPack{&pack, loop, /*nextIteration=*/true};
  // A peeled first iteration: the next pack of the operand is the first
  // iteration of a loop that follows in the same block.
  for (Pack &later : packs) {
    auto loop = dyn_cast<scf::ForOp>(later.root()->getParentOp());
    if (later.source != pack.source || !loop ||
        loop->getBlock() != microKernels->getBlock() ||
        !microKernels->isBeforeInBlock(loop))
      continue;
    if (movesWith(later, loop))
      return NextPack{&later, loop, /*nextIteration=*/false};
  }
  return std::nullopt;
}

/// The loops around `op` up to `outer` (exclusive), innermost first.
static SmallVector<scf::ForOp> getLoopsUpTo(Operation *op, Operation *outer) {
  SmallVector<scf::ForOp> loops;
  for (Operation *parent = op->getParentOp(); parent && parent != outer;
       parent = parent->getParentOp())
    if (auto loop = dyn_cast<scf::ForOp>(parent))
      loops.push_back(loop);
  return loops;
}

/// Where the pack that follows the last iteration of `pack`'s own loop
/// `panelLoop` is (a rhs packed per panel: the next k block's first
/// panel), among the `later` packs: the first iteration of a later loop
/// around a pack of the same operand, next to `panelLoop` or one of the
/// loops around it, or else the next iteration of a loop with static bounds
/// around `panelLoop` that moves the pack, whichever is nearer.
static std::optional<NextPack> getPackAfterLast(Pack &pack,
                                                scf::ForOp panelLoop,
                                                MutableArrayRef<Pack> later) {
  for (Operation *level = panelLoop; level; level = level->getParentOp()) {
    if (auto loop = dyn_cast<scf::ForOp>(level); loop && level != panelLoop) {
      if (!getStaticLoop(loop))
        return std::nullopt;
      if (movesWith(pack, loop))
        return NextPack{&pack, loop, /*nextIteration=*/true,
                        getLoopsUpTo(pack.root(), loop)};
    }
    for (Pack &next : later) {
      Operation *nextLoop =
          level->getBlock()->findAncestorOpInBlock(*next.root());
      auto loop = dyn_cast_or_null<scf::ForOp>(nextLoop);
      if (next.source != pack.source || !loop || loop == next.root() ||
          !level->isBeforeInBlock(loop) || !movesWith(next, loop))
        continue;
      return NextPack{&next, loop, /*nextIteration=*/false,
                      getLoopsUpTo(next.root(), loop)};
    }
  }
  return std::nullopt;
}

/// The value of the induction variable of `next.loop` at the next pack.
static Value getNextInductionVar(RewriterBase &rewriter, Location loc,
                                 NextPack next) {
  if (!next.nextIteration)
    return next.loop.getLowerBound();
  return buildNextInductionVar(rewriter, loc, next.loop);
}

/// Whether every value that the address of `next`'s read uses from outside
/// `slice` is available at `point`: the loop's and the nest's induction
/// variables are replaced, everything else must dominate.
static bool isAddressAvailable(NextPack next,
                               const SetVector<Operation *> &slice,
                               Operation *point, DominanceInfo &dominance) {
  Pack &pack = *next.pack;
  auto available = [&](Value value) {
    if (Operation *def = value.getDefiningOp(); def && slice.contains(def))
      return true;
    if (value == next.loop.getInductionVar() ||
        llvm::any_of(pack.loops,
                     [&](StaticLoop loop) {
                       return value == loop.loop.getInductionVar();
                     }) ||
        llvm::any_of(next.atFirst, [&](scf::ForOp loop) {
          return value == loop.getInductionVar();
        }))
      return true;
    return dominance.properlyDominates(value, point);
  };
  auto operandsAvailable = [&](Operation *op) {
    return llvm::all_of(op->getOperands(), available);
  };
  if (!next.nextIteration && !available(next.loop.getLowerBound()))
    return false;
  for (scf::ForOp loop : next.atFirst)
    if (!dominance.properlyDominates(loop.getLowerBound(), point))
      return false;
  return llvm::all_of(slice, operandsAvailable) &&
         available(pack.read.getBase()) &&
         llvm::all_of(pack.read.getIndices(), available);
}

/// Prefetches line `line` (an index value) of what the read of `next`'s
/// pack reads, with `mapping` giving the induction variable of `next.loop`.
static void prefetchLine(RewriterBase &rewriter, Location loc,
                         NextPack next,
                         const SetVector<Operation *> &slice,
                         const PackLines &lines, IRMapping mapping,
                         Value line) {
  Pack &pack = *next.pack;
  auto position = affine::AffineDelinearizeIndexOp::create(
      rewriter, loc, line, lines.basis, /*hasOuterBound=*/true);
  AffineExpr d0 = rewriter.getAffineDimExpr(0);
  for (auto [dim, loop] : llvm::enumerate(pack.loops)) {
    Value iv = affine::AffineApplyOp::create(
        rewriter, loc, AffineMap::get(1, 0, d0 * loop.step + loop.lowerBound),
        ValueRange{position.getResult(dim)});
    mapping.map(loop.loop.getInductionVar(), iv);
  }
  for (Operation *op : slice)
    rewriter.clone(*op, mapping);

  // The read's vector covers its innermost memref dimensions (a minor
  // identity): step along each, by lines along the innermost.
  SmallVector<Value> indices =
      llvm::map_to_vector(pack.read.getIndices(), [&](Value index) {
        return mapping.lookupOrDefault(index);
      });
  int64_t vectorRank = pack.read.getVectorType().getRank();
  int64_t firstVectorDim = static_cast<int64_t>(indices.size()) - vectorRank;
  int64_t firstVectorPosition = static_cast<int64_t>(pack.loops.size());
  for (int64_t dim = 0; dim < vectorRank; ++dim) {
    int64_t scale = dim == vectorRank - 1 ? lines.lineElements : 1;
    Value &index = indices[firstVectorDim + dim];
    index = affine::AffineApplyOp::create(
        rewriter, loc, AffineMap::get(2, 0, d0 + rewriter.getAffineDimExpr(1) * scale),
        ValueRange{index, position.getResult(firstVectorPosition + dim)});
  }
  memref::PrefetchOp::create(rewriter, loc,
                             mapping.lookupOrDefault(pack.read.getBase()),
                             indices, /*isWrite=*/false, kPackSourceLocality,
                             /*isDataCache=*/true);
}

/// The lines of `next`'s pack and the ops that compute its read's address,
/// when the address is available at `point`.
struct PackAddress {
  NextPack next;
  PackLines lines;
  SetVector<Operation *> slice;
};

static std::optional<PackAddress>
getPackAddress(NextPack next, Operation *point, DominanceInfo &dominance) {
  std::optional<PackLines> lines = getPackLines(*next.pack);
  FailureOr<SetVector<Operation *>> slice =
      getAddressSlice(*next.pack, next.loop);
  if (!lines || failed(slice) ||
      !isAddressAvailable(next, *slice, point, dominance))
    return std::nullopt;
  return PackAddress{std::move(next), *lines, std::move(*slice)};
}

/// Prefetches `perKernel` lines of `address`'s pack from line `number *
/// perKernel` on (`number` of `ivs` counting the micro kernels), clamped to
/// its last.
static void prefetchLines(RewriterBase &rewriter, Location loc,
                          PackAddress &address, AffineExpr number,
                          ValueRange ivs, int64_t perKernel) {
  Value first = affine::AffineApplyOp::create(
      rewriter, loc, AffineMap::get(ivs.size(), 0, number * perKernel), ivs);
  NextPack &next = address.next;
  IRMapping mapping;
  mapping.map(next.loop.getInductionVar(),
              getNextInductionVar(rewriter, loc, next));
  for (scf::ForOp loop : next.atFirst)
    mapping.map(loop.getInductionVar(), loop.getLowerBound());
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value count = arith::ConstantIndexOp::create(rewriter, loc, perKernel);
  Value lastLine =
      arith::ConstantIndexOp::create(rewriter, loc, address.lines.count - 1);
  auto lineLoop = scf::ForOp::create(rewriter, loc, zero, count, one);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(lineLoop.getBody());
  Value line = arith::MinSIOp::create(
      rewriter, loc,
      arith::AddIOp::create(rewriter, loc, first, lineLoop.getInductionVar()),
      lastLine);
  prefetchLine(rewriter, loc, next, address.slice, address.lines, mapping,
               line);
}

/// Spreads the prefetches of every line of `next`'s pack over the
/// iterations of `loops` (the micro kernels' loops, outermost first):
/// ceil(lines / iterations) lines at the start of each iteration of the
/// innermost, the last line again once all are issued. With `afterLast`,
/// the last iteration of `next.loop` prefetches that pack instead.
static void prefetchNextPack(RewriterBase &rewriter, NextPack next,
                             std::optional<NextPack> afterLast,
                             MutableArrayRef<StaticLoop> loops,
                             DominanceInfo &dominance) {
  Block *site = loops.back().loop.getBody();
  std::optional<PackAddress> address =
      getPackAddress(std::move(next), &site->front(), dominance);
  if (!address)
    return;
  std::optional<PackAddress> lastAddress =
      afterLast
          ? getPackAddress(std::move(*afterLast), &site->front(), dominance)
          : std::nullopt;

  Location loc = address->next.pack->read.getLoc();
  rewriter.setInsertionPointToStart(site);
  // The micro kernel's number, counting along `loops`.
  AffineExpr number = rewriter.getAffineConstantExpr(0);
  int64_t iterations = 1;
  SmallVector<Value> ivs;
  for (StaticLoop loop : llvm::reverse(loops)) {
    AffineExpr iv = rewriter.getAffineDimExpr(ivs.size());
    number = number + (iv - loop.lowerBound).floorDiv(loop.step) * iterations;
    iterations *= loop.tripCount;
    ivs.push_back(loop.loop.getInductionVar());
  }
  auto prefetch = [&](PackAddress &pack) {
    prefetchLines(rewriter, loc, pack, number, ivs,
                  llvm::divideCeil(pack.lines.count, iterations));
  };
  if (!lastAddress) {
    prefetch(*address);
    return;
  }
  scf::ForOp loop = address->next.loop;
  Value last = arith::SubIOp::create(rewriter, loc, loop.getUpperBound(),
                                     loop.getStep());
  Value isLast = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                       loop.getInductionVar(), last);
  auto branch = scf::IfOp::create(rewriter, loc, isLast,
                                  /*withElseRegion=*/true);
  rewriter.setInsertionPointToStart(branch.thenBlock());
  prefetch(*lastAddress);
  rewriter.setInsertionPointToStart(branch.elseBlock());
  prefetch(*address);
}

/// The packs of `function`, in program order.
static SmallVector<Pack> getPacks(func::FuncOp function) {
  SmallVector<Pack> packs;
  function.walk([&](vector::TransferReadOp read) {
    if (std::optional<Pack> pack = getPack(read))
      packs.push_back(std::move(*pack));
  });
  return packs;
}

/// The loop of `pack`'s nest whose induction variable is the panel its
/// write stores (the buffer's outermost index), if any.
static std::optional<StaticLoop> getPackedPanelLoop(Pack &pack) {
  auto write = cast<vector::TransferWriteOp>(*pack.read->user_begin());
  if (write.getIndices().empty())
    return std::nullopt;
  Value panel = write.getIndices().front();
  for (StaticLoop loop : pack.loops)
    if (panel == loop.loop.getInductionVar())
      return loop;
  return std::nullopt;
}

/// The loop inside `microKernels` whose induction variable is the panel
/// that every read of `buffer` there reads (its outermost index), when no
/// other op between the pack and `microKernels` uses `buffer`.
static scf::ForOp getReadingPanelLoop(Value buffer, Operation *packRoot,
                                      scf::ForOp microKernels) {
  scf::ForOp panelLoop;
  for (Operation *user : buffer.getUsers()) {
    if (!microKernels->isAncestor(user)) {
      Operation *inBlock = packRoot->getBlock()->findAncestorOpInBlock(*user);
      if (inBlock && packRoot->isBeforeInBlock(inBlock) &&
          inBlock->isBeforeInBlock(microKernels))
        return {};
      continue;
    }
    auto read = dyn_cast<vector::TransferReadOp>(user);
    if (!read || read.getIndices().empty())
      return {};
    auto panel = dyn_cast<BlockArgument>(read.getIndices().front());
    auto loop =
        panel ? dyn_cast<scf::ForOp>(panel.getOwner()->getParentOp()) : nullptr;
    if (!loop || panel != loop.getInductionVar() ||
        (panelLoop && loop != panelLoop))
      return {};
    panelLoop = loop;
  }
  return panelLoop;
}

/// Whether several micro kernels read each panel of `panelLoop`: a loop of
/// micro kernels runs inside it (the rhs panels, which the row groups of
/// an m block share, not the lhs's, one per row group).
static bool isReadBySeveral(scf::ForOp panelLoop) {
  return panelLoop.getBody()
      ->walk([](scf::ForOp inner) {
        return inner.getNumRegionIterArgs() == 0 && containsContraction(inner)
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      })
      .wasInterrupted();
}

/// Peels the first iteration off each of `loops` (nested, outermost first)
/// that has more than one, inlined before the loop; returns the copy of
/// `inner` (nested in the innermost of them) that runs in the first
/// iteration of all of them.
static FailureOr<scf::ForOp> peelFirstIterations(RewriterBase &rewriter,
                                                 ArrayRef<scf::ForOp> loops,
                                                 scf::ForOp inner) {
  IRMapping firstIterations;
  for (scf::ForOp loop : loops) {
    auto current =
        cast<scf::ForOp>(firstIterations.lookupOrDefault(loop.getOperation()));
    std::optional<StaticLoop> bounds = getStaticLoop(current);
    if (!bounds)
      return failure();
    if (bounds->tripCount <= 1)
      continue;
    scf::ForOp first;
    rewriter.setInsertionPoint(current);
    if (failed(scf::peelForLoopFirstIteration(rewriter, current, first)))
      return failure();
    // `first` is a clone of `current`: their ops match in walk order.
    SmallVector<Operation *> originals, copies;
    current.walk([&](Operation *op) { originals.push_back(op); });
    first.walk([&](Operation *op) { copies.push_back(op); });
    for (auto [original, copy] : llvm::zip_equal(originals, copies))
      firstIterations.map(original, copy);
    // Inlined, the first iteration's packs are no longer in a loop of their
    // own whose next iteration is itself: their micro kernels prefetch for
    // the loop they were peeled from (step 2).
    if (failed(first.promoteIfSingleIteration(rewriter)))
      return failure();
  }
  return cast<scf::ForOp>(
      firstIterations.lookupOrDefault(inner.getOperation()));
}

/// Moves the rhs pack `pack` into the first pass of its micro kernels over
/// its panels: the loops around their panel loop give up their first
/// iteration, whose panel loop packs each panel right before the micro
/// kernels that first read it; returns that panel loop. Leaves other packs
/// alone (and returns null).
static scf::ForOp packPerPanel(RewriterBase &rewriter, Pack &pack) {
  std::optional<StaticLoop> packedPanel = getPackedPanelLoop(pack);
  scf::ForOp microKernels = getFollowingMicroKernels(pack.root());
  if (!packedPanel || !microKernels || pack.loops.empty())
    return {};
  auto write = cast<vector::TransferWriteOp>(*pack.read->user_begin());
  Value buffer = write.getBase();
  scf::ForOp panelLoop = getReadingPanelLoop(buffer, pack.root(), microKernels);
  std::optional<StaticLoop> readPanel =
      panelLoop ? getStaticLoop(panelLoop) : std::nullopt;
  if (!readPanel || readPanel->lowerBound != packedPanel->lowerBound ||
      readPanel->step != packedPanel->step ||
      readPanel->tripCount != packedPanel->tripCount)
    return {};
  if (!isReadBySeveral(panelLoop))
    return {};
  // The loops from `microKernels` (inclusive) down to the panel loop.
  SmallVector<scf::ForOp> outer;
  for (Operation *op = panelLoop->getParentOp();
       panelLoop != microKernels && op; op = op->getParentOp()) {
    auto loop = dyn_cast<scf::ForOp>(op);
    if (!loop)
      return {};
    outer.insert(outer.begin(), loop);
    if (loop == microKernels)
      break;
  }
  FailureOr<scf::ForOp> firstPanelLoop =
      peelFirstIterations(rewriter, outer, panelLoop);
  if (failed(firstPanelLoop))
    return {};
  // The nest for one panel: the pack's panel loop's body, at this panel.
  rewriter.setInsertionPointToStart(firstPanelLoop->getBody());
  IRMapping mapping;
  rewriter.clone(*pack.root(), mapping);
  auto panelCopy =
      cast<scf::ForOp>(mapping.lookup(packedPanel->loop.getOperation()));
  rewriter.eraseOp(panelCopy.getBody()->getTerminator());
  rewriter.inlineBlockBefore(panelCopy.getBody(), panelCopy,
                             {firstPanelLoop->getInductionVar()});
  rewriter.eraseOp(panelCopy);
  rewriter.eraseOp(pack.root());
  return *firstPanelLoop;
}

/// The operand of the outermost index of `op` when it is a vector transfer
/// read or write of `buffer` with an index; null otherwise.
static OpOperand *getOutermostIndex(Operation *op, Value buffer) {
  std::optional<MutableOperandRange> indices;
  if (auto read = dyn_cast<vector::TransferReadOp>(op);
      read && read.getBase() == buffer)
    indices = read.getIndicesMutable();
  else if (auto write = dyn_cast<vector::TransferWriteOp>(op);
           write && write.getBase() == buffer)
    indices = write.getIndicesMutable();
  if (!indices || indices->empty())
    return nullptr;
  return &(*indices)[0];
}

/// Shrinks `buffer` (an allocation of whole panels, the outermost dimension
/// the panel) to one panel when every access to it is inside a loop of
/// `packedBy` that packs it, at that loop's own panel: each panel is then
/// packed and read within one iteration, and no later one reads it again
/// (a single m block), so one panel's space, rewritten by every iteration,
/// stays in L1 where the whole block would take a pass through the caches.
static void shrinkToOnePanel(RewriterBase &rewriter, Value buffer,
                             const DenseMap<Operation *, Value> &packedBy) {
  auto alloc = buffer.getDefiningOp<memref::AllocOp>();
  if (!alloc || !alloc.getType().hasStaticShape() ||
      alloc.getType().getRank() == 0 || alloc.getType().getDimSize(0) == 1)
    return;
  SmallVector<OpOperand *> panelIndices;
  for (Operation *user : buffer.getUsers()) {
    if (isa<memref::DeallocOp>(user))
      continue;
    OpOperand *index = getOutermostIndex(user, buffer);
    auto panel = index ? dyn_cast<BlockArgument>(index->get()) : nullptr;
    Operation *loop = panel ? panel.getOwner()->getParentOp() : nullptr;
    auto packing = loop ? packedBy.find(loop) : packedBy.end();
    if (packing == packedBy.end() || packing->second != buffer ||
        panel != cast<scf::ForOp>(loop).getInductionVar())
      return;
    panelIndices.push_back(index);
  }
  SmallVector<int64_t> shape(alloc.getType().getShape());
  shape.front() = 1;
  auto type = MemRefType::get(shape, alloc.getType().getElementType(),
                              MemRefLayoutAttrInterface(),
                              alloc.getType().getMemorySpace());
  rewriter.setInsertionPoint(alloc);
  auto panel = memref::AllocOp::create(rewriter, alloc.getLoc(), type,
                                       alloc.getAlignmentAttr());
  Value zero = arith::ConstantIndexOp::create(rewriter, alloc.getLoc(), 0);
  for (OpOperand *index : panelIndices)
    rewriter.modifyOpInPlace(index->getOwner(), [&] { index->set(zero); });
  rewriter.replaceOp(alloc, panel);
}

namespace {

struct PrefetchPackSourcesPass
    : kiln::cpu::impl::PrefetchPackSourcesPassBase<PrefetchPackSourcesPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void PrefetchPackSourcesPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  FailureOr<CpuConfigAttr> config = getKernelConfig(function);
  if (failed(config))
    return signalPassFailure();
  if (!config->getPackMatmul())
    return;

  // 1. Each rhs panel is packed at its first use, so that the panel before
  //    prefetches it, the first k block's too (step 2).
  IRRewriter rewriter(&getContext());
  DenseSet<Operation *> perPanelLoops;
  DenseMap<Operation *, Value> packedBy;
  if (config->getPackRhsPerPanel()) {
    SetVector<Value> buffers;
    for (Pack &pack : getPacks(function)) {
      Value buffer =
          cast<vector::TransferWriteOp>(*pack.read->user_begin()).getBase();
      if (scf::ForOp panelLoop = packPerPanel(rewriter, pack)) {
        perPanelLoops.insert(panelLoop);
        packedBy[panelLoop] = buffer;
        buffers.insert(buffer);
      }
    }
    for (Value buffer : buffers)
      shrinkToOnePanel(rewriter, buffer, packedBy);
  }

  // 2. The prefetches; the last panel of a rhs packed per panel prefetches
  //    the next k block's first.
  SmallVector<Pack> packs = getPacks(function);
  // Find every pack's micro kernels and next pack before any prefetch
  // changes the loops.
  struct Work {
    NextPack next;
    std::optional<NextPack> afterLast;
    SmallVector<StaticLoop> loops;
  };
  SmallVector<Work> work;
  for (auto [index, pack] : llvm::enumerate(packs)) {
    scf::ForOp microKernels = getFollowingMicroKernels(pack.root());
    if (!microKernels)
      continue;
    SmallVector<StaticLoop> loops = getMicroKernelLoops(microKernels);
    MutableArrayRef<Pack> later =
        MutableArrayRef<Pack>(packs).drop_front(index + 1);
    std::optional<NextPack> next = getNextPack(pack, microKernels, later);
    if (loops.empty() || !next)
      continue;
    std::optional<NextPack> afterLast;
    if (next->nextIteration && perPanelLoops.contains(next->loop))
      afterLast = getPackAfterLast(pack, next->loop, later);
    work.push_back({*next, afterLast, std::move(loops)});
  }
  DominanceInfo dominance(function);
  for (Work &item : work)
    prefetchNextPack(rewriter, item.next, item.afterLast, item.loops,
                     dominance);
}
