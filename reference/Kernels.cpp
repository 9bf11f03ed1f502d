//===- Kernels.cpp - Reference numeric kernels of the kiln ops --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Every kernel loops over its output elements, computes in double and stores
// through `store`, which rounds once (see the numerics policy in Kernels.h).
// The index arithmetic is shared: `forEachIndex` walks a shape in row-major
// order, strides map an output multi-index to an input offset (broadcast,
// transpose and slice are all "copy with strides"), and `AxisView` sees a
// tensor as [outer, size, inner] around one axis.
//
//===----------------------------------------------------------------------===//

#include "reference/Kernels.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

namespace kiln::reference {

using Shape = std::vector<int64_t>;

static constexpr double kInfinity = std::numeric_limits<double>::infinity();
static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

//===----------------------------------------------------------------------===//
// Rounding
//===----------------------------------------------------------------------===//

/// `value` with the lowest bit of its significand set.
template <typename Bits, typename Float>
static Float withOddSignificand(Float value) {
  static_assert(sizeof(Bits) == sizeof(Float), "bit pattern size");
  Bits bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits |= 1;
  std::memcpy(&value, &bits, sizeof(bits));
  return value;
}

/// `value` as a float rounded "to odd": truncated toward zero, with the last
/// significand bit set when inexact. Rounding that to nearest-even in a type
/// with at least two fewer significand bits (bf16, f16) gives the correctly
/// rounded result (Boldo and Melquiond), whereas rounding to nearest twice,
/// double -> f32 -> bf16, can land on the wrong side of a bf16 tie.
static float toFloatRoundedToOdd(double value) {
  float result = static_cast<float>(value);
  if (std::isnan(value) || static_cast<double>(result) == value)
    return result;
  if (std::fabs(static_cast<double>(result)) > std::fabs(value))
    result = std::nextafter(result, 0.0f);
  return withOddSignificand<uint32_t>(result);
}

/// `value` as a double rounded to odd, so that an i64 beyond 2^53 still
/// rounds once to a float type.
static double toDoubleRoundedToOdd(int64_t value) {
  double result = static_cast<double>(value);
  // 2^63 is no int64: the conversion rounded away from zero.
  bool roundedUp = result == 0x1p63;
  if (!roundedUp && static_cast<int64_t>(result) == value)
    return result;
  int64_t asInt = roundedUp ? 0 : static_cast<int64_t>(result);
  if (roundedUp || (value > 0 ? asInt > value : asInt < value))
    result = std::nextafter(result, 0.0);
  return withOddSignificand<uint64_t>(result);
}

/// `value` rounded once to the float type `type`.
static double roundToType(double value, ElementType type) {
  assert(isFloatType(type) && "expected a float type");
  if (type == ElementType::F32)
    return static_cast<float>(value);
  return roundTo(type, toFloatRoundedToOdd(value));
}

/// Element `index` as a double. Kernels read through this rather than
/// getFloat so that no product is evaluated in float by accident.
static double load(const HostTensor &tensor, int64_t index) {
  return tensor.getFloat(index);
}

/// Stores `value` at flat `index` of a float tensor, rounded once. The float
/// handed to setFloat is already representable, so its rounding is a no-op.
static void store(HostTensor &tensor, int64_t index, double value) {
  tensor.setFloat(
      index, static_cast<float>(roundToType(value, tensor.getElementType())));
}

//===----------------------------------------------------------------------===//
// Index helpers
//===----------------------------------------------------------------------===//

static int64_t numElements(const Shape &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

static Shape rowMajorStrides(const Shape &shape) {
  Shape strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;)
    strides[d - 1] = strides[d] * shape[d];
  return strides;
}

static int64_t dot(const Shape &index, const Shape &strides) {
  assert(index.size() <= strides.size() && "index longer than strides");
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d)
    offset += index[d] * strides[d];
  return offset;
}

/// Calls `fn(index, flat)` for every multi-index of `shape` in row-major
/// order, `flat` being the row-major position.
template <typename Fn> static void forEachIndex(const Shape &shape, Fn &&fn) {
  int64_t count = numElements(shape);
  Shape index(shape.size(), 0);
  for (int64_t flat = 0; flat < count; ++flat) {
    fn(static_cast<const Shape &>(index), flat);
    // Odometer increment: bump the last digit, carrying leftwards.
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
}

/// The multi-index of row-major position `flat` in `shape`.
static Shape unravel(int64_t flat, const Shape &shape) {
  Shape index(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

/// The numpy broadcast of two shapes, aligned at the trailing dimension.
static Shape broadcastShapes(const Shape &lhs, const Shape &rhs) {
  Shape result(std::max(lhs.size(), rhs.size()), 1);
  for (size_t i = 1; i <= result.size(); ++i) {
    int64_t l = i <= lhs.size() ? lhs[lhs.size() - i] : 1;
    int64_t r = i <= rhs.size() ? rhs[rhs.size() - i] : 1;
    assert((l == r || l == 1 || r == 1) && "shapes do not broadcast");
    result[result.size() - i] = l == 1 ? r : l;
  }
  return result;
}

/// Strides that read a tensor of `shape` at an index of a rank-`rank` shape it
/// broadcasts to: right-aligned, and 0 where `shape` has size 1 or no
/// dimension, so every index along such a dimension reads the same element.
static Shape broadcastStrides(const Shape &shape, size_t rank) {
  assert(shape.size() <= rank && "cannot broadcast to a lower rank");
  Shape strides(rank, 0);
  Shape own = rowMajorStrides(shape);
  size_t lead = rank - shape.size();
  for (size_t d = 0; d < shape.size(); ++d)
    strides[lead + d] = shape[d] == 1 ? 0 : own[d];
  return strides;
}

/// Copies `count` consecutive elements as bytes, exact for every type.
static void copyElements(HostTensor &dst, int64_t dstIndex,
                         const HostTensor &src, int64_t srcIndex,
                         int64_t count) {
  assert(dst.getElementType() == src.getElementType() && "type mismatch");
  if (count == 0)
    return;
  size_t size = elementSize(src.getElementType());
  std::memcpy(dst.data() + dstIndex * size, src.data() + srcIndex * size,
              count * size);
}

/// A tensor of `shape` whose element at multi-index `i` is `input`'s element
/// at flat offset `base + dot(i, strides)`.
static HostTensor copyStrided(const HostTensor &input, const Shape &shape,
                              const Shape &strides, int64_t base) {
  HostTensor result(input.getElementType(), shape);
  forEachIndex(shape, [&](const Shape &index, int64_t flat) {
    copyElements(result, flat, input, base + dot(index, strides), 1);
  });
  return result;
}

namespace {
/// A row-major tensor seen as [outer, size, inner] around one axis.
struct AxisView {
  int64_t outer;
  int64_t size;
  int64_t inner;

  int64_t at(int64_t o, int64_t k, int64_t i) const {
    return (o * size + k) * inner + i;
  }
};
} // namespace

static AxisView viewAround(const Shape &shape, int64_t axis) {
  assert(axis >= 0 && axis < static_cast<int64_t>(shape.size()) &&
         "axis out of range");
  Shape before(shape.begin(), shape.begin() + axis);
  Shape after(shape.begin() + axis + 1, shape.end());
  return {numElements(before), shape[axis], numElements(after)};
}

/// "[1, 0, 3]".
static std::string formatIndex(const Shape &index) {
  std::string text = "[";
  for (size_t d = 0; d < index.size(); ++d)
    text += (d ? ", " : "") + std::to_string(index[d]);
  return text + "]";
}

/// A message for the first element of `indices` outside [0, bound), if any.
static std::optional<std::string> findIndexOutOfRange(const HostTensor &indices,
                                                      int64_t bound,
                                                      const std::string &what) {
  for (int64_t i = 0, e = indices.getNumElements(); i < e; ++i) {
    int64_t value = indices.getInt(i);
    if (value >= 0 && value < bound)
      continue;
    return what + " " + std::to_string(value) + " at position " +
           formatIndex(unravel(i, indices.getShape())) +
           " is out of range [0, " + std::to_string(bound) + ")";
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Scalar functions
//===----------------------------------------------------------------------===//

static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

static double silu(double x) { return x * sigmoid(x); }

/// IEEE-754 maximum: NaN propagates and +0 is above -0.
static double maximum(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return kNaN;
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

/// IEEE-754 minimum: NaN propagates and -0 is below +0.
static double minimum(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return kNaN;
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

static double applyUnary(UnaryKind kind, double x) {
  static const double kSqrt2 = std::sqrt(2.0);
  static const double kSqrt2OverPi = std::sqrt(2.0 / 3.14159265358979323846);
  switch (kind) {
  case UnaryKind::Neg:
    return -x;
  case UnaryKind::Abs:
    return std::fabs(x);
  case UnaryKind::Exp:
    return std::exp(x);
  case UnaryKind::Log:
    return std::log(x);
  case UnaryKind::Sqrt:
    return std::sqrt(x);
  case UnaryKind::Rsqrt:
    return 1.0 / std::sqrt(x);
  case UnaryKind::Tanh:
    return std::tanh(x);
  case UnaryKind::Sigmoid:
    return sigmoid(x);
  case UnaryKind::Relu:
    // Written so that NaN propagates.
    return x < 0.0 ? 0.0 : x;
  case UnaryKind::Silu:
    return silu(x);
  case UnaryKind::GeluErf:
    // x * Phi(x) through erfc, which keeps precision in the negative tail
    // where 1 + erf(x / sqrt(2)) would cancel.
    return 0.5 * x * std::erfc(-x / kSqrt2);
  case UnaryKind::GeluTanh:
    return 0.5 * x *
           (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
  case UnaryKind::Erf:
    return std::erf(x);
  }
  assert(false && "unknown unary kind");
  return kNaN;
}

static double applyBinary(BinaryKind kind, double a, double b) {
  switch (kind) {
  case BinaryKind::Add:
    return a + b;
  case BinaryKind::Sub:
    return a - b;
  case BinaryKind::Mul:
    return a * b;
  case BinaryKind::Div:
    return a / b;
  case BinaryKind::Max:
    return maximum(a, b);
  case BinaryKind::Min:
    return minimum(a, b);
  case BinaryKind::Pow:
    return std::pow(a, b);
  }
  assert(false && "unknown binary kind");
  return kNaN;
}

/// Replaces `values` by their softmax, with the maximum subtracted first.
static void softmaxInPlace(std::vector<double> &values) {
  double max = -kInfinity;
  for (double v : values)
    max = std::max(max, v);
  double sum = 0.0;
  for (double &v : values) {
    v = std::exp(v - max);
    sum += v;
  }
  for (double &v : values)
    v /= sum;
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

HostTensor unary(UnaryKind kind, const HostTensor &input) {
  HostTensor result(input.getElementType(), input.getShape());
  for (int64_t i = 0, e = input.getNumElements(); i < e; ++i)
    store(result, i, applyUnary(kind, load(input, i)));
  return result;
}

HostTensor binary(BinaryKind kind, const HostTensor &lhs,
                  const HostTensor &rhs) {
  Shape shape = broadcastShapes(lhs.getShape(), rhs.getShape());
  Shape lhsStrides = broadcastStrides(lhs.getShape(), shape.size());
  Shape rhsStrides = broadcastStrides(rhs.getShape(), shape.size());
  HostTensor result(lhs.getElementType(), shape);
  forEachIndex(shape, [&](const Shape &index, int64_t flat) {
    store(result, flat,
          applyBinary(kind, load(lhs, dot(index, lhsStrides)),
                      load(rhs, dot(index, rhsStrides))));
  });
  return result;
}

HostTensor select(const HostTensor &condition, const HostTensor &trueValue,
                  const HostTensor &falseValue) {
  Shape shape = broadcastShapes(
      condition.getShape(),
      broadcastShapes(trueValue.getShape(), falseValue.getShape()));
  Shape conditionStrides = broadcastStrides(condition.getShape(), shape.size());
  Shape trueStrides = broadcastStrides(trueValue.getShape(), shape.size());
  Shape falseStrides = broadcastStrides(falseValue.getShape(), shape.size());
  HostTensor result(trueValue.getElementType(), shape);
  forEachIndex(shape, [&](const Shape &index, int64_t flat) {
    if (condition.getInt(dot(index, conditionStrides)) != 0)
      copyElements(result, flat, trueValue, dot(index, trueStrides), 1);
    else
      copyElements(result, flat, falseValue, dot(index, falseStrides), 1);
  });
  return result;
}

HostTensor castTo(const HostTensor &input, ElementType to) {
  ElementType from = input.getElementType();
  assert((isFloatType(to) || !isFloatType(from)) &&
         "casts from float to integer are not supported");
  HostTensor result(to, input.getShape());
  for (int64_t i = 0, e = input.getNumElements(); i < e; ++i) {
    if (from == to)
      copyElements(result, i, input, i, 1);
    else if (!isFloatType(to))
      // i64 -> i32 keeps the low 32 bits, as a two's complement truncation.
      result.setInt(
          i, static_cast<int32_t>(static_cast<uint32_t>(input.getInt(i))));
    else if (isFloatType(from))
      store(result, i, load(input, i));
    else
      store(result, i, toDoubleRoundedToOdd(input.getInt(i)));
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

HostTensor matmul(const HostTensor &lhs, const HostTensor &rhs,
                  bool transposeLhs, bool transposeRhs) {
  const Shape &lhsShape = lhs.getShape();
  const Shape &rhsShape = rhs.getShape();
  assert(lhsShape.size() >= 2 && rhsShape.size() >= 2 && "rank below 2");
  size_t lhsRank = lhsShape.size(), rhsRank = rhsShape.size();

  // 1. Matrix sizes, and the strides of element (row, column) of each
  //    operand's logical (untransposed) matrix.
  int64_t m = lhsShape[lhsRank - (transposeLhs ? 1 : 2)];
  int64_t k = lhsShape[lhsRank - (transposeLhs ? 2 : 1)];
  int64_t n = rhsShape[rhsRank - (transposeRhs ? 2 : 1)];
  int64_t lhsRow = transposeLhs ? 1 : k, lhsCol = transposeLhs ? m : 1;
  int64_t rhsRow = transposeRhs ? 1 : n, rhsCol = transposeRhs ? k : 1;

  // 2. Broadcast batch shape; each operand's batch strides are the leading
  //    entries of its broadcast strides at the result's rank.
  Shape batch = broadcastShapes(Shape(lhsShape.begin(), lhsShape.end() - 2),
                                Shape(rhsShape.begin(), rhsShape.end() - 2));
  Shape shape = batch;
  shape.insert(shape.end(), {m, n});
  Shape lhsBatch = broadcastStrides(lhsShape, shape.size());
  Shape rhsBatch = broadcastStrides(rhsShape, shape.size());

  // 3. One matrix product per batch index.
  HostTensor result(lhs.getElementType(), shape);
  forEachIndex(batch, [&](const Shape &index, int64_t flat) {
    int64_t lhsBase = dot(index, lhsBatch), rhsBase = dot(index, rhsBatch);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t c = 0; c < k; ++c)
          acc += load(lhs, lhsBase + i * lhsRow + c * lhsCol) *
                 load(rhs, rhsBase + c * rhsRow + j * rhsCol);
        store(result, (flat * m + i) * n + j, acc);
      }
    }
  });
  return result;
}

/// The output size of a convolution along one spatial dimension, `padding`
/// being the sum of both sides.
static int64_t convOutputSize(int64_t size, int64_t padding, int64_t kernel,
                              int64_t stride, int64_t dilation) {
  return (size + padding - dilation * (kernel - 1) - 1) / stride + 1;
}

HostTensor conv2d(const HostTensor &input, const HostTensor &filter,
                  const std::vector<int64_t> &strides,
                  const std::vector<int64_t> &padding,
                  const std::vector<int64_t> &dilations, int64_t groups) {
  assert(strides.size() == 2 && padding.size() == 4 && dilations.size() == 2 &&
         groups >= 1 && "bad conv2d attributes");
  const Shape &in = input.getShape();
  const Shape &fil = filter.getShape();
  int64_t channels = in[1], height = in[2], width = in[3];
  int64_t outChannels = fil[0], groupChannels = fil[1];
  int64_t kernelH = fil[2], kernelW = fil[3];
  int64_t outH = convOutputSize(height, padding[0] + padding[2], kernelH,
                                strides[0], dilations[0]);
  int64_t outW = convOutputSize(width, padding[1] + padding[3], kernelW,
                                strides[1], dilations[1]);
  int64_t outPerGroup = outChannels / groups;

  HostTensor result(input.getElementType(), {in[0], outChannels, outH, outW});
  forEachIndex(result.getShape(), [&](const Shape &index, int64_t flat) {
    int64_t batch = index[0], oc = index[1], oy = index[2], ox = index[3];
    // Output channel `oc` belongs to group oc / outPerGroup, which reads that
    // group's slice of input channels.
    int64_t firstChannel = oc / outPerGroup * groupChannels;
    double acc = 0.0;
    for (int64_t ci = 0; ci < groupChannels; ++ci) {
      for (int64_t ky = 0; ky < kernelH; ++ky) {
        for (int64_t kx = 0; kx < kernelW; ++kx) {
          int64_t iy = oy * strides[0] - padding[0] + ky * dilations[0];
          int64_t ix = ox * strides[1] - padding[1] + kx * dilations[1];
          if (iy < 0 || iy >= height || ix < 0 || ix >= width)
            continue; // Zero padding contributes nothing.
          int64_t channel = firstChannel + ci;
          double x = load(
              input, ((batch * channels + channel) * height + iy) * width + ix);
          double w =
              load(filter,
                   ((oc * groupChannels + ci) * kernelH + ky) * kernelW + kx);
          acc += x * w;
        }
      }
    }
    store(result, flat, acc);
  });
  return result;
}

/// Applies `combine(window positions inside the input, window size)` to each
/// pooling window of an NCHW input and stores its result.
template <typename Combine>
static HostTensor pool2d(const HostTensor &input,
                         const std::vector<int64_t> &kernel,
                         const std::vector<int64_t> &strides,
                         const std::vector<int64_t> &padding,
                         Combine combine) {
  assert(kernel.size() == 2 && strides.size() == 2 && padding.size() == 4 &&
         "bad pooling attributes");
  const Shape &in = input.getShape();
  int64_t height = in[2], width = in[3];
  int64_t outH = convOutputSize(height, padding[0] + padding[2], kernel[0],
                                strides[0], /*dilation=*/1);
  int64_t outW = convOutputSize(width, padding[1] + padding[3], kernel[1],
                                strides[1], /*dilation=*/1);
  HostTensor result(input.getElementType(), {in[0], in[1], outH, outW});
  std::vector<double> window;
  forEachIndex(result.getShape(), [&](const Shape &index, int64_t flat) {
    int64_t plane = (index[0] * in[1] + index[1]) * height;
    window.clear();
    for (int64_t ky = 0; ky < kernel[0]; ++ky) {
      for (int64_t kx = 0; kx < kernel[1]; ++kx) {
        int64_t iy = index[2] * strides[0] - padding[0] + ky;
        int64_t ix = index[3] * strides[1] - padding[1] + kx;
        if (iy >= 0 && iy < height && ix >= 0 && ix < width)
          window.push_back(load(input, (plane + iy) * width + ix));
      }
    }
    store(result, flat, combine(window, kernel[0] * kernel[1]));
  });
  return result;
}

HostTensor maxPool2d(const HostTensor &input,
                     const std::vector<int64_t> &kernel,
                     const std::vector<int64_t> &strides,
                     const std::vector<int64_t> &padding) {
  return pool2d(input, kernel, strides, padding,
                [](const std::vector<double> &window, int64_t) {
                  double result = -kInfinity;
                  for (double x : window)
                    result = maximum(result, x);
                  return result;
                });
}

HostTensor avgPool2d(const HostTensor &input,
                     const std::vector<int64_t> &kernel,
                     const std::vector<int64_t> &strides,
                     const std::vector<int64_t> &padding,
                     bool countIncludePad) {
  return pool2d(input, kernel, strides, padding,
                [&](const std::vector<double> &window, int64_t size) {
                  double sum = 0.0;
                  for (double x : window)
                    sum += x;
                  return sum / static_cast<double>(
                                   countIncludePad ? size : window.size());
                });
}

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

HostTensor reduce(ReduceKind kind, const HostTensor &input,
                  const std::vector<int64_t> &axes, bool keepDims) {
  const Shape &shape = input.getShape();
  // 1. The kept-dims output shape, and strides that send an input index to
  //    its output element: 0 along reduced axes.
  Shape kept = shape;
  int64_t count = 1;
  for (int64_t axis : axes) {
    assert(axis >= 0 && axis < input.getRank() && "axis out of range");
    count *= shape[axis];
    kept[axis] = 1;
  }
  Shape toOutput = rowMajorStrides(kept);
  for (int64_t axis : axes)
    toOutput[axis] = 0;

  // 2. Accumulate every input element into its output element.
  std::vector<double> acc(numElements(kept),
                          kind == ReduceKind::Max ? -kInfinity : 0.0);
  forEachIndex(shape, [&](const Shape &index, int64_t flat) {
    double &slot = acc[dot(index, toOutput)];
    double x = load(input, flat);
    slot = kind == ReduceKind::Max ? maximum(slot, x) : slot + x;
  });

  // 3. Dropping the size-1 axes does not change the row-major order.
  Shape resultShape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (keepDims ||
        std::find(axes.begin(), axes.end(), int64_t(d)) == axes.end())
      resultShape.push_back(kept[d]);
  HostTensor result(input.getElementType(), resultShape);
  for (size_t i = 0; i < acc.size(); ++i)
    store(result, i, kind == ReduceKind::Mean ? acc[i] / count : acc[i]);
  return result;
}

HostTensor softmax(const HostTensor &input, int64_t axis) {
  AxisView view = viewAround(input.getShape(), axis);
  HostTensor result(input.getElementType(), input.getShape());
  std::vector<double> row(view.size);
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t i = 0; i < view.inner; ++i) {
      for (int64_t k = 0; k < view.size; ++k)
        row[k] = load(input, view.at(o, k, i));
      softmaxInPlace(row);
      for (int64_t k = 0; k < view.size; ++k)
        store(result, view.at(o, k, i), row[k]);
    }
  }
  return result;
}

HostTensor layerNorm(const HostTensor &input, const HostTensor &scale,
                     const HostTensor &bias, double epsilon) {
  AxisView rows = viewAround(input.getShape(), input.getRank() - 1);
  int64_t size = rows.size;
  HostTensor result(input.getElementType(), input.getShape());
  for (int64_t r = 0; r < rows.outer; ++r) {
    int64_t base = r * size;
    double mean = 0.0, variance = 0.0;
    for (int64_t k = 0; k < size; ++k)
      mean += load(input, base + k);
    mean /= size;
    for (int64_t k = 0; k < size; ++k) {
      double centered = load(input, base + k) - mean;
      variance += centered * centered;
    }
    variance /= size;
    double inverse = 1.0 / std::sqrt(variance + epsilon);
    for (int64_t k = 0; k < size; ++k)
      store(result, base + k,
            (load(input, base + k) - mean) * inverse * load(scale, k) +
                load(bias, k));
  }
  return result;
}

HostTensor rmsNorm(const HostTensor &input, const HostTensor &scale,
                   double epsilon) {
  AxisView rows = viewAround(input.getShape(), input.getRank() - 1);
  int64_t size = rows.size;
  HostTensor result(input.getElementType(), input.getShape());
  for (int64_t r = 0; r < rows.outer; ++r) {
    int64_t base = r * size;
    double meanSquare = 0.0;
    for (int64_t k = 0; k < size; ++k)
      meanSquare += load(input, base + k) * load(input, base + k);
    meanSquare /= size;
    double inverse = 1.0 / std::sqrt(meanSquare + epsilon);
    for (int64_t k = 0; k < size; ++k)
      store(result, base + k, load(input, base + k) * inverse * load(scale, k));
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

HostTensor transpose(const HostTensor &input,
                     const std::vector<int64_t> &permutation) {
  assert(permutation.size() == input.getShape().size() && "bad permutation");
  Shape inputStrides = rowMajorStrides(input.getShape());
  Shape shape, strides;
  for (int64_t dim : permutation) {
    shape.push_back(input.getShape()[dim]);
    strides.push_back(inputStrides[dim]);
  }
  return copyStrided(input, shape, strides, /*base=*/0);
}

HostTensor reshape(const HostTensor &input, const std::vector<int64_t> &shape) {
  assert(numElements(shape) == input.getNumElements() && "count mismatch");
  HostTensor result(input.getElementType(), shape);
  copyElements(result, 0, input, 0, input.getNumElements());
  return result;
}

HostTensor broadcastTo(const HostTensor &input,
                       const std::vector<int64_t> &shape) {
  return copyStrided(input, shape,
                     broadcastStrides(input.getShape(), shape.size()),
                     /*base=*/0);
}

HostTensor concat(const std::vector<const HostTensor *> &inputs, int64_t axis) {
  assert(!inputs.empty() && "concat of nothing");
  Shape shape = inputs.front()->getShape();
  shape[axis] = 0;
  for (const HostTensor *input : inputs)
    shape[axis] += input->getShape()[axis];

  // Each input fills a [size_i * inner] block of every outer row.
  HostTensor result(inputs.front()->getElementType(), shape);
  AxisView out = viewAround(shape, axis);
  int64_t offset = 0;
  for (const HostTensor *input : inputs) {
    AxisView in = viewAround(input->getShape(), axis);
    for (int64_t o = 0; o < out.outer; ++o)
      copyElements(result, out.at(o, offset, 0), *input, in.at(o, 0, 0),
                   in.size * in.inner);
    offset += in.size;
  }
  return result;
}

HostTensor slice(const HostTensor &input, const std::vector<int64_t> &starts,
                 const std::vector<int64_t> &limits,
                 const std::vector<int64_t> &strides) {
  const Shape &inputShape = input.getShape();
  assert(starts.size() == inputShape.size() &&
         limits.size() == inputShape.size() &&
         (strides.empty() || strides.size() == inputShape.size()) &&
         "bad slice attributes");
  Shape inputStrides = rowMajorStrides(inputShape);
  Shape shape(inputShape.size()), steps(inputShape.size());
  int64_t base = 0;
  for (size_t d = 0; d < inputShape.size(); ++d) {
    int64_t stride = strides.empty() ? 1 : strides[d];
    shape[d] = (limits[d] - starts[d] + stride - 1) / stride;
    steps[d] = inputStrides[d] * stride;
    base += starts[d] * inputStrides[d];
  }
  return copyStrided(input, shape, steps, base);
}

std::optional<HostTensor> gather(const HostTensor &data,
                                 const HostTensor &indices, int64_t axis,
                                 std::string &error) {
  AxisView view = viewAround(data.getShape(), axis);
  // 1. Check every index before producing anything.
  if (std::optional<std::string> message =
          findIndexOutOfRange(indices, view.size, "gather index")) {
    error = *message;
    return std::nullopt;
  }
  // 2. data.shape[:axis] + indices.shape + data.shape[axis+1:].
  const Shape &dataShape = data.getShape();
  Shape shape(dataShape.begin(), dataShape.begin() + axis);
  shape.insert(shape.end(), indices.getShape().begin(),
               indices.getShape().end());
  shape.insert(shape.end(), dataShape.begin() + axis + 1, dataShape.end());

  // 3. Copy one [inner] slice per (outer row, index).
  HostTensor result(data.getElementType(), shape);
  int64_t count = indices.getNumElements();
  for (int64_t o = 0; o < view.outer; ++o)
    for (int64_t j = 0; j < count; ++j)
      copyElements(result, (o * count + j) * view.inner, data,
                   view.at(o, indices.getInt(j), 0), view.inner);
  return result;
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

HostTensor rope(const HostTensor &input, double theta, int64_t positionOffset) {
  const Shape &shape = input.getShape();
  AxisView rows = viewAround(shape, input.getRank() - 1);
  int64_t size = rows.size, half = size / 2;
  assert(size % 2 == 0 && "rope needs an even last axis");
  int64_t sequence = shape.size() >= 2 ? shape[shape.size() - 2] : 1;

  HostTensor result(input.getElementType(), shape);
  for (int64_t r = 0; r < rows.outer; ++r) {
    int64_t base = r * size;
    double position = static_cast<double>(positionOffset + r % sequence);
    for (int64_t i = 0; i < half; ++i) {
      double angle = position * std::pow(theta, -2.0 * i / size);
      double c = std::cos(angle), s = std::sin(angle);
      double x0 = load(input, base + i), x1 = load(input, base + i + half);
      store(result, base + i, x0 * c - x1 * s);
      store(result, base + i + half, x1 * c + x0 * s);
    }
  }
  return result;
}

HostTensor attention(const HostTensor &query, const HostTensor &key,
                     const HostTensor &value, bool causal,
                     std::optional<double> scale) {
  assert(query.getRank() == 4 && key.getRank() == 4 && value.getRank() == 4 &&
         "attention operands are [B, H, S, D]");
  int64_t batch = query.getShape()[0], queryHeads = query.getShape()[1];
  int64_t querySeq = query.getShape()[2], dim = query.getShape()[3];
  int64_t kvHeads = key.getShape()[1], keySeq = key.getShape()[2];
  int64_t valueDim = value.getShape()[3];
  int64_t groupSize = queryHeads / kvHeads;
  double factor = scale.value_or(1.0 / std::sqrt(static_cast<double>(dim)));

  HostTensor result(query.getElementType(),
                    {batch, queryHeads, querySeq, valueDim});
  std::vector<double> weights;
  // The flat index over [B, Hq, Sq] is the query's row.
  forEachIndex(
      {batch, queryHeads, querySeq}, [&](const Shape &index, int64_t queryRow) {
        int64_t b = index[0], h = index[1], i = index[2];
        int64_t keyRow0 = (b * kvHeads + h / groupSize) * keySeq;
        // 1. Keys j < visible are seen: all, or j <= i + Sk - Sq if causal.
        int64_t visible =
            causal ? std::clamp<int64_t>(i + keySeq - querySeq + 1, 0, keySeq)
                   : keySeq;
        // 2. Softmax of the scaled scores.
        weights.assign(visible, 0.0);
        for (int64_t j = 0; j < visible; ++j) {
          for (int64_t c = 0; c < dim; ++c)
            weights[j] += load(query, queryRow * dim + c) *
                          load(key, (keyRow0 + j) * dim + c);
          weights[j] *= factor;
        }
        softmaxInPlace(weights);
        // 3. Weighted sum of values; zeros when no key is visible.
        for (int64_t c = 0; c < valueDim; ++c) {
          double acc = 0.0;
          for (int64_t j = 0; j < visible; ++j)
            acc += weights[j] * load(value, (keyRow0 + j) * valueDim + c);
          store(result, queryRow * valueDim + c, acc);
        }
      });
  return result;
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

RouterResult moeRouter(const HostTensor &logits, int64_t topK, bool normalize) {
  int64_t tokens = logits.getShape()[0], experts = logits.getShape()[1];
  assert(topK >= 1 && topK <= experts && "top_k out of range");
  RouterResult routed{HostTensor(logits.getElementType(), {tokens, topK}),
                      HostTensor(ElementType::I32, {tokens, topK})};
  std::vector<double> probabilities(experts);
  std::vector<int64_t> order(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    // 1. Softmax over the experts.
    for (int64_t e = 0; e < experts; ++e)
      probabilities[e] = load(logits, t * experts + e);
    softmaxInPlace(probabilities);
    // 2. Highest first; the stable sort keeps lower indices first on ties.
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return probabilities[a] > probabilities[b];
    });
    // 3. The top k, rescaled to sum to one if asked.
    double total = 0.0;
    for (int64_t j = 0; j < topK; ++j)
      total += probabilities[order[j]];
    for (int64_t j = 0; j < topK; ++j) {
      double weight = probabilities[order[j]];
      store(routed.weights, t * topK + j, normalize ? weight / total : weight);
      routed.indices.setInt(t * topK + j, order[j]);
    }
  }
  return routed;
}

std::optional<HostTensor>
moeExperts(const HostTensor &input, const HostTensor &weights,
           const HostTensor &indices, const HostTensor &gate,
           const HostTensor &up, const HostTensor &down, std::string &error) {
  int64_t tokens = input.getShape()[0], hidden = input.getShape()[1];
  int64_t topK = indices.getShape()[1];
  int64_t experts = gate.getShape()[0], ffn = gate.getShape()[2];
  if (std::optional<std::string> message =
          findIndexOutOfRange(indices, experts, "expert index")) {
    error = *message;
    return std::nullopt;
  }

  ElementType type = input.getElementType();
  HostTensor result(type, {tokens, hidden});
  std::vector<double> activation(ffn), out(hidden);
  for (int64_t t = 0; t < tokens; ++t) {
    out.assign(hidden, 0.0);
    for (int64_t j = 0; j < topK; ++j) {
      int64_t e = indices.getInt(t * topK + j);
      // 1. silu(x gate[e]) * (x up[e]), stored in the input type.
      for (int64_t f = 0; f < ffn; ++f) {
        double g = 0.0, u = 0.0;
        for (int64_t h = 0; h < hidden; ++h) {
          double x = load(input, t * hidden + h);
          g += x * load(gate, (e * hidden + h) * ffn + f);
          u += x * load(up, (e * hidden + h) * ffn + f);
        }
        activation[f] = roundToType(silu(g) * u, type);
      }
      // 2. Project down and add with the routing weight.
      double weight = load(weights, t * topK + j);
      for (int64_t h = 0; h < hidden; ++h) {
        double y = 0.0;
        for (int64_t f = 0; f < ffn; ++f)
          y += activation[f] * load(down, (e * ffn + f) * hidden + h);
        out[h] += weight * y;
      }
    }
    for (int64_t h = 0; h < hidden; ++h)
      store(result, t * hidden + h, out[h]);
  }
  return result;
}

} // namespace kiln::reference
