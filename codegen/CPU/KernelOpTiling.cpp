//===- KernelOpTiling.cpp - Tiling of attention and MoE ops -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// kiln.attention, kiln.moe_router and kiln.moe_experts have no linalg
// counterpart. They implement TilingInterface here, as external models the
// CPU backend registers, over their parallel loops: (batch, head, query) for
// attention, tokens for the MoE ops. The tiled implementation of a tile is
// already the final computation on tensors (linalg, scf and tensor ops that
// the vectorizer and bufferization handle), and reads its operands through
// `tensor.extract_slice`s that it reports as generated slices, so that
// tile-and-fuse fuses the producers (rope, transposes, the router's matmul)
// into the tile.
//
//  - Attention is flash-style: per (batch, head), the query rows of the tile
//    run over blocks of `kAttentionKeyBlock` keys with an online softmax (a
//    running maximum, a running sum and a rescaled accumulator in f32), so
//    no score matrix larger than [query rows x key block] exists. A causal
//    tile stops at the last key its last row sees and masks the rest.
//  - The router takes the softmax statistics of each token with linalg
//    reductions and picks the top k with a scalar loop.
//  - The experts go by expert (a grouped matmul): the tile's (token, slot)
//    pairs are counted per expert, their rows gathered into one contiguous
//    block per expert, padded to whole register tiles of rows; each block
//    is multiplied by its expert's gate and up matrices, goes through
//    SwiGLU, and is multiplied by the down matrix, as contractions that the
//    vectorizer gives the matmul's register tiles, with each matrix packed
//    into panels first. Each token then sums its slots' rows, weighted, in
//    slot order: the result does not depend on how tokens are tiled.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/KernelConfig.h"
#include "codegen/CPU/Patterns.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/TilingInterface.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

//===----------------------------------------------------------------------===//
// Builders
//===----------------------------------------------------------------------===//

/// `value` (a float) extended to f32.
static Value toF32(OpBuilder &b, Location loc, Value value) {
  if (value.getType().isF32())
    return value;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), value);
}

/// `value` (f32) rounded to the float type `type`.
static Value fromF32(OpBuilder &b, Location loc, Value value, Type type) {
  if (type.isF32())
    return value;
  return arith::TruncFOp::create(b, loc, type, value);
}

static Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>(value)));
}

static Value indexValue(OpBuilder &b, Location loc, OpFoldResult value) {
  return getValueOrCreateConstantIndexOp(b, loc, value);
}

/// A tensor of `sizes` elements of `type`.
static Value emptyTensor(OpBuilder &b, Location loc,
                         ArrayRef<OpFoldResult> sizes, Type type) {
  return tensor::EmptyOp::create(b, loc, sizes, type);
}

/// A tensor of `sizes` f32 elements equal to `value`.
static Value filledTensor(OpBuilder &b, Location loc,
                          ArrayRef<OpFoldResult> sizes, double value) {
  Value empty = emptyTensor(b, loc, sizes, b.getF32Type());
  return linalg::FillOp::create(b, loc, f32Constant(b, loc, value), empty)
      .getResult(0);
}

/// The body of a generic: its block arguments (inputs, then the init) to the
/// value it yields.
using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// A linalg.generic with one init and result; `maps` are written as lists of
/// loop positions per operand (inputs, then the init) over `loops` loops.
static Value buildGeneric(OpBuilder &b, Location loc, ValueRange inputs,
                          Value init, ArrayRef<ArrayRef<unsigned>> operandLoops,
                          ArrayRef<utils::IteratorType> iterators,
                          BodyFn body) {
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps;
  for (ArrayRef<unsigned> positions : operandLoops) {
    SmallVector<AffineExpr> exprs;
    for (unsigned position : positions)
      exprs.push_back(getAffineDimExpr(position, context));
    maps.push_back(AffineMap::get(iterators.size(), 0, exprs, context));
  }
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(nested, nestedLoc,
                                       body(nested, nestedLoc, args));
             })
      .getResult(0);
}

static constexpr utils::IteratorType kParallel = utils::IteratorType::parallel;
static constexpr utils::IteratorType kReduction =
    utils::IteratorType::reduction;

/// A slice of `source` at `offsets` with `sizes` and unit strides, with the
/// dimensions in `dropped` (each of size 1) dropped from its type.
static tensor::ExtractSliceOp
extractSlice(OpBuilder &b, Location loc, Value source,
             ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
             ArrayRef<int64_t> dropped = {}) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  SmallVector<int64_t> shape;
  for (auto [d, size] : llvm::enumerate(sizes)) {
    if (llvm::is_contained(dropped, static_cast<int64_t>(d)))
      continue;
    std::optional<int64_t> constant = getConstantIntValue(size);
    shape.push_back(constant ? *constant : ShapedType::kDynamic);
  }
  auto type = RankedTensorType::get(shape, sourceType.getElementType());
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, type, source, offsets, sizes,
                                        strides);
}

/// `value` inserted into `dest` at `offsets` with `sizes` and unit strides.
static Value insertSlice(OpBuilder &b, Location loc, Value value, Value dest,
                         ArrayRef<OpFoldResult> offsets,
                         ArrayRef<OpFoldResult> sizes) {
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, value, dest, offsets, sizes,
                                       strides);
}

/// `lhs + rhs` folded where both are constants.
static OpFoldResult addIndex(OpBuilder &b, Location loc, OpFoldResult lhs,
                             OpFoldResult rhs) {
  AffineExpr d0, d1;
  bindDims(b.getContext(), d0, d1);
  return affine::makeComposedFoldedAffineApply(b, loc, d0 + d1, {lhs, rhs});
}

/// Runs `body` for `iv` in [0, `count`) with `inits` carried through;
/// returns the final values.
static SmallVector<Value>
buildLoop(OpBuilder &b, Location loc, OpFoldResult count, ValueRange inits,
          function_ref<SmallVector<Value>(OpBuilder &, Location, Value iv,
                                          ValueRange carried)>
              body) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(
      b, loc, zero, indexValue(b, loc, count), one, inits,
      [&](OpBuilder &nested, Location nestedLoc, Value iv, ValueRange args) {
        scf::YieldOp::create(nested, nestedLoc,
                             body(nested, nestedLoc, iv, args));
      });
  return loop.getResults();
}

/// Runs `body` for `iv` in [0, `count`) with one tensor carried through;
/// returns the final tensor.
static Value buildLoop(
    OpBuilder &b, Location loc, OpFoldResult count, Value init,
    function_ref<Value(OpBuilder &, Location, Value iv, Value carried)> body) {
  return buildLoop(b, loc, count, ValueRange{init},
                   [&](OpBuilder &b, Location loc, Value iv,
                       ValueRange carried) -> SmallVector<Value> {
                     return {body(b, loc, iv, carried.front())};
                   })
      .front();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

/// One (batch, head) of an attention tile: the rows [`row0`, `row0` +
/// `rows`) of query head `head` against kv head `kvHead`, as a
/// [rows, Dv] tensor of the result element type. Appends the operand slices
/// to `slices`.
static Value buildFlashAttention(OpBuilder &b, Location loc, AttentionOp op,
                                 Value batch, Value head, Value kvHead,
                                 OpFoldResult row0, OpFoldResult rows,
                                 SmallVectorImpl<Operation *> &slices) {
  auto queryType = cast<RankedTensorType>(op.getQuery().getType());
  auto keyType = cast<RankedTensorType>(op.getKey().getType());
  auto valueType = cast<RankedTensorType>(op.getValue().getType());
  int64_t querySeq = queryType.getDimSize(2), dim = queryType.getDimSize(3);
  int64_t keySeq = keyType.getDimSize(2), valueDim = valueType.getDimSize(3);
  Type elementType = queryType.getElementType();
  double scale = op.getScale()
                     ? op.getScale()->convertToDouble()
                     : 1.0 / std::sqrt(static_cast<double>(dim));
  bool causal = op.getCausal();
  MLIRContext *context = b.getContext();
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  OpFoldResult dimSize = b.getIndexAttr(dim);
  OpFoldResult valueDimSize = b.getIndexAttr(valueDim);

  // 1. The query rows, and the keys they see: all of them, or with `causal`
  //    those up to the last row's limit `row0 + rows + Sk - Sq`, clamped to
  //    [0, Sk]; later key blocks are fully masked and never visited.
  auto query = extractSlice(b, loc, op.getQuery(),
                            {batch, head, row0, zero}, {one, one, rows, dimSize},
                            /*dropped=*/{0, 1});
  slices.push_back(query);
  OpFoldResult visible = b.getIndexAttr(keySeq);
  if (causal) {
    AffineExpr d0, d1;
    bindDims(context, d0, d1);
    AffineMap limit = AffineMap::get(
        2, 0, {d0 + d1 + (keySeq - querySeq), getAffineConstantExpr(keySeq, context)},
        context);
    OpFoldResult upper =
        affine::makeComposedFoldedAffineMin(b, loc, limit, {row0, rows});
    visible = affine::makeComposedFoldedAffineMax(
        b, loc,
        AffineMap::get(1, 0, {d0, getAffineConstantExpr(0, context)}, context),
        {upper});
  }

  // 2. The running maximum, sum and accumulator of each row.
  Value maxInit =
      filledTensor(b, loc, {rows}, -std::numeric_limits<double>::infinity());
  Value sumInit = filledTensor(b, loc, {rows}, 0.0);
  Value accInit = filledTensor(b, loc, {rows, valueDimSize}, 0.0);

  // 3. One key block: the rows' running values updated with `keys` keys
  //    from `key0` on.
  auto keyBlock = [&](OpBuilder &b, Location loc, Value key0, OpFoldResult keys,
                      ValueRange carried) -> SmallVector<Value> {
    Value runningMax = carried[0], runningSum = carried[1], acc = carried[2];
    auto key = extractSlice(b, loc, op.getKey(), {batch, kvHead, key0, zero},
                            {one, one, keys, dimSize}, /*dropped=*/{0, 1});
    auto value =
        extractSlice(b, loc, op.getValue(), {batch, kvHead, key0, zero},
                     {one, one, keys, valueDimSize},
                     /*dropped=*/{0, 1});
    slices.push_back(key);
    slices.push_back(value);

    // 3a. Scores q k^T over (i, j, d), scaled and causally masked.
    Value scores = buildGeneric(
        b, loc, {query, key}, filledTensor(b, loc, {rows, keys}, 0.0),
        {{0, 2}, {1, 2}, {0, 1}}, {kParallel, kParallel, kReduction},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value product = arith::MulFOp::create(b, loc, toF32(b, loc, args[0]),
                                                toF32(b, loc, args[1]));
          return arith::AddFOp::create(b, loc, args[2], product);
        });
    Value row0Value = indexValue(b, loc, row0);
    Value masked = buildGeneric(
        b, loc, {scores}, emptyTensor(b, loc, {rows, keys}, b.getF32Type()),
        {{0, 1}, {0, 1}}, {kParallel, kParallel},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value scaled = arith::MulFOp::create(b, loc, args[0],
                                               f32Constant(b, loc, scale));
          if (!causal)
            return scaled;
          // Key key0 + j is masked for row row0 + i when
          // key0 + j > row0 + i + Sk - Sq.
          Value i = linalg::IndexOp::create(b, loc, 0);
          Value j = linalg::IndexOp::create(b, loc, 1);
          Value keyIndex = arith::AddIOp::create(b, loc, key0, j);
          Value limit = arith::AddIOp::create(
              b, loc, arith::AddIOp::create(b, loc, row0Value, i),
              arith::ConstantIndexOp::create(b, loc, keySeq - querySeq));
          Value hidden = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::sgt, keyIndex, limit);
          return arith::SelectOp::create(
              b, loc, hidden,
              f32Constant(b, loc, -std::numeric_limits<double>::infinity()),
              scaled);
        });

    // 3b. The block's maximum, the factor exp(m - m') that rescales
    //     what the rows have summed so far, then the new maximum m'. A
    //     row that has seen only masked keys keeps m' = -inf and
    //     subtracts 0 instead, so that its exps are 0, not NaN. Each
    //     running value is updated in place, after its last read.
    Value blockMax = buildGeneric(
        b, loc, {masked},
        filledTensor(b, loc, {rows}, -std::numeric_limits<double>::infinity()),
        {{0, 1}, {0}}, {kParallel, kReduction},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          return arith::MaximumFOp::create(b, loc, args[0], args[1]);
        });
    auto safeMax = [&](OpBuilder &b, Location loc, Value max) -> Value {
      Value isInf = arith::CmpFOp::create(
          b, loc, arith::CmpFPredicate::OEQ, max,
          f32Constant(b, loc, -std::numeric_limits<double>::infinity()));
      return arith::SelectOp::create(b, loc, isInf, f32Constant(b, loc, 0.0),
                                     max);
    };
    Value correction = buildGeneric(
        b, loc, {runningMax, blockMax},
        emptyTensor(b, loc, {rows}, b.getF32Type()), {{0}, {0}, {0}},
        {kParallel}, [&](OpBuilder &b, Location loc, ValueRange args) {
          Value max = arith::MaximumFOp::create(b, loc, args[0], args[1]);
          Value shifted =
              arith::SubFOp::create(b, loc, args[0], safeMax(b, loc, max));
          return math::ExpOp::create(b, loc, shifted);
        });
    Value newMax = buildGeneric(
        b, loc, {blockMax}, runningMax, {{0}, {0}}, {kParallel},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          return arith::MaximumFOp::create(b, loc, args[0], args[1]);
        });
    Value probabilities =
        buildGeneric(b, loc, {masked, newMax},
                     emptyTensor(b, loc, {rows, keys}, b.getF32Type()),
                     {{0, 1}, {0}, {0, 1}}, {kParallel, kParallel},
                     [&](OpBuilder &b, Location loc, ValueRange args) {
                       Value shifted = arith::SubFOp::create(
                           b, loc, args[0], safeMax(b, loc, args[1]));
                       return math::ExpOp::create(b, loc, shifted);
                     });

    // 3c. Rescale the sum and the accumulator, then add this block.
    auto rescale = [&](Value running, ArrayRef<unsigned> loops) {
      SmallVector<utils::IteratorType> iterators(loops.size(), kParallel);
      return buildGeneric(
          b, loc, {correction}, running, {{0}, loops}, iterators,
          [&](OpBuilder &b, Location loc, ValueRange args) {
            return arith::MulFOp::create(b, loc, args[1], args[0]);
          });
    };
    Value newSum =
        buildGeneric(b, loc, {probabilities}, rescale(runningSum, {0}),
                     {{0, 1}, {0}}, {kParallel, kReduction},
                     [&](OpBuilder &b, Location loc, ValueRange args) {
                       return arith::AddFOp::create(b, loc, args[0], args[1]);
                     });
    Value newAcc = buildGeneric(
        b, loc, {probabilities, value}, rescale(acc, {0, 1}),
        {{0, 2}, {2, 1}, {0, 1}}, {kParallel, kParallel, kReduction},
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value product =
              arith::MulFOp::create(b, loc, args[0], toF32(b, loc, args[1]));
          return arith::AddFOp::create(b, loc, args[2], product);
        });
    return {newMax, newSum, newAcc};
  };

  //    Whole blocks have a static number of keys and vectorize without
  //    masks; the keys after the last whole block go in one block of their
  //    own, static too unless causal masking makes the visible keys depend
  //    on the tile. (A block whose size is dynamic in every iteration
  //    vectorized into masked code about 5x slower per FLOP: at sequence
  //    145, 17 keys are left after two blocks of 64.)
  AffineExpr t0, t1;
  bindDims(context, t0, t1);
  OpFoldResult wholeEnd = affine::makeComposedFoldedAffineApply(
      b, loc, t0.floorDiv(kAttentionKeyBlock) * kAttentionKeyBlock, {visible});
  Value lower = arith::ConstantIndexOp::create(b, loc, 0);
  Value step = arith::ConstantIndexOp::create(b, loc, kAttentionKeyBlock);
  SmallVector<Value> running = {maxInit, sumInit, accInit};
  if (!isConstantIntValue(wholeEnd, 0))
    running =
        scf::ForOp::create(
            b, loc, lower, indexValue(b, loc, wholeEnd), step, running,
            [&](OpBuilder &b, Location loc, Value key0, ValueRange carried) {
              scf::YieldOp::create(b, loc,
                                   keyBlock(b, loc, key0,
                                            b.getIndexAttr(kAttentionKeyBlock),
                                            carried));
            })
            .getResults();
  OpFoldResult rest = affine::makeComposedFoldedAffineApply(
      b, loc, t0 - t1, {visible, wholeEnd});
  if (std::optional<int64_t> restKeys = getConstantIntValue(rest)) {
    if (*restKeys > 0)
      running = keyBlock(b, loc, indexValue(b, loc, wholeEnd), rest, running);
  } else {
    // At most one iteration, with its keys known only at run time.
    running =
        scf::ForOp::create(
            b, loc, indexValue(b, loc, wholeEnd), indexValue(b, loc, visible),
            step, running,
            [&](OpBuilder &b, Location loc, Value key0, ValueRange carried) {
              OpFoldResult keys = affine::makeComposedFoldedAffineApply(
                  b, loc, t0 - t1, {visible, key0});
              scf::YieldOp::create(b, loc,
                                   keyBlock(b, loc, key0, keys, carried));
            })
            .getResults();
  }

  // 4. Normalize; a row that sees no key is zero.
  return buildGeneric(
      b, loc, {running[2], running[1]},
      emptyTensor(b, loc, {rows, valueDimSize}, elementType),
      {{0, 1}, {0}, {0, 1}}, {kParallel, kParallel},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value zeroF = f32Constant(b, loc, 0.0);
        Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                            args[1], zeroF);
        Value quotient = arith::DivFOp::create(b, loc, args[0], args[1]);
        Value out = arith::SelectOp::create(b, loc, empty, zeroF, quotient);
        return fromF32(b, loc, out, elementType);
      });
}

namespace {

/// Tiles kiln.attention over (batch, query head, query row).
struct AttentionTilingModel
    : TilingInterface::ExternalModel<AttentionTilingModel, AttentionOp> {
  SmallVector<utils::IteratorType> getLoopIteratorTypes(Operation *) const {
    return SmallVector<utils::IteratorType>(3, kParallel);
  }

  SmallVector<Range> getIterationDomain(Operation *op, OpBuilder &b) const {
    ArrayRef<int64_t> shape =
        cast<RankedTensorType>(op->getResult(0).getType()).getShape();
    SmallVector<Range> domain;
    for (int64_t d = 0; d < 3; ++d)
      domain.push_back(
          {b.getIndexAttr(0), b.getIndexAttr(shape[d]), b.getIndexAttr(1)});
    return domain;
  }

  FailureOr<TilingResult>
  getTiledImplementation(Operation *operation, OpBuilder &b,
                         ArrayRef<OpFoldResult> offsets,
                         ArrayRef<OpFoldResult> sizes) const {
    auto op = cast<AttentionOp>(operation);
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t valueDim = resultType.getDimSize(3);
    int64_t groupSize = resultType.getDimSize(1) /
                        cast<RankedTensorType>(op.getKey().getType())
                            .getDimSize(1);
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    OpFoldResult valueDimSize = b.getIndexAttr(valueDim);
    SmallVector<Operation *> slices;
    Value init = emptyTensor(b, loc, {sizes[0], sizes[1], sizes[2], valueDimSize},
                             resultType.getElementType());
    // One flash loop per (batch, head) of the tile.
    Value result = buildLoop(
        b, loc, sizes[0], init,
        [&](OpBuilder &b, Location loc, Value bi, Value tile) {
          return buildLoop(
              b, loc, sizes[1], tile,
              [&](OpBuilder &b, Location loc, Value hi, Value tile) {
                Value batch = indexValue(b, loc, addIndex(b, loc, offsets[0], bi));
                OpFoldResult headFold = addIndex(b, loc, offsets[1], hi);
                Value head = indexValue(b, loc, headFold);
                AffineExpr d0;
                bindDims(b.getContext(), d0);
                Value kvHead = indexValue(
                    b, loc,
                    affine::makeComposedFoldedAffineApply(
                        b, loc, d0.floorDiv(groupSize), {headFold}));
                Value rows = buildFlashAttention(b, loc, op, batch, head,
                                                 kvHead, offsets[2], sizes[2],
                                                 slices);
                return insertSlice(b, loc, rows, tile, {bi, hi, zero, zero},
                                   {one, one, sizes[2], valueDimSize});
              });
        });
    return TilingResult{{result.getDefiningOp()}, {result}, slices};
  }

  LogicalResult
  getResultTilePosition(Operation *op, OpBuilder &b, unsigned,
                        ArrayRef<OpFoldResult> offsets,
                        ArrayRef<OpFoldResult> sizes,
                        SmallVector<OpFoldResult> &resultOffsets,
                        SmallVector<OpFoldResult> &resultSizes) const {
    int64_t valueDim =
        cast<RankedTensorType>(op->getResult(0).getType()).getDimSize(3);
    resultOffsets.assign(offsets.begin(), offsets.end());
    resultOffsets.push_back(b.getIndexAttr(0));
    resultSizes.assign(sizes.begin(), sizes.end());
    resultSizes.push_back(b.getIndexAttr(valueDim));
    return success();
  }

  FailureOr<TilingResult>
  generateResultTileValue(Operation *op, OpBuilder &b, unsigned,
                          ArrayRef<OpFoldResult> offsets,
                          ArrayRef<OpFoldResult> sizes) const {
    // Only whole rows of the head dimension are computed.
    int64_t valueDim =
        cast<RankedTensorType>(op->getResult(0).getType()).getDimSize(3);
    if (!isConstantIntValue(offsets[3], 0) ||
        !isConstantIntValue(sizes[3], valueDim))
      return failure();
    return getTiledImplementation(op, b, offsets.take_front(3),
                                  sizes.take_front(3));
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// MoeRouterOp
//===----------------------------------------------------------------------===//

/// The router of tokens [`token0`, `token0` + `tokens`): weights and
/// indices of shape [tokens, k].
static SmallVector<Value> buildRouter(OpBuilder &b, Location loc,
                                      MoeRouterOp op, OpFoldResult token0,
                                      OpFoldResult tokens,
                                      SmallVectorImpl<Operation *> &slices) {
  auto logitsType = cast<RankedTensorType>(op.getLogits().getType());
  int64_t experts = logitsType.getDimSize(1), topK = op.getTopK();
  Type elementType = logitsType.getElementType();
  OpFoldResult zero = b.getIndexAttr(0);
  OpFoldResult kSize = b.getIndexAttr(topK);
  auto logits = extractSlice(b, loc, op.getLogits(), {token0, zero},
                             {tokens, b.getIndexAttr(experts)});
  slices.push_back(logits);

  // 1. Softmax statistics per token: the maximum and the sum of exps.
  double infinity = std::numeric_limits<double>::infinity();
  Value max = buildGeneric(
      b, loc, {logits}, filledTensor(b, loc, {tokens}, -infinity),
      {{0, 1}, {0}}, {kParallel, kReduction},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        return arith::MaximumFOp::create(b, loc, toF32(b, loc, args[0]),
                                         args[1]);
      });
  Value sum = buildGeneric(
      b, loc, {logits, max}, filledTensor(b, loc, {tokens}, 0.0),
      {{0, 1}, {0}, {0}}, {kParallel, kReduction},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value shifted =
            arith::SubFOp::create(b, loc, toF32(b, loc, args[0]), args[1]);
        return arith::AddFOp::create(b, loc, args[2],
                                     math::ExpOp::create(b, loc, shifted));
      });

  // 2. Slot j of a token holds the largest logit below slot j - 1 in the
  //    order (logit descending, index ascending): the softmax is monotonic,
  //    so this is the reference's order of probabilities with ties broken
  //    by the lower index.
  Value indicesInit = emptyTensor(b, loc, {tokens, kSize}, b.getI32Type());
  Value probabilitiesInit =
      emptyTensor(b, loc, {tokens, kSize}, b.getF32Type());
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value cK = arith::ConstantIndexOp::create(b, loc, topK);
  Value cE = arith::ConstantIndexOp::create(b, loc, experts);
  auto tokenLoop = scf::ForOp::create(
      b, loc, c0, indexValue(b, loc, tokens), c1,
      ValueRange{indicesInit, probabilitiesInit},
      [&](OpBuilder &b, Location loc, Value t, ValueRange tokenArgs) {
        Value rowMax = tensor::ExtractOp::create(b, loc, max, t);
        Value rowSum = tensor::ExtractOp::create(b, loc, sum, t);
        auto slotLoop = scf::ForOp::create(
            b, loc, c0, cK, c1,
            ValueRange{tokenArgs[0], tokenArgs[1], f32Constant(b, loc, infinity),
                       arith::ConstantIndexOp::create(b, loc, -1)},
            [&](OpBuilder &b, Location loc, Value j, ValueRange slotArgs) {
              Value previous = slotArgs[2], previousIndex = slotArgs[3];
              auto expertLoop = scf::ForOp::create(
                  b, loc, c0, cE, c1,
                  ValueRange{f32Constant(b, loc, -infinity), cE},
                  [&](OpBuilder &b, Location loc, Value e,
                      ValueRange bestArgs) {
                    Value logit = toF32(
                        b, loc,
                        tensor::ExtractOp::create(b, loc, logits,
                                                  ValueRange{t, e}));
                    // Below the previous slot in the order.
                    Value below = arith::CmpFOp::create(
                        b, loc, arith::CmpFPredicate::OLT, logit, previous);
                    Value tie = arith::AndIOp::create(
                        b, loc,
                        arith::CmpFOp::create(
                            b, loc, arith::CmpFPredicate::OEQ, logit, previous),
                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                              e, previousIndex));
                    Value eligible = arith::OrIOp::create(b, loc, below, tie);
                    // Above the best so far, or the first eligible one.
                    Value better = arith::OrIOp::create(
                        b, loc,
                        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                              logit, bestArgs[0]),
                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                              bestArgs[1], cE));
                    Value take = arith::AndIOp::create(b, loc, eligible, better);
                    scf::YieldOp::create(
                        b, loc,
                        ValueRange{arith::SelectOp::create(b, loc, take, logit,
                                                           bestArgs[0]),
                                   arith::SelectOp::create(b, loc, take, e,
                                                           bestArgs[1])});
                  });
              Value best = expertLoop.getResult(0);
              Value bestIndex = expertLoop.getResult(1);
              Value probability = arith::DivFOp::create(
                  b, loc,
                  math::ExpOp::create(
                      b, loc, arith::SubFOp::create(b, loc, best, rowMax)),
                  rowSum);
              Value index = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                                       bestIndex);
              Value indices = tensor::InsertOp::create(
                  b, loc, index, slotArgs[0], ValueRange{t, j});
              Value probabilities = tensor::InsertOp::create(
                  b, loc, probability, slotArgs[1], ValueRange{t, j});
              scf::YieldOp::create(
                  b, loc, ValueRange{indices, probabilities, best, bestIndex});
            });
        scf::YieldOp::create(
            b, loc, ValueRange{slotLoop.getResult(0), slotLoop.getResult(1)});
      });
  Value indices = tokenLoop.getResult(0);
  Value probabilities = tokenLoop.getResult(1);

  // 3. The weights, rescaled to sum to one if asked.
  Value total = buildGeneric(
      b, loc, {probabilities}, filledTensor(b, loc, {tokens}, 0.0),
      {{0, 1}, {0}}, {kParallel, kReduction},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        return arith::AddFOp::create(b, loc, args[0], args[1]);
      });
  bool normalize = op.getNormalize();
  Value weights = buildGeneric(
      b, loc, {probabilities, total},
      emptyTensor(b, loc, {tokens, kSize}, elementType), {{0, 1}, {0}, {0, 1}},
      {kParallel, kParallel}, [&](OpBuilder &b, Location loc, ValueRange args) {
        Value weight = normalize
                           ? arith::DivFOp::create(b, loc, args[0], args[1])
                           : args[0];
        return fromF32(b, loc, weight, elementType);
      });
  return {weights, indices};
}

namespace {

/// The tiling of an op whose results are [tokens, width] tensors tiled over
/// tokens only: `Derived` gives getTiledImplementation for a range of tokens,
/// computing every result.
template <typename Derived, typename OpTy>
struct TokenTilingModel : TilingInterface::ExternalModel<Derived, OpTy> {
  SmallVector<utils::IteratorType> getLoopIteratorTypes(Operation *) const {
    return {kParallel};
  }

  SmallVector<Range> getIterationDomain(Operation *op, OpBuilder &b) const {
    int64_t tokens = getResultType(op, 0).getDimSize(0);
    return {{b.getIndexAttr(0), b.getIndexAttr(tokens), b.getIndexAttr(1)}};
  }

  LogicalResult
  getResultTilePosition(Operation *op, OpBuilder &b, unsigned resultNumber,
                        ArrayRef<OpFoldResult> offsets,
                        ArrayRef<OpFoldResult> sizes,
                        SmallVector<OpFoldResult> &resultOffsets,
                        SmallVector<OpFoldResult> &resultSizes) const {
    resultOffsets = {offsets[0], b.getIndexAttr(0)};
    resultSizes = {sizes[0], b.getIndexAttr(getWidth(op, resultNumber))};
    return success();
  }

  /// The tile of result `resultNumber` alone, as fusion expects it: whole
  /// rows of a range of tokens.
  FailureOr<TilingResult>
  generateResultTileValue(Operation *op, OpBuilder &b, unsigned resultNumber,
                          ArrayRef<OpFoldResult> offsets,
                          ArrayRef<OpFoldResult> sizes) const {
    if (!isConstantIntValue(offsets[1], 0) ||
        !isConstantIntValue(sizes[1], getWidth(op, resultNumber)))
      return failure();
    FailureOr<TilingResult> tiled =
        static_cast<const Derived *>(this)->getTiledImplementation(
            op, b, offsets[0], sizes[0]);
    if (failed(tiled))
      return failure();
    Value result = tiled->tiledValues[resultNumber];
    return TilingResult{{result.getDefiningOp()}, {result},
                        tiled->generatedSlices};
  }

private:
  static RankedTensorType getResultType(Operation *op, unsigned number) {
    return cast<RankedTensorType>(op->getResult(number).getType());
  }
  static int64_t getWidth(Operation *op, unsigned number) {
    return getResultType(op, number).getDimSize(1);
  }
};

/// Tiles kiln.moe_router over tokens.
struct MoeRouterTilingModel
    : TokenTilingModel<MoeRouterTilingModel, MoeRouterOp> {
  FailureOr<TilingResult>
  getTiledImplementation(Operation *op, OpBuilder &b,
                         ArrayRef<OpFoldResult> offsets,
                         ArrayRef<OpFoldResult> sizes) const {
    SmallVector<Operation *> slices;
    SmallVector<Value> results = buildRouter(
        b, op->getLoc(), cast<MoeRouterOp>(op), offsets[0], sizes[0], slices);
    return TilingResult{{results[0].getDefiningOp(), results[1].getDefiningOp()},
                        results, slices};
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// MoeExpertsOp
//===----------------------------------------------------------------------===//

/// The expert of slot `j` of token `t`, clamped into [0, `experts`): the
/// router never picks another, and no index may read outside the weights.
static Value getSlotExpert(OpBuilder &b, Location loc, Value indices, Value t,
                           Value j, int64_t experts) {
  Value raw = tensor::ExtractOp::create(b, loc, indices, ValueRange{t, j});
  Value expert = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  expert = arith::MaxSIOp::create(b, loc, expert,
                                  arith::ConstantIndexOp::create(b, loc, 0));
  return arith::MinSIOp::create(
      b, loc, expert, arith::ConstantIndexOp::create(b, loc, experts - 1));
}

/// The body of a contraction generic like the matmul's: f32 accumulation
/// of contractible multiply-adds, so that kiln-cpu-vectorize gives it the
/// matmul's register tiles.
static Value multiplyAdd(OpBuilder &b, Location loc, ValueRange args) {
  auto contract = arith::FastMathFlags::contract;
  Value product = arith::MulFOp::create(b, loc, toF32(b, loc, args[0]),
                                        toF32(b, loc, args[1]), contract);
  return arith::AddFOp::create(b, loc, args[2], product, contract);
}

/// The register tile [m, n] of the enclosing kernel's config, by which the
/// experts' matmuls go: blocks of rows are padded to a multiple of m, and
/// expert matrices packed into panels of n columns. [1, 0] (no padding, no
/// panels) without a config.
static std::pair<int64_t, int64_t> getExpertMicroTile(Operation *op) {
  auto function = op->getParentOfType<func::FuncOp>();
  auto config =
      function
          ? function->getAttrOfType<CpuConfigAttr>(CpuConfigAttr::kAttrName)
          : CpuConfigAttr();
  if (!config || !config.getMicroTile() || config.getMicroTile().size() != 3)
    return {1, 0};
  return {std::max<int64_t>(1, config.getMicroTile()[0]),
          config.getMicroTile()[1]};
}

/// The f32 product `lhs` [rows, K] x `matrix` [K, N] (an expert's weights).
/// When `panel` divides N, the matrix is first packed into N / `panel`
/// contiguous [K, panel] panels and the product computed as [rows, N /
/// panel, panel], which has the layout of [rows, N]: the contraction of the
/// matmul path with its rhs packed, whose micro kernel reads a panel as one
/// stream that stays in L1 (rows of an unpacked matrix lie N * 4 bytes
/// apart and evict each other when that is a multiple of 1 KiB).
static Value buildExpertMatmul(OpBuilder &b, Location loc, Value lhs,
                               Value matrix, OpFoldResult rows, int64_t panel) {
  auto matrixType = cast<RankedTensorType>(matrix.getType());
  int64_t depth = matrixType.getDimSize(0), cols = matrixType.getDimSize(1);
  if (panel <= 0 || cols % panel != 0)
    return buildGeneric(b, loc, {lhs, matrix},
                        filledTensor(b, loc, {rows, b.getIndexAttr(cols)}, 0.0),
                        {{0, 2}, {2, 1}, {0, 1}},
                        {kParallel, kParallel, kReduction}, multiplyAdd);

  OpFoldResult panels = b.getIndexAttr(cols / panel);
  OpFoldResult panelSize = b.getIndexAttr(panel);
  Value packedInit =
      emptyTensor(b, loc, {panels, b.getIndexAttr(depth), panelSize},
                  matrixType.getElementType());
  Value packed = linalg::PackOp::create(b, loc, matrix, packedInit,
                                        /*innerDimsPos=*/{1},
                                        /*innerTiles=*/{panelSize},
                                        /*paddingValue=*/std::nullopt,
                                        /*outerDimsPerm=*/{1, 0})
                     .getResult();
  // Loops (m, n0, k, n1), as linalg::pack orders those of the packed matmul.
  Value product =
      buildGeneric(b, loc, {lhs, packed},
                   filledTensor(b, loc, {rows, panels, panelSize}, 0.0),
                   {{0, 2}, {1, 2, 3}, {0, 1, 3}},
                   {kParallel, kParallel, kReduction, kParallel}, multiplyAdd);
  auto productType = cast<RankedTensorType>(product.getType());
  auto flatType = RankedTensorType::get({productType.getDimSize(0), cols},
                                        productType.getElementType());
  return tensor::CollapseShapeOp::create(
      b, loc, flatType, product,
      SmallVector<ReassociationIndices>{{0}, {1, 2}});
}

/// A tensor of `size` index elements equal to `value`.
static Value filledIndexTensor(OpBuilder &b, Location loc, OpFoldResult size,
                               int64_t value) {
  Value empty = emptyTensor(b, loc, {size}, b.getIndexType());
  return linalg::FillOp::create(
             b, loc, arith::ConstantIndexOp::create(b, loc, value).getResult(),
             empty)
      .getResult(0);
}

/// `tensor[position] + increment`, stored back; returns the new tensor.
static Value addAt(OpBuilder &b, Location loc, Value tensor, Value position,
                   Value increment) {
  Value old = tensor::ExtractOp::create(b, loc, tensor, position);
  return tensor::InsertOp::create(
      b, loc, arith::AddIOp::create(b, loc, old, increment), tensor, position);
}

/// The experts' output for tokens [`token0`, `token0` + `tokens`), as a
/// [tokens, H] tensor, grouped by expert: each expert's weights are read
/// once per tile, by a matmul over all the tile's rows routed to it.
static Value buildExperts(OpBuilder &b, Location loc, MoeExpertsOp op,
                          OpFoldResult token0, OpFoldResult tokens,
                          SmallVectorImpl<Operation *> &slices) {
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  auto gateType = cast<RankedTensorType>(op.getGate().getType());
  int64_t hidden = inputType.getDimSize(1), experts = gateType.getDimSize(0);
  int64_t ffn = gateType.getDimSize(2);
  int64_t topK = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
  Type elementType = inputType.getElementType();
  MLIRContext *context = b.getContext();
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  OpFoldResult hiddenSize = b.getIndexAttr(hidden);
  OpFoldResult ffnSize = b.getIndexAttr(ffn);
  OpFoldResult kSize = b.getIndexAttr(topK);
  OpFoldResult expertsSize = b.getIndexAttr(experts);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  auto [blockStep, panel] = getExpertMicroTile(op);

  auto input =
      extractSlice(b, loc, op.getInput(), {token0, zero}, {tokens, hiddenSize});
  auto weights =
      extractSlice(b, loc, op.getWeights(), {token0, zero}, {tokens, kSize});
  auto indices =
      extractSlice(b, loc, op.getIndices(), {token0, zero}, {tokens, kSize});
  slices.append({input, weights, indices});

  // The slots (token, j) of the tile, token-major.
  AffineExpr d0;
  bindDims(context, d0);
  OpFoldResult slots =
      affine::makeComposedFoldedAffineApply(b, loc, d0 * topK, {tokens});
  auto slotOf = [&](OpBuilder &b, Location loc, Value s) {
    Value k = arith::ConstantIndexOp::create(b, loc, topK);
    return std::make_pair(arith::DivUIOp::create(b, loc, s, k).getResult(),
                          arith::RemUIOp::create(b, loc, s, k).getResult());
  };

  // 1. The slots of each expert, counted, and the start of its block of
  //    rows: the blocks follow the experts' order, each padded to whole
  //    register tiles of rows, so that no matmul has a partial one (a
  //    partial tile goes a row at a time; the padding rows are zeros, and
  //    nothing reads their results).
  Value counts =
      buildLoop(b, loc, slots, filledIndexTensor(b, loc, expertsSize, 0),
                [&](OpBuilder &b, Location loc, Value s, Value counts) {
                  auto [t, j] = slotOf(b, loc, s);
                  Value expert = getSlotExpert(b, loc, indices, t, j, experts);
                  return addAt(b, loc, counts, expert, c1);
                });
  // Padded in arith rather than affine ops: the vectorizer then peels the
  // partial row tile of a block, which is never entered, instead of proving
  // that there is none and masking every tile.
  auto padded = [&](OpBuilder &b, Location loc, Value count) -> Value {
    Value step = arith::ConstantIndexOp::create(b, loc, blockStep);
    Value last = arith::ConstantIndexOp::create(b, loc, blockStep - 1);
    Value blocks = arith::DivUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, count, last), step);
    return arith::MulIOp::create(b, loc, blocks, step);
  };
  Value starts =
      buildLoop(
          b, loc, expertsSize,
          ValueRange{emptyTensor(b, loc, {expertsSize}, b.getIndexType()),
                     arith::ConstantIndexOp::create(b, loc, 0)},
          [&](OpBuilder &b, Location loc, Value e,
              ValueRange carried) -> SmallVector<Value> {
            Value count = tensor::ExtractOp::create(b, loc, counts, e);
            return {tensor::InsertOp::create(b, loc, carried[1], carried[0], e),
                    arith::AddIOp::create(b, loc, carried[1],
                                          padded(b, loc, count))};
          })
          .front();
  OpFoldResult capacity = affine::makeComposedFoldedAffineApply(
      b, loc, d0 * topK + experts * (blockStep - 1), {tokens});

  // 2. The rows of the slots gathered expert by expert (slots in order
  //    within an expert), and the row of each slot.
  Value rowsInit =
      linalg::FillOp::create(
          b, loc,
          arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType))
              .getResult(),
          emptyTensor(b, loc, {capacity, hiddenSize}, elementType))
          .getResult(0);
  Value rowOfInit = emptyTensor(b, loc, {tokens, kSize}, b.getIndexType());
  SmallVector<Value> gathered = buildLoop(
      b, loc, slots, ValueRange{starts, rowOfInit, rowsInit},
      [&](OpBuilder &b, Location loc, Value s,
          ValueRange carried) -> SmallVector<Value> {
        auto [t, j] = slotOf(b, loc, s);
        Value expert = getSlotExpert(b, loc, indices, t, j, experts);
        Value row = tensor::ExtractOp::create(b, loc, carried[0], expert);
        Value next = addAt(b, loc, carried[0], expert, c1);
        Value rowOf =
            tensor::InsertOp::create(b, loc, row, carried[1], ValueRange{t, j});
        auto source = extractSlice(b, loc, input, {t, zero}, {one, hiddenSize},
                                   /*dropped=*/{0});
        auto target = extractSlice(b, loc, carried[2], {row, zero},
                                   {one, hiddenSize}, /*dropped=*/{0});
        Value copy = linalg::CopyOp::create(b, loc, source.getResult(),
                                            target.getResult())
                         .getResult(0);
        return {next, rowOf,
                insertSlice(b, loc, copy, carried[2], {row, zero},
                            {one, hiddenSize})};
      });
  Value rowOf = gathered[1], rows = gathered[2];

  // 3. Per expert, its SwiGLU over its block of rows, as three matmuls.
  Value outputsInit =
      emptyTensor(b, loc, {capacity, hiddenSize}, b.getF32Type());
  Value outputs = buildLoop(
      b, loc, expertsSize, outputsInit,
      [&](OpBuilder &b, Location loc, Value e, Value outputs) {
        OpFoldResult start =
            tensor::ExtractOp::create(b, loc, starts, e).getResult();
        OpFoldResult count =
            padded(b, loc, tensor::ExtractOp::create(b, loc, counts, e));
        auto block =
            extractSlice(b, loc, rows, {start, zero}, {count, hiddenSize});
        auto matrix = [&](Value weights, OpFoldResult rowsSize,
                          OpFoldResult colsSize) {
          return extractSlice(b, loc, weights, {e, zero, zero},
                              {one, rowsSize, colsSize}, /*dropped=*/{0})
              .getResult();
        };
        Value gate = buildExpertMatmul(
            b, loc, block, matrix(op.getGate(), hiddenSize, ffnSize), count,
            panel);
        Value up = buildExpertMatmul(b, loc, block,
                                     matrix(op.getUp(), hiddenSize, ffnSize),
                                     count, panel);

        // silu(g) * u, rounded to the input type as the reference does.
        Value activation = buildGeneric(
            b, loc, {gate, up},
            emptyTensor(b, loc, {count, ffnSize}, elementType),
            {{0, 1}, {0, 1}, {0, 1}}, {kParallel, kParallel},
            [&](OpBuilder &b, Location loc, ValueRange args) {
              Value negated = arith::NegFOp::create(b, loc, args[0]);
              Value sigmoid = arith::DivFOp::create(
                  b, loc, f32Constant(b, loc, 1.0),
                  arith::AddFOp::create(b, loc, f32Constant(b, loc, 1.0),
                                        math::ExpOp::create(b, loc, negated)));
              Value value = arith::MulFOp::create(
                  b, loc, arith::MulFOp::create(b, loc, args[0], sigmoid),
                  args[1]);
              return fromF32(b, loc, value, elementType);
            });
        Value down = buildExpertMatmul(
            b, loc, activation, matrix(op.getDown(), ffnSize, hiddenSize),
            count, panel);
        return insertSlice(b, loc, down, outputs, {start, zero},
                           {count, hiddenSize});
      });

  // 4. Per token, the weighted sum of its slots' rows in slot order, rounded
  //    once.
  Value init = emptyTensor(b, loc, {tokens, hiddenSize}, elementType);
  return buildLoop(
      b, loc, tokens, init,
      [&](OpBuilder &b, Location loc, Value t, Value result) {
        Value out = buildLoop(
            b, loc, kSize, filledTensor(b, loc, {hiddenSize}, 0.0),
            [&](OpBuilder &b, Location loc, Value j, Value out) {
              Value row =
                  tensor::ExtractOp::create(b, loc, rowOf, ValueRange{t, j});
              Value weight = toF32(
                  b, loc,
                  tensor::ExtractOp::create(b, loc, weights, ValueRange{t, j}));
              auto output = extractSlice(b, loc, outputs, {row, zero},
                                         {one, hiddenSize}, /*dropped=*/{0});
              return buildGeneric(
                  b, loc, {output}, out, {{0}, {0}}, {kParallel},
                  [&](OpBuilder &b, Location loc, ValueRange args) {
                    return arith::AddFOp::create(
                        b, loc, args[1],
                        arith::MulFOp::create(b, loc, weight, args[0]));
                  });
            });
        Value rounded = buildGeneric(
            b, loc, {out}, emptyTensor(b, loc, {hiddenSize}, elementType),
            {{0}, {0}}, {kParallel},
            [&](OpBuilder &b, Location loc, ValueRange args) {
              return fromF32(b, loc, args[0], elementType);
            });
        return insertSlice(b, loc, rounded, result, {t, zero},
                           {one, hiddenSize});
      });
}

namespace {

/// Tiles kiln.moe_experts over tokens.
struct MoeExpertsTilingModel
    : TokenTilingModel<MoeExpertsTilingModel, MoeExpertsOp> {
  FailureOr<TilingResult>
  getTiledImplementation(Operation *op, OpBuilder &b,
                         ArrayRef<OpFoldResult> offsets,
                         ArrayRef<OpFoldResult> sizes) const {
    SmallVector<Operation *> slices;
    Value result = buildExperts(b, op->getLoc(), cast<MoeExpertsOp>(op),
                                offsets[0], sizes[0], slices);
    return TilingResult{{result.getDefiningOp()}, {result}, slices};
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

void kiln::cpu::registerKernelOpTilingModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, KilnDialect *) {
    AttentionOp::attachInterface<AttentionTilingModel>(*context);
    MoeRouterOp::attachInterface<MoeRouterTilingModel>(*context);
    MoeExpertsOp::attachInterface<MoeExpertsTilingModel>(*context);
  });
}

bool kiln::cpu::isTiledKernelOp(Operation *op) {
  return isa<AttentionOp, MoeRouterOp, MoeExpertsOp>(op);
}

LogicalResult kiln::cpu::decomposeKernelOps(RewriterBase &rewriter,
                                            func::FuncOp kernel) {
  SmallVector<Operation *> ops;
  kernel.walk([&](Operation *op) {
    if (isTiledKernelOp(op))
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    // The whole iteration domain is one tile.
    auto tileable = cast<TilingInterface>(op);
    rewriter.setInsertionPoint(op);
    SmallVector<OpFoldResult> offsets, sizes;
    for (Range range : tileable.getIterationDomain(rewriter)) {
      offsets.push_back(range.offset);
      sizes.push_back(range.size);
    }
    FailureOr<TilingResult> tiled =
        tileable.getTiledImplementation(rewriter, offsets, sizes);
    if (failed(tiled))
      return op->emitError("failed to decompose the op");
    rewriter.replaceOp(op, tiled->tiledValues);
  }
  return success();
}
