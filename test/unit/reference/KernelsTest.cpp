//===- KernelsTest.cpp - Tests of the reference numeric kernels -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Hand-computed values for every kernel on small tensors, plus identities
// that tie kernels to each other (attention against matmul + softmax, a
// one-expert MoE against the dense SwiGLU, conv2d against matmul). No MLIR,
// so no fixture owns a context.
//
//===----------------------------------------------------------------------===//

#include "reference/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace kiln;
using namespace kiln::reference;

using Shape = std::vector<int64_t>;

static HostTensor makeTensor(ElementType type, Shape shape,
                             const std::vector<double> &values) {
  HostTensor tensor(type, std::move(shape));
  EXPECT_EQ(tensor.getNumElements(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i)
    tensor.setFloat(i, static_cast<float>(values[i]));
  return tensor;
}

static HostTensor makeF32(Shape shape, const std::vector<double> &values) {
  return makeTensor(ElementType::F32, std::move(shape), values);
}

static HostTensor makeInts(ElementType type, Shape shape,
                           const std::vector<int64_t> &values) {
  HostTensor tensor(type, std::move(shape));
  EXPECT_EQ(tensor.getNumElements(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i)
    tensor.setInt(i, values[i]);
  return tensor;
}

/// Deterministic, irregular values in about [-2, 2].
static HostTensor makePattern(Shape shape, int seed,
                              ElementType type = ElementType::F32) {
  HostTensor tensor(type, std::move(shape));
  for (int64_t i = 0; i < tensor.getNumElements(); ++i)
    tensor.setFloat(i, static_cast<float>(2.0 * std::sin(1.37 * i + seed) *
                                          std::cos(0.61 * i * seed + 0.3)));
  return tensor;
}

static std::vector<double> valuesOf(const HostTensor &tensor) {
  std::vector<double> values;
  for (int64_t i = 0; i < tensor.getNumElements(); ++i)
    values.push_back(tensor.getFloat(i));
  return values;
}

static std::vector<int64_t> intsOf(const HostTensor &tensor) {
  std::vector<int64_t> values;
  for (int64_t i = 0; i < tensor.getNumElements(); ++i)
    values.push_back(tensor.getInt(i));
  return values;
}

static bool sameBytes(const HostTensor &a, const HostTensor &b) {
  return a.getElementType() == b.getElementType() &&
         a.getShape() == b.getShape() && a.getByteSize() == b.getByteSize() &&
         (a.getByteSize() == 0 ||
          std::memcmp(a.data(), b.data(), a.getByteSize()) == 0);
}

/// Same shape and every element within `tolerance` (absolute plus relative).
static void expectClose(const HostTensor &actual, const HostTensor &expected,
                        double tolerance) {
  ASSERT_EQ(actual.getShape(), expected.getShape());
  for (int64_t i = 0; i < actual.getNumElements(); ++i) {
    double e = expected.getFloat(i);
    EXPECT_NEAR(actual.getFloat(i), e, tolerance * (1.0 + std::fabs(e)))
        << "at flat index " << i;
  }
}

/// The bf16 value nearest to `value` (ties to even), found independently of
/// the kernels by comparing the neighbouring bf16 patterns in double.
static double nearestBf16(double value) {
  uint16_t guess = floatToBf16(static_cast<float>(value));
  double best = bf16ToFloat(guess);
  for (int delta : {-1, 1}) {
    uint16_t pattern = static_cast<uint16_t>(guess + delta);
    double candidate = bf16ToFloat(pattern);
    double distance = std::fabs(candidate - value);
    double bestDistance = std::fabs(best - value);
    if (distance < bestDistance ||
        (distance == bestDistance && pattern % 2 == 0 && candidate != best))
      best = candidate;
  }
  return best;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

TEST(UnaryTest, HandComputedValues) {
  struct Case {
    UnaryKind kind;
    double input;
    double expected;
  };
  const Case cases[] = {
      {UnaryKind::Neg, 1.5, -1.5},
      {UnaryKind::Abs, -2.25, 2.25},
      {UnaryKind::Exp, 0.0, 1.0},
      {UnaryKind::Exp, 1.0, 2.718281828459045},
      {UnaryKind::Log, 1.0, 0.0},
      {UnaryKind::Log, 0.5, -0.6931471805599453},
      {UnaryKind::Sqrt, 2.25, 1.5},
      {UnaryKind::Rsqrt, 0.25, 2.0},
      {UnaryKind::Tanh, 0.5, 0.46211715726000974},
      {UnaryKind::Sigmoid, 0.0, 0.5},
      {UnaryKind::Sigmoid, 2.0, 0.8807970779778823},
      {UnaryKind::Relu, -3.0, 0.0},
      {UnaryKind::Relu, 2.5, 2.5},
      {UnaryKind::Silu, 1.0, 0.7310585786300049},
      {UnaryKind::GeluErf, 1.0, 0.8413447460685429},
      {UnaryKind::GeluErf, -1.0, -0.15865525393145707},
      {UnaryKind::GeluTanh, 1.0, 0.8411919906082768},
  };
  for (const Case &c : cases) {
    HostTensor result = unary(c.kind, makeF32({1}, {c.input}));
    EXPECT_EQ(result.getElementType(), ElementType::F32);
    EXPECT_FLOAT_EQ(result.getFloat(0), static_cast<float>(c.expected))
        << "kind " << static_cast<int>(c.kind) << " at " << c.input;
  }
}

TEST(UnaryTest, GeluLimits) {
  HostTensor input = makeF32({3}, {0.0, 10.0, -10.0});
  for (UnaryKind kind : {UnaryKind::GeluErf, UnaryKind::GeluTanh}) {
    std::vector<double> out = valuesOf(unary(kind, input));
    EXPECT_EQ(out[0], 0.0);
    // Phi(10) = 1 - 7.6e-24 rounds to 1 in f32, so gelu(x) = x exactly.
    EXPECT_EQ(out[1], 10.0);
    EXPECT_LE(out[2], 0.0);
    EXPECT_NEAR(out[2], 0.0, 1e-20);
  }
  // The exact form keeps the negative tail, -10 * Phi(-10), that
  // 1 + erf(-10 / sqrt(2)) would cancel to zero.
  EXPECT_FLOAT_EQ(unary(UnaryKind::GeluErf, input).getFloat(2),
                  -7.619853024160593e-23);
}

TEST(UnaryTest, ReluPropagatesNaN) {
  HostTensor input =
      makeF32({3}, {std::numeric_limits<double>::quiet_NaN(), -1.0, 3.0});
  std::vector<double> out = valuesOf(unary(UnaryKind::Relu, input));
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 0.0);
  EXPECT_EQ(out[2], 3.0);
}

TEST(UnaryTest, KeepsShapeAndElementType) {
  HostTensor input = makeTensor(ElementType::BF16, {2, 1}, {-1.0, 4.0});
  HostTensor result = unary(UnaryKind::Sqrt, input);
  EXPECT_EQ(result.getElementType(), ElementType::BF16);
  EXPECT_EQ(result.getShape(), (Shape{2, 1}));
  EXPECT_TRUE(std::isnan(result.getFloat(0)));
  EXPECT_EQ(result.getFloat(1), 2.0f);
}

TEST(BinaryTest, BroadcastsAsNumpy) {
  HostTensor matrix = makeF32({2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor row = makeF32({3}, {10, 20, 30});
  HostTensor sum = binary(BinaryKind::Add, matrix, row);
  EXPECT_EQ(sum.getShape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(sum), (std::vector<double>{11, 22, 33, 14, 25, 36}));

  // A column against a row gives the outer product, on either side.
  HostTensor column = makeF32({2, 1}, {1, 2});
  HostTensor line = makeF32({1, 3}, {1, 2, 3});
  HostTensor outer = binary(BinaryKind::Mul, column, line);
  EXPECT_EQ(outer.getShape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(outer), (std::vector<double>{1, 2, 3, 2, 4, 6}));
  EXPECT_EQ(valuesOf(binary(BinaryKind::Sub, line, column)),
            (std::vector<double>{0, 1, 2, -1, 0, 1}));
}

TEST(BinaryTest, HandComputedKinds) {
  HostTensor a = makeF32({4}, {2, 4, -3, 1});
  HostTensor b = makeF32({4}, {10, 0.5, 2, 8});
  EXPECT_EQ(valuesOf(binary(BinaryKind::Div, a, b)),
            (std::vector<double>{0.2f, 8, -1.5, 0.125}));
  EXPECT_EQ(valuesOf(binary(BinaryKind::Pow, a, b)),
            (std::vector<double>{1024, 2, 9, 1}));
  EXPECT_EQ(valuesOf(binary(BinaryKind::Max, a, b)),
            (std::vector<double>{10, 4, 2, 8}));
  EXPECT_EQ(valuesOf(binary(BinaryKind::Min, a, b)),
            (std::vector<double>{2, 0.5, -3, 1}));
}

TEST(BinaryTest, MaxMinPropagateNaNAndOrderSignedZeros) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  HostTensor a = makeF32({3}, {nan, 1.0, -0.0});
  HostTensor b = makeF32({3}, {1.0, nan, 0.0});
  for (BinaryKind kind : {BinaryKind::Max, BinaryKind::Min}) {
    HostTensor forward = binary(kind, a, b), backward = binary(kind, b, a);
    EXPECT_TRUE(std::isnan(forward.getFloat(0)));
    EXPECT_TRUE(std::isnan(forward.getFloat(1)));
    bool negative = kind == BinaryKind::Min;
    EXPECT_EQ(std::signbit(forward.getFloat(2)), negative);
    EXPECT_EQ(std::signbit(backward.getFloat(2)), negative);
  }
}

TEST(BinaryTest, ResultTakesLhsElementTypeAndRoundsOnce) {
  // 1 + 2^-8 + 2^-30 is just above the bf16 tie 1 + 2^-8: correct rounding
  // gives 1 + 2^-7, while rounding to f32 first makes it the tie and then
  // rounds to the even 1.0.
  HostTensor one = makeTensor(ElementType::BF16, {1}, {1.0});
  HostTensor small = makeF32({1}, {0x1p-8 + 0x1p-30});
  HostTensor sum = binary(BinaryKind::Add, one, small);
  EXPECT_EQ(sum.getElementType(), ElementType::BF16);
  EXPECT_EQ(sum.getFloat(0), 1.0f + 0x1p-7f);

  // The same for f16: 1 + 2^-11 is the tie.
  HostTensor half = makeTensor(ElementType::F16, {1}, {1.0});
  HostTensor halfSum =
      binary(BinaryKind::Add, half, makeF32({1}, {0x1p-11 + 0x1p-30}));
  EXPECT_EQ(halfSum.getElementType(), ElementType::F16);
  EXPECT_EQ(halfSum.getFloat(0), 1.0f + 0x1p-10f);
}

TEST(CastTest, FloatsRoundToNearestEven) {
  HostTensor input = makeF32(
      {4}, {1.0 + 0x1p-8, 1.0 + 3 * 0x1p-8, 1.0 + 0x1p-8 + 0x1p-20, -2.5});
  HostTensor bf16 = castTo(input, ElementType::BF16);
  EXPECT_EQ(bf16.getElementType(), ElementType::BF16);
  EXPECT_EQ(valuesOf(bf16),
            (std::vector<double>{1.0, 1.0 + 0x1p-6, 1.0 + 0x1p-7, -2.5}));
  // Widening is exact.
  EXPECT_EQ(valuesOf(castTo(bf16, ElementType::F32)), valuesOf(bf16));
  EXPECT_EQ(castTo(makeF32({1}, {1.0 / 3.0}), ElementType::F16).getFloat(0),
            0.333251953125f);
}

TEST(CastTest, IntegersConvertExactly) {
  // i32 -> bf16: 2^24 + 2^16 + 1 is above the bf16 tie 2^24 + 2^16, but
  // through f32 it would become that tie and round down to 2^24.
  HostTensor i32 = makeInts(ElementType::I32, {3},
                            {-7, (1 << 24) + (1 << 16) + 1, 16777217});
  EXPECT_EQ(valuesOf(castTo(i32, ElementType::BF16)),
            (std::vector<double>{-7, 0x1p24 + 0x1p17, 0x1p24}));
  // In f32 the same value is a tie between 2^24 + 2^16 and 2^24 + 2^16 + 2.
  EXPECT_EQ(valuesOf(castTo(i32, ElementType::F32)),
            (std::vector<double>{-7, 0x1p24 + 0x1p16, 0x1p24}));

  // i64 -> f32: 2^60 + 2^36 + 1 is above the f32 tie 2^60 + 2^36, but
  // through a plain double it would become that tie and round down.
  // Just below the tie, 2^60 + 2^36 - 1 must round down.
  int64_t big = (int64_t{1} << 60) + (int64_t{1} << 36) + 1;
  HostTensor i64 = makeInts(ElementType::I64, {3}, {big, -big, big - 2});
  EXPECT_EQ(valuesOf(castTo(i64, ElementType::F32)),
            (std::vector<double>{0x1p60 + 0x1p37, -0x1p60 - 0x1p37, 0x1p60}));

  // Between integer types: values in range are kept, i64 -> i32 keeps the
  // low 32 bits.
  HostTensor wide =
      makeInts(ElementType::I64, {3}, {(int64_t{1} << 40) + 5, -3, 2147483647});
  HostTensor narrow = castTo(wide, ElementType::I32);
  EXPECT_EQ(narrow.getElementType(), ElementType::I32);
  EXPECT_EQ(intsOf(narrow), (std::vector<int64_t>{5, -3, 2147483647}));
  EXPECT_EQ(intsOf(castTo(narrow, ElementType::I64)),
            (std::vector<int64_t>{5, -3, 2147483647}));
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

TEST(MatmulTest, HandComputed) {
  HostTensor a = makeF32({2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor b = makeF32({3, 2}, {7, 8, 9, 10, 11, 12});
  HostTensor c = matmul(a, b, false, false);
  EXPECT_EQ(c.getShape(), (Shape{2, 2}));
  EXPECT_EQ(valuesOf(c), (std::vector<double>{58, 64, 139, 154}));
}

TEST(MatmulTest, ProductsAndSumsAreInDouble) {
  // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24 is exact in double and in f32, but a
  // product rounded to f32 would drop the 2^-24.
  HostTensor a = makeF32({1, 2}, {1 + 0x1p-12, 1});
  HostTensor b = makeF32({2, 1}, {1 + 0x1p-12, -1});
  EXPECT_EQ(matmul(a, b, false, false).getFloat(0), 0x1p-11f + 0x1p-24f);
  // The same contraction as a 1x1 convolution over two channels.
  HostTensor image = reshape(b, {1, 2, 1, 1});
  HostTensor filter = reshape(a, {1, 2, 1, 1});
  EXPECT_EQ(conv2d(image, filter, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1).getFloat(0),
            0x1p-11f + 0x1p-24f);
}

TEST(MatmulTest, TransposeFlagsReadTransposedOperands) {
  HostTensor a = makePattern({3, 4}, 1), b = makePattern({4, 5}, 2);
  HostTensor expected = matmul(a, b, false, false);
  HostTensor aT = transpose(a, {1, 0}), bT = transpose(b, {1, 0});
  EXPECT_TRUE(sameBytes(matmul(aT, b, true, false), expected));
  EXPECT_TRUE(sameBytes(matmul(a, bT, false, true), expected));
  EXPECT_TRUE(sameBytes(matmul(aT, bT, true, true), expected));
}

TEST(MatmulTest, BatchDimensionsBroadcast) {
  // [2, 1, 3, 4] x [3, 4, 2] -> [2, 3, 3, 2]: batch (i, j) multiplies lhs
  // batch i with rhs batch j.
  HostTensor lhs = makePattern({2, 1, 3, 4}, 3),
             rhs = makePattern({3, 4, 2}, 4);
  HostTensor result = matmul(lhs, rhs, false, false);
  ASSERT_EQ(result.getShape(), (Shape{2, 3, 3, 2}));
  for (int64_t i = 0; i < 2; ++i) {
    HostTensor l =
        reshape(slice(lhs, {i, 0, 0, 0}, {i + 1, 1, 3, 4}, {}), {3, 4});
    for (int64_t j = 0; j < 3; ++j) {
      HostTensor r = reshape(slice(rhs, {j, 0, 0}, {j + 1, 4, 2}, {}), {4, 2});
      HostTensor part = reshape(
          slice(result, {i, j, 0, 0}, {i + 1, j + 1, 3, 2}, {}), {3, 2});
      EXPECT_TRUE(sameBytes(part, matmul(l, r, false, false)))
          << "batch " << i << ", " << j;
    }
  }
  // A rank-2 operand is shared by every batch.
  HostTensor shared = matmul(rhs, makePattern({2, 5}, 5), false, false);
  EXPECT_EQ(shared.getShape(), (Shape{3, 4, 5}));
}

TEST(Conv2dTest, OneByOneKernelEqualsMatmul) {
  HostTensor input = makePattern({1, 3, 2, 2}, 6);
  HostTensor filter = makePattern({4, 3, 1, 1}, 7);
  HostTensor conv = conv2d(input, filter, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1);
  HostTensor product =
      matmul(reshape(filter, {4, 3}), reshape(input, {3, 4}), false, false);
  EXPECT_TRUE(sameBytes(conv, reshape(product, {1, 4, 2, 2})));
}

TEST(Conv2dTest, HandComputed3x3PaddingStride) {
  // Input 1..16 in a 4x4 grid, all-ones 3x3 filter, padding 1, stride 2: each
  // output sums the in-bounds part of a 3x3 window centred at (0|2, 0|2).
  std::vector<double> grid;
  for (int i = 1; i <= 16; ++i)
    grid.push_back(i);
  HostTensor input = makeF32({1, 1, 4, 4}, grid);
  HostTensor filter = makeF32({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  HostTensor out = conv2d(input, filter, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1);
  EXPECT_EQ(out.getShape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(valuesOf(out), (std::vector<double>{14, 30, 57, 99}));
}

TEST(Conv2dTest, HandComputedDilationGroupsAsymmetricPadding) {
  // Channel 0 holds 1..16, channel 1 holds 101..116; two groups of one
  // channel. Filter 0 is all ones; filter 1 is +1 at (0,0) and -1 at (2,2).
  // Strides {1, 2}, padding {top 2, left 2, bottom 1, right 0}, dilations
  // {2, 1}: OH = (4+3-4-1)/1+1 = 3, OW = (4+2-2-1)/2+1 = 2. Output (0,0) of
  // filter 0 reads rows {0, 2} (row -2 is padding) at column 0 (columns -2
  // and -1 are padding): 1 + 9. Filter 1 at (0,0) only reaches -(100 + 9).
  std::vector<double> values;
  for (int c = 0; c < 2; ++c)
    for (int i = 1; i <= 16; ++i)
      values.push_back(100 * c + i);
  HostTensor input = makeF32({1, 2, 4, 4}, values);
  HostTensor filter = makeF32(
      {2, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, -1});
  HostTensor out = conv2d(input, filter, {1, 2}, {2, 2, 1, 0}, {2, 1}, 2);
  EXPECT_EQ(out.getShape(), (Shape{1, 2, 3, 2}));
  EXPECT_EQ(valuesOf(out), (std::vector<double>{10, 36, 18, 60, 10, 36, -109,
                                                -111, -113, -115, 0, 101}));
}

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

TEST(ReduceTest, HandComputedAxes) {
  HostTensor x = makeF32({2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor sum = reduce(ReduceKind::Sum, x, {1}, false);
  EXPECT_EQ(sum.getShape(), (Shape{2}));
  EXPECT_EQ(valuesOf(sum), (std::vector<double>{6, 15}));

  HostTensor mean = reduce(ReduceKind::Mean, x, {0}, true);
  EXPECT_EQ(mean.getShape(), (Shape{1, 3}));
  EXPECT_EQ(valuesOf(mean), (std::vector<double>{2.5, 3.5, 4.5}));

  HostTensor all = reduce(ReduceKind::Max, x, {0, 1}, false);
  EXPECT_EQ(all.getShape(), (Shape{}));
  EXPECT_EQ(all.getFloat(0), 6.0f);
  EXPECT_EQ(reduce(ReduceKind::Max, x, {1, 0}, true).getShape(), (Shape{1, 1}));

  // Non-adjacent axes of a rank-3 tensor: [2, 3, 2] over {0, 2}.
  std::vector<double> values;
  for (int i = 0; i < 12; ++i)
    values.push_back(i);
  HostTensor cube = makeF32({2, 3, 2}, values);
  // Column j sums elements 2j, 2j+1, 6+2j, 7+2j: 14 + 8j, over 4.
  EXPECT_EQ(valuesOf(reduce(ReduceKind::Mean, cube, {0, 2}, false)),
            (std::vector<double>{3.5, 5.5, 7.5}));
}

TEST(ReduceTest, MaxPropagatesNaN) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  HostTensor x = makeF32({2, 2}, {nan, 1, -5, -7});
  std::vector<double> max = valuesOf(reduce(ReduceKind::Max, x, {1}, false));
  EXPECT_TRUE(std::isnan(max[0]));
  EXPECT_EQ(max[1], -5.0);
}

TEST(ReduceTest, Bf16SumRoundsOnce) {
  // 1 + 2^-8 + 2^-30 rounds once to 1 + 2^-7; via f32 it would be 1.
  HostTensor x = makeTensor(ElementType::BF16, {3}, {1.0, 0x1p-8, 0x1p-30});
  HostTensor sum = reduce(ReduceKind::Sum, x, {0}, false);
  EXPECT_EQ(sum.getElementType(), ElementType::BF16);
  EXPECT_EQ(sum.getFloat(0), 1.0f + 0x1p-7f);
}

TEST(SoftmaxTest, HandComputed) {
  // Rows [0, ln 3] -> [1/4, 3/4]; [1000, 1000] must not overflow.
  HostTensor x = makeF32({2, 2}, {0.0, std::log(3.0), 1000, 1000});
  std::vector<double> y = valuesOf(softmax(x, 1));
  EXPECT_NEAR(y[0], 0.25, 1e-7);
  EXPECT_NEAR(y[1], 0.75, 1e-7);
  EXPECT_EQ(y[2], 0.5);
  EXPECT_EQ(y[3], 0.5);
  // Along axis 0 the columns are [0, 1000] and [ln 3, 1000].
  std::vector<double> z = valuesOf(softmax(x, 0));
  EXPECT_EQ(z[0], 0.0);
  EXPECT_EQ(z[2], 1.0);
}

TEST(SoftmaxTest, SlicesAlongAxisSumToOne) {
  HostTensor x = makePattern({3, 5, 4}, 8);
  HostTensor y = softmax(x, 1);
  HostTensor sums = reduce(ReduceKind::Sum, y, {1}, false);
  for (double s : valuesOf(sums))
    EXPECT_NEAR(s, 1.0, 1e-6);
  for (double v : valuesOf(y))
    EXPECT_GT(v, 0.0);
}

TEST(LayerNormTest, HandComputed) {
  // Mean 2.5, biased variance 1.25; (x - 2.5) / sqrt(1.25) * scale + bias.
  HostTensor x = makeF32({1, 4}, {1, 2, 3, 4});
  HostTensor scale = makeF32({4}, {1, 2, 1, 2});
  HostTensor bias = makeF32({4}, {0, 0, 1, 1});
  std::vector<double> y = valuesOf(layerNorm(x, scale, bias, 0.0));
  std::vector<double> expected = {-1.3416407864998738, -0.8944271909999159,
                                  1.4472135954999579, 3.6832815729997477};
  for (size_t i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(y[i], expected[i]);
}

TEST(LayerNormTest, ZeroMeanUnitVariance) {
  HostTensor x = makePattern({4, 16}, 9);
  HostTensor ones = makeF32({16}, std::vector<double>(16, 1.0));
  HostTensor zeros = makeF32({16}, std::vector<double>(16, 0.0));
  HostTensor y = layerNorm(x, ones, zeros, 0.0);
  std::vector<double> mean = valuesOf(reduce(ReduceKind::Mean, y, {1}, false));
  HostTensor square = binary(BinaryKind::Mul, y, y);
  std::vector<double> variance =
      valuesOf(reduce(ReduceKind::Mean, square, {1}, false));
  for (int r = 0; r < 4; ++r) {
    EXPECT_NEAR(mean[r], 0.0, 1e-6);
    EXPECT_NEAR(variance[r], 1.0, 1e-5);
  }
}

TEST(RmsNormTest, HandComputed) {
  // RMS of [3, 4] is sqrt(12.5).
  HostTensor x = makeF32({1, 2}, {3, 4});
  std::vector<double> y =
      valuesOf(rmsNorm(x, makeF32({2}, {2, 1}), /*epsilon=*/0.0));
  EXPECT_FLOAT_EQ(y[0], 2 * 3 / std::sqrt(12.5));
  EXPECT_FLOAT_EQ(y[1], 4 / std::sqrt(12.5));
}

TEST(RmsNormTest, UnitRms) {
  HostTensor x = makePattern({3, 2, 8}, 10);
  HostTensor y = rmsNorm(x, makeF32({8}, std::vector<double>(8, 1.0)), 0.0);
  HostTensor meanSquare =
      reduce(ReduceKind::Mean, binary(BinaryKind::Mul, y, y), {2}, false);
  for (double v : valuesOf(meanSquare))
    EXPECT_NEAR(v, 1.0, 1e-5);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

TEST(TransposeTest, HandComputed) {
  HostTensor x = makeF32({2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor y = transpose(x, {1, 0});
  EXPECT_EQ(y.getShape(), (Shape{3, 2}));
  EXPECT_EQ(valuesOf(y), (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST(TransposeTest, InversePermutationRestoresInput) {
  HostTensor x = makePattern({2, 3, 4, 5}, 11);
  Shape permutation = {2, 0, 3, 1}, inverse(4);
  for (int64_t i = 0; i < 4; ++i)
    inverse[permutation[i]] = i;
  HostTensor y = transpose(x, permutation);
  EXPECT_EQ(y.getShape(), (Shape{4, 2, 5, 3}));
  EXPECT_FALSE(sameBytes(reshape(y, x.getShape()), x));
  EXPECT_TRUE(sameBytes(transpose(y, inverse), x));
}

TEST(TransposeTest, CopiesI64Exactly) {
  // Values beyond 2^53 would not survive a trip through double.
  int64_t big = (int64_t{1} << 62) + 1;
  HostTensor x = makeInts(ElementType::I64, {2, 2}, {big, big + 2, -big, 7});
  HostTensor y = transpose(x, {1, 0});
  EXPECT_EQ(intsOf(y), (std::vector<int64_t>{big, -big, big + 2, 7}));
}

TEST(ReshapeTest, KeepsRowMajorOrder) {
  HostTensor x = makeInts(ElementType::I32, {2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor y = reshape(x, {3, 1, 2});
  EXPECT_EQ(y.getShape(), (Shape{3, 1, 2}));
  EXPECT_EQ(y.getElementType(), ElementType::I32);
  EXPECT_EQ(intsOf(y), intsOf(x));
}

TEST(BroadcastToTest, MatchesExplicitTensor) {
  HostTensor row = makeF32({3}, {1, 2, 3});
  HostTensor rows = broadcastTo(row, {2, 3});
  EXPECT_EQ(rows.getShape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(rows), (std::vector<double>{1, 2, 3, 1, 2, 3}));

  HostTensor column = makeInts(ElementType::I64, {2, 1}, {7, -8});
  HostTensor columns = broadcastTo(column, {2, 2, 3});
  EXPECT_EQ(intsOf(columns),
            (std::vector<int64_t>{7, 7, 7, -8, -8, -8, 7, 7, 7, -8, -8, -8}));

  // Broadcasting inside binary agrees with an explicit broadcastTo.
  HostTensor x = makePattern({4, 2, 3}, 12), y = makePattern({2, 1}, 13);
  EXPECT_TRUE(sameBytes(binary(BinaryKind::Sub, x, y),
                        binary(BinaryKind::Sub, x, broadcastTo(y, {4, 2, 3}))));
}

TEST(ConcatTest, JoinsAlongAxis) {
  HostTensor a = makeF32({2, 1}, {1, 2});
  HostTensor b = makeF32({2, 2}, {3, 4, 5, 6});
  HostTensor joined = concat({&a, &b}, 1);
  EXPECT_EQ(joined.getShape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(joined), (std::vector<double>{1, 3, 4, 2, 5, 6}));

  HostTensor c = makeInts(ElementType::I64, {1, 2}, {int64_t{1} << 60, 1});
  HostTensor d = makeInts(ElementType::I64, {2, 2}, {2, 3, 4, 5});
  HostTensor stacked = concat({&c, &d, &c}, 0);
  EXPECT_EQ(stacked.getShape(), (Shape{4, 2}));
  EXPECT_EQ(intsOf(stacked), (std::vector<int64_t>{int64_t{1} << 60, 1, 2, 3, 4,
                                                   5, int64_t{1} << 60, 1}));
}

TEST(SliceTest, WithStrides) {
  std::vector<double> values;
  for (int i = 0; i < 20; ++i)
    values.push_back(i);
  HostTensor x = makeF32({4, 5}, values);
  HostTensor a = slice(x, {0, 1}, {4, 5}, {2, 3});
  EXPECT_EQ(a.getShape(), (Shape{2, 2}));
  EXPECT_EQ(valuesOf(a), (std::vector<double>{1, 4, 11, 14}));
  // A limit that the stride does not reach exactly.
  HostTensor b = slice(x, {1, 0}, {4, 5}, {2, 2});
  EXPECT_EQ(b.getShape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(b), (std::vector<double>{5, 7, 9, 15, 17, 19}));
  // Empty strides mean all ones.
  HostTensor c = slice(x, {2, 3}, {4, 5}, {});
  EXPECT_EQ(valuesOf(c), (std::vector<double>{13, 14, 18, 19}));
}

TEST(GatherTest, EmbeddingLookupAndInnerAxis) {
  HostTensor table = makeF32({3, 2}, {0, 1, 10, 11, 20, 21});
  HostTensor ids = makeInts(ElementType::I32, {2, 2}, {2, 0, 1, 1});
  std::string error;
  std::optional<HostTensor> rows = gather(table, ids, 0, error);
  ASSERT_TRUE(rows) << error;
  EXPECT_EQ(rows->getShape(), (Shape{2, 2, 2}));
  EXPECT_EQ(valuesOf(*rows),
            (std::vector<double>{20, 21, 0, 1, 10, 11, 10, 11}));

  // Along axis 1 with i64 indices and i64 data.
  HostTensor data = makeInts(ElementType::I64, {2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor picks = makeInts(ElementType::I64, {2}, {2, 0});
  std::optional<HostTensor> columns = gather(data, picks, 1, error);
  ASSERT_TRUE(columns) << error;
  EXPECT_EQ(columns->getShape(), (Shape{2, 2}));
  EXPECT_EQ(intsOf(*columns), (std::vector<int64_t>{3, 1, 6, 4}));
}

TEST(GatherTest, OutOfRangeIndexIsAnError) {
  HostTensor table = makeF32({3, 2}, {0, 1, 10, 11, 20, 21});
  std::string error;
  HostTensor tooBig = makeInts(ElementType::I32, {2, 2}, {0, 1, 3, 0});
  EXPECT_FALSE(gather(table, tooBig, 0, error));
  EXPECT_NE(error.find("3"), std::string::npos) << error;
  EXPECT_NE(error.find("[1, 0]"), std::string::npos) << error;
  EXPECT_NE(error.find("[0, 3)"), std::string::npos) << error;

  error.clear();
  HostTensor negative = makeInts(ElementType::I64, {1}, {-1});
  EXPECT_FALSE(gather(table, negative, 0, error));
  EXPECT_NE(error.find("-1"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

TEST(RopeTest, HandComputedAngles) {
  // D = 4, theta = 100: pair 0 turns by p, pair 1 by p * 100^(-1/2) = p / 10.
  // Row p holds x = [1, 1, 0, 0], so it becomes [cos p, cos p/10, sin p,
  // sin p/10].
  HostTensor x = makeF32({3, 4}, {1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0});
  std::vector<double> y = valuesOf(rope(x, 100.0, 0));
  for (int p = 0; p < 3; ++p) {
    EXPECT_FLOAT_EQ(y[4 * p + 0], std::cos(p));
    EXPECT_FLOAT_EQ(y[4 * p + 1], std::cos(p / 10.0));
    EXPECT_NEAR(y[4 * p + 2], std::sin(p), 1e-7);
    EXPECT_NEAR(y[4 * p + 3], std::sin(p / 10.0), 1e-7);
  }
}

TEST(RopeTest, PositionZeroIsIdentityAndPairNormIsKept) {
  HostTensor x = makePattern({2, 3, 5, 8}, 14);
  HostTensor y = rope(x, 10000.0, 0);
  for (int64_t row = 0; row < x.getNumElements() / 8; ++row) {
    bool positionZero = row % 5 == 0;
    for (int64_t i = 0; i < 4; ++i) {
      int64_t a = row * 8 + i, b = a + 4;
      if (positionZero) {
        EXPECT_EQ(y.getFloat(a), x.getFloat(a));
        EXPECT_EQ(y.getFloat(b), x.getFloat(b));
      }
      double before = std::hypot(x.getFloat(a), x.getFloat(b));
      double after = std::hypot(y.getFloat(a), y.getFloat(b));
      EXPECT_NEAR(after, before, 1e-6 * (1 + before));
    }
  }
  // Not the identity elsewhere.
  EXPECT_NE(y.getFloat(8), x.getFloat(8));
}

TEST(RopeTest, OffsetShiftsPositions) {
  // rope at offset 5 on row 0 equals rope at offset 0 on row 5.
  HostTensor row = makePattern({1, 6}, 15);
  HostTensor rows = broadcastTo(row, {6, 6});
  HostTensor shifted = rope(row, 500.0, 5);
  HostTensor unshifted = rope(rows, 500.0, 0);
  EXPECT_TRUE(sameBytes(shifted, slice(unshifted, {5, 0}, {6, 6}, {})));
  EXPECT_FALSE(sameBytes(shifted, row));
}

/// softmax(q k^T * scale) v with the matmul, binary and softmax kernels.
static HostTensor explicitAttention(const HostTensor &q, const HostTensor &k,
                                    const HostTensor &v, double scale) {
  HostTensor scores =
      binary(BinaryKind::Mul, matmul(q, k, false, true), makeF32({1}, {scale}));
  return matmul(softmax(scores, scores.getRank() - 1), v, false, false);
}

TEST(AttentionTest, SingleKeyReturnsItsValue) {
  HostTensor q = makePattern({2, 2, 3, 4}, 16);
  HostTensor k = makePattern({2, 2, 1, 4}, 17);
  HostTensor v = makePattern({2, 2, 1, 5}, 18);
  HostTensor out = attention(q, k, v, false, std::nullopt);
  ASSERT_EQ(out.getShape(), (Shape{2, 2, 3, 5}));
  EXPECT_TRUE(sameBytes(out, broadcastTo(v, {2, 2, 3, 5})));
}

TEST(AttentionTest, MatchesExplicitSoftmaxOfScores) {
  HostTensor q = makePattern({2, 2, 3, 4}, 19);
  HostTensor k = makePattern({2, 2, 5, 4}, 20);
  HostTensor v = makePattern({2, 2, 5, 3}, 21);
  // The default scale is 1/sqrt(4).
  expectClose(attention(q, k, v, false, std::nullopt),
              explicitAttention(q, k, v, 0.5), 1e-6);
  expectClose(attention(q, k, v, false, 0.3), explicitAttention(q, k, v, 0.3),
              1e-6);
}

TEST(AttentionTest, ScoresAreInDouble) {
  // Score 0 is 2^11 ((1 + 2^-12)^2 - 1) = 1 + 2^-13, score 1 is 0, so the
  // output is sigmoid(1 + 2^-13); with f32 products it would be sigmoid(1).
  HostTensor q = makeF32({1, 1, 1, 2}, {1 + 0x1p-12, 1});
  HostTensor k = makeF32({1, 1, 2, 2}, {1 + 0x1p-12, -1, 0, 0});
  HostTensor v = makeF32({1, 1, 2, 1}, {1, 0});
  float out = attention(q, k, v, false, 0x1p11).getFloat(0);
  EXPECT_EQ(out, static_cast<float>(1 / (1 + std::exp(-(1 + 0x1p-13)))));
  EXPECT_NE(out, static_cast<float>(1 / (1 + std::exp(-1.0))));
}

TEST(AttentionTest, ZeroScaleAveragesValues) {
  HostTensor q = makePattern({1, 1, 1, 2}, 22);
  HostTensor k = makePattern({1, 1, 4, 2}, 23);
  HostTensor v = makeF32({1, 1, 4, 1}, {1, 2, 3, 6});
  EXPECT_EQ(attention(q, k, v, false, 0.0).getFloat(0), 3.0f);
}

TEST(AttentionTest, GroupedQueryHeadsEqualRepeatedKvHeads) {
  HostTensor q = makePattern({2, 4, 3, 4}, 24);
  HostTensor k = makePattern({2, 2, 5, 4}, 25);
  HostTensor v = makePattern({2, 2, 5, 6}, 26);
  // Query heads 0, 1 read kv head 0; 2, 3 read kv head 1.
  HostTensor heads = makeInts(ElementType::I32, {4}, {0, 0, 1, 1});
  std::string error;
  std::optional<HostTensor> kRepeated = gather(k, heads, 1, error);
  std::optional<HostTensor> vRepeated = gather(v, heads, 1, error);
  ASSERT_TRUE(kRepeated && vRepeated) << error;
  for (bool causal : {false, true})
    EXPECT_TRUE(
        sameBytes(attention(q, k, v, causal, std::nullopt),
                  attention(q, *kRepeated, *vRepeated, causal, std::nullopt)));
}

TEST(AttentionTest, CausalMask) {
  HostTensor q = makePattern({1, 2, 4, 4}, 27);
  HostTensor k = makePattern({1, 2, 4, 4}, 28);
  HostTensor v = makePattern({1, 2, 4, 3}, 29);
  HostTensor causal = attention(q, k, v, true, std::nullopt);
  HostTensor full = attention(q, k, v, false, std::nullopt);
  for (int64_t h = 0; h < 2; ++h) {
    // With Sq = Sk, query 0 sees only key 0, and the last query sees all.
    EXPECT_TRUE(sameBytes(slice(causal, {0, h, 0, 0}, {1, h + 1, 1, 3}, {}),
                          slice(v, {0, h, 0, 0}, {1, h + 1, 1, 3}, {})));
    EXPECT_TRUE(sameBytes(slice(causal, {0, h, 3, 0}, {1, h + 1, 4, 3}, {}),
                          slice(full, {0, h, 3, 0}, {1, h + 1, 4, 3}, {})));
  }
  EXPECT_FALSE(sameBytes(causal, full));
}

TEST(AttentionTest, CausalWithFewerQueriesThanKeys) {
  // Sq = 2, Sk = 4: query 0 sees keys 0..2, the same as unmasked attention
  // over the first three keys.
  HostTensor q = makePattern({1, 1, 2, 4}, 30);
  HostTensor k = makePattern({1, 1, 4, 4}, 31);
  HostTensor v = makePattern({1, 1, 4, 2}, 32);
  HostTensor causal = attention(q, k, v, true, std::nullopt);
  HostTensor firstThree =
      attention(slice(q, {0, 0, 0, 0}, {1, 1, 1, 4}, {}),
                slice(k, {0, 0, 0, 0}, {1, 1, 3, 4}, {}),
                slice(v, {0, 0, 0, 0}, {1, 1, 3, 2}, {}), false, std::nullopt);
  EXPECT_TRUE(
      sameBytes(slice(causal, {0, 0, 0, 0}, {1, 1, 1, 2}, {}), firstThree));
}

TEST(AttentionTest, QueryThatSeesNoKeyOutputsZeros) {
  // Sq = 3, Sk = 1: query i sees keys j <= i - 2, so only query 2 sees key 0.
  HostTensor q = makePattern({1, 1, 3, 2}, 33);
  HostTensor k = makePattern({1, 1, 1, 2}, 34);
  HostTensor v = makeF32({1, 1, 1, 2}, {4, -5});
  std::vector<double> out = valuesOf(attention(q, k, v, true, std::nullopt));
  EXPECT_EQ(out, (std::vector<double>{0, 0, 0, 0, 4, -5}));
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

TEST(MoeRouterTest, TopKWithTiesAndNormalize) {
  HostTensor logits = makeF32({2, 4}, {1, 2, 2, 0, 0, 1, 2, 3});
  RouterResult raw = moeRouter(logits, 2, false);
  EXPECT_EQ(raw.indices.getElementType(), ElementType::I32);
  EXPECT_EQ(raw.weights.getShape(), (Shape{2, 2}));
  // Row 0: experts 1 and 2 tie; the lower index comes first.
  EXPECT_EQ(intsOf(raw.indices), (std::vector<int64_t>{1, 2, 3, 2}));
  double e = std::exp(1.0);
  double row0 = e * e / (e + 2 * e * e + 1);
  double row1 = e * e * e / (1 + e + e * e + e * e * e);
  EXPECT_FLOAT_EQ(raw.weights.getFloat(0), row0);
  EXPECT_FLOAT_EQ(raw.weights.getFloat(1), row0);
  EXPECT_FLOAT_EQ(raw.weights.getFloat(2), row1);
  EXPECT_FLOAT_EQ(raw.weights.getFloat(3), row1 / e);

  RouterResult normalized = moeRouter(logits, 2, true);
  EXPECT_EQ(intsOf(normalized.indices), intsOf(raw.indices));
  EXPECT_EQ(valuesOf(normalized.weights)[0], 0.5);
  EXPECT_EQ(valuesOf(normalized.weights)[1], 0.5);
  // e^3 / (e^3 + e^2) = sigmoid(1).
  EXPECT_FLOAT_EQ(normalized.weights.getFloat(2), 0.7310585786300049);
  EXPECT_FLOAT_EQ(normalized.weights.getFloat(3), 0.2689414213699951);
}

TEST(MoeRouterTest, ManyTiesKeepExpertOrder) {
  // 40 experts, logit 1 on every third: the top 6 are experts 0, 3, ..., 15
  // in index order (enough elements that an unstable sort would reorder).
  std::vector<double> logits(40, 0.0);
  for (size_t e = 0; e < logits.size(); e += 3)
    logits[e] = 1.0;
  RouterResult routed = moeRouter(makeF32({1, 40}, logits), 6, true);
  EXPECT_EQ(intsOf(routed.indices), (std::vector<int64_t>{0, 3, 6, 9, 12, 15}));
  for (double w : valuesOf(routed.weights))
    EXPECT_FLOAT_EQ(w, 1.0 / 6.0);
}

TEST(MoeRouterTest, WeightsTakeLogitsElementType) {
  HostTensor logits = makeTensor(ElementType::BF16, {1, 3}, {3, 1, 3});
  RouterResult routed = moeRouter(logits, 3, true);
  EXPECT_EQ(routed.weights.getElementType(), ElementType::BF16);
  EXPECT_EQ(intsOf(routed.indices), (std::vector<int64_t>{0, 2, 1}));
  double e2 = std::exp(2.0);
  EXPECT_EQ(routed.weights.getFloat(0), nearestBf16(e2 / (2 * e2 + 1)));
}

/// The dense SwiGLU feed-forward (silu(x gate) * (x up)) down.
static HostTensor denseSwiGlu(const HostTensor &x, const HostTensor &gate,
                              const HostTensor &up, const HostTensor &down) {
  HostTensor activated = unary(UnaryKind::Silu, matmul(x, gate, false, false));
  HostTensor hidden =
      binary(BinaryKind::Mul, activated, matmul(x, up, false, false));
  return matmul(hidden, down, false, false);
}

TEST(MoeExpertsTest, OneExpertEqualsDenseSwiGlu) {
  HostTensor x = makePattern({3, 4}, 35);
  HostTensor gate = makePattern({1, 4, 6}, 36), up = makePattern({1, 4, 6}, 37);
  HostTensor down = makePattern({1, 6, 4}, 38);
  HostTensor weights = makeF32({3, 1}, {1, 1, 1});
  HostTensor indices = makeInts(ElementType::I32, {3, 1}, {0, 0, 0});
  std::string error;
  std::optional<HostTensor> out =
      moeExperts(x, weights, indices, gate, up, down, error);
  ASSERT_TRUE(out) << error;
  expectClose(*out,
              denseSwiGlu(x, reshape(gate, {4, 6}), reshape(up, {4, 6}),
                          reshape(down, {6, 4})),
              1e-6);
}

TEST(MoeExpertsTest, CombinesExpertsWithRoutingWeights) {
  HostTensor x = makePattern({2, 4}, 39);
  HostTensor gate = makePattern({3, 4, 5}, 40), up = makePattern({3, 4, 5}, 41);
  HostTensor down = makePattern({3, 5, 4}, 42);
  std::string error;
  // Token 0: 0.25 expert 2 + 0.75 expert 0; token 1: 1.0 expert 1.
  HostTensor weights = makeF32({2, 2}, {0.25, 0.75, 1.0, 0.0});
  HostTensor indices = makeInts(ElementType::I64, {2, 2}, {2, 0, 1, 2});
  std::optional<HostTensor> out =
      moeExperts(x, weights, indices, gate, up, down, error);
  ASSERT_TRUE(out) << error;

  auto expert = [&](int64_t e) {
    Shape start = {e, 0, 0};
    return denseSwiGlu(x,
                       reshape(slice(gate, start, {e + 1, 4, 5}, {}), {4, 5}),
                       reshape(slice(up, start, {e + 1, 4, 5}, {}), {4, 5}),
                       reshape(slice(down, start, {e + 1, 5, 4}, {}), {5, 4}));
  };
  HostTensor e0 = expert(0), e1 = expert(1), e2 = expert(2);
  for (int64_t h = 0; h < 4; ++h) {
    double token0 = 0.25 * e2.getFloat(h) + 0.75 * e0.getFloat(h);
    EXPECT_NEAR(out->getFloat(h), token0, 1e-5 * (1 + std::fabs(token0)));
    double token1 = e1.getFloat(4 + h);
    EXPECT_NEAR(out->getFloat(4 + h), token1, 1e-5 * (1 + std::fabs(token1)));
  }
}

TEST(MoeExpertsTest, HiddenActivationIsRoundedToInputType) {
  // H = 1, F = 2, x = 1: hidden = [silu(10) * 1, silu(100) * 0.1f] and
  // down = [1, -1], so the output is the difference of two rounded hidden
  // values, close enough that their f32 rounding shows.
  HostTensor x = makeF32({1, 1}, {1});
  HostTensor gate = makeF32({1, 1, 2}, {10, 100});
  HostTensor up = makeF32({1, 1, 2}, {1, 0.1});
  HostTensor down = makeF32({1, 2, 1}, {1, -1});
  HostTensor weights = makeF32({1, 1}, {1});
  HostTensor indices = makeInts(ElementType::I32, {1, 1}, {0});
  std::string error;
  std::optional<HostTensor> out =
      moeExperts(x, weights, indices, gate, up, down, error);
  ASSERT_TRUE(out) << error;

  double silu10 = 10.0 / (1.0 + std::exp(-10.0));
  double second = 100.0 * static_cast<double>(0.1f); // silu(100) is 100.
  float rounded = static_cast<float>(static_cast<double>(float(silu10)) -
                                     static_cast<double>(float(second)));
  float unrounded = static_cast<float>(silu10 - second);
  ASSERT_NE(rounded, unrounded);
  EXPECT_EQ(out->getFloat(0), rounded);
}

TEST(MoeExpertsTest, OutOfRangeExpertIsAnError) {
  HostTensor x = makePattern({2, 2}, 43);
  HostTensor gate = makePattern({2, 2, 3}, 44), up = makePattern({2, 2, 3}, 45);
  HostTensor down = makePattern({2, 3, 2}, 46);
  HostTensor weights = makeF32({2, 1}, {1, 1});
  HostTensor indices = makeInts(ElementType::I32, {2, 1}, {1, 2});
  std::string error;
  EXPECT_FALSE(moeExperts(x, weights, indices, gate, up, down, error));
  EXPECT_NE(error.find("2 at position [1, 0]"), std::string::npos) << error;
  EXPECT_NE(error.find("[0, 2)"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Rounding policy
//===----------------------------------------------------------------------===//

TEST(RoundingTest, Bf16ResultsAreRoundedOnceFromDouble) {
  // Each bf16 output equals the nearest bf16 to the double result, computed
  // here independently; pairs of a bf16 and an f32 add exactly in double.
  HostTensor lhs = makePattern({64}, 47, ElementType::BF16);
  HostTensor rhs = makePattern({64}, 48);
  // Exact bf16 ties 2^k (1 + 2^-8), and values 2^-28 above and below them.
  for (int64_t i = 0; i < 12; ++i) {
    int exponent = static_cast<int>(i / 3);
    double nudge = static_cast<double>(i % 3 - 1) * 0x1p-20;
    lhs.setFloat(i, std::ldexp(1.0f, exponent));
    rhs.setFloat(i, static_cast<float>(std::ldexp(1.0 + nudge, exponent - 8)));
  }
  HostTensor sum = binary(BinaryKind::Add, lhs, rhs);
  for (int64_t i = 0; i < 64; ++i)
    EXPECT_EQ(sum.getFloat(i),
              nearestBf16(double(lhs.getFloat(i)) + double(rhs.getFloat(i))))
        << "at " << i;

  // Transcendental and accumulated results: compare with the double formula.
  HostTensor x = makePattern({4, 8}, 49, ElementType::BF16);
  HostTensor y = softmax(x, 1);
  for (int64_t r = 0; r < 4; ++r) {
    double max = -1e300, total = 0;
    for (int64_t c = 0; c < 8; ++c)
      max = std::max(max, double(x.getFloat(r * 8 + c)));
    for (int64_t c = 0; c < 8; ++c)
      total += std::exp(x.getFloat(r * 8 + c) - max);
    for (int64_t c = 0; c < 8; ++c)
      EXPECT_EQ(y.getFloat(r * 8 + c),
                nearestBf16(std::exp(x.getFloat(r * 8 + c) - max) / total));
  }
  HostTensor product = matmul(x, transpose(x, {1, 0}), false, false);
  EXPECT_EQ(product.getElementType(), ElementType::BF16);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < 8; ++c)
        acc += double(x.getFloat(i * 8 + c)) * x.getFloat(j * 8 + c);
      EXPECT_EQ(product.getFloat(i * 4 + j), nearestBf16(acc));
    }
}
