//===- OnnxPatterns.cpp - Subgraphs of ONNX exports as kiln ops -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/onnx/OnnxPatterns.h"

#include "ir/KilnDialect.h"
#include "reference/Evaluator.h"

#include <cmath>

using namespace mlir;

namespace kiln::onnx {

/// A mask entry at or below this hides its key: exp(-1e4) is 0 in f32 after
/// the softmax's max subtraction.
static constexpr double kHiddenBelow = -1.0e4;

/// The elements of `value` when it is a `kiln.constant` or a `kiln.weight`.
static std::optional<HostTensor> getConstant(Value value,
                                             const TensorMap &weights) {
  if (auto constant = value.getDefiningOp<ConstantOp>()) {
    FailureOr<HostTensor> tensor = reference::toHostTensor(constant.getValue());
    if (succeeded(tensor))
      return std::move(*tensor);
    return std::nullopt;
  }
  if (auto weight = value.getDefiningOp<WeightOp>()) {
    auto it = weights.find(weight.getName().str());
    if (it != weights.end())
      return it->second;
  }
  return std::nullopt;
}

/// The single value of a constant whose elements are all equal.
static std::optional<double> getSplat(Value value, const TensorMap &weights) {
  std::optional<HostTensor> tensor = getConstant(value, weights);
  if (!tensor || tensor->getNumElements() == 0)
    return std::nullopt;
  double first = tensor->getFloat(0);
  for (int64_t i = 1, e = tensor->getNumElements(); i < e; ++i)
    if (tensor->getFloat(i) != first)
      return std::nullopt;
  return first;
}

/// Whether `value`'s shape is `shape`.
static bool hasShape(Value value, ArrayRef<int64_t> shape) {
  return cast<RankedTensorType>(value.getType()).getShape() == shape;
}

namespace {

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// `softmax(mask(scale * q k^T)) v` -> `kiln.attention`.
///
/// Matches, from the final matmul up:
///   1. `matmul(softmax(s, last axis), v)` with rank-4 operands;
///   2. optionally `s = add(x, mask)` or `s = select(cond, x, fill)` with a
///      constant mask that hides nothing or exactly the causal triangle;
///   3. optionally `x = div(y, c)` or `x = mul(y, c)` with a scalar `c`;
///   4. `y = matmul(q, k^T)`, `k^T` being a transposed rhs, a transpose of
///      the last two axes, or any rank-4 value (transposed back here).
struct AttentionPattern : OpRewritePattern<MatmulOp> {
  AttentionPattern(MLIRContext *context, const TensorMap &weights)
      : OpRewritePattern(context), weights(weights) {}

  /// Whether `mask` (broadcast to [Sq, Sk] in its last two axes, ones
  /// before) hides keys exactly as `hidden(i, j)` says, for queries `i` and
  /// keys `j`; `isHidden(flat index)` reads one entry.
  template <typename IsHidden>
  static std::optional<bool> classifyMask(ArrayRef<int64_t> maskShape,
                                          int64_t queries, int64_t keys,
                                          IsHidden isHidden) {
    size_t rank = maskShape.size();
    if (rank < 2 || maskShape[rank - 2] != queries ||
        maskShape[rank - 1] != keys ||
        llvm::any_of(maskShape.drop_back(2), [](int64_t d) { return d != 1; }))
      return std::nullopt;
    bool none = true, causal = true;
    for (int64_t i = 0; i < queries; ++i) {
      for (int64_t j = 0; j < keys; ++j) {
        std::optional<bool> hidden = isHidden(i * keys + j);
        if (!hidden)
          return std::nullopt;
        none &= !*hidden;
        causal &= *hidden == (j > i + keys - queries);
      }
    }
    if (none)
      return false;
    if (causal)
      return true;
    return std::nullopt;
  }

  LogicalResult matchAndRewrite(MatmulOp root,
                                PatternRewriter &rewriter) const override {
    // 1. Softmax over keys, then values.
    auto softmax = root.getLhs().getDefiningOp<SoftmaxOp>();
    if (root.getTransposeLhs() || root.getTransposeRhs() || !softmax ||
        !softmax->hasOneUse())
      return rewriter.notifyMatchFailure(root, "requires matmul(softmax, v)");
    Value value = root.getRhs();
    ArrayRef<int64_t> resultShape = root.getType().getShape();
    if (resultShape.size() != 4 || softmax.getAxis() != 3 ||
        cast<RankedTensorType>(value.getType()).getRank() != 4)
      return rewriter.notifyMatchFailure(root, "requires rank-4 attention");
    int64_t queries = resultShape[2];
    int64_t keys = cast<RankedTensorType>(value.getType()).getShape()[2];

    // 2. An optional mask.
    Value scores = softmax.getInput();
    bool causal = false;
    if (auto add = scores.getDefiningOp<AddOp>()) {
      for (auto [x, mask] : {std::pair(add.getLhs(), add.getRhs()),
                             std::pair(add.getRhs(), add.getLhs())}) {
        std::optional<HostTensor> entries = getConstant(mask, weights);
        if (!entries || !hasShape(x, add.getType().getShape()))
          continue;
        std::optional<bool> isCausal = classifyMask(
            entries->getShape(), queries, keys,
            [&](int64_t index) -> std::optional<bool> {
              double entry = entries->getFloat(index);
              if (entry == 0.0)
                return false;
              if (entry <= kHiddenBelow)
                return true;
              return std::nullopt;
            });
        if (!isCausal)
          continue;
        causal = *isCausal;
        scores = x;
        break;
      }
      if (scores == softmax.getInput())
        return rewriter.notifyMatchFailure(root, "requires a causal mask");
    } else if (auto select = scores.getDefiningOp<SelectOp>()) {
      std::optional<HostTensor> condition =
          getConstant(select.getCondition(), weights);
      bool scoresIfTrue =
          getSplat(select.getFalseValue(), weights).value_or(0) <= kHiddenBelow;
      Value x = scoresIfTrue ? select.getTrueValue() : select.getFalseValue();
      Value fill = scoresIfTrue ? select.getFalseValue() : select.getTrueValue();
      std::optional<double> fillValue = getSplat(fill, weights);
      if (!condition || !fillValue || *fillValue > kHiddenBelow ||
          !hasShape(x, select.getType().getShape()))
        return rewriter.notifyMatchFailure(root, "requires a causal mask");
      std::optional<bool> isCausal = classifyMask(
          condition->getShape(), queries, keys,
          [&](int64_t index) -> std::optional<bool> {
            return (condition->getInt(index) != 0) != scoresIfTrue;
          });
      if (!isCausal)
        return rewriter.notifyMatchFailure(root, "requires a causal mask");
      causal = *isCausal;
      scores = x;
    }

    // 3. An optional scalar scale.
    double scale = 1.0;
    if (auto div = scores.getDefiningOp<DivOp>()) {
      std::optional<double> divisor = getSplat(div.getRhs(), weights);
      if (divisor && *divisor != 0 && hasShape(div.getLhs(), div.getType().getShape())) {
        scale = 1.0 / *divisor;
        scores = div.getLhs();
      }
    } else if (auto mul = scores.getDefiningOp<MulOp>()) {
      for (auto [x, factor] : {std::pair(mul.getLhs(), mul.getRhs()),
                               std::pair(mul.getRhs(), mul.getLhs())}) {
        std::optional<double> splat = getSplat(factor, weights);
        if (splat && hasShape(x, mul.getType().getShape())) {
          scale = *splat;
          scores = x;
          break;
        }
      }
    }

    // 4. Queries times transposed keys.
    auto qk = scores.getDefiningOp<MatmulOp>();
    if (!qk || qk.getTransposeLhs())
      return rewriter.notifyMatchFailure(root, "requires matmul(q, k^T)");
    Value query = qk.getLhs();
    ArrayRef<int64_t> q = qk.getLhs().getType().getShape();
    ArrayRef<int64_t> v = cast<RankedTensorType>(value.getType()).getShape();
    if (q.size() != 4 || qk.getRhs().getType().getRank() != 4 || q[0] != v[0] ||
        v[1] == 0 || q[1] % v[1] != 0 || q[2] != queries)
      return rewriter.notifyMatchFailure(root, "requires [B, H, S, D] heads");
    Value key;
    if (qk.getTransposeRhs()) {
      key = qk.getRhs();
    } else if (auto transpose = qk.getRhs().getDefiningOp<TransposeOp>();
               transpose && transpose.getPermutation() ==
                                ArrayRef<int64_t>{0, 1, 3, 2}) {
      key = transpose.getInput();
    } else {
      key = TransposeOp::create(rewriter, root.getLoc(), qk.getRhs(),
                                ArrayRef<int64_t>{0, 1, 3, 2});
    }
    ArrayRef<int64_t> k = cast<RankedTensorType>(key.getType()).getShape();
    if (k[0] != v[0] || k[1] != v[1] || k[2] != keys || k[3] != q[3])
      return rewriter.notifyMatchFailure(root, "requires matching k and v");
    rewriter.replaceOpWithNewOp<AttentionOp>(
        root, root.getType(), query, key, value, causal,
        rewriter.getF32FloatAttr(static_cast<float>(scale)));
    return success();
  }

  const TensorMap &weights;
};

//===----------------------------------------------------------------------===//
// GELU
//===----------------------------------------------------------------------===//

/// `(x * (1 + erf(x / sqrt(2)))) * 0.5` -> `kiln.gelu`, as PyTorch exports
/// exact GELU (also with `x * (1 / sqrt(2))` and operands commuted).
struct GeluPattern : OpRewritePattern<MulOp> {
  GeluPattern(MLIRContext *context, const TensorMap &weights)
      : OpRewritePattern(context), weights(weights) {}

  /// Whether `value` is the splat constant `expected` (to f32 precision).
  bool isSplat(Value value, double expected) const {
    std::optional<double> splat = getSplat(value, weights);
    return splat && std::fabs(*splat - expected) <= 1e-6 * std::fabs(expected);
  }

  /// `value`'s defining `OpTy` and its operand other than the splat
  /// `constant`, in either order.
  template <typename OpTy>
  std::optional<std::pair<OpTy, Value>> withSplat(Value value,
                                                  double constant) const {
    auto op = value.getDefiningOp<OpTy>();
    if (!op)
      return std::nullopt;
    if (isSplat(op->getOperand(1), constant))
      return std::pair(op, op->getOperand(0));
    if (isSplat(op->getOperand(0), constant))
      return std::pair(op, op->getOperand(1));
    return std::nullopt;
  }

  LogicalResult matchAndRewrite(MulOp root,
                                PatternRewriter &rewriter) const override {
    // root = product * 0.5, product = x * (erf(x / sqrt 2) + 1).
    std::optional<std::pair<MulOp, Value>> half =
        withSplat<MulOp>(root.getResult(), 0.5);
    if (!half)
      return rewriter.notifyMatchFailure(root, "requires a product with 0.5");
    auto product = half->second.getDefiningOp<MulOp>();
    if (!product)
      return rewriter.notifyMatchFailure(root, "requires x * (1 + erf)");
    for (auto [x, sum] : {std::pair(product.getLhs(), product.getRhs()),
                          std::pair(product.getRhs(), product.getLhs())}) {
      std::optional<std::pair<AddOp, Value>> plusOne = withSplat<AddOp>(sum, 1.0);
      if (!plusOne)
        continue;
      auto erf = plusOne->second.getDefiningOp<ErfOp>();
      if (!erf)
        continue;
      Value scaled = erf.getInput();
      std::optional<std::pair<DivOp, Value>> div;
      if (auto op = scaled.getDefiningOp<DivOp>();
          op && isSplat(op.getRhs(), std::sqrt(2.0)))
        div = std::pair(op, op.getLhs());
      std::optional<std::pair<MulOp, Value>> mul =
          withSplat<MulOp>(scaled, 1.0 / std::sqrt(2.0));
      Value input = div ? div->second : mul ? mul->second : Value();
      if (input != x || x.getType() != root.getType())
        continue;
      rewriter.replaceOpWithNewOp<GeluOp>(root, root.getType(), x,
                                          GeluApproximation::Erf);
      return success();
    }
    return rewriter.notifyMatchFailure(root, "requires x * (1 + erf(x/sqrt2))");
  }

  const TensorMap &weights;
};

} // namespace

void populateOnnxImportPatterns(RewritePatternSet &patterns,
                                const TensorMap &weights) {
  patterns.add<AttentionPattern, GeluPattern>(patterns.getContext(), weights);
}

} // namespace kiln::onnx
