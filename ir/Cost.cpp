//===- Cost.cpp - Arithmetic cost of kiln ops ------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The FLOP counts `kiln eval` reports and later roofline estimates use. The
// conventions: a multiply-add is two FLOPs; an elementwise function (exp,
// tanh, gelu, ...) is one per element; softmax is five per element (max,
// subtract, exp, sum, divide), layer_norm eight, rms_norm five, rope three.
// A kiln.fused group costs the sum of its ops. Bytes are the sizes of the
// tensors read and written, which fusion and roofline estimates compare.
//
//===----------------------------------------------------------------------===//

#include "ir/Cost.h"

#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kiln {

static int64_t elementsOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getNumElements();
}

/// Query/key pairs that attention scores: all of them, or under a causal
/// mask those with key j <= i + Sk - Sq.
static int64_t visiblePairs(int64_t queries, int64_t keys, bool causal) {
  if (!causal)
    return queries * keys;
  int64_t pairs = 0;
  for (int64_t i = 0; i < queries; ++i)
    pairs += std::clamp<int64_t>(i + keys - queries + 1, 0, keys);
  return pairs;
}

int64_t countFlops(Operation *op) {
  return llvm::TypeSwitch<Operation *, int64_t>(op)
      .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, NegOp, AbsOp,
            ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp, ReluOp, SiluOp,
            GeluOp, ErfOp>(
          [](Operation *op) { return elementsOf(op->getResult(0)); })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(
          [](Operation *op) { return elementsOf(op->getOperand(0)); })
      .Case<MaxPool2DOp, AvgPool2DOp>([](Operation *op) {
        ArrayRef<int64_t> kernel =
            op->getAttrOfType<DenseI64ArrayAttr>("kernel").asArrayRef();
        return kernel[0] * kernel[1] * elementsOf(op->getResult(0));
      })
      .Case([](SoftmaxOp op) { return 5 * elementsOf(op.getInput()); })
      .Case([](LayerNormOp op) { return 8 * elementsOf(op.getInput()); })
      .Case([](RmsNormOp op) { return 5 * elementsOf(op.getInput()); })
      .Case([](RopeOp op) { return 3 * elementsOf(op.getInput()); })
      .Case([](MatmulOp op) {
        ArrayRef<int64_t> lhs = op.getLhs().getType().getShape();
        int64_t k = op.getTransposeLhs() ? lhs[lhs.size() - 2] : lhs.back();
        return 2 * k * elementsOf(op.getResult());
      })
      .Case([](Conv2DOp op) {
        ArrayRef<int64_t> filter = op.getFilter().getType().getShape();
        return 2 * filter[1] * filter[2] * filter[3] *
               elementsOf(op.getResult());
      })
      .Case([](AttentionOp op) {
        ArrayRef<int64_t> q = op.getQuery().getType().getShape();
        ArrayRef<int64_t> v = op.getValue().getType().getShape();
        int64_t pairs = q[0] * q[1] * visiblePairs(q[2], v[2], op.getCausal());
        return pairs * (2 * q[3] + 2 * v[3] + 5);
      })
      .Case([](MoeRouterOp op) { return 5 * elementsOf(op.getLogits()); })
      .Case([](MoeExpertsOp op) {
        ArrayRef<int64_t> gate = op.getGate().getType().getShape();
        int64_t hidden = gate[1], ffn = gate[2];
        int64_t routed = elementsOf(op.getWeights());
        // Gate, up and down projections, silu and product, weighted sum.
        return routed * (6 * hidden * ffn + 2 * ffn + 2 * hidden);
      })
      .Case([](FusedOp op) {
        int64_t flops = 0;
        for (Operation &inner : op.getBody()->without_terminator())
          flops += countFlops(&inner);
        return flops;
      })
      .Default([](Operation *) { return int64_t{0}; });
}

int64_t countBytes(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return 0;
  FailureOr<ElementType> elementType = toElementType(tensor.getElementType());
  if (failed(elementType))
    return 0;
  return tensor.getNumElements() *
         static_cast<int64_t>(elementSize(*elementType));
}

int64_t countBytes(Operation *op) {
  int64_t bytes = 0;
  for (Type type : op->getOperandTypes())
    bytes += countBytes(type);
  for (Type type : op->getResultTypes())
    bytes += countBytes(type);
  return bytes;
}

} // namespace kiln
