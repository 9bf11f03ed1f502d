//===- HostTensorTest.cpp - Tests for HostTensor ----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Pins the bf16/f16 bit patterns and rounding against IEEE 754, exhaustively
// where the 16-bit types make that cheap, and the tensor accessors, strides,
// checksum and type spelling.
//
//===----------------------------------------------------------------------===//

#include "runtime/HostTensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace kiln;

static uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

static bool isBf16Nan(uint16_t bits) {
  return (bits & 0x7f80u) == 0x7f80u && (bits & 0x007fu) != 0;
}

static bool isF16Nan(uint16_t bits) {
  return (bits & 0x7c00u) == 0x7c00u && (bits & 0x03ffu) != 0;
}

static const float kInf = std::numeric_limits<float>::infinity();
static const float kNan = std::numeric_limits<float>::quiet_NaN();

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

TEST(ElementTypeTest, SizesNamesAndParsing) {
  EXPECT_EQ(elementSize(ElementType::F32), 4u);
  EXPECT_EQ(elementSize(ElementType::BF16), 2u);
  EXPECT_EQ(elementSize(ElementType::F16), 2u);
  EXPECT_EQ(elementSize(ElementType::I32), 4u);
  EXPECT_EQ(elementSize(ElementType::I64), 8u);

  EXPECT_EQ(elementTypeName(ElementType::F32), "f32");
  EXPECT_EQ(elementTypeName(ElementType::BF16), "bf16");
  EXPECT_EQ(elementTypeName(ElementType::F16), "f16");
  EXPECT_EQ(elementTypeName(ElementType::I32), "i32");
  EXPECT_EQ(elementTypeName(ElementType::I64), "i64");

  for (ElementType type :
       {ElementType::F32, ElementType::BF16, ElementType::F16, ElementType::I32,
        ElementType::I64})
    EXPECT_EQ(parseElementType(elementTypeName(type)), type);
  EXPECT_EQ(parseElementType("f64"), std::nullopt);
  EXPECT_EQ(parseElementType("F32"), std::nullopt);
  EXPECT_EQ(parseElementType(""), std::nullopt);

  EXPECT_TRUE(isFloatType(ElementType::F32));
  EXPECT_TRUE(isFloatType(ElementType::BF16));
  EXPECT_TRUE(isFloatType(ElementType::F16));
  EXPECT_FALSE(isFloatType(ElementType::I32));
  EXPECT_FALSE(isFloatType(ElementType::I64));
}

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

TEST(Bf16Test, KnownBitPatterns) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80u);
  EXPECT_EQ(floatToBf16(-2.0f), 0xc000u);
  EXPECT_EQ(floatToBf16(0.0f), 0x0000u);
  EXPECT_EQ(floatToBf16(-0.0f), 0x8000u);
  EXPECT_EQ(floatToBf16(kInf), 0x7f80u);
  EXPECT_EQ(floatToBf16(-kInf), 0xff80u);
  EXPECT_EQ(bf16ToFloat(0x3f80u), 1.0f);
  EXPECT_EQ(bf16ToFloat(0xc040u), -3.0f);
  EXPECT_EQ(bitsOf(bf16ToFloat(0x8000u)), 0x80000000u);
}

TEST(Bf16Test, RoundsToNearestEven) {
  // bf16 has 7 stored mantissa bits: near 1.0 its ulp is 2^-7.
  const float ulp = std::ldexp(1.0f, -7);
  EXPECT_EQ(floatToBf16(1.0f + ulp / 2), 0x3f80u);     // Tie, down to even.
  EXPECT_EQ(floatToBf16(1.0f + 3 * ulp / 2), 0x3f82u); // Tie, up to even.
  EXPECT_EQ(floatToBf16(std::nextafter(1.0f + ulp / 2, 2.0f)), 0x3f81u);
  EXPECT_EQ(floatToBf16(std::nextafter(1.0f + ulp / 2, 0.0f)), 0x3f80u);
  EXPECT_EQ(floatToBf16(-(1.0f + 3 * ulp / 2)), 0xbf82u);
}

TEST(Bf16Test, EveryMidpointRoundsToEven) {
  // The midpoint of two neighbouring bf16 values is exact in f32; it must go
  // to the even one, and its f32 neighbours to the nearer one.
  for (uint32_t low = 0; low < 0x7f7fu; ++low) {
    float lo = bf16ToFloat(static_cast<uint16_t>(low));
    float hi = bf16ToFloat(static_cast<uint16_t>(low + 1));
    float mid = lo + (hi - lo) / 2;
    uint16_t even = (low & 1u) ? low + 1 : low;
    ASSERT_EQ(floatToBf16(mid), even) << "low=" << low;
    ASSERT_EQ(floatToBf16(std::nextafter(mid, 0.0f)), low) << "low=" << low;
    ASSERT_EQ(floatToBf16(std::nextafter(mid, kInf)), low + 1) << "low=" << low;
  }
}

TEST(Bf16Test, EveryValueRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    uint16_t value = static_cast<uint16_t>(bits);
    if (isBf16Nan(value))
      continue;
    ASSERT_EQ(floatToBf16(bf16ToFloat(value)), value) << "bits=" << bits;
  }
}

TEST(Bf16Test, OverflowsToInfinity) {
  // 0x7f7f is the largest finite bf16; half an ulp above it is infinity.
  float largest = bf16ToFloat(0x7f7fu);
  EXPECT_EQ(floatToBf16(largest), 0x7f7fu);
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80u);
  EXPECT_EQ(floatToBf16(-std::numeric_limits<float>::max()), 0xff80u);
  EXPECT_TRUE(std::isinf(bf16ToFloat(0x7f80u)));
}

TEST(Bf16Test, NanStaysQuietNan) {
  uint16_t quiet = floatToBf16(kNan);
  EXPECT_TRUE(isBf16Nan(quiet));
  EXPECT_NE(quiet & 0x0040u, 0u);
  // A payload only in the low bits must not round into infinity.
  uint16_t lowPayload = floatToBf16(floatOf(0x7f800001u));
  EXPECT_TRUE(isBf16Nan(lowPayload));
  EXPECT_NE(lowPayload & 0x0040u, 0u);
  uint16_t negative = floatToBf16(floatOf(0xffc00000u));
  EXPECT_TRUE(isBf16Nan(negative));
  EXPECT_NE(negative & 0x8000u, 0u);
  // A signalling bf16 NaN widens to a quiet f32 NaN.
  float widened = bf16ToFloat(0x7f81u);
  EXPECT_TRUE(std::isnan(widened));
  EXPECT_NE(bitsOf(widened) & 0x00400000u, 0u);
}

//===----------------------------------------------------------------------===//
// f16
//===----------------------------------------------------------------------===//

TEST(F16Test, KnownBitPatterns) {
  EXPECT_EQ(floatToF16(1.0f), 0x3c00u);
  EXPECT_EQ(floatToF16(-2.0f), 0xc000u);
  EXPECT_EQ(floatToF16(0.5f), 0x3800u);
  EXPECT_EQ(floatToF16(0.0f), 0x0000u);
  EXPECT_EQ(floatToF16(-0.0f), 0x8000u);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bffu);
  EXPECT_EQ(f16ToFloat(0x3c00u), 1.0f);
  EXPECT_EQ(f16ToFloat(0x7bffu), 65504.0f);
  EXPECT_EQ(f16ToFloat(0xc200u), -3.0f);
  EXPECT_EQ(bitsOf(f16ToFloat(0x8000u)), 0x80000000u);
}

TEST(F16Test, RoundsToNearestEven) {
  // f16 has 10 stored mantissa bits: near 1.0 its ulp is 2^-10.
  const float ulp = std::ldexp(1.0f, -10);
  EXPECT_EQ(floatToF16(1.0f + ulp / 2), 0x3c00u);
  EXPECT_EQ(floatToF16(1.0f + 3 * ulp / 2), 0x3c02u);
  EXPECT_EQ(floatToF16(std::nextafter(1.0f + ulp / 2, 2.0f)), 0x3c01u);
  // Between 2048 and 4096 the ulp is 2.
  EXPECT_EQ(f16ToFloat(floatToF16(2049.0f)), 2048.0f);
  EXPECT_EQ(f16ToFloat(floatToF16(2051.0f)), 2052.0f);
  // A carry out of the mantissa moves to the next binade.
  EXPECT_EQ(floatToF16(std::nextafter(2.0f, 0.0f)), 0x4000u);
}

TEST(F16Test, EveryMidpointRoundsToEven) {
  // Covers subnormals, the subnormal/normal boundary and every binade.
  for (uint32_t low = 0; low < 0x7bffu; ++low) {
    float lo = f16ToFloat(static_cast<uint16_t>(low));
    float hi = f16ToFloat(static_cast<uint16_t>(low + 1));
    float mid = lo + (hi - lo) / 2;
    uint16_t even = (low & 1u) ? low + 1 : low;
    ASSERT_EQ(floatToF16(mid), even) << "low=" << low;
    ASSERT_EQ(floatToF16(-mid), even | 0x8000u) << "low=" << low;
    ASSERT_EQ(floatToF16(std::nextafter(mid, 0.0f)), low) << "low=" << low;
    ASSERT_EQ(floatToF16(std::nextafter(mid, kInf)), low + 1) << "low=" << low;
  }
}

TEST(F16Test, EveryValueRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    uint16_t value = static_cast<uint16_t>(bits);
    if (isF16Nan(value))
      continue;
    ASSERT_EQ(floatToF16(f16ToFloat(value)), value) << "bits=" << bits;
  }
}

TEST(F16Test, OverflowsToInfinity) {
  // 65520 is the tie between 65504 (odd mantissa) and 2^16: it goes up.
  EXPECT_EQ(floatToF16(65519.0f), 0x7bffu);
  EXPECT_EQ(floatToF16(std::nextafter(65520.0f, 0.0f)), 0x7bffu);
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00u);
  EXPECT_EQ(floatToF16(1e6f), 0x7c00u);
  EXPECT_EQ(floatToF16(-1e6f), 0xfc00u);
  EXPECT_EQ(floatToF16(std::numeric_limits<float>::max()), 0x7c00u);
  EXPECT_EQ(floatToF16(kInf), 0x7c00u);
  EXPECT_EQ(floatToF16(-kInf), 0xfc00u);
  EXPECT_EQ(f16ToFloat(0x7c00u), kInf);
  EXPECT_EQ(f16ToFloat(0xfc00u), -kInf);
}

TEST(F16Test, Subnormals) {
  const float smallest = std::ldexp(1.0f, -24);
  EXPECT_EQ(floatToF16(smallest), 0x0001u);
  EXPECT_EQ(f16ToFloat(0x0001u), smallest);
  EXPECT_EQ(f16ToFloat(0x03ffu), 1023 * smallest);
  EXPECT_EQ(f16ToFloat(0x8003u), -3 * smallest);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -14)), 0x0400u); // Smallest normal.
  // Half the smallest subnormal ties to the even zero; anything more is 1.
  EXPECT_EQ(floatToF16(smallest / 2), 0x0000u);
  EXPECT_EQ(floatToF16(-smallest / 2), 0x8000u);
  EXPECT_EQ(floatToF16(std::nextafter(smallest / 2, 1.0f)), 0x0001u);
  EXPECT_EQ(floatToF16(3 * smallest / 2), 0x0002u);
  EXPECT_EQ(floatToF16(5 * smallest / 2), 0x0002u);
  // The largest subnormal plus half an ulp ties up to the smallest normal.
  EXPECT_EQ(floatToF16(1023.5f * smallest), 0x0400u);
  // f32 subnormals are far below f16's range.
  EXPECT_EQ(floatToF16(1e-40f), 0x0000u);
  EXPECT_EQ(floatToF16(-1e-40f), 0x8000u);
}

TEST(F16Test, NanStaysQuietNan) {
  uint16_t quiet = floatToF16(kNan);
  EXPECT_TRUE(isF16Nan(quiet));
  EXPECT_NE(quiet & 0x0200u, 0u);
  uint16_t lowPayload = floatToF16(floatOf(0x7f800001u));
  EXPECT_TRUE(isF16Nan(lowPayload));
  EXPECT_NE(lowPayload & 0x0200u, 0u);
  EXPECT_NE(floatToF16(floatOf(0xffc00000u)) & 0x8000u, 0u);
  float widened = f16ToFloat(0x7c01u);
  EXPECT_TRUE(std::isnan(widened));
  EXPECT_NE(bitsOf(widened) & 0x00400000u, 0u);
}

//===----------------------------------------------------------------------===//
// roundTo
//===----------------------------------------------------------------------===//

TEST(RoundToTest, RoundsToEachType) {
  const float third = 1.0f / 3.0f;
  EXPECT_EQ(bitsOf(roundTo(ElementType::F32, third)), bitsOf(third));
  EXPECT_TRUE(std::isnan(roundTo(ElementType::F32, kNan)));
  EXPECT_EQ(roundTo(ElementType::BF16, third), bf16ToFloat(0x3eabu));
  EXPECT_EQ(roundTo(ElementType::F16, third), f16ToFloat(0x3555u));
  EXPECT_NE(roundTo(ElementType::BF16, third), third);
  EXPECT_NE(roundTo(ElementType::F16, third), third);
  EXPECT_EQ(roundTo(ElementType::BF16, 1.0f + std::ldexp(1.0f, -8)), 1.0f);
  EXPECT_EQ(roundTo(ElementType::F16, 70000.0f), kInf);
  EXPECT_TRUE(std::isnan(roundTo(ElementType::F16, kNan)));
  EXPECT_TRUE(std::isnan(roundTo(ElementType::BF16, kNan)));
  // Integer types: what a store then a load gives.
  EXPECT_EQ(roundTo(ElementType::I32, -2.7f), -2.0f);
  EXPECT_EQ(roundTo(ElementType::I64, 2.7f), 2.0f);
}

//===----------------------------------------------------------------------===//
// HostTensor
//===----------------------------------------------------------------------===//

TEST(HostTensorTest, ConstructorZeroFills) {
  HostTensor tensor(ElementType::F32, {2, 3});
  EXPECT_EQ(tensor.getElementType(), ElementType::F32);
  EXPECT_EQ(tensor.getShape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tensor.getRank(), 2);
  EXPECT_EQ(tensor.getNumElements(), 6);
  ASSERT_EQ(tensor.getByteSize(), 24u);
  for (size_t i = 0; i < tensor.getByteSize(); ++i)
    EXPECT_EQ(tensor.data()[i], 0u) << "byte " << i;

  HostTensor bf16(ElementType::BF16, {5});
  EXPECT_EQ(bf16.getByteSize(), 10u);
  HostTensor i64(ElementType::I64, {2, 2});
  EXPECT_EQ(i64.getByteSize(), 32u);
}

TEST(HostTensorTest, StorageStartsOnACacheLine) {
  // Small, and large enough for malloc to map pages of its own (where glibc
  // would return 16 bytes past a page boundary); copies too.
  for (int64_t elements : {3, 1000, 1 << 20}) {
    HostTensor tensor(ElementType::F32, {elements});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data()) % 64, 0u) << elements;
    HostTensor copy = tensor;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data()) % 64, 0u) << elements;
  }
}

TEST(HostTensorTest, RankZeroHasOneElement) {
  HostTensor scalar(ElementType::I64, {});
  EXPECT_EQ(scalar.getRank(), 0);
  EXPECT_EQ(scalar.getNumElements(), 1);
  EXPECT_EQ(scalar.getByteSize(), 8u);
  scalar.setInt(0, -42);
  EXPECT_EQ(scalar.getInt(0), -42);
}

TEST(HostTensorTest, ZeroSizeTensor) {
  HostTensor empty(ElementType::F16, {3, 0, 4});
  EXPECT_EQ(empty.getNumElements(), 0);
  EXPECT_EQ(empty.getByteSize(), 0u);
}

TEST(HostTensorTest, FloatAccessRoundsToType) {
  const float third = 1.0f / 3.0f;

  HostTensor f32(ElementType::F32, {2});
  f32.setFloat(1, third);
  EXPECT_EQ(f32.getFloat(1), third);
  EXPECT_EQ(f32.getFloat(0), 0.0f);

  HostTensor bf16(ElementType::BF16, {2});
  bf16.setFloat(0, 1.0f);
  bf16.setFloat(1, third);
  EXPECT_EQ(bf16.dataAs<uint16_t>()[0], 0x3f80u);
  EXPECT_EQ(bf16.dataAs<uint16_t>()[1], 0x3eabu);
  EXPECT_EQ(bf16.getFloat(1), roundTo(ElementType::BF16, third));

  HostTensor f16(ElementType::F16, {2});
  f16.setFloat(0, 1.0f);
  f16.setFloat(1, 1e6f);
  EXPECT_EQ(f16.dataAs<uint16_t>()[0], 0x3c00u);
  EXPECT_EQ(f16.getFloat(1), kInf);
}

TEST(HostTensorTest, FloatStoresIntoIntsTruncateTowardZero) {
  HostTensor i32(ElementType::I32, {4});
  i32.setFloat(0, 2.9f);
  i32.setFloat(1, -2.9f);
  i32.setFloat(2, 1e10f); // Saturates.
  i32.setFloat(3, kNan);  // NaN has no integer value; stores 0.
  EXPECT_EQ(i32.dataAs<int32_t>()[0], 2);
  EXPECT_EQ(i32.dataAs<int32_t>()[1], -2);
  EXPECT_EQ(i32.dataAs<int32_t>()[2], std::numeric_limits<int32_t>::max());
  EXPECT_EQ(i32.dataAs<int32_t>()[3], 0);
  EXPECT_EQ(i32.getFloat(1), -2.0f);

  HostTensor i64(ElementType::I64, {3});
  i64.setFloat(0, -7.5f);
  i64.setFloat(1, -1e30f);
  i64.setFloat(2, 1e30f);
  EXPECT_EQ(i64.getInt(0), -7);
  EXPECT_EQ(i64.getInt(1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(i64.getInt(2), std::numeric_limits<int64_t>::max());
}

TEST(HostTensorTest, IntAccess) {
  HostTensor i64(ElementType::I64, {2});
  const int64_t big = (int64_t(1) << 40) + 1; // Not exact in f32.
  i64.setInt(0, big);
  i64.setInt(1, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(i64.getInt(0), big);
  EXPECT_EQ(i64.getInt(1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(i64.getFloat(0), static_cast<float>(big));

  HostTensor i32(ElementType::I32, {2});
  i32.setInt(0, -5);
  i32.setInt(1, (int64_t(1) << 32) + 3); // Wraps, like arith.trunci.
  EXPECT_EQ(i32.getInt(0), -5);
  EXPECT_EQ(i32.getInt(1), 3);

  // Float tensors: getInt truncates toward zero, setInt rounds to the type.
  HostTensor f32(ElementType::F32, {2});
  f32.setFloat(0, -3.75f);
  f32.setInt(1, 16777217); // 2^24 + 1 ties to even in f32.
  EXPECT_EQ(f32.getInt(0), -3);
  EXPECT_EQ(f32.getFloat(1), 16777216.0f);

  HostTensor bf16(ElementType::BF16, {3});
  bf16.setInt(0, 257); // Tie between 256 and 258: even is 256.
  bf16.setInt(1, 259); // Tie between 258 and 260: even is 260.
  // 2^32 + 2^24 + 1 is just above the midpoint of 2^32 and 2^32 + 2^25.
  // Rounding through f32 first would land on the midpoint and then tie down.
  bf16.setInt(2, (int64_t(1) << 32) + (int64_t(1) << 24) + 1);
  EXPECT_EQ(bf16.getInt(0), 256);
  EXPECT_EQ(bf16.getInt(1), 260);
  EXPECT_EQ(bf16.getFloat(2), std::ldexp(1.0f, 32) + std::ldexp(1.0f, 25));

  HostTensor f16(ElementType::F16, {2});
  f16.setInt(0, -2049);
  f16.setInt(1, 100000);
  EXPECT_EQ(f16.getInt(0), -2048);
  EXPECT_EQ(f16.getFloat(1), kInf);
}

TEST(HostTensorTest, Strides) {
  EXPECT_EQ(HostTensor(ElementType::F32, {2, 3, 4}).getStrides(),
            (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(HostTensor(ElementType::F32, {5}).getStrides(),
            (std::vector<int64_t>{1}));
  EXPECT_EQ(HostTensor(ElementType::F32, {}).getStrides(),
            std::vector<int64_t>{});
  EXPECT_EQ(HostTensor(ElementType::F32, {3, 0, 2}).getStrides(),
            (std::vector<int64_t>{0, 2, 1}));
}

TEST(HostTensorTest, ChecksumFormat) {
  // Golden values pin the documented byte sequence: the element type byte,
  // the rank byte, each dimension as 8 little-endian bytes, then the data.
  HostTensor f32(ElementType::F32, {2});
  f32.setFloat(0, 1.0f);
  f32.setFloat(1, -2.0f);
  EXPECT_EQ(f32.checksum(), 0x684516dfe989c8e5ull);
  HostTensor scalar(ElementType::I64, {});
  scalar.setInt(0, 7);
  EXPECT_EQ(scalar.checksum(), 0xa22466eb4a62d90eull);
}

TEST(HostTensorTest, ChecksumDistinguishesRanks) {
  // Without the rank, the empty [1, 0] would hash like [1] holding zero.
  EXPECT_NE(HostTensor(ElementType::I64, {1, 0}).checksum(),
            HostTensor(ElementType::I64, {1}).checksum());
  EXPECT_NE(HostTensor(ElementType::I64, {0}).checksum(),
            HostTensor(ElementType::I64, {}).checksum());
}

TEST(HostTensorTest, ChecksumDistinguishesTensors) {
  HostTensor a(ElementType::F32, {2, 3});
  for (int64_t i = 0; i < a.getNumElements(); ++i)
    a.setFloat(i, static_cast<float>(i) * 0.5f);
  HostTensor equal = a;
  EXPECT_EQ(a.checksum(), equal.checksum());

  HostTensor transposedShape(ElementType::F32, {3, 2});
  std::memcpy(transposedShape.data(), a.data(), a.getByteSize());
  EXPECT_NE(a.checksum(), transposedShape.checksum());

  HostTensor otherType(ElementType::I32, {2, 3});
  std::memcpy(otherType.data(), a.data(), a.getByteSize());
  EXPECT_NE(a.checksum(), otherType.checksum());

  for (size_t byte = 0; byte < a.getByteSize(); ++byte) {
    HostTensor flipped = a;
    flipped.data()[byte] ^= 0x01;
    EXPECT_NE(a.checksum(), flipped.checksum()) << "byte " << byte;
  }
}

TEST(FormatTensorTypeTest, MlirSpelling) {
  EXPECT_EQ(formatTensorType(ElementType::F32, {2, 3}), "2x3xf32");
  EXPECT_EQ(formatTensorType(ElementType::F32, {}), "f32");
  EXPECT_EQ(formatTensorType(ElementType::BF16, {0, 4}), "0x4xbf16");
  EXPECT_EQ(formatTensorType(ElementType::I64, {7}), "7xi64");
  EXPECT_EQ(formatTensorType(ElementType::F16, {1, 1, 1}), "1x1x1xf16");
}
