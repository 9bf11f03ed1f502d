//===- Evaluator.cpp - Reference semantics of the kiln dialect -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Walks a single-block kiln function in order, maps each op onto its
// reference kernel and frees every value after its last use, so a model's
// peak memory is its live set, not the sum of all its activations. Fused and
// outlined models evaluate too: a kiln.fused runs its body and a func.call
// runs the called function of the module, each with its own values.
//
//===----------------------------------------------------------------------===//

#include "reference/Evaluator.h"

#include "reference/Kernels.h"
#include "runtime/Random.h"

#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kiln::reference {

//===----------------------------------------------------------------------===//
// Types and attributes
//===----------------------------------------------------------------------===//

static std::vector<int64_t> toShape(ShapedType type) {
  return std::vector<int64_t>(type.getShape().begin(), type.getShape().end());
}

FailureOr<HostTensor> toHostTensor(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  FailureOr<ElementType> elementType = toElementType(type.getElementType());
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (failed(elementType) || !dense)
    return failure();
  HostTensor tensor(*elementType, toShape(type));
  int64_t index = 0;
  if (isFloatType(*elementType)) {
    for (APFloat value : dense.getValues<APFloat>())
      tensor.setFloat(index++, value.convertToDouble());
  } else {
    for (APInt value : dense.getValues<APInt>())
      tensor.setInt(index++, value.getSExtValue());
  }
  return tensor;
}

DenseElementsAttr toElementsAttr(const HostTensor &tensor,
                                 RankedTensorType type) {
  ArrayRef<char> raw(reinterpret_cast<const char *>(tensor.data()),
                     tensor.getByteSize());
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

namespace {
/// The state of one evaluation of a block: the live values and the weights.
class Interpreter {
public:
  /// `active` holds the functions being evaluated, to reject recursion.
  Interpreter(const TensorMap &weights,
              llvm::SmallPtrSetImpl<Operation *> &active)
      : weights(weights), active(active) {}

  LogicalResult bindArguments(func::FuncOp function,
                              ArrayRef<HostTensor> inputs);
  /// Binds the arguments of a kiln.fused body, whose types the verifier
  /// has matched with the inputs.
  void bindBlockArguments(Block &block, ArrayRef<HostTensor> inputs);
  /// Evaluates the ops of `block` in order and returns the operands of its
  /// terminator (func.return or kiln.yield).
  FailureOr<std::vector<HostTensor>> runBlock(Block &block);
  /// Evaluates `op` and binds its results; emits an error on failure.
  LogicalResult run(Operation *op);
  const HostTensor &lookup(Value value) { return values.find(value)->second; }
  /// Drops the operands of `op` whose last use it was.
  void release(Operation *op);

private:
  using Results = SmallVector<HostTensor, 2>;
  FailureOr<Results> evaluateOp(Operation *op);
  FailureOr<Results> evaluateWeight(WeightOp op);
  FailureOr<Results> evaluateCall(func::CallOp call);
  FailureOr<Results> evaluateFused(FusedOp fused);

  const TensorMap &weights;
  llvm::SmallPtrSetImpl<Operation *> &active;
  llvm::DenseMap<Value, HostTensor> values;
  llvm::DenseMap<Value, unsigned> remainingUses;
};
} // namespace

/// Checks that `tensor` has the element type and shape of `type`.
static bool matchesType(const HostTensor &tensor, RankedTensorType type) {
  FailureOr<ElementType> elementType = toElementType(type.getElementType());
  return succeeded(elementType) && tensor.getElementType() == *elementType &&
         ArrayRef<int64_t>(tensor.getShape()) == type.getShape();
}

LogicalResult Interpreter::bindArguments(func::FuncOp function,
                                         ArrayRef<HostTensor> inputs) {
  if (function.getNumArguments() != inputs.size())
    return function.emitError("expected ")
           << function.getNumArguments() << " inputs, got " << inputs.size();
  for (auto [index, argument] : llvm::enumerate(function.getArguments())) {
    auto type = dyn_cast<RankedTensorType>(argument.getType());
    if (!type || !matchesType(inputs[index], type))
      return function.emitError("expected input #")
             << index << " of type " << argument.getType() << ", got tensor<"
             << formatTensorType(inputs[index].getElementType(),
                                 inputs[index].getShape())
             << ">";
    values[argument] = inputs[index];
    remainingUses[argument] =
        std::distance(argument.use_begin(), argument.use_end());
  }
  return success();
}

void Interpreter::bindBlockArguments(Block &block,
                                     ArrayRef<HostTensor> inputs) {
  for (auto [argument, input] : llvm::zip(block.getArguments(), inputs)) {
    values[argument] = input;
    remainingUses[argument] =
        std::distance(argument.use_begin(), argument.use_end());
  }
}

FailureOr<std::vector<HostTensor>> Interpreter::runBlock(Block &block) {
  for (Operation &op : block) {
    if (isa<func::ReturnOp, YieldOp>(op)) {
      std::vector<HostTensor> outputs;
      for (Value value : op.getOperands())
        outputs.push_back(lookup(value));
      return outputs;
    }
    if (failed(run(&op)))
      return failure();
    release(&op);
  }
  return emitError(block.getParent()->getLoc(),
                   "expected the body to end in func.return or kiln.yield");
}

LogicalResult Interpreter::run(Operation *op) {
  FailureOr<Results> results = evaluateOp(op);
  if (failed(results))
    return failure();
  for (auto [result, tensor] : llvm::zip(op->getResults(), *results)) {
    remainingUses[result] = std::distance(result.use_begin(), result.use_end());
    values[result] = std::move(tensor);
  }
  return success();
}

void Interpreter::release(Operation *op) {
  for (Value operand : op->getOperands()) {
    auto it = remainingUses.find(operand);
    if (it != remainingUses.end() && --it->second == 0)
      values.erase(operand);
  }
}

FailureOr<Interpreter::Results> Interpreter::evaluateWeight(WeightOp op) {
  auto it = weights.find(op.getName().str());
  if (it == weights.end())
    return op.emitError("weight '")
           << op.getName() << "' is not in the model's weights";
  if (!matchesType(it->second, op.getType()))
    return op.emitError("weight '")
           << op.getName() << "' has type tensor<"
           << formatTensorType(it->second.getElementType(),
                               it->second.getShape())
           << "> in the weights file, expected " << op.getType();
  return Results{it->second};
}

FailureOr<Interpreter::Results> Interpreter::evaluateCall(func::CallOp call) {
  auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock())
    return call.emitError("callee '")
           << call.getCallee()
           << "' is not a function of the module with a single-block body";
  if (!active.insert(callee).second)
    return call.emitError("op 'func.call' has no reference semantics for "
                          "the recursive call to '")
           << call.getCallee() << "'";
  std::vector<HostTensor> inputs;
  for (Value operand : call.getOperands())
    inputs.push_back(lookup(operand));
  Interpreter interpreter(weights, active);
  FailureOr<std::vector<HostTensor>> outputs = failure();
  if (succeeded(interpreter.bindArguments(callee, inputs)))
    outputs = interpreter.runBlock(callee.getBody().front());
  active.erase(callee);
  if (failed(outputs))
    return failure();
  return Results(std::make_move_iterator(outputs->begin()),
                 std::make_move_iterator(outputs->end()));
}

FailureOr<Interpreter::Results> Interpreter::evaluateFused(FusedOp fused) {
  std::vector<HostTensor> inputs;
  for (Value input : fused.getInputs())
    inputs.push_back(lookup(input));
  Interpreter interpreter(weights, active);
  interpreter.bindBlockArguments(*fused.getBody(), inputs);
  FailureOr<std::vector<HostTensor>> outputs =
      interpreter.runBlock(*fused.getBody());
  if (failed(outputs))
    return failure();
  return Results(std::make_move_iterator(outputs->begin()),
                 std::make_move_iterator(outputs->end()));
}

static std::vector<int64_t> toVector(ArrayRef<int64_t> values) {
  return std::vector<int64_t>(values.begin(), values.end());
}

FailureOr<Interpreter::Results> Interpreter::evaluateOp(Operation *op) {
  auto in = [&](unsigned i) -> const HostTensor & {
    return lookup(op->getOperand(i));
  };
  auto one = [](HostTensor tensor) { return Results{std::move(tensor)}; };
  auto unary = [&](UnaryKind kind) { return one(reference::unary(kind, in(0))); };
  auto binary = [&](BinaryKind kind) {
    return one(reference::binary(kind, in(0), in(1)));
  };
  auto reduce = [&](ReduceKind kind, auto reduceOp) {
    return one(reference::reduce(kind, in(0), toVector(reduceOp.getAxes()),
                                 reduceOp.getKeepDims()));
  };
  // Ops whose kernels can fail at run time report at the op's location.
  auto orError = [&](std::optional<HostTensor> result,
                     const std::string &error) -> FailureOr<Results> {
    if (!result)
      return op->emitError(error);
    return one(std::move(*result));
  };

  return llvm::TypeSwitch<Operation *, FailureOr<Results>>(op)
      .Case([&](ConstantOp c) -> FailureOr<Results> {
        FailureOr<HostTensor> tensor = toHostTensor(c.getValue());
        if (failed(tensor))
          return c.emitError("constant value is not a dense elements "
                             "attribute of a supported element type");
        return one(std::move(*tensor));
      })
      .Case([&](WeightOp w) { return evaluateWeight(w); })
      .Case([&](func::CallOp c) { return evaluateCall(c); })
      .Case([&](FusedOp f) { return evaluateFused(f); })
      .Case([&](AddOp) { return binary(BinaryKind::Add); })
      .Case([&](SubOp) { return binary(BinaryKind::Sub); })
      .Case([&](MulOp) { return binary(BinaryKind::Mul); })
      .Case([&](DivOp) { return binary(BinaryKind::Div); })
      .Case([&](MaxOp) { return binary(BinaryKind::Max); })
      .Case([&](MinOp) { return binary(BinaryKind::Min); })
      .Case([&](PowOp) { return binary(BinaryKind::Pow); })
      .Case([&](NegOp) { return unary(UnaryKind::Neg); })
      .Case([&](AbsOp) { return unary(UnaryKind::Abs); })
      .Case([&](ExpOp) { return unary(UnaryKind::Exp); })
      .Case([&](LogOp) { return unary(UnaryKind::Log); })
      .Case([&](SqrtOp) { return unary(UnaryKind::Sqrt); })
      .Case([&](RsqrtOp) { return unary(UnaryKind::Rsqrt); })
      .Case([&](TanhOp) { return unary(UnaryKind::Tanh); })
      .Case([&](SigmoidOp) { return unary(UnaryKind::Sigmoid); })
      .Case([&](ReluOp) { return unary(UnaryKind::Relu); })
      .Case([&](SiluOp) { return unary(UnaryKind::Silu); })
      .Case([&](ErfOp) { return unary(UnaryKind::Erf); })
      .Case([&](SelectOp) {
        return one(reference::select(in(0), in(1), in(2)));
      })
      .Case([&](GeluOp g) {
        return unary(g.getApproximation() == GeluApproximation::Tanh
                         ? UnaryKind::GeluTanh
                         : UnaryKind::GeluErf);
      })
      .Case([&](CastOp c) {
        return one(reference::castTo(
            in(0), *toElementType(c.getType().getElementType())));
      })
      .Case([&](MatmulOp m) {
        return one(reference::matmul(in(0), in(1), m.getTransposeLhs(),
                                     m.getTransposeRhs()));
      })
      .Case([&](Conv2DOp c) {
        return one(reference::conv2d(in(0), in(1), toVector(c.getStrides()),
                                     toVector(c.getPadding()),
                                     toVector(c.getDilations()),
                                     c.getGroups()));
      })
      .Case([&](MaxPool2DOp p) {
        return one(reference::maxPool2d(in(0), toVector(p.getKernel()),
                                        toVector(p.getStrides()),
                                        toVector(p.getPadding())));
      })
      .Case([&](AvgPool2DOp p) {
        return one(reference::avgPool2d(
            in(0), toVector(p.getKernel()), toVector(p.getStrides()),
            toVector(p.getPadding()), p.getCountIncludePad()));
      })
      .Case([&](ReduceSumOp r) { return reduce(ReduceKind::Sum, r); })
      .Case([&](ReduceMeanOp r) { return reduce(ReduceKind::Mean, r); })
      .Case([&](ReduceMaxOp r) { return reduce(ReduceKind::Max, r); })
      .Case([&](SoftmaxOp s) {
        return one(reference::softmax(in(0), s.getAxis()));
      })
      .Case([&](LayerNormOp n) {
        return one(reference::layerNorm(in(0), in(1), in(2),
                                        n.getEpsilon().convertToDouble()));
      })
      .Case([&](RmsNormOp n) {
        return one(
            reference::rmsNorm(in(0), in(1), n.getEpsilon().convertToDouble()));
      })
      .Case([&](TransposeOp t) {
        return one(reference::transpose(in(0), toVector(t.getPermutation())));
      })
      .Case([&](ReshapeOp r) {
        return one(reference::reshape(in(0), toShape(r.getType())));
      })
      .Case([&](BroadcastToOp b) {
        return one(reference::broadcastTo(in(0), toShape(b.getType())));
      })
      .Case([&](ConcatOp c) {
        std::vector<const HostTensor *> inputs;
        for (Value input : c.getInputs())
          inputs.push_back(&lookup(input));
        return one(reference::concat(inputs, c.getAxis()));
      })
      .Case([&](SliceOp s) {
        return one(reference::slice(in(0), toVector(s.getStarts()),
                                    toVector(s.getLimits()),
                                    toVector(s.getStrides())));
      })
      .Case([&](GatherOp g) {
        std::string error;
        std::optional<HostTensor> result =
            reference::gather(in(0), in(1), g.getAxis(), error);
        return orError(std::move(result), error);
      })
      .Case([&](RopeOp r) {
        return one(reference::rope(in(0), r.getTheta().convertToDouble(),
                                   r.getPositionOffset()));
      })
      .Case([&](AttentionOp a) {
        std::optional<double> scale;
        if (a.getScale())
          scale = a.getScale()->convertToDouble();
        return one(
            reference::attention(in(0), in(1), in(2), a.getCausal(), scale));
      })
      .Case([&](MoeRouterOp r) {
        RouterResult routed =
            reference::moeRouter(in(0), r.getTopK(), r.getNormalize());
        return Results{std::move(routed.weights), std::move(routed.indices)};
      })
      .Case([&](MoeExpertsOp) {
        std::string error;
        std::optional<HostTensor> result = reference::moeExperts(
            in(0), in(1), in(2), in(3), in(4), in(5), error);
        return orError(std::move(result), error);
      })
      .Default([](Operation *op) -> FailureOr<Results> {
        return op->emitError("op '")
               << op->getName() << "' has no reference semantics";
      });
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

FailureOr<std::vector<HostTensor>> evaluate(func::FuncOp function,
                                            ArrayRef<HostTensor> inputs,
                                            const TensorMap &weights) {
  if (function.isExternal() || !function.getBody().hasOneBlock())
    return function.emitError("expected a function with a single-block body");
  llvm::SmallPtrSet<Operation *, 4> active;
  active.insert(function);
  Interpreter interpreter(weights, active);
  if (failed(interpreter.bindArguments(function, inputs)))
    return failure();
  return interpreter.runBlock(function.getBody().front());
}

FailureOr<std::vector<HostTensor>> makeSeededInputs(func::FuncOp function,
                                                    uint64_t seed) {
  std::vector<HostTensor> inputs;
  for (auto [index, argument] : llvm::enumerate(function.getArguments())) {
    auto type = dyn_cast<RankedTensorType>(argument.getType());
    FailureOr<ElementType> elementType = failure();
    if (type)
      elementType = toElementType(type.getElementType());
    if (!type || !type.hasStaticShape() || failed(elementType))
      return function.emitError("input #")
             << index << " has type " << argument.getType()
             << ", expected a statically shaped tensor of f32, bf16, f16, i32 "
                "or i64";
    auto range = function.getArgAttrOfType<DenseI64ArrayAttr>(
        index, KilnDialect::kInputRangeAttrName);
    if (range && (range.size() != 2 || range[0] >= range[1]))
      return function.emitError("input #")
             << index << " has a malformed '"
             << KilnDialect::kInputRangeAttrName
             << "' attribute, expected array<i64: lo, hi> with lo < hi";
    HostTensor tensor(*elementType, toShape(type));
    Random random(Random::deriveSeed(seed, "input" + std::to_string(index)));
    for (int64_t i = 0; i < tensor.getNumElements(); ++i) {
      if (isFloatType(*elementType))
        tensor.setFloat(i, static_cast<float>(random.normal()));
      else if (range)
        tensor.setInt(i, random.uniformInt(range[0], range[1]));
    }
    inputs.push_back(std::move(tensor));
  }
  return inputs;
}

} // namespace kiln::reference
