//===- ModelPlan.cpp - An outlined entry function as runtime steps -*- C++ -*-//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "compiler/ModelPlan.h"

#include "ir/Cost.h"
#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"
#include "passes/Fusion/KernelGroups.h"
#include "reference/Evaluator.h"
#include "runtime/MemoryPlan.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <set>

using namespace mlir;

namespace kiln::compiler {

//===----------------------------------------------------------------------===//
// Outputs
//===----------------------------------------------------------------------===//

/// The copy kernel for values of `type`, created before `entry` on first
/// use.
static func::FuncOp getCopyKernel(func::FuncOp entry, Type type,
                                  SymbolTable &symbols,
                                  llvm::DenseMap<Type, func::FuncOp> &copies) {
  func::FuncOp &kernel = copies[type];
  if (kernel)
    return kernel;
  OpBuilder builder(entry);
  kernel = func::FuncOp::create(builder, entry.getLoc(),
                                (entry.getSymName() + "_copy").str(),
                                builder.getFunctionType(type, type));
  kernel.setPrivate();
  kernel->setAttr(graph::kKernelAttrName, builder.getUnitAttr());
  kernel->setAttr(graph::kFusionKindAttrName,
                  builder.getStringAttr(kCopyKernelKind));
  // Registers the kernel, renaming it should the name be taken.
  symbols.insert(kernel);
  Block *body = kernel.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  func::ReturnOp::create(builder, entry.getLoc(), body->getArgument(0));
  return kernel;
}

unsigned materializeOutputs(func::FuncOp entry) {
  auto module = entry->getParentOfType<ModuleOp>();
  SymbolTable symbols(module);
  llvm::DenseMap<Type, func::FuncOp> copies;
  Operation *terminator = entry.getBody().front().getTerminator();
  llvm::DenseSet<Value> written;
  unsigned count = 0;
  for (OpOperand &operand : terminator->getOpOperands()) {
    Value value = operand.get();
    if (value.getDefiningOp<func::CallOp>() && written.insert(value).second)
      continue;
    func::FuncOp kernel =
        getCopyKernel(entry, value.getType(), symbols, copies);
    OpBuilder builder(terminator);
    auto call =
        func::CallOp::create(builder, terminator->getLoc(), kernel, value);
    operand.set(call.getResult(0));
    ++count;
  }
  return count;
}

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

namespace {
/// Builds a ModelPlan op by op.
class Planner {
public:
  Planner(func::FuncOp entry, const TensorMap &weights,
          ArrayRef<graph::KernelExplanation> kernels)
      : entry(entry), modelWeights(weights) {
    for (const graph::KernelExplanation &kernel : kernels)
      explanations[kernel.name] = &kernel;
    for (const auto &[name, tensor] : weights)
      takenNames.insert(name);
  }

  FailureOr<ModelPlan> run();

private:
  LogicalResult planSignature();
  LogicalResult planWeight(WeightOp op);
  LogicalResult planConstant(ConstantOp op);
  LogicalResult planCall(func::CallOp call);
  /// The spec of a value of `type` called `name`; emits an error at `loc`
  /// for a type the runtime cannot hold.
  FailureOr<TensorSpec> makeSpec(Location loc, std::string name, Type type);

  func::FuncOp entry;
  const TensorMap &modelWeights;
  llvm::StringMap<const graph::KernelExplanation *> explanations;
  ModelPlan plan;
  /// What each value of the entry is to the runtime.
  llvm::DenseMap<Value, StepArg> refs;
  /// The output index of each returned value.
  llvm::DenseMap<Value, int64_t> outputIndex;
  std::vector<BufferLifetime> lifetimes;
  /// Weight names in use, so that constants get fresh ones.
  std::set<std::string> takenNames;
};
} // namespace

FailureOr<TensorSpec> Planner::makeSpec(Location loc, std::string name,
                                        Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  FailureOr<ElementType> element = tensor && tensor.hasStaticShape()
                                       ? toElementType(tensor.getElementType())
                                       : FailureOr<ElementType>(failure());
  if (failed(element))
    return emitError(loc, "'") << name << "' has type " << type
                               << ", which the runtime cannot hold (expected "
                                  "a static tensor of f32, bf16, f16, i32 or "
                                  "i64)";
  return TensorSpec{std::move(name), *element, tensor.getShape().vec()};
}

LogicalResult Planner::planSignature() {
  std::set<std::string> names;
  auto checkName = [&](const std::string &name) -> LogicalResult {
    if (!names.insert(name).second)
      return entry.emitError("the name '")
             << name << "' is given to more than one input or output";
    return success();
  };
  for (BlockArgument argument : entry.getArguments()) {
    unsigned i = argument.getArgNumber();
    auto attr = entry.getArgAttrOfType<StringAttr>(i, "kiln.name");
    std::string name = attr ? attr.str() : "input" + std::to_string(i);
    FailureOr<TensorSpec> spec =
        makeSpec(argument.getLoc(), name, argument.getType());
    if (failed(spec) || failed(checkName(name)))
      return failure();
    refs[argument] = StepArg{StepArgKind::Input, i, ""};
    plan.manifest.inputs.push_back(std::move(*spec));
  }
  Operation *terminator = entry.getBody().front().getTerminator();
  for (auto [i, value] : llvm::enumerate(terminator->getOperands())) {
    auto attr = entry.getResultAttrOfType<StringAttr>(i, "kiln.name");
    std::string name = attr ? attr.str() : "output" + std::to_string(i);
    FailureOr<TensorSpec> spec =
        makeSpec(terminator->getLoc(), name, value.getType());
    if (failed(spec) || failed(checkName(name)))
      return failure();
    if (!outputIndex.try_emplace(value, i).second ||
        !value.getDefiningOp<func::CallOp>())
      return terminator->emitError("output '")
             << name
             << "' is not a kernel result of its own (run "
                "materializeOutputs first)";
    plan.manifest.outputs.push_back(std::move(*spec));
  }
  return success();
}

LogicalResult Planner::planWeight(WeightOp op) {
  std::string name = op.getName().str();
  auto found = modelWeights.find(name);
  if (found == modelWeights.end())
    return op.emitError("weight '") << name << "' is not in the weights";
  plan.weights.try_emplace(name, found->second);
  refs[op.getResult()] = StepArg{StepArgKind::Weight, 0, name};
  return success();
}

LogicalResult Planner::planConstant(ConstantOp op) {
  // Constants ship as weights rather than being folded into the kernels:
  // a kernel's code then depends only on its shapes, never on values, so
  // kernels compile, cache and tune alike whatever the constants are, and a
  // model with inline weights does not turn its weights into code.
  FailureOr<HostTensor> tensor = reference::toHostTensor(op.getValue());
  if (failed(tensor))
    return op.emitError("cannot convert the constant into a host tensor");
  std::string name;
  for (int64_t i = 0;; ++i) {
    name = "kiln.constant." + std::to_string(i);
    if (!takenNames.count(name))
      break;
  }
  takenNames.insert(name);
  plan.weights.emplace(name, std::move(*tensor));
  refs[op.getResult()] = StepArg{StepArgKind::Weight, 0, name};
  return success();
}

LogicalResult Planner::planCall(func::CallOp call) {
  auto kernel = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  if (!kernel || !kernel->hasAttr(graph::kKernelAttrName))
    return call.emitError("calls '@")
           << call.getCallee()
           << "', which is not a kernel; only kernel calls can run";
  int64_t stepIndex = static_cast<int64_t>(plan.manifest.steps.size());
  Step step;
  step.kernel = kernel.getSymName().str();
  step.symbol = step.kernel;
  if (const graph::KernelExplanation *explanation =
          explanations.lookup(step.kernel)) {
    step.fusedOps = explanation->ops;
    step.flops = explanation->flops;
    step.bytes = explanation->getBytes();
  }

  // 1. Inputs: whatever earlier ops made of them; a buffer read here lives
  //    at least until this step.
  for (Value operand : call.getOperands()) {
    auto found = refs.find(operand);
    if (found == refs.end())
      return call.emitError("an argument of the call to '@")
             << call.getCallee()
             << "' is not an input, weight, constant or "
                "kernel result";
    if (found->second.kind == StepArgKind::Buffer)
      lifetimes[found->second.index].lastStep = stepIndex;
    step.args.push_back(found->second);
  }

  // 2. Results: to the model output, or to a fresh buffer. A buffer is
  //    live at its writing step, so it never shares bytes with the step's
  //    inputs.
  for (Value result : call.getResults()) {
    StepArg arg;
    if (auto found = outputIndex.find(result); found != outputIndex.end()) {
      arg = StepArg{StepArgKind::Output, found->second, ""};
    } else {
      int64_t id = static_cast<int64_t>(lifetimes.size());
      lifetimes.push_back(
          {id, countBytes(result.getType()), stepIndex, stepIndex});
      arg = StepArg{StepArgKind::Buffer, id, ""};
    }
    refs[result] = arg;
    step.args.push_back(arg);
  }
  plan.callees.push_back(step.symbol);
  plan.manifest.steps.push_back(std::move(step));
  return success();
}

FailureOr<ModelPlan> Planner::run() {
  if (failed(planSignature()))
    return failure();
  for (Operation &op : entry.getBody().front()) {
    LogicalResult planned =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case<WeightOp>([&](WeightOp weight) { return planWeight(weight); })
            .Case<ConstantOp>(
                [&](ConstantOp constant) { return planConstant(constant); })
            .Case<func::CallOp>(
                [&](func::CallOp call) { return planCall(call); })
            .Case<func::ReturnOp>([](func::ReturnOp) { return success(); })
            .Default([](Operation *other) {
              return other->emitError("'")
                     << other->getName()
                     << "' was not outlined into a kernel; the model's entry "
                        "function may hold only weights, constants and "
                        "kernel calls";
            });
    if (failed(planned))
      return failure();
  }

  MemoryPlan memory = planMemory(lifetimes);
  for (auto [lifetime, offset] : llvm::zip_equal(lifetimes, memory.offsets))
    plan.manifest.buffers.push_back({lifetime.id, lifetime.bytes, offset});
  plan.manifest.arenaBytes = memory.arenaBytes;
  plan.manifest.unplannedBytes = memory.unplannedBytes;
  return std::move(plan);
}

FailureOr<ModelPlan> planModel(func::FuncOp entry, const TensorMap &weights,
                               ArrayRef<graph::KernelExplanation> kernels) {
  return Planner(entry, weights, kernels).run();
}

} // namespace kiln::compiler
