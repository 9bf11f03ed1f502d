//===- ShapeInference.cpp - Result types of kiln ops -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// inferReturnTypes for every kiln op whose result type follows from its
// operands and attributes. These run when the parser or a builder omits the
// result type, and again in the verifier to check a written one; they run
// before the operand type constraints are verified, so they accept any type
// and fail with a clear message instead of assuming one.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

namespace kiln {

/// The largest stride, dilation or padding accepted; sizes stay far from
/// int64_t overflow.
static constexpr int64_t kMaxDim = int64_t(1) << 31;

/// Emits `message` at `location`, prefixed like an op error of `opName`
/// ("matmul" or "kiln.matmul").
static LogicalResult fail(std::optional<Location> location, StringRef opName,
                          const Twine &message) {
  opName.consume_front("kiln.");
  return emitOptionalError(location, "'kiln.", opName, "' op ", message);
}

static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::interleave(
      shape, [&](int64_t d) { text += std::to_string(d); },
      [&] { text += ", "; });
  return text + "]";
}

/// The statically shaped tensor type of operand `what`, or failure.
static FailureOr<RankedTensorType> staticTensor(std::optional<Location> location,
                                                StringRef opName, Type type,
                                                StringRef what) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape()) {
    (void)fail(location, opName,
               "expected " + what + " to be a statically shaped tensor");
    return failure();
  }
  return tensor;
}

FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> lhs,
                                                ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  SmallVector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    if (l != r && l != 1 && r != 1)
      return failure();
    result[rank - 1 - i] = l == 1 ? r : l;
  }
  return result;
}

LogicalResult inferBroadcastResult(std::optional<Location> location,
                                   StringRef opName, Type lhs, Type rhs,
                                   SmallVectorImpl<Type> &results) {
  auto lhsType = staticTensor(location, opName, lhs, "lhs");
  auto rhsType = staticTensor(location, opName, rhs, "rhs");
  if (failed(lhsType) || failed(rhsType))
    return failure();
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(lhsType->getShape(), rhsType->getShape());
  if (failed(shape))
    return fail(location, opName,
                "expected operand shapes " + formatShape(lhsType->getShape()) +
                    " and " + formatShape(rhsType->getShape()) +
                    " to broadcast");
  results.push_back(RankedTensorType::get(*shape, lhsType->getElementType()));
  return success();
}

LogicalResult inferReductionResult(std::optional<Location> location,
                                   StringRef opName, Type input,
                                   ArrayRef<int64_t> axes, bool keepDims,
                                   SmallVectorImpl<Type> &results) {
  auto type = staticTensor(location, opName, input, "input");
  if (failed(type))
    return failure();
  if (axes.empty())
    return fail(location, opName, "expected at least one axis");
  SmallVector<bool> reduced(type->getRank(), false);
  for (int64_t axis : axes) {
    if (axis < 0 || axis >= type->getRank())
      return fail(location, opName,
                  "expected axis (" + Twine(axis) + ") to be in [0, " +
                      Twine(type->getRank()) + ")");
    if (reduced[axis])
      return fail(location, opName,
                  "expected axis (" + Twine(axis) + ") to appear once");
    reduced[axis] = true;
  }
  SmallVector<int64_t> shape;
  for (auto [dim, isReduced] : llvm::zip(type->getShape(), reduced)) {
    if (!isReduced)
      shape.push_back(dim);
    else if (keepDims)
      shape.push_back(1);
  }
  results.push_back(RankedTensorType::get(shape, type->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// SelectOp
//===----------------------------------------------------------------------===//

LogicalResult SelectOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto condition = staticTensor(location, "select",
                                adaptor.getCondition().getType(), "condition");
  auto onTrue = staticTensor(location, "select",
                             adaptor.getTrueValue().getType(), "true_value");
  auto onFalse = staticTensor(location, "select",
                              adaptor.getFalseValue().getType(), "false_value");
  if (failed(condition) || failed(onTrue) || failed(onFalse))
    return failure();
  if (onTrue->getElementType() != onFalse->getElementType())
    return fail(location, "select",
                "expected true_value and false_value to have the same "
                "element type");
  FailureOr<SmallVector<int64_t>> values =
      broadcastShapes(onTrue->getShape(), onFalse->getShape());
  FailureOr<SmallVector<int64_t>> shape = failure();
  if (succeeded(values))
    shape = broadcastShapes(condition->getShape(), *values);
  if (failed(shape))
    return fail(location, "select",
                "expected operand shapes " +
                    formatShape(condition->getShape()) + ", " +
                    formatShape(onTrue->getShape()) + " and " +
                    formatShape(onFalse->getShape()) + " to broadcast");
  results.push_back(RankedTensorType::get(*shape, onTrue->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto lhs = staticTensor(location, "matmul", adaptor.getLhs().getType(), "lhs");
  auto rhs = staticTensor(location, "matmul", adaptor.getRhs().getType(), "rhs");
  if (failed(lhs) || failed(rhs))
    return failure();
  if (lhs->getRank() < 2 || rhs->getRank() < 2)
    return fail(location, "matmul", "expected operands of rank >= 2 (got " +
                                        Twine(lhs->getRank()) + " and " +
                                        Twine(rhs->getRank()) + ")");
  ArrayRef<int64_t> l = lhs->getShape(), r = rhs->getShape();
  int64_t m = l[l.size() - 2], lhsK = l.back();
  if (adaptor.getTransposeLhs())
    std::swap(m, lhsK);
  int64_t rhsK = r[r.size() - 2], n = r.back();
  if (adaptor.getTransposeRhs())
    std::swap(rhsK, n);
  if (lhsK != rhsK)
    return fail(location, "matmul",
                "expected contraction sizes to match (lhs " + Twine(lhsK) +
                    ", rhs " + Twine(rhsK) + ")");
  FailureOr<SmallVector<int64_t>> batch =
      broadcastShapes(l.drop_back(2), r.drop_back(2));
  if (failed(batch))
    return fail(location, "matmul",
                "expected batch dimensions " + formatShape(l.drop_back(2)) +
                    " and " + formatShape(r.drop_back(2)) + " to broadcast");
  batch->append({m, n});
  results.push_back(RankedTensorType::get(*batch, lhs->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto input =
      staticTensor(location, "conv2d", adaptor.getInput().getType(), "input");
  auto filter =
      staticTensor(location, "conv2d", adaptor.getFilter().getType(), "filter");
  if (failed(input) || failed(filter))
    return failure();
  if (input->getRank() != 4 || filter->getRank() != 4)
    return fail(location, "conv2d",
                "expected rank-4 input [N, C, H, W] and filter [O, C/groups, "
                "KH, KW] (got ranks " +
                    Twine(input->getRank()) + " and " +
                    Twine(filter->getRank()) + ")");
  ArrayRef<int64_t> strides = adaptor.getStrides();
  ArrayRef<int64_t> padding = adaptor.getPadding();
  ArrayRef<int64_t> dilations = adaptor.getDilations();
  int64_t groups = static_cast<int64_t>(adaptor.getGroups());
  if (strides.size() != 2 || dilations.size() != 2 || padding.size() != 4)
    return fail(location, "conv2d",
                "expected 2 strides, 2 dilations and 4 paddings");
  // Bounding the parameters keeps the size arithmetic below from
  // overflowing.
  auto inRange = [](int64_t v, int64_t lo) { return v >= lo && v <= kMaxDim; };
  if (!llvm::all_of(strides, [&](int64_t s) { return inRange(s, 1); }) ||
      !llvm::all_of(dilations, [&](int64_t d) { return inRange(d, 1); }) ||
      !llvm::all_of(padding, [&](int64_t p) { return inRange(p, 0); }))
    return fail(location, "conv2d",
                "expected strides and dilations in [1, 2^31] and paddings in "
                "[0, 2^31]");
  if (groups < 1)
    return fail(location, "conv2d",
                "expected groups (" + Twine(groups) + ") to be >= 1");
  ArrayRef<int64_t> in = input->getShape(), f = filter->getShape();
  if (in[1] % groups != 0 || f[0] % groups != 0)
    return fail(location, "conv2d",
                "expected groups (" + Twine(groups) +
                    ") to divide input channels (" + Twine(in[1]) +
                    ") and output channels (" + Twine(f[0]) + ")");
  if (f[1] * groups != in[1])
    return fail(location, "conv2d",
                "expected filter channels (" + Twine(f[1]) +
                    ") to be input channels / groups (" +
                    Twine(in[1] / groups) + ")");
  SmallVector<int64_t> shape = {in[0], f[0]};
  for (int i = 0; i < 2; ++i) {
    int64_t padded = in[2 + i] + padding[i] + padding[i + 2];
    int64_t window = dilations[i] * (f[2 + i] - 1) + 1;
    if (padded < window)
      return fail(location, "conv2d",
                  "expected the dilated kernel (" + Twine(window) +
                      ") to fit the padded input (" + Twine(padded) + ")");
    shape.push_back((padded - window) / strides[i] + 1);
  }
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// MaxPool2DOp and AvgPool2DOp
//===----------------------------------------------------------------------===//

LogicalResult inferPool2DResult(std::optional<Location> location,
                                StringRef opName, Type input,
                                ArrayRef<int64_t> kernel,
                                ArrayRef<int64_t> strides,
                                ArrayRef<int64_t> padding,
                                SmallVectorImpl<Type> &results) {
  auto type = staticTensor(location, opName, input, "input");
  if (failed(type))
    return failure();
  if (type->getRank() != 4)
    return fail(location, opName,
                "expected a rank-4 input [N, C, H, W] (got rank " +
                    Twine(type->getRank()) + ")");
  if (kernel.size() != 2 || strides.size() != 2 || padding.size() != 4)
    return fail(location, opName, "expected 2 kernel sizes, 2 strides and 4 "
                                  "paddings");
  auto inRange = [](int64_t v, int64_t lo) { return v >= lo && v <= kMaxDim; };
  if (!llvm::all_of(kernel, [&](int64_t k) { return inRange(k, 1); }) ||
      !llvm::all_of(strides, [&](int64_t s) { return inRange(s, 1); }) ||
      !llvm::all_of(padding, [&](int64_t p) { return inRange(p, 0); }))
    return fail(location, opName,
                "expected kernel sizes and strides in [1, 2^31] and paddings "
                "in [0, 2^31]");
  SmallVector<int64_t> shape(type->getShape().take_front(2));
  for (int i = 0; i < 2; ++i) {
    int64_t size = type->getShape()[2 + i];
    // A padding as large as the kernel would make windows that hold only
    // padding, which have no maximum (and no mean without the padding).
    if (padding[i] >= kernel[i] || padding[i + 2] >= kernel[i])
      return fail(location, opName,
                  "expected paddings to be smaller than the kernel (" +
                      Twine(kernel[i]) + ")");
    int64_t padded = size + padding[i] + padding[i + 2];
    if (padded < kernel[i])
      return fail(location, opName,
                  "expected the kernel (" + Twine(kernel[i]) +
                      ") to fit the padded input (" + Twine(padded) + ")");
    shape.push_back((padded - kernel[i]) / strides[i] + 1);
  }
  results.push_back(RankedTensorType::get(shape, type->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// LayerNormOp and RmsNormOp
//===----------------------------------------------------------------------===//

/// Checks that `param` is a rank-1 tensor matching the last axis of `input`.
static LogicalResult verifyNormParameter(std::optional<Location> location,
                                         StringRef opName,
                                         RankedTensorType input, Type param,
                                         StringRef what) {
  auto type = staticTensor(location, opName, param, what);
  if (failed(type))
    return failure();
  int64_t last = input.getRank() == 0 ? 1 : input.getShape().back();
  if (type->getRank() != 1 || type->getDimSize(0) != last)
    return fail(location, opName,
                "expected " + what + " of shape [" + Twine(last) +
                    "] (the last axis of the input), got " +
                    formatShape(type->getShape()));
  if (type->getElementType() != input.getElementType())
    return fail(location, opName,
                "expected " + what + " to have the input's element type");
  return success();
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> location,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto input = staticTensor(location, "layer_norm",
                            adaptor.getInput().getType(), "input");
  if (failed(input) ||
      failed(verifyNormParameter(location, "layer_norm", *input,
                                 adaptor.getScale().getType(), "scale")) ||
      failed(verifyNormParameter(location, "layer_norm", *input,
                                 adaptor.getBias().getType(), "bias")))
    return failure();
  results.push_back(*input);
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> location,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  auto input = staticTensor(location, "rms_norm",
                            adaptor.getInput().getType(), "input");
  if (failed(input) ||
      failed(verifyNormParameter(location, "rms_norm", *input,
                                 adaptor.getScale().getType(), "scale")))
    return failure();
  results.push_back(*input);
  return success();
}

//===----------------------------------------------------------------------===//
// TransposeOp
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> location,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto input = staticTensor(location, "transpose",
                            adaptor.getInput().getType(), "input");
  if (failed(input))
    return failure();
  ArrayRef<int64_t> permutation = adaptor.getPermutation();
  if (static_cast<int64_t>(permutation.size()) != input->getRank())
    return fail(location, "transpose",
                "expected permutation size (" + Twine(permutation.size()) +
                    ") to equal the input rank (" + Twine(input->getRank()) +
                    ")");
  SmallVector<bool> seen(permutation.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t p : permutation) {
    if (p < 0 || p >= input->getRank() || seen[p])
      return fail(location, "transpose",
                  "expected permutation " + formatShape(permutation) +
                      " to be a permutation of [0, " +
                      Twine(input->getRank()) + ")");
    seen[p] = true;
    shape.push_back(input->getDimSize(p));
  }
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// ConcatOp
//===----------------------------------------------------------------------===//

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  if (adaptor.getInputs().empty())
    return fail(location, "concat", "expected at least one input");
  auto first = staticTensor(location, "concat",
                            adaptor.getInputs().front().getType(), "inputs");
  if (failed(first))
    return failure();
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= first->getRank())
    return fail(location, "concat",
                "expected axis (" + Twine(axis) + ") to be in [0, " +
                    Twine(first->getRank()) + ")");
  SmallVector<int64_t> shape(first->getShape());
  for (Value input : adaptor.getInputs().drop_front()) {
    auto type = staticTensor(location, "concat", input.getType(), "inputs");
    if (failed(type))
      return failure();
    bool sameOtherDims = type->getRank() == first->getRank();
    for (int64_t d = 0; sameOtherDims && d < first->getRank(); ++d)
      sameOtherDims = d == axis || type->getDimSize(d) == shape[d];
    if (!sameOtherDims)
      return fail(location, "concat",
                  "expected input shapes " + formatShape(first->getShape()) +
                      " and " + formatShape(type->getShape()) +
                      " to differ only along axis " + Twine(axis));
    shape[axis] += type->getDimSize(axis);
  }
  results.push_back(RankedTensorType::get(shape, first->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// SliceOp
//===----------------------------------------------------------------------===//

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  auto input =
      staticTensor(location, "slice", adaptor.getInput().getType(), "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  ArrayRef<int64_t> starts = adaptor.getStarts(), limits = adaptor.getLimits(),
                    strides = adaptor.getStrides();
  if (static_cast<int64_t>(starts.size()) != rank ||
      static_cast<int64_t>(limits.size()) != rank ||
      (!strides.empty() && static_cast<int64_t>(strides.size()) != rank))
    return fail(location, "slice",
                "expected starts, limits and strides to have one entry per "
                "dimension (" +
                    Twine(rank) + ")");
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t stride = strides.empty() ? 1 : strides[d];
    if (starts[d] < 0 || starts[d] > limits[d] ||
        limits[d] > input->getDimSize(d) || stride < 1)
      return fail(location, "slice",
                  "expected 0 <= start (" + Twine(starts[d]) + ") <= limit (" +
                      Twine(limits[d]) + ") <= size (" +
                      Twine(input->getDimSize(d)) + ") and stride (" +
                      Twine(stride) + ") >= 1 in dimension " + Twine(d));
    int64_t extent = limits[d] - starts[d];
    shape.push_back(extent == 0 ? 0 : (extent - 1) / stride + 1);
  }
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// GatherOp
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto data =
      staticTensor(location, "gather", adaptor.getData().getType(), "data");
  auto indices = staticTensor(location, "gather",
                              adaptor.getIndices().getType(), "indices");
  if (failed(data) || failed(indices))
    return failure();
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= data->getRank())
    return fail(location, "gather",
                "expected axis (" + Twine(axis) + ") to be in [0, " +
                    Twine(data->getRank()) + ")");
  SmallVector<int64_t> shape(data->getShape().take_front(axis));
  llvm::append_range(shape, indices->getShape());
  llvm::append_range(shape, data->getShape().drop_front(axis + 1));
  results.push_back(RankedTensorType::get(shape, data->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> location,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto q = staticTensor(location, "attention", adaptor.getQuery().getType(),
                        "query");
  auto k =
      staticTensor(location, "attention", adaptor.getKey().getType(), "key");
  auto v = staticTensor(location, "attention", adaptor.getValue().getType(),
                        "value");
  if (failed(q) || failed(k) || failed(v))
    return failure();
  if (q->getRank() != 4 || k->getRank() != 4 || v->getRank() != 4)
    return fail(location, "attention",
                "expected rank-4 query, key and value [batch, heads, "
                "sequence, head_dim]");
  ArrayRef<int64_t> qs = q->getShape(), ks = k->getShape(), vs = v->getShape();
  if (qs[0] != ks[0] || qs[0] != vs[0])
    return fail(location, "attention",
                "expected query, key and value to have the same batch size");
  if (ks[1] != vs[1] || ks[2] != vs[2])
    return fail(location, "attention",
                "expected key " + formatShape(ks) + " and value " +
                    formatShape(vs) + " to have the same heads and sequence");
  if (qs[3] != ks[3])
    return fail(location, "attention",
                "expected query head dim (" + Twine(qs[3]) +
                    ") to equal key head dim (" + Twine(ks[3]) + ")");
  if (ks[1] == 0 || qs[1] % ks[1] != 0)
    return fail(location, "attention",
                "expected query heads (" + Twine(qs[1]) +
                    ") to be a multiple of key/value heads (" + Twine(ks[1]) +
                    ")");
  results.push_back(RankedTensorType::get({qs[0], qs[1], qs[2], vs[3]},
                                          q->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// MoeRouterOp and MoeExpertsOp
//===----------------------------------------------------------------------===//

LogicalResult MoeRouterOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> location,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto logits = staticTensor(location, "moe_router",
                             adaptor.getLogits().getType(), "logits");
  if (failed(logits))
    return failure();
  if (logits->getRank() != 2)
    return fail(location, "moe_router",
                "expected logits of rank 2 [tokens, experts] (got rank " +
                    Twine(logits->getRank()) + ")");
  int64_t topK = adaptor.getTopK();
  if (topK < 1 || topK > logits->getDimSize(1))
    return fail(location, "moe_router",
                "expected top_k (" + Twine(topK) + ") to be in [1, " +
                    Twine(logits->getDimSize(1)) + "] (the expert count)");
  int64_t tokens = logits->getDimSize(0);
  results.push_back(
      RankedTensorType::get({tokens, topK}, logits->getElementType()));
  results.push_back(
      RankedTensorType::get({tokens, topK}, IntegerType::get(context, 32)));
  return success();
}

LogicalResult MoeExpertsOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> location,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  StringRef name = "moe_experts";
  auto x = staticTensor(location, name, adaptor.getInput().getType(), "input");
  auto w =
      staticTensor(location, name, adaptor.getWeights().getType(), "weights");
  auto idx =
      staticTensor(location, name, adaptor.getIndices().getType(), "indices");
  auto gate = staticTensor(location, name, adaptor.getGate().getType(), "gate");
  auto up = staticTensor(location, name, adaptor.getUp().getType(), "up");
  auto down = staticTensor(location, name, adaptor.getDown().getType(), "down");
  if (failed(x) || failed(w) || failed(idx) || failed(gate) || failed(up) ||
      failed(down))
    return failure();
  if (x->getRank() != 2 || w->getRank() != 2 || idx->getRank() != 2 ||
      gate->getRank() != 3 || up->getRank() != 3 || down->getRank() != 3)
    return fail(location, name,
                "expected input [T, H], weights and indices [T, k], gate and "
                "up [E, H, F], down [E, F, H]");
  int64_t tokens = x->getDimSize(0), hidden = x->getDimSize(1);
  if (w->getShape() != idx->getShape() || w->getDimSize(0) != tokens)
    return fail(location, name,
                "expected weights " + formatShape(w->getShape()) +
                    " and indices " + formatShape(idx->getShape()) +
                    " to be [" + Twine(tokens) + ", k]");
  int64_t experts = gate->getDimSize(0), ffn = gate->getDimSize(2);
  SmallVector<int64_t> gateShape = {experts, hidden, ffn};
  SmallVector<int64_t> downShape = {experts, ffn, hidden};
  if (gate->getShape() != ArrayRef<int64_t>(gateShape) ||
      up->getShape() != ArrayRef<int64_t>(gateShape) ||
      down->getShape() != ArrayRef<int64_t>(downShape))
    return fail(location, name,
                "expected gate and up " + formatShape(gateShape) +
                    " and down " + formatShape(downShape) + ", got " +
                    formatShape(gate->getShape()) + ", " +
                    formatShape(up->getShape()) + ", " +
                    formatShape(down->getShape()));
  Type element = x->getElementType();
  if (w->getElementType() != element || gate->getElementType() != element ||
      up->getElementType() != element || down->getElementType() != element)
    return fail(location, name,
                "expected input, weights and expert tensors to share one "
                "element type");
  results.push_back(*x);
  return success();
}

} // namespace kiln
