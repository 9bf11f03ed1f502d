//===- KernelGroups.cpp - Plan, form and outline kernels --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Planning works on a graph of groups over one block: every op starts in its
// own group and the fusion rules merge groups, phase by phase. A merge is
// allowed only when no path of the group graph leads from one of the two
// groups to the other through a third one; the graph therefore stays
// acyclic, which is what makes every group convex and the groups orderable.
//
//===----------------------------------------------------------------------===//

#include "passes/Fusion/KernelGroups.h"

#include "ir/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Debug.h"

#include <set>

#define DEBUG_TYPE "kiln-fusion-form-kernel-groups"

using namespace mlir;

namespace kiln::graph {

//===----------------------------------------------------------------------===//
// Op classes
//===----------------------------------------------------------------------===//

namespace {
/// The part an op can play in a kernel group.
enum class OpClass {
  /// Reads no operands (weights, constants): never fused, a group input.
  Leaf,
  /// A heavy op that a group is built around.
  Anchor,
  /// Elementwise arithmetic and casts: joins as an epilogue or a prologue.
  Elementwise,
  /// Rotary embedding: reads pairs across the last axis, so it joins only as
  /// a prologue, where the consumer loads whole rows anyway.
  Rope,
  /// An index remapping: reshape, transpose, broadcast_to, slice, concat,
  /// gather.
  DataMovement,
  /// Kept as it is, in order: ops of other dialects, kiln.fused.
  Opaque,
};
} // namespace

static OpClass classify(Operation *op) {
  return llvm::TypeSwitch<Operation *, OpClass>(op)
      .Case<WeightOp, ConstantOp>([](Operation *) { return OpClass::Leaf; })
      .Case<MatmulOp, Conv2DOp, MaxPool2DOp, AvgPool2DOp, AttentionOp,
            MoeExpertsOp, MoeRouterOp, ReduceSumOp, ReduceMeanOp, ReduceMaxOp,
            SoftmaxOp, LayerNormOp, RmsNormOp>(
          [](Operation *) { return OpClass::Anchor; })
      .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, NegOp, AbsOp,
            ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp, ReluOp, SiluOp,
            ErfOp, GeluOp, CastOp>(
          [](Operation *) { return OpClass::Elementwise; })
      .Case<RopeOp>([](Operation *) { return OpClass::Rope; })
      .Case<ReshapeOp, TransposeOp, BroadcastToOp, SliceOp, ConcatOp, GatherOp>(
          [](Operation *) { return OpClass::DataMovement; })
      .Default([](Operation *op) {
        // An operand-free pure op of another dialect is a constant too.
        if (op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
            isMemoryEffectFree(op))
          return OpClass::Leaf;
        return OpClass::Opaque;
      });
}

static bool isNorm(Operation *op) { return isa<LayerNormOp, RmsNormOp>(op); }

static int64_t elementsOf(Value value) {
  auto type = dyn_cast<ShapedType>(value.getType());
  return type && type.hasStaticShape() ? type.getNumElements() : -1;
}

static bool isLeafValue(Value value) {
  Operation *def = value.getDefiningOp();
  return def && classify(def) == OpClass::Leaf;
}

//===----------------------------------------------------------------------===//
// Kinds
//===----------------------------------------------------------------------===//

/// The name of `op`'s part in a kind; empty for pure layout changes, which
/// every kernel absorbs without naming them.
static std::string getToken(Operation *op) {
  if (auto add = dyn_cast<AddOp>(op)) {
    // A weight or constant broadcast over the result.
    for (Value operand : add->getOperands())
      if (isLeafValue(operand) && operand.getType() != add.getType())
        return "bias";
    if (add.getLhs().getType() == add.getType() &&
        add.getRhs().getType() == add.getType() && !isLeafValue(add.getLhs()) &&
        !isLeafValue(add.getRhs()))
      return "residual";
    return "add";
  }
  if (auto mul = dyn_cast<MulOp>(op))
    return isLeafValue(mul.getLhs()) || isLeafValue(mul.getRhs()) ? "scale"
                                                                  : "mul";
  if (isa<ReshapeOp, TransposeOp, BroadcastToOp>(op))
    return "";
  if (isa_and_nonnull<KilnDialect>(op->getDialect()))
    return op->getName().stripDialect().str();
  return op->getName().getStringRef().str();
}

/// The kind of a group with `ops` (program order) formed around `root`: the
/// anchor first (`matmul*N` for N matmuls sharing their lhs), then the
/// other parts in program order, each once.
static std::string getKind(ArrayRef<Operation *> ops, Operation *root) {
  SmallVector<std::string> tokens;
  auto addToken = [&](std::string token) {
    if (!token.empty() && !llvm::is_contained(tokens, token))
      tokens.push_back(std::move(token));
  };
  bool anchored = classify(root) == OpClass::Anchor;
  if (anchored) {
    std::string head = getToken(root);
    if (isa<MatmulOp>(root)) {
      auto matmuls = llvm::count_if(
          ops, [&](Operation *op) { return op->getName() == root->getName(); });
      if (matmuls > 1)
        head += "*" + std::to_string(matmuls);
    }
    tokens.push_back(head);
  }
  for (Operation *op : ops)
    if (!(anchored && isa<MatmulOp>(root) && isa<MatmulOp>(op)))
      addToken(getToken(op));
  if (tokens.empty())
    for (Operation *op : ops)
      addToken(op->getName().stripDialect().str());
  return llvm::join(tokens, "+");
}

//===----------------------------------------------------------------------===//
// Planner
//===----------------------------------------------------------------------===//

namespace {
/// A group under construction.
struct Group {
  SmallVector<Operation *> ops;
  Operation *root = nullptr;
  bool opaque = false;
  bool alive = true;
};

/// The group graph of one block and the fusion phases that merge it.
class Planner {
public:
  explicit Planner(Block &body);

  SmallVector<KernelGroup> run(const FusionOptions &options);

private:
  static constexpr unsigned kNoGroup = ~0u;

  unsigned groupOf(Operation *op) const {
    auto it = groupIds.find(op);
    return it == groupIds.end() ? kNoGroup : it->second;
  }
  bool isSingleton(unsigned id) const {
    return id != kNoGroup && groups[id].alive && groups[id].ops.size() == 1 &&
           !groups[id].opaque;
  }
  /// The op of the block that holds the user of `use`.
  Operation *getUser(OpOperand &use) const {
    return body.findAncestorOpInBlock(*use.getOwner());
  }
  /// Whether every user of `op`'s results is in group `id`.
  bool usersAllIn(Operation *op, unsigned id) const;
  /// The only op outside group `id` that uses `value`, if there is exactly
  /// one and it is in a group.
  Operation *getSoleOutsideUser(Value value, unsigned id) const;
  /// The groups that read a value of group `id`, or must follow it.
  SmallVector<unsigned> getSuccessors(unsigned id) const;
  /// Whether merging the groups `ids` keeps the group graph acyclic: no path
  /// leaves them and comes back.
  bool canMerge(ArrayRef<unsigned> ids) const;
  /// Merges the groups `from` into group `into`.
  void merge(unsigned into, ArrayRef<unsigned> from);
  /// Merges `from` into `into` when that keeps the graph acyclic.
  bool tryMerge(unsigned into, ArrayRef<unsigned> from) {
    SmallVector<unsigned> ids{into};
    ids.append(from.begin(), from.end());
    if (!canMerge(ids)) {
      LLVM_DEBUG(llvm::dbgs() << "  rejected: would form a cycle\n");
      return false;
    }
    merge(into, from);
    return true;
  }
  /// Whether placing `producer` in group `id` would compute some of its
  /// elements more than once, because the group broadcasts them.
  bool isExpandedIn(Operation *producer, unsigned id) const;
  /// Whether `value` reaches ops of group `id` only as the lhs of a matmul
  /// or the tokens of moe_experts, possibly through reshapes that keep the
  /// last axis: the axis a norm normalizes is then the contraction axis.
  bool feedsContractionOnly(Value value, unsigned id) const;
  /// The ids of the live groups ordered by `key`.
  SmallVector<unsigned>
  getLiveGroups(llvm::function_ref<unsigned(const Group &)> key) const;
  unsigned getFirstPosition(const Group &group) const;
  unsigned getLastPosition(const Group &group) const;

  // The phases, in the order they run.
  void fuseMoe();
  void fuseHorizontal();
  void fuseEpilogues();
  void fusePrologues();
  void fuseNormPrologues();
  void fuseTrailingDataMovement();
  SmallVector<unsigned> getTopologicalOrder() const;

  Block &body;
  llvm::DenseMap<Operation *, unsigned> position;
  llvm::DenseMap<Operation *, unsigned> groupIds;
  std::vector<Group> groups;
  /// Each opaque op with side effects and the next one, which must follow it.
  llvm::DenseMap<Operation *, Operation *> nextOrdered;
};
} // namespace

Planner::Planner(Block &body) : body(body) {
  Operation *lastOrdered = nullptr;
  for (auto [index, op] : llvm::enumerate(body)) {
    position[&op] = index;
    if (op.hasTrait<OpTrait::IsTerminator>())
      continue;
    OpClass opClass = classify(&op);
    if (opClass == OpClass::Leaf)
      continue;
    groupIds[&op] = groups.size();
    Group &group = groups.emplace_back();
    group.ops.push_back(&op);
    group.root = &op;
    group.opaque = opClass == OpClass::Opaque;
    if (group.opaque && !isMemoryEffectFree(&op)) {
      if (lastOrdered)
        nextOrdered[lastOrdered] = &op;
      lastOrdered = &op;
    }
  }
}

bool Planner::usersAllIn(Operation *op, unsigned id) const {
  for (Value result : op->getResults())
    for (OpOperand &use : result.getUses())
      if (groupOf(getUser(use)) != id)
        return false;
  return true;
}

Operation *Planner::getSoleOutsideUser(Value value, unsigned id) const {
  Operation *sole = nullptr;
  for (OpOperand &use : value.getUses()) {
    Operation *user = getUser(use);
    if (groupOf(user) == id)
      continue;
    if (sole && sole != user)
      return nullptr;
    sole = user;
  }
  return sole && groupOf(sole) != kNoGroup ? sole : nullptr;
}

SmallVector<unsigned> Planner::getSuccessors(unsigned id) const {
  llvm::SetVector<unsigned> successors;
  for (Operation *op : groups[id].ops) {
    for (Value result : op->getResults())
      for (OpOperand &use : result.getUses()) {
        unsigned user = groupOf(getUser(use));
        if (user != kNoGroup && user != id)
          successors.insert(user);
      }
    if (Operation *next = nextOrdered.lookup(op))
      if (groupOf(next) != id)
        successors.insert(groupOf(next));
  }
  return successors.takeVector();
}

bool Planner::canMerge(ArrayRef<unsigned> ids) const {
  llvm::SmallDenseSet<unsigned, 4> merged(ids.begin(), ids.end());
  for (unsigned id : ids)
    if (id == kNoGroup || !groups[id].alive || groups[id].opaque)
      return false;
  // A path that leaves the merged groups and reaches them again would be a
  // cycle once they are one group.
  llvm::DenseSet<unsigned> visited;
  SmallVector<unsigned> stack;
  for (unsigned id : ids)
    for (unsigned successor : getSuccessors(id))
      if (!merged.contains(successor) && visited.insert(successor).second)
        stack.push_back(successor);
  while (!stack.empty()) {
    unsigned id = stack.pop_back_val();
    for (unsigned successor : getSuccessors(id)) {
      if (merged.contains(successor))
        return false;
      if (visited.insert(successor).second)
        stack.push_back(successor);
    }
  }
  return true;
}

void Planner::merge(unsigned into, ArrayRef<unsigned> from) {
  for (unsigned id : from) {
    if (id == into)
      continue;
    LLVM_DEBUG(llvm::dbgs() << "  merge " << *groups[id].root << "\n    into "
                            << *groups[into].root << "\n");
    for (Operation *op : groups[id].ops) {
      groupIds[op] = into;
      groups[into].ops.push_back(op);
    }
    groups[id].ops.clear();
    groups[id].alive = false;
  }
}

bool Planner::isExpandedIn(Operation *producer, unsigned id) const {
  SmallVector<Value> worklist(producer->getResults());
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (OpOperand &use : value.getUses()) {
      Operation *user = getUser(use);
      if (groupOf(user) != id)
        continue;
      if (isa<BroadcastToOp>(user))
        return true;
      // A gather may read one row of its data for many indices.
      if (isa<GatherOp>(user) && use.getOperandNumber() == 0)
        return true;
      if (classify(user) == OpClass::Elementwise &&
          elementsOf(user->getResult(0)) > elementsOf(value))
        return true;
      // Anchors and rope load their operands by tiles; what they recompute
      // is the kernel's tiling choice, not the graph's.
      if (classify(user) == OpClass::Elementwise ||
          classify(user) == OpClass::DataMovement)
        llvm::append_range(worklist, user->getResults());
    }
  }
  return false;
}

bool Planner::feedsContractionOnly(Value value, unsigned id) const {
  for (OpOperand &use : value.getUses()) {
    Operation *user = getUser(use);
    if (groupOf(user) != id)
      return false;
    if (auto matmul = dyn_cast<MatmulOp>(user)) {
      if (use.getOperandNumber() != 0 || matmul.getTransposeLhs())
        return false;
    } else if (isa<MoeExpertsOp>(user)) {
      if (use.getOperandNumber() != 0)
        return false;
    } else if (auto reshape = dyn_cast<ReshapeOp>(user)) {
      if (reshape.getInput().getType().getShape().back() !=
              reshape.getType().getShape().back() ||
          !feedsContractionOnly(reshape.getResult(), id))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

unsigned Planner::getFirstPosition(const Group &group) const {
  unsigned first = ~0u;
  for (Operation *op : group.ops)
    first = std::min(first, position.lookup(op));
  return first;
}

unsigned Planner::getLastPosition(const Group &group) const {
  unsigned last = 0;
  for (Operation *op : group.ops)
    last = std::max(last, position.lookup(op));
  return last;
}

SmallVector<unsigned>
Planner::getLiveGroups(llvm::function_ref<unsigned(const Group &)> key) const {
  SmallVector<std::pair<unsigned, unsigned>> keyed;
  for (auto [id, group] : llvm::enumerate(groups))
    if (group.alive && !group.opaque)
      keyed.push_back({key(group), id});
  llvm::sort(keyed);
  return llvm::to_vector(
      llvm::map_range(keyed, [](auto p) { return p.second; }));
}

//===----------------------------------------------------------------------===//
// Phases
//===----------------------------------------------------------------------===//

/// 1. A moe_experts takes the router that feeds only it, and the matmul
/// computing the router's logits when only the router reads them.
void Planner::fuseMoe() {
  for (Operation &op : body) {
    auto experts = dyn_cast<MoeExpertsOp>(op);
    if (!experts)
      continue;
    auto router = experts.getWeights().getDefiningOp<MoeRouterOp>();
    if (!router || experts.getIndices().getDefiningOp() != router ||
        router->getBlock() != &body)
      continue;
    unsigned id = groupOf(experts);
    if (!isSingleton(groupOf(router)) || !usersAllIn(router, id) ||
        !tryMerge(id, {groupOf(router)}))
      continue;
    auto logits = router.getLogits().getDefiningOp<MatmulOp>();
    if (logits && logits->getBlock() == &body && isSingleton(groupOf(logits)) &&
        usersAllIn(logits, id))
      tryMerge(id, {groupOf(logits)});
  }
}

/// 2. Matmuls reading the same lhs fuse horizontally: the lhs is loaded
/// once for all of them (q/k/v projections, SwiGLU gate and up).
void Planner::fuseHorizontal() {
  llvm::MapVector<std::pair<Value, unsigned>, SmallVector<unsigned>> byLhs;
  for (Operation &op : body)
    if (auto matmul = dyn_cast<MatmulOp>(op))
      if (isSingleton(groupOf(matmul)))
        byLhs[{matmul.getLhs(), unsigned(matmul.getTransposeLhs())}].push_back(
            groupOf(matmul));
  for (auto &[lhs, ids] : byLhs)
    for (unsigned id : llvm::drop_begin(ids))
      tryMerge(ids.front(), {id});
}

/// 3. An elementwise op that is the only outside user of a group value
/// joins the group as its epilogue, directly or through reshapes and
/// transposes (which then write the result in the epilogue's layout). The
/// op must not broadcast the value: its result has the value's size.
void Planner::fuseEpilogues() {
  for (unsigned id : getLiveGroups(
           [&](const Group &group) { return position.lookup(group.root); })) {
    if (classify(groups[id].root) != OpClass::Anchor)
      continue;
    bool changed = true;
    while (changed) {
      changed = false;
      for (Operation *op : SmallVector<Operation *>(groups[id].ops)) {
        for (Value value : op->getResults()) {
          Operation *user = getSoleOutsideUser(value, id);
          SmallVector<unsigned> chain;
          Value current = value;
          while (user && isa<ReshapeOp, TransposeOp>(user) &&
                 isSingleton(groupOf(user))) {
            chain.push_back(groupOf(user));
            current = user->getResult(0);
            user = getSoleOutsideUser(current, id);
          }
          if (!user || classify(user) != OpClass::Elementwise ||
              !isSingleton(groupOf(user)) ||
              elementsOf(user->getResult(0)) != elementsOf(current))
            continue;
          chain.push_back(groupOf(user));
          if (tryMerge(id, chain)) {
            changed = true;
            break;
          }
        }
        if (changed)
          break;
      }
    }
  }
}

/// 4. Producers join the group of their users: an elementwise, rope or
/// data-movement op whose users are all in one group joins it, unless the
/// group would compute its elements more than once. A residual add feeding
/// a norm joins the norm's group even when it is used later; the group then
/// yields it too. Consumers go first, so a chain joins from its end; a chain
/// with no anchor below it becomes a group of its own.
void Planner::fusePrologues() {
  SmallVector<unsigned> consumersFirst =
      getLiveGroups([&](const Group &group) { return getLastPosition(group); });
  for (unsigned id : llvm::reverse(consumersFirst)) {
    if (!groups[id].alive)
      continue;
    bool changed = true;
    while (changed) {
      changed = false;
      for (Operation *op : SmallVector<Operation *>(groups[id].ops)) {
        for (Value operand : op->getOperands()) {
          Operation *producer = operand.getDefiningOp();
          if (!producer || producer->getBlock() != &body ||
              !isSingleton(groupOf(producer)))
            continue;
          OpClass opClass = classify(producer);
          if (opClass != OpClass::Elementwise && opClass != OpClass::Rope &&
              opClass != OpClass::DataMovement)
            continue;
          bool joins = false;
          if (usersAllIn(producer, id)) {
            joins =
                opClass == OpClass::DataMovement || !isExpandedIn(producer, id);
          } else if (isa<AddOp>(producer) && isNorm(groups[id].root)) {
            // The residual add before a norm: the norm's group yields it.
            joins = groups[id].root->getOperand(0) == producer->getResult(0);
          }
          if (joins && tryMerge(id, {groupOf(producer)})) {
            changed = true;
            break;
          }
        }
        if (changed)
          break;
      }
    }
  }
}

/// 5. A norm whose group yields only the norm, and which only feeds the
/// contraction axis of one matmul or moe group, joins that group as its
/// prologue: the consumer reads whole rows of its lhs anyway, so each row is
/// normalized as it is loaded.
void Planner::fuseNormPrologues() {
  for (unsigned id : getLiveGroups(
           [&](const Group &group) { return position.lookup(group.root); })) {
    Operation *norm = groups[id].root;
    if (!groups[id].alive || !isNorm(norm))
      continue;
    Value normalized = norm->getResult(0);
    bool onlyNormEscapes = llvm::all_of(groups[id].ops, [&](Operation *op) {
      return op == norm || usersAllIn(op, id);
    });
    if (!onlyNormEscapes || normalized.use_empty())
      continue;
    unsigned consumer = groupOf(getUser(*normalized.getUses().begin()));
    if (consumer == kNoGroup || consumer == id ||
        !isa<MatmulOp, MoeExpertsOp>(groups[consumer].root) ||
        !feedsContractionOnly(normalized, consumer))
      continue;
    tryMerge(consumer, {id});
  }
}

/// 6. Data movement that only the function returns (slicing out the class
/// token, a final reshape) has no consumer kernel to absorb it: it joins
/// the one group that produces its input, which writes the remapped result.
void Planner::fuseTrailingDataMovement() {
  for (unsigned id : getLiveGroups(
           [&](const Group &group) { return position.lookup(group.root); })) {
    Group &group = groups[id];
    bool movesOnly = llvm::all_of(group.ops, [&](Operation *op) {
      return classify(op) == OpClass::DataMovement;
    });
    bool returnedOnly = llvm::all_of(group.ops, [&](Operation *op) {
      for (Value result : op->getResults())
        for (OpOperand &use : result.getUses())
          if (unsigned user = groupOf(getUser(use));
              user != id && user != kNoGroup)
            return false;
      return true;
    });
    if (!movesOnly || !returnedOnly)
      continue;
    llvm::SmallSetVector<unsigned, 2> producers;
    for (Operation *op : group.ops)
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (unsigned producer = groupOf(def);
              producer != kNoGroup && producer != id)
            producers.insert(producer);
    if (producers.size() == 1 && !groups[producers[0]].opaque)
      tryMerge(producers[0], {id});
  }
}

/// Kahn's algorithm over the live groups, the ready group with the first op
/// earliest in the block first.
SmallVector<unsigned> Planner::getTopologicalOrder() const {
  llvm::DenseMap<unsigned, unsigned> pending;
  std::set<std::pair<unsigned, unsigned>> ready;
  for (auto [id, group] : llvm::enumerate(groups))
    if (group.alive)
      pending[id];
  for (auto [id, group] : llvm::enumerate(groups))
    if (group.alive)
      for (unsigned successor : getSuccessors(id))
        ++pending[successor];
  for (auto [id, count] : pending)
    if (count == 0)
      ready.insert({getFirstPosition(groups[id]), id});
  SmallVector<unsigned> order;
  while (!ready.empty()) {
    unsigned id = ready.begin()->second;
    ready.erase(ready.begin());
    order.push_back(id);
    for (unsigned successor : getSuccessors(id))
      if (--pending[successor] == 0)
        ready.insert({getFirstPosition(groups[successor]), successor});
  }
  return order;
}

SmallVector<KernelGroup> Planner::run(const FusionOptions &options) {
  if (options.enable) {
    fuseMoe();
    fuseHorizontal();
    fuseEpilogues();
    fusePrologues();
    fuseNormPrologues();
    fuseTrailingDataMovement();
  }
  SmallVector<KernelGroup> plan;
  for (unsigned id : getTopologicalOrder()) {
    Group &group = groups[id];
    KernelGroup &kernel = plan.emplace_back();
    kernel.ops = group.ops;
    llvm::sort(kernel.ops, [&](Operation *a, Operation *b) {
      return position.lookup(a) < position.lookup(b);
    });
    kernel.root = classify(group.root) == OpClass::Anchor || group.opaque
                      ? group.root
                      : kernel.ops.back();
    if (!group.opaque)
      kernel.kind = getKind(kernel.ops, kernel.root);
  }
  return plan;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

SmallVector<KernelGroup> planKernelGroups(Block &body,
                                          const FusionOptions &options) {
  return Planner(body).run(options);
}

LogicalResult verifyKernelGroups(Block &body, ArrayRef<KernelGroup> groups) {
  llvm::DenseMap<Operation *, unsigned> groupIndex;
  for (auto [index, group] : llvm::enumerate(groups)) {
    if (group.ops.empty())
      return emitError(body.getParent()->getLoc())
             << "kernel group #" << index << " is empty";
    for (auto [i, op] : llvm::enumerate(group.ops)) {
      if (op->getBlock() != &body)
        return op->emitError("op of kernel group #")
               << index << " is not in the planned block";
      if (i > 0 && !group.ops[i - 1]->isBeforeInBlock(op))
        return op->emitError("ops of kernel group #")
               << index << " are not in program order";
      if (!groupIndex.try_emplace(op, index).second)
        return op->emitError("op is in kernel groups #")
               << groupIndex.lookup(op) << " and #" << index;
      if (classify(op) == OpClass::Leaf)
        return op->emitError("expected operand-free op to stay out of kernel "
                             "groups (it becomes an input), found in #")
               << index;
    }
  }
  Operation *lastOrdered = nullptr;
  for (Operation &op : body) {
    if (op.hasTrait<OpTrait::IsTerminator>() || classify(&op) == OpClass::Leaf)
      continue;
    auto it = groupIndex.find(&op);
    if (it == groupIndex.end())
      return op.emitError("op is in no kernel group");
    unsigned index = it->second;
    // Every value read from outside the group comes from an earlier group;
    // with that order no path can leave a group and come back to it.
    WalkResult result = op.walk([&](Operation *nested) {
      for (Value operand : nested->getOperands()) {
        Operation *def = operand.getDefiningOp();
        if (!def || !(def = body.findAncestorOpInBlock(*def)))
          continue;
        auto defIndex = groupIndex.find(def);
        if (defIndex == groupIndex.end() || defIndex->second <= index)
          continue;
        op.emitError("op of kernel group #")
            << index << " reads a value of the later kernel group #"
            << defIndex->second << " (the groups form a cycle)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return failure();
    if (classify(&op) == OpClass::Opaque && !isMemoryEffectFree(&op)) {
      if (lastOrdered && groupIndex.lookup(lastOrdered) > index)
        return op.emitError("op with side effects moved before an earlier one");
      lastOrdered = &op;
    }
  }
  return success();
}

SmallVector<Operation *> formKernelGroups(RewriterBase &rewriter, Block &body,
                                          ArrayRef<KernelGroup> groups) {
  auto setInsertionPoint = [&]() {
    if (!body.empty() && body.back().hasTrait<OpTrait::IsTerminator>())
      rewriter.setInsertionPoint(&body.back());
    else
      rewriter.setInsertionPointToEnd(&body);
  };
  SmallVector<Operation *> created;
  for (const KernelGroup &group : groups) {
    setInsertionPoint();
    if (!group.isKernel()) {
      for (Operation *op : group.ops)
        rewriter.moveOpBefore(op, rewriter.getInsertionBlock(),
                              rewriter.getInsertionPoint());
      continue;
    }
    llvm::SmallPtrSet<Operation *, 16> members(group.ops.begin(),
                                               group.ops.end());
    auto isMember = [&](OpOperand &use) {
      return members.contains(body.findAncestorOpInBlock(*use.getOwner()));
    };
    // 1. Inputs in order of first use; outputs in program order.
    llvm::SetVector<Value> inputs;
    SmallVector<Value> outputs;
    for (Operation *op : group.ops) {
      for (Value operand : op->getOperands()) {
        Operation *def = operand.getDefiningOp();
        if (!def || !members.contains(def))
          inputs.insert(operand);
      }
      for (Value result : op->getResults())
        if (!llvm::all_of(result.getUses(), isMember))
          outputs.push_back(result);
    }
    // 2. The fused op and its body, cloned from the group.
    Location loc = group.root->getLoc();
    auto fused = FusedOp::create(rewriter, loc, ValueRange(outputs).getTypes(),
                                 group.kind, inputs.getArrayRef());
    SmallVector<Location> argLocs = llvm::to_vector(
        llvm::map_range(inputs, [](Value input) { return input.getLoc(); }));
    Block *block = rewriter.createBlock(
        &fused.getRegion(), {}, ValueRange(inputs.getArrayRef()).getTypes(),
        argLocs);
    IRMapping mapping;
    mapping.map(inputs.getArrayRef(), block->getArguments());
    for (Operation *op : group.ops)
      rewriter.clone(*op, mapping);
    YieldOp::create(rewriter, loc,
                    llvm::to_vector(llvm::map_range(
                        outputs, [&](Value v) { return mapping.lookup(v); })));
    // 3. Outside users read the fused results; the originals go.
    for (auto [output, result] : llvm::zip(outputs, fused.getResults()))
      rewriter.replaceUsesWithIf(
          output, result, [&](OpOperand &use) { return !isMember(use); });
    for (Operation *op : llvm::reverse(group.ops))
      rewriter.eraseOp(op);
    created.push_back(fused);
  }
  return created;
}

//===----------------------------------------------------------------------===//
// Outlining
//===----------------------------------------------------------------------===//

std::string getKernelName(StringRef prefix, unsigned index, StringRef kind) {
  std::string name = (prefix + "_k" + Twine(index) + "_").str();
  for (char c : kind)
    name += c == '*' ? 'x' : (llvm::isAlnum(c) || c == '_' ? c : '_');
  return name;
}

unsigned outlineKernels(ModuleOp module, StringRef prefix) {
  SymbolTable symbols(module);
  llvm::StringMap<unsigned> counters;
  unsigned outlined = 0;
  SmallVector<func::FuncOp> callers;
  for (auto function : module.getOps<func::FuncOp>())
    if (!function->hasAttr(kKernelAttrName))
      callers.push_back(function);
  for (func::FuncOp caller : callers) {
    std::string base = !prefix.empty()       ? prefix.str()
                       : module.getSymName() ? module.getSymName()->str()
                                             : caller.getSymName().str();
    SmallVector<FusedOp> fusedOps;
    caller.walk([&](FusedOp op) { fusedOps.push_back(op); });
    for (FusedOp fused : fusedOps) {
      OpBuilder builder(caller);
      std::string name = getKernelName(base, counters[base]++, fused.getKind());
      auto kernel = func::FuncOp::create(
          builder, fused.getLoc(), name,
          builder.getFunctionType(fused.getInputs().getTypes(),
                                  fused.getResultTypes()));
      kernel.setPrivate();
      kernel->setAttr(kKernelAttrName, builder.getUnitAttr());
      kernel->setAttr(kFusionKindAttrName, fused.getKindAttr());
      // Registers the kernel, renaming it should the name be taken.
      symbols.insert(kernel);
      kernel.getBody().takeBody(fused.getRegion());
      auto yield = cast<YieldOp>(kernel.getBody().front().getTerminator());
      builder.setInsertionPoint(yield);
      func::ReturnOp::create(builder, yield.getLoc(), yield.getValues());
      yield.erase();
      builder.setInsertionPoint(fused);
      auto call = func::CallOp::create(builder, fused.getLoc(), kernel,
                                       fused.getInputs());
      fused.replaceAllUsesWith(call.getResults());
      fused.erase();
      ++outlined;
    }
  }
  return outlined;
}

} // namespace kiln::graph
