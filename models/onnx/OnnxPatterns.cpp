//===- OnnxPatterns.cpp - Subgraphs of ONNX exports as kiln ops -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/onnx/OnnxPatterns.h"

#include "ir/KilnDialect.h"
#include "reference/Evaluator.h"

#include <array>
#include <cmath>

using namespace mlir;

namespace kiln::onnx {

/// A mask entry at or below this hides its key: exp(-1e4) is 0 in f32 after
/// the softmax's max subtraction.
static constexpr double kHiddenBelow = -1.0e4;

std::optional<HostTensor> getConstant(Value value, const TensorMap &weights) {
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

  /// Whether `mask` ([Sq, Sk] in its last two axes, the same [Sq, Sk] for
  /// every index before them) hides no key (false) or exactly the causal
  /// triangle (true), for queries `i` and keys `j`; `isHidden(flat index)`
  /// reads one entry.
  template <typename IsHidden>
  static std::optional<bool> classifyMask(ArrayRef<int64_t> maskShape,
                                          int64_t queries, int64_t keys,
                                          IsHidden isHidden) {
    size_t rank = maskShape.size();
    if (rank < 2 || maskShape[rank - 2] != queries ||
        maskShape[rank - 1] != keys)
      return std::nullopt;
    int64_t slices = 1;
    for (int64_t dim : maskShape.drop_back(2))
      slices *= dim;
    bool none = true, causal = true;
    for (int64_t index = 0; index < slices * queries * keys; ++index) {
      int64_t i = index / keys % queries, j = index % keys;
      std::optional<bool> hidden = isHidden(index);
      if (!hidden)
        return std::nullopt;
      none &= !*hidden;
      causal &= *hidden == (j > i + keys - queries);
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
        std::optional<bool> isCausal =
            classifyMask(entries->getShape(), queries, keys,
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
      Value fill =
          scoresIfTrue ? select.getFalseValue() : select.getTrueValue();
      std::optional<double> fillValue = getSplat(fill, weights);
      if (!condition || !fillValue || *fillValue > kHiddenBelow ||
          !hasShape(x, select.getType().getShape()))
        return rewriter.notifyMatchFailure(root, "requires a causal mask");
      std::optional<bool> isCausal =
          classifyMask(condition->getShape(), queries, keys,
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
      if (divisor && *divisor != 0 &&
          hasShape(div.getLhs(), div.getType().getShape())) {
        scale = 1.0 / *divisor;
        scores = div.getLhs();
      }
    } else {
      scores = stripScale(scores, scale);
    }

    // 4. Queries times transposed keys, each perhaps scaled on its own (as
    //    PyTorch exports scaled_dot_product_attention: both by sqrt(scale)).
    auto qk = scores.getDefiningOp<MatmulOp>();
    if (!qk || qk.getTransposeLhs())
      return rewriter.notifyMatchFailure(root, "requires matmul(q, k^T)");
    Value query = stripScale(qk.getLhs(), scale);
    Value keyOperand = stripScale(qk.getRhs(), scale);
    Value key = qk.getTransposeRhs() ? keyOperand : getTransposed(keyOperand);

    // 5. Grouped-query attention: keys and values repeated for the query
    //    heads are read before the repeat, so the kernel reads each once.
    Value keyHeads = key ? getUnrepeatedHeads(key) : Value();
    Value valueHeads = getUnrepeatedHeads(value);
    if (keyHeads && valueHeads && getShape(keyHeads) == getShape(valueHeads)) {
      key = keyHeads;
      value = valueHeads;
    } else if (key && getShape(key).size() != 4) {
      key = Value(); // A repeat seen only through the transpose of k.
    }
    ArrayRef<int64_t> q = qk.getLhs().getType().getShape();
    ArrayRef<int64_t> v = getShape(value);
    if (q.size() != 4 || qk.getRhs().getType().getRank() != 4 || q[0] != v[0] ||
        v[1] == 0 || q[1] % v[1] != 0 || q[2] != queries)
      return rewriter.notifyMatchFailure(root, "requires [B, H, S, D] heads");
    // Without a transposed form to read k from, k^T is transposed back.
    SmallVector<int64_t> k(
        cast<RankedTensorType>((key ? key : keyOperand).getType()).getShape());
    if (!key)
      std::swap(k[2], k[3]);
    if (k[0] != v[0] || k[1] != v[1] || k[2] != keys || k[3] != q[3])
      return rewriter.notifyMatchFailure(root, "requires matching k and v");
    if (!key)
      key = TransposeOp::create(rewriter, root.getLoc(), keyOperand,
                                ArrayRef<int64_t>{0, 1, 3, 2});
    rewriter.replaceOpWithNewOp<AttentionOp>(
        root, root.getType(), query, key, value, causal,
        rewriter.getF32FloatAttr(static_cast<float>(scale)));
    return success();
  }

  /// `x` when `value` is `x * c` or `c * x` with a splat `c` that does not
  /// broadcast `x`, multiplying `scale` by `c`; else `value`.
  Value stripScale(Value value, double &scale) const {
    auto mul = value.getDefiningOp<MulOp>();
    if (!mul)
      return value;
    for (auto [x, factor] : {std::pair(mul.getLhs(), mul.getRhs()),
                             std::pair(mul.getRhs(), mul.getLhs())}) {
      std::optional<double> splat = getSplat(factor, weights);
      if (splat && hasShape(x, mul.getType().getShape())) {
        scale *= *splat;
        return x;
      }
    }
    return value;
  }

  static ArrayRef<int64_t> getShape(Value value) {
    return cast<RankedTensorType>(value.getType()).getShape();
  }

  /// The [B, KV, S, D] `x` whose heads `heads` repeats R times each, as
  /// transformers' repeat_kv exports it: broadcast_to(reshape(x)) of shape
  /// [B, KV, R, S, D], perhaps reshaped to [B, KV*R, S, D]; null otherwise.
  static Value getUnrepeatedHeads(Value heads) {
    if (auto merge = heads.getDefiningOp<ReshapeOp>()) {
      ArrayRef<int64_t> h = getShape(heads), r = getShape(merge.getInput());
      if (r.size() != 5 ||
          h != ArrayRef<int64_t>{r[0], r[1] * r[2], r[3], r[4]})
        return Value();
      heads = merge.getInput();
    }
    auto repeat = heads.getDefiningOp<BroadcastToOp>();
    auto unsqueeze =
        repeat ? repeat.getInput().getDefiningOp<ReshapeOp>() : ReshapeOp();
    if (!unsqueeze)
      return Value();
    Value x = unsqueeze.getInput();
    ArrayRef<int64_t> s = getShape(x), b = getShape(heads);
    if (s.size() != 4 || b.size() != 5 ||
        getShape(unsqueeze.getResult()) !=
            ArrayRef<int64_t>{s[0], s[1], 1, s[2], s[3]} ||
        b != ArrayRef<int64_t>{s[0], s[1], b[2], s[2], s[3]})
      return Value();
    return x;
  }

  /// The `k` whose last two axes `keysT` [B, H, D, S] swaps: a transpose of
  /// them, or PyTorch's reshape to [B*H, S, D], transpose and reshape back;
  /// null otherwise. The `k` so read may also be the [B, KV, R, S, D] repeat
  /// of grouped-query heads (see getUnrepeatedHeads).
  static Value getTransposed(Value keysT) {
    static constexpr int64_t kLastTwo[] = {0, 1, 3, 2};
    if (auto transpose = keysT.getDefiningOp<TransposeOp>())
      return transpose.getPermutation() == ArrayRef<int64_t>(kLastTwo)
                 ? transpose.getInput()
                 : Value();
    auto outer = keysT.getDefiningOp<ReshapeOp>();
    auto transpose =
        outer ? outer.getInput().getDefiningOp<TransposeOp>() : TransposeOp();
    auto inner = transpose ? transpose.getInput().getDefiningOp<ReshapeOp>()
                           : ReshapeOp();
    if (!inner || transpose.getPermutation() != ArrayRef<int64_t>{0, 2, 1})
      return Value();
    Value key = inner.getInput();
    SmallVector<int64_t> k(getShape(key));
    ArrayRef<int64_t> t = getShape(keysT);
    if (k.size() == 5) { // [B, KV, R, S, D]: heads KV*R.
      k[1] *= k[2];
      k.erase(k.begin() + 2);
    }
    if (k.size() != 4 || t.size() != 4 ||
        getShape(inner.getResult()) !=
            ArrayRef<int64_t>{k[0] * k[1], k[2], k[3]} ||
        t != ArrayRef<int64_t>{k[0], k[1], k[3], k[2]})
      return Value();
    return key;
  }

  const TensorMap &weights;
};

//===----------------------------------------------------------------------===//
// GELU
//===----------------------------------------------------------------------===//

/// `x * 0.5 * (1 + erf(x / sqrt(2)))` -> `kiln.gelu`, as PyTorch exports
/// exact GELU: the three factors multiplied in any order and association,
/// the erf's input also as `x * (1 / sqrt(2))`, and operands commuted.
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

  /// The `x` of `1 + erf(x / sqrt(2))`, or null.
  Value getErfInput(Value sum) const {
    std::optional<std::pair<AddOp, Value>> plusOne = withSplat<AddOp>(sum, 1.0);
    auto erf = plusOne ? plusOne->second.getDefiningOp<ErfOp>() : ErfOp();
    if (!erf)
      return Value();
    Value scaled = erf.getInput();
    if (auto div = scaled.getDefiningOp<DivOp>();
        div && isSplat(div.getRhs(), std::sqrt(2.0)))
      return div.getLhs();
    if (auto mul = withSplat<MulOp>(scaled, 1.0 / std::sqrt(2.0)))
      return mul->second;
    return Value();
  }

  LogicalResult matchAndRewrite(MulOp root,
                                PatternRewriter &rewriter) const override {
    // The root's operands, with one of them split when it is a product used
    // only here: three factors.
    for (unsigned inner = 0; inner < 2; ++inner) {
      auto product = root->getOperand(inner).getDefiningOp<MulOp>();
      if (!product || !product->hasOneUse())
        continue;
      std::array<Value, 3> factors = {product.getLhs(), product.getRhs(),
                                      root->getOperand(1 - inner)};
      // Which factor is 0.5, which 1 + erf(x / sqrt 2) and which x.
      for (unsigned half = 0; half < 3; ++half) {
        if (!isSplat(factors[half], 0.5))
          continue;
        for (unsigned sum = 0; sum < 3; ++sum) {
          if (sum == half)
            continue;
          Value x = factors[3 - half - sum];
          if (getErfInput(factors[sum]) != x || x.getType() != root.getType())
            continue;
          rewriter.replaceOpWithNewOp<GeluOp>(root, root.getType(), x,
                                              GeluApproximation::Erf);
          return success();
        }
      }
    }
    return rewriter.notifyMatchFailure(root,
                                       "requires x * 0.5 * (1 + erf(x/sqrt2))");
  }

  const TensorMap &weights;
};

//===----------------------------------------------------------------------===//
// RMSNorm and SiLU
//===----------------------------------------------------------------------===//

/// `scale * (x * (1 / sqrt(mean(x^2) + eps)))` -> `kiln.rms_norm`, as
/// PyTorch exports transformers' RMSNorm (also `x / sqrt(...)`, `x * x` for
/// the square and operands commuted), the mean over the last axis.
struct RmsNormPattern : OpRewritePattern<MulOp> {
  RmsNormPattern(MLIRContext *context, const TensorMap &weights)
      : OpRewritePattern(context), weights(weights) {}

  /// The `x` and `eps` of `sqrt(mean(x^2, last axis) + eps)`.
  std::optional<std::pair<Value, double>> matchRms(Value value) const {
    auto sqrt = value.getDefiningOp<SqrtOp>();
    auto add = sqrt ? sqrt.getInput().getDefiningOp<AddOp>() : AddOp();
    if (!add)
      return std::nullopt;
    for (auto [sum, epsilon] : {std::pair(add.getLhs(), add.getRhs()),
                                std::pair(add.getRhs(), add.getLhs())}) {
      std::optional<double> eps = getSplat(epsilon, weights);
      auto mean = sum.getDefiningOp<ReduceMeanOp>();
      if (!eps || !mean || !hasShape(sum, add.getType().getShape()))
        continue;
      int64_t rank = mean.getInput().getType().getRank();
      if (!mean.getKeepDims() || mean.getAxes() != ArrayRef<int64_t>{rank - 1})
        continue;
      Value square = mean.getInput();
      if (auto pow = square.getDefiningOp<PowOp>();
          pow && getSplat(pow.getRhs(), weights) == 2.0 &&
          hasShape(pow.getLhs(), pow.getType().getShape()))
        return std::pair(pow.getLhs(), *eps);
      if (auto mul = square.getDefiningOp<MulOp>();
          mul && mul.getLhs() == mul.getRhs())
        return std::pair(mul.getLhs(), *eps);
    }
    return std::nullopt;
  }

  /// The `x` and `eps` of `x * (1 / rms)`, `(1 / rms) * x` or `x / rms`.
  std::optional<std::pair<Value, double>> matchNormalized(Value value) const {
    if (auto div = value.getDefiningOp<DivOp>()) {
      std::optional<std::pair<Value, double>> rms = matchRms(div.getRhs());
      if (rms && rms->first == div.getLhs())
        return rms;
      return std::nullopt;
    }
    auto mul = value.getDefiningOp<MulOp>();
    if (!mul)
      return std::nullopt;
    for (auto [x, inverse] : {std::pair(mul.getLhs(), mul.getRhs()),
                              std::pair(mul.getRhs(), mul.getLhs())}) {
      auto div = inverse.getDefiningOp<DivOp>();
      if (!div || getSplat(div.getLhs(), weights) != 1.0)
        continue;
      std::optional<std::pair<Value, double>> rms = matchRms(div.getRhs());
      if (rms && rms->first == x)
        return rms;
    }
    return std::nullopt;
  }

  LogicalResult matchAndRewrite(MulOp root,
                                PatternRewriter &rewriter) const override {
    ArrayRef<int64_t> shape = root.getType().getShape();
    if (shape.empty())
      return rewriter.notifyMatchFailure(root, "requires a rank >= 1 result");
    for (auto [normalized, scale] : {std::pair(root.getLhs(), root.getRhs()),
                                     std::pair(root.getRhs(), root.getLhs())}) {
      std::optional<std::pair<Value, double>> rms = matchNormalized(normalized);
      if (!rms || !hasShape(scale, {shape.back()}) ||
          rms->first.getType() != root.getType())
        continue;
      rewriter.replaceOpWithNewOp<RmsNormOp>(
          root, root.getType(), rms->first, scale,
          rewriter.getF32FloatAttr(static_cast<float>(rms->second)));
      return success();
    }
    return rewriter.notifyMatchFailure(
        root, "requires scale * (x / sqrt(mean(x^2) + eps))");
  }

  const TensorMap &weights;
};

/// `x * sigmoid(x)` -> `kiln.silu`.
struct SiluPattern : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MulOp root,
                                PatternRewriter &rewriter) const override {
    for (auto [x, gate] : {std::pair(root.getLhs(), root.getRhs()),
                           std::pair(root.getRhs(), root.getLhs())}) {
      auto sigmoid = gate.getDefiningOp<SigmoidOp>();
      if (!sigmoid || sigmoid.getInput() != x || x.getType() != root.getType())
        continue;
      rewriter.replaceOpWithNewOp<SiluOp>(root, root.getType(), x);
      return success();
    }
    return rewriter.notifyMatchFailure(root, "requires x * sigmoid(x)");
  }
};

} // namespace

void populateOnnxImportPatterns(RewritePatternSet &patterns,
                                const TensorMap &weights) {
  patterns.add<AttentionPattern, GeluPattern, RmsNormPattern>(
      patterns.getContext(), weights);
  patterns.add<SiluPattern>(patterns.getContext());
}

} // namespace kiln::onnx
