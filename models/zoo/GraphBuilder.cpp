//===- GraphBuilder.cpp - A zoo model's function and weights ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/zoo/GraphBuilder.h"

#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"
#include "runtime/Random.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/MathExtras.h"

#include <cassert>
#include <cmath>

using namespace mlir;

namespace kiln::zoo {

WeightInit WeightInit::fanIn(int64_t fanIn) {
  return {0.0, 1.0 / std::sqrt(static_cast<double>(fanIn))};
}

ArrayRef<int64_t> getShape(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

GraphBuilder::GraphBuilder(ModuleOp module, ElementType dtype, uint64_t seed,
                           TensorMap &weights)
    : builder(module.getContext()), loc(module.getLoc()),
      elementType(toMlirType(module.getContext(), dtype)), dtype(dtype),
      seed(seed), weights(weights) {
  builder.setInsertionPointToEnd(module.getBody());
  function = func::FuncOp::create(builder, loc, "main",
                                  builder.getFunctionType({}, {}));
  builder.setInsertionPointToStart(function.addEntryBlock());
}

GraphBuilder::Scope::Scope(GraphBuilder &graph, StringRef name)
    : graph(graph), saved(graph.loc) {
  // Block names are already fully qualified, so the location is not nested.
  graph.loc = NameLoc::get(graph.builder.getStringAttr(name));
}

GraphBuilder::Scope::~Scope() { graph.loc = saved; }

RankedTensorType GraphBuilder::getTensorType(ArrayRef<int64_t> shape) const {
  return RankedTensorType::get(shape, elementType);
}

//===----------------------------------------------------------------------===//
// Inputs, outputs and weights
//===----------------------------------------------------------------------===//

Value GraphBuilder::addInput(StringRef name, RankedTensorType type,
                             std::optional<std::pair<int64_t, int64_t>> range) {
  Block &entry = function.getBody().front();
  Value argument = entry.addArgument(type, loc);
  // The attributes are set once the function type has the argument.
  function.setType(builder.getFunctionType(entry.getArgumentTypes(), {}));
  unsigned index = entry.getNumArguments() - 1;
  function.setArgAttr(index, "kiln.name", builder.getStringAttr(name));
  if (range)
    function.setArgAttr(
        index, KilnDialect::kInputRangeAttrName,
        builder.getDenseI64ArrayAttr({range->first, range->second}));
  return argument;
}

void GraphBuilder::setOutputs(ValueRange outputs) {
  func::ReturnOp::create(builder, loc, outputs);
  function.setType(builder.getFunctionType(
      function.getBody().front().getArgumentTypes(), outputs.getTypes()));
}

Value GraphBuilder::weight(StringRef name, ArrayRef<int64_t> shape,
                           WeightInit init) {
  assert(!weights.count(name.str()) && "each weight is created once");
  int64_t count = 1;
  for (int64_t dim : shape)
    if (llvm::MulOverflow(count, dim, count))
      count = kMaxWeightElements + 1;
  if (llvm::AddOverflow(weightElements, count, weightElements))
    weightElements = kMaxWeightElements + 1;

  // Past the budget the IR is still built (it is cheap and buildModel
  // reports the size), but no more memory is taken for values.
  if (!isOverBudget()) {
    HostTensor tensor(dtype, std::vector<int64_t>(shape.begin(), shape.end()));
    Random random(Random::deriveSeed(seed, name));
    for (int64_t i = 0; i < count; ++i)
      tensor.setFloat(
          i, static_cast<float>(init.mean + init.stddev * random.normal()));
    weights.emplace(name.str(), std::move(tensor));
  }
  return WeightOp::create(builder, loc, getTensorType(shape),
                          builder.getStringAttr(name));
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

Value GraphBuilder::linear(Value x, StringRef weightName, int64_t out,
                           StringRef biasName) {
  int64_t in = getShape(x).back();
  Value result =
      matmul(x, weight(weightName, {in, out}, WeightInit::fanIn(in)));
  if (!biasName.empty())
    result = add(result, weight(biasName, {out}, WeightInit::bias()));
  return result;
}

Value GraphBuilder::matmul(Value lhs, Value rhs) {
  return MatmulOp::create(builder, loc, lhs, rhs, /*transpose_lhs=*/false,
                          /*transpose_rhs=*/false);
}

Value GraphBuilder::add(Value lhs, Value rhs) {
  return AddOp::create(builder, loc, lhs, rhs);
}

Value GraphBuilder::mul(Value lhs, Value rhs) {
  return MulOp::create(builder, loc, lhs, rhs);
}

Value GraphBuilder::activation(Value x, Activation kind) {
  switch (kind) {
  case Activation::Relu:
    return ReluOp::create(builder, loc, x);
  case Activation::Gelu:
    return GeluOp::create(builder, loc, x, GeluApproximation::Erf);
  case Activation::Silu:
    return SiluOp::create(builder, loc, x);
  }
  llvm_unreachable("unknown activation");
}

Value GraphBuilder::reshape(Value x, ArrayRef<int64_t> shape) {
  auto type = RankedTensorType::get(
      shape, cast<RankedTensorType>(x.getType()).getElementType());
  return ReshapeOp::create(builder, loc, type, x);
}

Value GraphBuilder::transpose(Value x, ArrayRef<int64_t> permutation) {
  return TransposeOp::create(builder, loc, x, permutation);
}

Value GraphBuilder::broadcastTo(Value x, ArrayRef<int64_t> shape) {
  if (getShape(x) == shape)
    return x;
  auto type = RankedTensorType::get(
      shape, cast<RankedTensorType>(x.getType()).getElementType());
  return BroadcastToOp::create(builder, loc, type, x);
}

Value GraphBuilder::concat(ValueRange inputs, int64_t axis) {
  return ConcatOp::create(builder, loc, inputs, axis);
}

Value GraphBuilder::slice(Value x, ArrayRef<int64_t> starts,
                          ArrayRef<int64_t> limits) {
  return SliceOp::create(builder, loc, x, starts, limits,
                         /*strides=*/ArrayRef<int64_t>{});
}

} // namespace kiln::zoo
