//===- ConvertKilnToLinalg.cpp - kiln ops to linalg on tensors --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// One conversion pattern per kiln op family. Numerics follow the reference
// kernels (reference/Kernels.h) as closely as f32 allows: bf16 and f16
// values are extended to f32, computed in f32, and rounded once when stored;
// matmul, conv and reductions accumulate in f32.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

#define DEBUG_TYPE "kiln-cpu-convert-kiln-to-linalg"

namespace kiln::cpu {
#define GEN_PASS_DEF_CONVERTKILNTOLINALGPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static bool isNarrowFloat(Type type) {
  return isa<BFloat16Type, Float16Type>(type);
}

/// The type a value of element type `type` is computed in: f32 for floats,
/// the type itself for integers.
static Type getComputeType(Type type) {
  return isNarrowFloat(type) ? Float32Type::get(type.getContext()) : type;
}

/// `value` extended to its compute type.
static Value extend(OpBuilder &b, Location loc, Value value) {
  Type type = value.getType();
  if (!isNarrowFloat(type))
    return value;
  return arith::ExtFOp::create(b, loc, getComputeType(type), value);
}

/// `value` converted to the element type `to`: floats are extended or
/// rounded to nearest even (bf16 <-> f16 through f32), integers become
/// floats or change width.
static Value convertScalar(OpBuilder &b, Location loc, Value value, Type to) {
  Type from = value.getType();
  if (from == to)
    return value;
  auto fromFloat = dyn_cast<FloatType>(from);
  auto toFloat = dyn_cast<FloatType>(to);
  if (fromFloat && toFloat) {
    if (fromFloat.getWidth() < toFloat.getWidth())
      return arith::ExtFOp::create(b, loc, to, value);
    if (fromFloat.getWidth() > toFloat.getWidth())
      return arith::TruncFOp::create(b, loc, to, value);
    // bf16 <-> f16: through f32.
    Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
    return arith::TruncFOp::create(b, loc, to, wide);
  }
  if (toFloat) {
    Value wide = arith::SIToFPOp::create(b, loc, b.getF32Type(), value);
    return convertScalar(b, loc, wide, to);
  }
  auto fromInt = cast<IntegerType>(from);
  auto toInt = cast<IntegerType>(to);
  if (fromInt.getWidth() < toInt.getWidth())
    return arith::ExtSIOp::create(b, loc, to, value);
  return arith::TruncIOp::create(b, loc, to, value);
}

static Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>(value)));
}

/// The indexing map from the loops of an iteration space of `loopShape` to
/// an operand of `shape` that broadcasts to it as numpy does: trailing
/// dimensions aligned, size-1 dimensions read at index 0.
static AffineMap getBroadcastMap(ArrayRef<int64_t> shape,
                                 ArrayRef<int64_t> loopShape,
                                 MLIRContext *context) {
  int64_t offset = loopShape.size() - shape.size();
  SmallVector<AffineExpr> exprs;
  for (auto [i, size] : llvm::enumerate(shape)) {
    int64_t loop = offset + i;
    exprs.push_back(size == 1 && loopShape[loop] != 1
                        ? getAffineConstantExpr(0, context)
                        : getAffineDimExpr(loop, context));
  }
  return AffineMap::get(loopShape.size(), 0, exprs, context);
}

/// The map from `rank` loops to the loops not in `dropped`, in order.
static AffineMap getDropDimsMap(int64_t rank, ArrayRef<int64_t> dropped,
                                MLIRContext *context) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    if (!llvm::is_contained(dropped, d))
      exprs.push_back(getAffineDimExpr(d, context));
  return AffineMap::get(rank, 0, exprs, context);
}

static SmallVector<int64_t> dropDims(ArrayRef<int64_t> shape,
                                     ArrayRef<int64_t> dropped) {
  SmallVector<int64_t> result;
  for (auto [d, size] : llvm::enumerate(shape))
    if (!llvm::is_contained(dropped, static_cast<int64_t>(d)))
      result.push_back(size);
  return result;
}

static Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                         Type elementType) {
  return tensor::EmptyOp::create(b, loc, shape, elementType);
}

/// A tensor of `shape` f32 elements all equal to `value`.
static Value filledTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                          double value) {
  Value empty = emptyTensor(b, loc, shape, b.getF32Type());
  Value scalar = f32Constant(b, loc, value);
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

/// The scalar body of a generic: the elements of the inputs (extended to f32
/// when `extendInputs`) and the current output element; returns the new
/// output element in any type convertible to the output's.
using BodyFn =
    function_ref<Value(OpBuilder &, Location, ValueRange inputs, Value out)>;

/// A linalg.generic with one output `init` (indexed by `outputMap`) over
/// `iterators`, whose body is `body`; the body's value is converted to the
/// output element type.
static Value buildGeneric(OpBuilder &b, Location loc, ValueRange inputs,
                          ArrayRef<AffineMap> inputMaps, Value init,
                          AffineMap outputMap,
                          ArrayRef<utils::IteratorType> iterators, BodyFn body,
                          bool extendInputs = true) {
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(outputMap);
  Type outType = cast<RankedTensorType>(init.getType()).getElementType();
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nl, ValueRange args) {
        SmallVector<Value> xs;
        for (Value arg : args.drop_back())
          xs.push_back(extendInputs ? extend(nb, nl, arg) : arg);
        Value result = body(nb, nl, xs, args.back());
        linalg::YieldOp::create(nb, nl, convertScalar(nb, nl, result, outType));
      });
  return generic.getResult(0);
}

/// An elementwise generic producing `resultType` from `inputs`, each
/// broadcast to the result shape as numpy does.
static Value buildElementwise(OpBuilder &b, Location loc,
                              RankedTensorType resultType, ValueRange inputs,
                              BodyFn body, bool extendInputs = true) {
  MLIRContext *context = b.getContext();
  ArrayRef<int64_t> shape = resultType.getShape();
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(getBroadcastMap(
        cast<RankedTensorType>(input.getType()).getShape(), shape, context));
  Value init = emptyTensor(b, loc, shape, resultType.getElementType());
  SmallVector<utils::IteratorType> iterators(shape.size(),
                                             utils::IteratorType::parallel);
  return buildGeneric(b, loc, inputs, maps, init,
                      b.getMultiDimIdentityMap(shape.size()), iterators, body,
                      extendInputs);
}

/// The body of a generic that copies its (only) input.
static Value forwardInput(OpBuilder &, Location, ValueRange xs, Value) {
  return xs[0];
}

/// `value`, an f32 tensor of `type`'s shape, in `type`'s element type: the
/// result of an op computed in f32, rounded once.
static Value castFromF32(OpBuilder &b, Location loc, RankedTensorType type,
                         Value value) {
  if (type.getElementType() == b.getF32Type())
    return value;
  return buildElementwise(b, loc, type, value, forwardInput);
}

/// Reduces `input` over `axes` into an f32 tensor of the kept dimensions,
/// starting from `identity` and combining with `combine(element, acc)`.
static Value buildReduction(
    OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
    double identity,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  MLIRContext *context = b.getContext();
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  for (int64_t axis : axes)
    iterators[axis] = utils::IteratorType::reduction;
  Value init = filledTensor(b, loc, dropDims(type.getShape(), axes), identity);
  return buildGeneric(b, loc, input, {b.getMultiDimIdentityMap(rank)}, init,
                      getDropDimsMap(rank, axes, context), iterators,
                      [&](OpBuilder &nb, Location nl, ValueRange xs,
                          Value acc) { return combine(nb, nl, xs[0], acc); });
}

/// An f32 tensor of `shape` computed elementwise from the same-shaped
/// `inputs`: the per-row factors of the normalizations, computed once per
/// row rather than for every element (kiln-cpu-fuse-elementwise-ops keeps
/// them apart from the generics that broadcast them).
static Value buildRowFactor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                            ValueRange inputs, BodyFn body) {
  return buildElementwise(b, loc, RankedTensorType::get(shape, b.getF32Type()),
                          inputs, body);
}

static Value add(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y);
}
static Value sub(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y);
}
static Value mul(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y);
}
static Value div(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::DivFOp::create(b, loc, x, y);
}

/// 1 / (1 + exp(-x)).
static Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return div(b, loc, f32Constant(b, loc, 1.0),
             add(b, loc, f32Constant(b, loc, 1.0), e));
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

// The scalar function of each elementwise op, on f32 (or integer) values.
static Value computeScalar(NegOp, OpBuilder &b, Location loc, ValueRange x) {
  return arith::NegFOp::create(b, loc, x[0]);
}
static Value computeScalar(AbsOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::AbsFOp::create(b, loc, x[0]);
}
static Value computeScalar(ExpOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::ExpOp::create(b, loc, x[0]);
}
static Value computeScalar(LogOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::LogOp::create(b, loc, x[0]);
}
static Value computeScalar(SqrtOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::SqrtOp::create(b, loc, x[0]);
}
static Value computeScalar(RsqrtOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::RsqrtOp::create(b, loc, x[0]);
}
static Value computeScalar(TanhOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::TanhOp::create(b, loc, x[0]);
}
static Value computeScalar(ErfOp, OpBuilder &b, Location loc, ValueRange x) {
  // A rational approximation in kiln-cpu-lower-vectors (math dialect), close
  // to the reference's std::erf within f32 rounding.
  return math::ErfOp::create(b, loc, x[0]);
}
static Value computeScalar(SigmoidOp, OpBuilder &b, Location loc,
                           ValueRange x) {
  return sigmoid(b, loc, x[0]);
}
static Value computeScalar(ReluOp, OpBuilder &b, Location loc, ValueRange x) {
  // x < 0 ? 0 : x, so that NaN propagates as in the reference.
  Value zero = f32Constant(b, loc, 0.0);
  Value negative =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x[0], zero);
  return arith::SelectOp::create(b, loc, negative, zero, x[0]);
}
static Value computeScalar(SiluOp, OpBuilder &b, Location loc, ValueRange x) {
  return mul(b, loc, x[0], sigmoid(b, loc, x[0]));
}
static Value computeScalar(GeluOp op, OpBuilder &b, Location loc,
                           ValueRange x) {
  Value half = f32Constant(b, loc, 0.5);
  Value one = f32Constant(b, loc, 1.0);
  Value inner;
  if (op.getApproximation() == GeluApproximation::Tanh) {
    // tanh(sqrt(2 / pi) (x + 0.044715 x^3)).
    Value cube = mul(b, loc, mul(b, loc, x[0], x[0]), x[0]);
    Value poly =
        add(b, loc, x[0], mul(b, loc, f32Constant(b, loc, 0.044715), cube));
    inner = math::TanhOp::create(
        b, loc, mul(b, loc, f32Constant(b, loc, std::sqrt(2.0 / M_PI)), poly));
  } else {
    // erf(x / sqrt(2)).
    inner = math::ErfOp::create(
        b, loc, mul(b, loc, x[0], f32Constant(b, loc, M_SQRT1_2)));
  }
  return mul(b, loc, mul(b, loc, half, x[0]), add(b, loc, one, inner));
}
static Value computeScalar(AddOp, OpBuilder &b, Location loc, ValueRange x) {
  return add(b, loc, x[0], x[1]);
}
static Value computeScalar(SubOp, OpBuilder &b, Location loc, ValueRange x) {
  return sub(b, loc, x[0], x[1]);
}
static Value computeScalar(MulOp, OpBuilder &b, Location loc, ValueRange x) {
  return mul(b, loc, x[0], x[1]);
}
static Value computeScalar(DivOp, OpBuilder &b, Location loc, ValueRange x) {
  return div(b, loc, x[0], x[1]);
}
static Value computeScalar(MaxOp, OpBuilder &b, Location loc, ValueRange x) {
  // IEEE-754 maximum: NaN propagates and -0 < +0, as the reference.
  return arith::MaximumFOp::create(b, loc, x[0], x[1]);
}
static Value computeScalar(MinOp, OpBuilder &b, Location loc, ValueRange x) {
  return arith::MinimumFOp::create(b, loc, x[0], x[1]);
}
static Value computeScalar(PowOp, OpBuilder &b, Location loc, ValueRange x) {
  return math::PowFOp::create(b, loc, x[0], x[1]);
}

namespace {

/// Any elementwise op with numpy broadcasting of its operands.
template <typename OpTy>
struct ElementwiseLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    Value result =
        buildElementwise(rewriter, op.getLoc(), type, adaptor.getOperands(),
                         [&](OpBuilder &b, Location loc, ValueRange xs, Value) {
                           return computeScalar(op, b, loc, xs);
                         });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// CastOp, ConstantOp, TransposeOp, BroadcastToOp, SelectOp
//===----------------------------------------------------------------------===//

/// Cast and broadcast_to: each result element is its (broadcast) input
/// element, converted to the result's element type by the generic's yield.
template <typename OpTy>
struct CopyLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpTy::Adaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value result = buildElementwise(
        rewriter, op.getLoc(), op.getResult().getType(), adaptor.getInput(),
        forwardInput,
        /*extendInputs=*/false);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConstantLowering : OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ConstantOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto value = dyn_cast<TypedAttr>(op.getValue());
    if (!value)
      return rewriter.notifyMatchFailure(op, "requires a typed value");
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value);
    return success();
  }
};

struct TransposeLowering : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Result dimension i is input dimension permutation[i]: the input is
    // indexed by the inverse permutation of the result's loops.
    ArrayRef<int64_t> permutation = op.getPermutation();
    RankedTensorType type = op.getResult().getType();
    SmallVector<AffineExpr> exprs(permutation.size());
    for (auto [i, p] : llvm::enumerate(permutation))
      exprs[p] = rewriter.getAffineDimExpr(i);
    AffineMap inputMap =
        AffineMap::get(permutation.size(), 0, exprs, rewriter.getContext());
    Value init = emptyTensor(rewriter, op.getLoc(), type.getShape(),
                             type.getElementType());
    SmallVector<utils::IteratorType> iterators(permutation.size(),
                                               utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, op.getLoc(), adaptor.getInput(), {inputMap}, init,
        rewriter.getMultiDimIdentityMap(permutation.size()), iterators,
        forwardInput,
        /*extendInputs=*/false);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// A non-zero condition takes the true value; the values keep their type.
struct SelectLowering : OpConversionPattern<SelectOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SelectOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value result = buildElementwise(
        rewriter, op.getLoc(), op.getResult().getType(),
        adaptor.getOperands(),
        [](OpBuilder &b, Location loc, ValueRange xs, Value) -> Value {
          Value zero = arith::ConstantOp::create(
              b, loc, b.getZeroAttr(xs[0].getType()));
          Value taken = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                              xs[0], zero);
          return arith::SelectOp::create(b, loc, taken, xs[1], xs[2]);
        },
        /*extendInputs=*/false);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

struct MatmulLowering : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Loops: the result's batch dimensions, then m, n and k.
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    RankedTensorType type = op.getResult().getType();
    ArrayRef<int64_t> shape = type.getShape();
    int64_t batch = type.getRank() - 2;
    int64_t numLoops = batch + 3;
    AffineExpr m = getAffineDimExpr(batch, context);
    AffineExpr n = getAffineDimExpr(batch + 1, context);
    AffineExpr k = getAffineDimExpr(batch + 2, context);

    // An operand's batch dimensions broadcast to the result's as numpy does.
    auto operandMap = [&](Value operand, AffineExpr row, AffineExpr column) {
      ArrayRef<int64_t> operandShape =
          cast<RankedTensorType>(operand.getType()).getShape();
      int64_t operandBatch = operandShape.size() - 2;
      SmallVector<AffineExpr> exprs;
      for (int64_t i = 0; i < operandBatch; ++i) {
        int64_t loop = batch - operandBatch + i;
        exprs.push_back(operandShape[i] == 1 && shape[loop] != 1
                            ? getAffineConstantExpr(0, context)
                            : getAffineDimExpr(loop, context));
      }
      exprs.push_back(row);
      exprs.push_back(column);
      return AffineMap::get(numLoops, 0, exprs, context);
    };
    AffineMap lhsMap = op.getTransposeLhs()
                           ? operandMap(adaptor.getLhs(), k, m)
                           : operandMap(adaptor.getLhs(), m, k);
    AffineMap rhsMap = op.getTransposeRhs()
                           ? operandMap(adaptor.getRhs(), n, k)
                           : operandMap(adaptor.getRhs(), k, n);
    SmallVector<AffineExpr> outExprs;
    for (int64_t d = 0; d < batch + 2; ++d)
      outExprs.push_back(getAffineDimExpr(d, context));
    AffineMap outMap = AffineMap::get(numLoops, 0, outExprs, context);

    SmallVector<utils::IteratorType> iterators(numLoops,
                                               utils::IteratorType::parallel);
    iterators.back() = utils::IteratorType::reduction;
    Value acc = filledTensor(rewriter, loc, shape, 0.0);
    auto contract = arith::FastMathFlags::contract;
    Value product = buildGeneric(
        rewriter, loc, {adaptor.getLhs(), adaptor.getRhs()}, {lhsMap, rhsMap},
        acc, outMap, iterators,
        [&](OpBuilder &b, Location l, ValueRange xs, Value out) -> Value {
          Value p = arith::MulFOp::create(b, l, xs[0], xs[1], contract);
          return arith::AddFOp::create(b, l, out, p, contract);
        });
    product = castFromF32(rewriter, loc, type, product);
    rewriter.replaceOp(op, product);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

/// `input` [N, C, H, W] padded by `padding` [top, left, bottom, right] of H
/// and W with `value`; unchanged without padding.
static Value padSpatial(OpBuilder &b, Location loc, Value input,
                        ArrayRef<int64_t> padding, TypedAttr value) {
  if (llvm::all_of(padding, [](int64_t p) { return p == 0; }))
    return input;
  auto type = cast<RankedTensorType>(input.getType());
  SmallVector<int64_t> low = {0, 0, padding[0], padding[1]};
  SmallVector<int64_t> high = {0, 0, padding[2], padding[3]};
  SmallVector<int64_t> paddedShape(type.getShape());
  paddedShape[2] += padding[0] + padding[2];
  paddedShape[3] += padding[1] + padding[3];
  auto paddedType = RankedTensorType::get(paddedShape, type.getElementType());
  Value padValue = arith::ConstantOp::create(b, loc, value);
  return tensor::PadOp::create(b, loc, paddedType, input,
                               getAsIndexOpFoldResult(b.getContext(), low),
                               getAsIndexOpFoldResult(b.getContext(), high),
                               padValue);
}

/// The convolution of the padded `input` [N, C, H, W] by `filter`
/// [F, C, KH, KW] into an f32 tensor of `shape` [N, F, OH, OW], as a matmul
/// over im2col patches:
///
///  1. patches [N, C, KH, KW, OH, OW] copy the input element each filter tap
///     reads for each output position (ow innermost: a stride-1 convolution
///     copies contiguous input rows);
///  2. the filter [F, C * KH * KW] times the patches [N, C * KH * KW,
///     OH * OW] (reshapes only) is a contraction of the matmul's shape, F
///     rows by OH * OW columns, which kiln-cpu-pack-matmul packs into panels
///     and kiln-cpu-vectorize gives its register tiles; a tile of the result
///     copies only the patches it reads.
static Value buildIm2ColConv(OpBuilder &b, Location loc, Value input,
                             Value filter, ArrayRef<int64_t> strides,
                             ArrayRef<int64_t> dilations,
                             ArrayRef<int64_t> shape) {
  MLIRContext *context = b.getContext();
  auto inputType = cast<RankedTensorType>(input.getType());
  auto filterType = cast<RankedTensorType>(filter.getType());
  ArrayRef<int64_t> kernel = filterType.getShape().drop_front(2);
  int64_t n = shape[0], f = shape[1], oh = shape[2], ow = shape[3];
  int64_t c = inputType.getDimSize(1);
  int64_t depth = c * kernel[0] * kernel[1], positions = oh * ow;

  // 1. Loops (n, c, kh, kw, oh, ow).
  auto d = [&](unsigned i) { return getAffineDimExpr(i, context); };
  AffineMap inputMap = AffineMap::get(
      6, 0,
      {d(0), d(1), d(4) * strides[0] + d(2) * dilations[0],
       d(5) * strides[1] + d(3) * dilations[1]},
      context);
  Value patches = buildGeneric(
      b, loc, input, inputMap,
      emptyTensor(b, loc, {n, c, kernel[0], kernel[1], oh, ow},
                  inputType.getElementType()),
      AffineMap::getMultiDimIdentityMap(6, context),
      SmallVector<utils::IteratorType>(6, utils::IteratorType::parallel),
      [](OpBuilder &, Location, ValueRange xs, Value) { return xs[0]; },
      /*extendInputs=*/false);
  patches = tensor::CollapseShapeOp::create(
      b, loc,
      RankedTensorType::get({n, depth, positions}, inputType.getElementType()),
      patches, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}, {4, 5}});
  Value rows = tensor::CollapseShapeOp::create(
      b, loc, RankedTensorType::get({f, depth}, filterType.getElementType()),
      filter, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});

  // 2. Loops (n, f, p, k): the matmul's m, n and k are f, p and k.
  auto map = [&](ArrayRef<AffineExpr> exprs) {
    return AffineMap::get(4, 0, exprs, context);
  };
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  auto contract = arith::FastMathFlags::contract;
  Value product = buildGeneric(
      b, loc, {rows, patches}, {map({d(1), d(3)}), map({d(0), d(3), d(2)})},
      filledTensor(b, loc, {n, f, positions}, 0.0), map({d(0), d(1), d(2)}),
      iterators, [&](OpBuilder &nb, Location l, ValueRange xs, Value out) {
        Value p = arith::MulFOp::create(nb, l, xs[0], xs[1], contract);
        return arith::AddFOp::create(nb, l, out, p, contract);
      });
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, b.getF32Type()), product,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
}

struct Conv2DLowering : OpConversionPattern<Conv2DOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Conv2DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getResult().getType();
    ArrayRef<int64_t> padding = op.getPadding();
    auto groups = static_cast<int64_t>(op.getGroups());
    if (padding.size() != 4 || op.getStrides().size() != 2 ||
        op.getDilations().size() != 2)
      return rewriter.notifyMatchFailure(
          op, "requires 4 paddings, 2 strides and 2 dilations");

    // 1. Zero padding: [top, left, bottom, right] of H and W.
    Value input = padSpatial(
        rewriter, loc, adaptor.getInput(), padding,
        rewriter.getZeroAttr(op.getInput().getType().getElementType()));
    auto inputType = cast<RankedTensorType>(input.getType());

    // 2. The convolution into an f32 accumulator: a matmul over im2col
    //    patches; grouped convolutions view channels as [groups, channels
    //    per group] and stay linalg convolutions.
    ArrayRef<int64_t> shape = type.getShape();
    Value result;
    if (groups == 1) {
      result = buildIm2ColConv(rewriter, loc, input, adaptor.getFilter(),
                               op.getStrides(), op.getDilations(), shape);
    } else {
      Attribute strides = rewriter.getI64TensorAttr(op.getStrides());
      Attribute dilations = rewriter.getI64TensorAttr(op.getDilations());
      ArrayRef<int64_t> in = inputType.getShape();
      ArrayRef<int64_t> filter =
          cast<RankedTensorType>(adaptor.getFilter().getType()).getShape();
      auto expanded = [&](Value value, ArrayRef<int64_t> newShape,
                          ArrayRef<ReassociationIndices> groupsOf) -> Value {
        auto valueType = cast<RankedTensorType>(value.getType());
        auto newType =
            RankedTensorType::get(newShape, valueType.getElementType());
        return tensor::ExpandShapeOp::create(rewriter, loc, newType, value,
                                             groupsOf);
      };
      Value groupedInput =
          expanded(input, {in[0], groups, in[1] / groups, in[2], in[3]},
                   {{0}, {1, 2}, {3}, {4}});
      Value groupedFilter = expanded(
          adaptor.getFilter(),
          {groups, filter[0] / groups, filter[1], filter[2], filter[3]},
          {{0, 1}, {2}, {3}, {4}});
      SmallVector<int64_t> groupedShape = {shape[0], groups, shape[1] / groups,
                                           shape[2], shape[3]};
      Value acc = filledTensor(rewriter, loc, groupedShape, 0.0);
      Value grouped = linalg::Conv2DNgchwGfchwOp::create(
                          rewriter, loc, TypeRange{acc.getType()},
                          ValueRange{groupedInput, groupedFilter},
                          ValueRange{acc}, strides, dilations)
                          .getResult(0);
      result = tensor::CollapseShapeOp::create(
          rewriter, loc, RankedTensorType::get(shape, rewriter.getF32Type()),
          grouped, SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
    }
    result = castFromF32(rewriter, loc, type, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// MaxPool2DOp, AvgPool2DOp
//===----------------------------------------------------------------------===//

/// Pools the windows of `kernel` [KH, KW] moved by `strides` over the padded
/// NCHW `input` with the linalg pooling op `PoolOp`, into an f32 tensor of
/// `shape` that starts at `identity`.
template <typename PoolOp>
static Value buildPool(OpBuilder &b, Location loc, Value input,
                       ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                       ArrayRef<int64_t> shape, double identity) {
  Value acc = filledTensor(b, loc, shape, identity);
  // The pooling ops take the window's shape from an operand they never read.
  Value window = emptyTensor(b, loc, kernel, b.getF32Type());
  return PoolOp::create(b, loc, TypeRange{acc.getType()},
                        ValueRange{input, window}, ValueRange{acc},
                        b.getI64TensorAttr(strides),
                        b.getI64TensorAttr({1, 1}))
      .getResult(0);
}

/// Whether `kernel`, `strides` and `padding` are the 2, 2 and 4 values of a
/// 2-D pooling.
static bool isPool2D(ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                     ArrayRef<int64_t> padding) {
  return kernel.size() == 2 && strides.size() == 2 && padding.size() == 4;
}

struct MaxPool2DLowering : OpConversionPattern<MaxPool2DOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaxPool2DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isPool2D(op.getKernel(), op.getStrides(), op.getPadding()))
      return rewriter.notifyMatchFailure(
          op, "requires 2 kernel sizes, 2 strides and 4 paddings");
    // Padded positions are -inf, which no window's maximum takes: every
    // window overlaps the input.
    Location loc = op.getLoc();
    RankedTensorType type = op.getResult().getType();
    Value input = padSpatial(
        rewriter, loc, adaptor.getInput(), op.getPadding(),
        rewriter.getFloatAttr(type.getElementType(), -INFINITY));
    Value result = buildPool<linalg::PoolingNchwMaxOp>(
        rewriter, loc, input, op.getKernel(), op.getStrides(),
        type.getShape(), -INFINITY);
    result = castFromF32(rewriter, loc, type, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The number of positions of the window of output index `outputIndex`
/// along one spatial dimension of `size` that lie inside the input: the
/// window starts at outputIndex * stride - padBefore and has `kernel`
/// positions.
static Value countInside(OpBuilder &b, Location loc, Value outputIndex,
                         int64_t size, int64_t kernel, int64_t stride,
                         int64_t padBefore) {
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  Value start = arith::SubIOp::create(
      b, loc, arith::MulIOp::create(b, loc, outputIndex, constant(stride)),
      constant(padBefore));
  Value end = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, start, constant(kernel)),
      constant(size));
  Value begin = arith::MaxSIOp::create(b, loc, start, constant(0));
  return arith::SubIOp::create(b, loc, end, begin);
}

struct AvgPool2DLowering : OpConversionPattern<AvgPool2DOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AvgPool2DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ArrayRef<int64_t> kernel = op.getKernel(), strides = op.getStrides(),
                      padding = op.getPadding();
    if (!isPool2D(kernel, strides, padding))
      return rewriter.notifyMatchFailure(
          op, "requires 2 kernel sizes, 2 strides and 4 paddings");
    // 1. The sum of each window, padded positions being zeros.
    Location loc = op.getLoc();
    RankedTensorType type = op.getResult().getType();
    ArrayRef<int64_t> inputShape = op.getInput().getType().getShape();
    Value input =
        padSpatial(rewriter, loc, adaptor.getInput(), padding,
                   rewriter.getZeroAttr(type.getElementType()));
    Value sum = buildPool<linalg::PoolingNchwSumOp>(
        rewriter, loc, input, kernel, strides, type.getShape(), 0.0);

    // 2. Divided by the window's size, or by its positions inside the input.
    bool includePad = op.getCountIncludePad();
    Value result = buildElementwise(
        rewriter, loc, type, sum,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) -> Value {
          if (includePad)
            return div(b, l, xs[0], f32Constant(b, l, kernel[0] * kernel[1]));
          Value rows = countInside(b, l, linalg::IndexOp::create(b, l, 2),
                                   inputShape[2], kernel[0], strides[0],
                                   padding[0]);
          Value columns = countInside(b, l, linalg::IndexOp::create(b, l, 3),
                                      inputShape[3], kernel[1], strides[1],
                                      padding[1]);
          Value count = arith::IndexCastOp::create(
              b, l, b.getI64Type(), arith::MulIOp::create(b, l, rows, columns));
          return div(b, l, xs[0],
                     arith::SIToFPOp::create(b, l, b.getF32Type(), count));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

template <typename OpTy> struct ReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    constexpr bool isMax = std::is_same_v<OpTy, ReduceMaxOp>;
    constexpr bool isMean = std::is_same_v<OpTy, ReduceMeanOp>;
    auto inputType = cast<RankedTensorType>(adaptor.getInput().getType());
    RankedTensorType type = op.getResult().getType();
    SmallVector<int64_t> axes(op.getAxes());
    llvm::sort(axes);

    // 1. Accumulate in f32 over the kept dimensions.
    Value acc = buildReduction(
        rewriter, loc, adaptor.getInput(), axes, isMax ? -INFINITY : 0.0,
        [&](OpBuilder &b, Location l, Value x, Value a) -> Value {
          if (isMax)
            return arith::MaximumFOp::create(b, l, x, a);
          return add(b, l, a, x);
        });

    // 2. Scale (mean), round to the result type and reinsert kept unit
    //    dimensions in one elementwise generic when any is needed.
    if (!isMean && !op.getKeepDims() &&
        type.getElementType() == rewriter.getF32Type()) {
      rewriter.replaceOp(op, acc);
      return success();
    }
    int64_t count = 1;
    for (int64_t axis : axes)
      count *= inputType.getShape()[axis];
    int64_t rank = type.getRank();
    AffineMap accMap = op.getKeepDims()
                           ? getDropDimsMap(rank, axes, rewriter.getContext())
                           : rewriter.getMultiDimIdentityMap(rank);
    Value init =
        emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, loc, acc, {accMap}, init,
        rewriter.getMultiDimIdentityMap(rank), iterators,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) -> Value {
          if (!isMean)
            return xs[0];
          return div(b, l, xs[0], f32Constant(b, l, count));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// SoftmaxOp, LayerNormOp, RmsNormOp
//===----------------------------------------------------------------------===//

struct SoftmaxLowering : OpConversionPattern<SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SoftmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // max, then sum(exp(x - max)), then exp(x - max) * (1 / sum): exp is
    // computed twice rather than stored, which keeps the kernel to one pass
    // of stores; the reciprocal once per row replaces a division per
    // element.
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = adaptor.getInput();
    RankedTensorType type = op.getResult().getType();
    int64_t rank = type.getRank();
    auto axis = static_cast<int64_t>(op.getAxis());
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap rowMap = getDropDimsMap(rank, axis, context);

    Value max =
        buildReduction(rewriter, loc, input, axis, -INFINITY,
                       [](OpBuilder &b, Location l, Value x, Value a) -> Value {
                         return arith::MaximumFOp::create(b, l, x, a);
                       });
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    iterators[axis] = utils::IteratorType::reduction;
    Value sumInit =
        filledTensor(rewriter, loc, dropDims(type.getShape(), axis), 0.0);
    Value sum = buildGeneric(
        rewriter, loc, {input, max}, {identity, rowMap}, sumInit, rowMap,
        iterators, [](OpBuilder &b, Location l, ValueRange xs, Value acc) {
          Value e = math::ExpOp::create(b, l, sub(b, l, xs[0], xs[1]));
          return add(b, l, acc, e);
        });
    Value inverse = buildRowFactor(
        rewriter, loc, dropDims(type.getShape(), axis), sum,
        [](OpBuilder &b, Location l, ValueRange xs, Value) {
          return div(b, l, f32Constant(b, l, 1.0), xs[0]);
        });
    Value init =
        emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    SmallVector<utils::IteratorType> parallel(rank,
                                              utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, loc, {input, max, inverse}, {identity, rowMap, rowMap}, init,
        identity, parallel, [](OpBuilder &b, Location l, ValueRange xs, Value) {
          Value e = math::ExpOp::create(b, l, sub(b, l, xs[0], xs[1]));
          return mul(b, l, e, xs[2]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The maps shared by the normalizations over the last axis: the identity,
/// the rows (all but the last loop) and the last loop alone.
struct NormMaps {
  AffineMap identity, rows, last;
  NormMaps(OpBuilder &b, int64_t rank) {
    MLIRContext *context = b.getContext();
    identity = b.getMultiDimIdentityMap(rank);
    rows = getDropDimsMap(rank, rank - 1, context);
    last = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, context));
  }
};

struct LayerNormLowering : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // sum(x), then sum((x - mean)^2), then the normalized output.
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    RankedTensorType type = op.getResult().getType();
    int64_t rank = type.getRank();
    double inverseSize = 1.0 / static_cast<double>(type.getShape().back());
    double epsilon = op.getEpsilon().convertToDouble();
    NormMaps maps(rewriter, rank);

    Value sum = buildReduction(rewriter, loc, input, rank - 1, 0.0,
                               [](OpBuilder &b, Location l, Value x, Value a) {
                                 return add(b, l, a, x);
                               });
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    iterators.back() = utils::IteratorType::reduction;
    Value varianceInit =
        filledTensor(rewriter, loc, dropDims(type.getShape(), rank - 1), 0.0);
    Value squares =
        buildGeneric(rewriter, loc, {input, sum}, {maps.identity, maps.rows},
                     varianceInit, maps.rows, iterators,
                     [&](OpBuilder &b, Location l, ValueRange xs, Value acc) {
                       Value mean =
                           mul(b, l, xs[1], f32Constant(b, l, inverseSize));
                       Value centered = sub(b, l, xs[0], mean);
                       return add(b, l, acc, mul(b, l, centered, centered));
                     });
    SmallVector<int64_t> rowShape = dropDims(type.getShape(), rank - 1);
    Value mean = buildRowFactor(
        rewriter, loc, rowShape, sum,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) {
          return mul(b, l, xs[0], f32Constant(b, l, inverseSize));
        });
    Value inverse = buildRowFactor(
        rewriter, loc, rowShape, squares,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) {
          Value variance = mul(b, l, xs[0], f32Constant(b, l, inverseSize));
          return math::RsqrtOp::create(
              b, l, add(b, l, variance, f32Constant(b, l, epsilon)));
        });
    Value init =
        emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    SmallVector<utils::IteratorType> parallel(rank,
                                              utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, loc,
        {input, mean, inverse, adaptor.getScale(), adaptor.getBias()},
        {maps.identity, maps.rows, maps.rows, maps.last, maps.last}, init,
        maps.identity, parallel,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) {
          Value normalized = mul(b, l, sub(b, l, xs[0], xs[1]), xs[2]);
          return add(b, l, mul(b, l, normalized, xs[3]), xs[4]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct RmsNormLowering : OpConversionPattern<RmsNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RmsNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    RankedTensorType type = op.getResult().getType();
    int64_t rank = type.getRank();
    double inverseSize = 1.0 / static_cast<double>(type.getShape().back());
    double epsilon = op.getEpsilon().convertToDouble();
    NormMaps maps(rewriter, rank);

    Value squares =
        buildReduction(rewriter, loc, input, rank - 1, 0.0,
                       [](OpBuilder &b, Location l, Value x, Value a) {
                         return add(b, l, a, mul(b, l, x, x));
                       });
    Value inverse = buildRowFactor(
        rewriter, loc, dropDims(type.getShape(), rank - 1), squares,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) {
          Value meanSquare = mul(b, l, xs[0], f32Constant(b, l, inverseSize));
          return math::RsqrtOp::create(
              b, l, add(b, l, meanSquare, f32Constant(b, l, epsilon)));
        });
    Value init =
        emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    SmallVector<utils::IteratorType> parallel(rank,
                                              utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, loc, {input, inverse, adaptor.getScale()},
        {maps.identity, maps.rows, maps.last}, init, maps.identity, parallel,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) {
          return mul(b, l, mul(b, l, xs[0], xs[1]), xs[2]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// ReshapeOp, ConcatOp, SliceOp
//===----------------------------------------------------------------------===//

struct ReshapeLowering : OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto from = cast<RankedTensorType>(input.getType());
    RankedTensorType to = op.getResult().getType();
    if (from == to) {
      rewriter.replaceOp(op, input);
      return success();
    }
    // A pure collapse or expansion when one exists, else through 1-D.
    if (std::optional<SmallVector<ReassociationIndices>> groups =
            getReassociationIndicesForReshape(from, to)) {
      if (from.getRank() > to.getRank())
        rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, to, input,
                                                             *groups);
      else
        rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, to, input,
                                                           *groups);
      return success();
    }
    auto flatType =
        RankedTensorType::get({from.getNumElements()}, from.getElementType());
    auto allOf = [](int64_t rank) {
      ReassociationIndices all;
      for (int64_t d = 0; d < rank; ++d)
        all.push_back(d);
      return SmallVector<ReassociationIndices>{all};
    };
    Value flat = tensor::CollapseShapeOp::create(rewriter, loc, flatType, input,
                                                 allOf(from.getRank()));
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, to, flat,
                                                       allOf(to.getRank()));
    return success();
  }
};

struct ConcatLowering : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getResult().getType();
    auto axis = static_cast<int64_t>(op.getAxis());
    Value result =
        emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    int64_t offset = 0;
    for (Value input : adaptor.getInputs()) {
      ArrayRef<int64_t> shape =
          cast<RankedTensorType>(input.getType()).getShape();
      SmallVector<OpFoldResult> offsets(shape.size(), rewriter.getIndexAttr(0));
      offsets[axis] = rewriter.getIndexAttr(offset);
      SmallVector<OpFoldResult> sizes =
          getAsIndexOpFoldResult(rewriter.getContext(), shape);
      SmallVector<OpFoldResult> strides(shape.size(), rewriter.getIndexAttr(1));
      result = tensor::InsertSliceOp::create(rewriter, loc, input, result,
                                             offsets, sizes, strides);
      offset += shape[axis];
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct SliceLowering : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RankedTensorType type = op.getResult().getType();
    SmallVector<int64_t> strides(op.getStrides());
    if (strides.empty())
      strides.assign(type.getRank(), 1);
    MLIRContext *context = rewriter.getContext();
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
        op, type, adaptor.getInput(),
        getAsIndexOpFoldResult(context, op.getStarts()),
        getAsIndexOpFoldResult(context, type.getShape()),
        getAsIndexOpFoldResult(context, strides));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// GatherOp
//===----------------------------------------------------------------------===//

struct GatherLowering : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // result[pre, idx..., post] = data[pre, clamp(indices[idx...]), post].
    // An index out of range is an error in the reference; the kernel clamps
    // it so that it never reads outside `data`.
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value data = adaptor.getData();
    auto dataType = cast<RankedTensorType>(data.getType());
    auto indicesType = cast<RankedTensorType>(adaptor.getIndices().getType());
    RankedTensorType type = op.getResult().getType();
    auto axis = static_cast<int64_t>(op.getAxis());
    int64_t rank = type.getRank();
    int64_t indicesRank = indicesType.getRank();
    int64_t size = dataType.getShape()[axis];

    SmallVector<AffineExpr> indexExprs;
    for (int64_t i = 0; i < indicesRank; ++i)
      indexExprs.push_back(getAffineDimExpr(axis + i, context));
    AffineMap indicesMap = AffineMap::get(rank, 0, indexExprs, context);
    Value init =
        emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, loc, adaptor.getIndices(), {indicesMap}, init,
        rewriter.getMultiDimIdentityMap(rank), iterators,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) -> Value {
          Value index =
              arith::IndexCastOp::create(b, l, b.getIndexType(), xs[0]);
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value last = arith::ConstantIndexOp::create(b, l, size - 1);
          index = arith::MaxSIOp::create(b, l, index, zero);
          index = arith::MinSIOp::create(b, l, index, last);
          SmallVector<Value> position;
          for (int64_t d = 0; d < axis; ++d)
            position.push_back(linalg::IndexOp::create(b, l, d));
          position.push_back(index);
          for (int64_t d = axis + indicesRank; d < rank; ++d)
            position.push_back(linalg::IndexOp::create(b, l, d));
          return tensor::ExtractOp::create(b, l, data, position);
        },
        /*extendInputs=*/false);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

struct RopeLowering : OpConversionPattern<RopeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // out[..., s, d] = x[..., s, d] cos[s, d] + x[..., s, (d + D/2) % D]
    // sin[s, d], with the angle tables computed here in double: the angle of
    // (s, d) is (offset + s) theta^(-2 (d % D/2) / D), and sin is negated in
    // the first half.
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value input = adaptor.getInput();
    RankedTensorType type = op.getResult().getType();
    ArrayRef<int64_t> shape = type.getShape();
    int64_t rank = type.getRank();
    int64_t sequence = shape[rank - 2], size = shape[rank - 1];
    int64_t half = size / 2;
    double theta = op.getTheta().convertToDouble();
    auto offset = static_cast<int64_t>(op.getPositionOffset());

    SmallVector<float> cosines, sines;
    cosines.reserve(sequence * size);
    sines.reserve(sequence * size);
    for (int64_t s = 0; s < sequence; ++s) {
      for (int64_t d = 0; d < size; ++d) {
        int64_t i = d % half;
        double angle = static_cast<double>(offset + s) *
                       std::pow(theta, -2.0 * static_cast<double>(i) /
                                           static_cast<double>(size));
        cosines.push_back(static_cast<float>(std::cos(angle)));
        double sine = std::sin(angle);
        sines.push_back(static_cast<float>(d < half ? -sine : sine));
      }
    }
    auto tableType =
        RankedTensorType::get({sequence, size}, rewriter.getF32Type());
    Value cosTable = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(tableType, ArrayRef(cosines)));
    Value sinTable = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(tableType, ArrayRef(sines)));

    AffineMap tableMap = AffineMap::get(rank, 0,
                                        {getAffineDimExpr(rank - 2, context),
                                         getAffineDimExpr(rank - 1, context)},
                                        context);
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    Value init = emptyTensor(rewriter, loc, shape, type.getElementType());
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    Value result = buildGeneric(
        rewriter, loc, {input, cosTable, sinTable},
        {identity, tableMap, tableMap}, init, identity, iterators,
        [&](OpBuilder &b, Location l, ValueRange xs, Value) {
          SmallVector<Value> position;
          for (int64_t d = 0; d < rank - 1; ++d)
            position.push_back(linalg::IndexOp::create(b, l, d));
          Value d = linalg::IndexOp::create(b, l, rank - 1);
          Value shifted = arith::AddIOp::create(
              b, l, d, arith::ConstantIndexOp::create(b, l, half));
          position.push_back(arith::RemUIOp::create(
              b, l, shifted, arith::ConstantIndexOp::create(b, l, size)));
          Value partner =
              extend(b, l, tensor::ExtractOp::create(b, l, input, position));
          return add(b, l, mul(b, l, xs[0], xs[1]), mul(b, l, partner, xs[2]));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

void kiln::cpu::populateKilnToLinalgPatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<ElementwiseLowering<NegOp>, ElementwiseLowering<AbsOp>,
               ElementwiseLowering<ExpOp>, ElementwiseLowering<LogOp>,
               ElementwiseLowering<SqrtOp>, ElementwiseLowering<RsqrtOp>,
               ElementwiseLowering<TanhOp>, ElementwiseLowering<SigmoidOp>,
               ElementwiseLowering<ReluOp>, ElementwiseLowering<SiluOp>,
               ElementwiseLowering<GeluOp>, ElementwiseLowering<AddOp>,
               ElementwiseLowering<SubOp>, ElementwiseLowering<MulOp>,
               ElementwiseLowering<DivOp>, ElementwiseLowering<MaxOp>,
               ElementwiseLowering<MinOp>, ElementwiseLowering<PowOp>,
               ElementwiseLowering<ErfOp>>(context);
  patterns.add<CopyLowering<CastOp>, ConstantLowering, TransposeLowering,
               CopyLowering<BroadcastToOp>, MatmulLowering, Conv2DLowering,
               ReduceLowering<ReduceSumOp>, ReduceLowering<ReduceMeanOp>,
               ReduceLowering<ReduceMaxOp>, SoftmaxLowering, LayerNormLowering,
               RmsNormLowering, ReshapeLowering, ConcatLowering, SliceLowering,
               GatherLowering, RopeLowering, SelectLowering,
               MaxPool2DLowering, AvgPool2DLowering>(context);
}

void kiln::cpu::configureKilnToLinalgTarget(ConversionTarget &target) {
  target.addIllegalDialect<KilnDialect>();
  target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                         math::MathDialect, tensor::TensorDialect>();
}

/// Whether `populateKilnToLinalgPatterns` lowers `op`.
static bool isLowered(Operation *op) {
  return isa<NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp,
             ReluOp, SiluOp, GeluOp, AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp,
             PowOp, CastOp, ConstantOp, TransposeOp, BroadcastToOp, MatmulOp,
             Conv2DOp, ReduceSumOp, ReduceMeanOp, ReduceMaxOp, SoftmaxOp,
             LayerNormOp, RmsNormOp, ReshapeOp, ConcatOp, SliceOp, GatherOp,
             RopeOp, ErfOp, SelectOp, MaxPool2DOp, AvgPool2DOp>(op);
}

namespace {

struct ConvertKilnToLinalgPass
    : kiln::cpu::impl::ConvertKilnToLinalgPassBase<ConvertKilnToLinalgPass> {
  using Base::Base;
  void runOnOperation() override;
};

} // namespace

void ConvertKilnToLinalgPass::runOnOperation() {
  func::FuncOp function = getOperation();

  // 1. Name the ops this backend has no lowering for, each at its location.
  bool unsupported = false;
  function.walk([&](Operation *op) {
    if (!isa<KilnDialect>(op->getDialect()) || isLowered(op) ||
        isTiledKernelOp(op))
      return;
    op->emitError() << "'" << op->getName()
                    << "' cannot be lowered by the CPU backend yet";
    unsupported = true;
  });
  if (unsupported)
    return signalPassFailure();

  // 2. Convert every kiln op.
  ConversionTarget target(getContext());
  configureKilnToLinalgTarget(target);
  target.addDynamicallyLegalDialect<KilnDialect>(isTiledKernelOp);
  RewritePatternSet patterns(&getContext());
  populateKilnToLinalgPatterns(patterns);
  if (failed(applyPartialConversion(function, target, std::move(patterns))))
    signalPassFailure();
}
