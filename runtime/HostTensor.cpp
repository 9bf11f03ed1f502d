//===- HostTensor.cpp - A dense tensor in host memory -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Element type helpers, the bf16/f16 conversions and HostTensor itself. The
// conversions work on bit patterns rather than on compiler-provided half
// types so that they round identically on every host and compiler.
//
//===----------------------------------------------------------------------===//

#include "runtime/HostTensor.h"

#include <cassert>
#include <cmath>
#include <cstring>
#include <utility>

namespace kiln {

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

size_t elementSize(ElementType type) {
  switch (type) {
  case ElementType::F32:
  case ElementType::I32:
    return 4;
  case ElementType::BF16:
  case ElementType::F16:
    return 2;
  case ElementType::I64:
    return 8;
  }
  assert(false && "unknown element type");
  return 0;
}

std::string_view elementTypeName(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return "f32";
  case ElementType::BF16:
    return "bf16";
  case ElementType::F16:
    return "f16";
  case ElementType::I32:
    return "i32";
  case ElementType::I64:
    return "i64";
  }
  assert(false && "unknown element type");
  return "";
}

std::optional<ElementType> parseElementType(std::string_view name) {
  for (ElementType type :
       {ElementType::F32, ElementType::BF16, ElementType::F16, ElementType::I32,
        ElementType::I64})
    if (elementTypeName(type) == name)
      return type;
  return std::nullopt;
}

bool isFloatType(ElementType type) {
  return type == ElementType::F32 || type == ElementType::BF16 ||
         type == ElementType::F16;
}

//===----------------------------------------------------------------------===//
// Float conversions
//===----------------------------------------------------------------------===//

static uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static float bitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

static bool isNanBits(uint32_t bits) {
  return (bits & 0x7fffffffu) > 0x7f800000u;
}

float bf16ToFloat(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  // A signalling NaN would otherwise stay signalling in f32; quiet it so that
  // every NaN the runtime hands out behaves the same.
  if (isNanBits(wide))
    wide |= 0x00400000u;
  return bitsToFloat(wide);
}

uint16_t floatToBf16(float value) {
  uint32_t bits = floatBits(value);
  // Rounding below would carry a NaN with a small payload into infinity, so
  // keep the top payload bits and force the quiet bit instead.
  if (isNanBits(bits))
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  // Round to nearest even: add just under half an ulp, plus one when the kept
  // part is odd. A carry out of the mantissa correctly bumps the exponent,
  // including into infinity for values beyond the bf16 range.
  uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

float f16ToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1fu) {
    uint32_t result = sign | 0x7f800000u | (mantissa << 13);
    if (mantissa != 0)
      result |= 0x00400000u; // Quiet NaN, as in bf16ToFloat.
    return bitsToFloat(result);
  }
  if (exponent == 0) {
    if (mantissa == 0)
      return bitsToFloat(sign);
    // Subnormal: every f16 subnormal is an f32 normal, so shift the mantissa
    // up until its implicit bit appears and lower the exponent to match.
    uint32_t f32Exponent = 127 - 14;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --f32Exponent;
    }
    mantissa &= 0x3ffu;
    return bitsToFloat(sign | (f32Exponent << 23) | (mantissa << 13));
  }
  return bitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

uint16_t floatToF16(float value) {
  uint32_t bits = floatBits(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;

  // 1. Infinity and NaN; NaN keeps its top payload bits and becomes quiet.
  if (magnitude >= 0x7f800000u) {
    if (magnitude == 0x7f800000u)
      return sign | 0x7c00u;
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 2. Overflow: 65520 lies halfway between the largest f16 (65504, odd
  //    mantissa) and 2^16, so it and everything above round to infinity.
  if (magnitude >= 0x477ff000u)
    return sign | 0x7c00u;
  // 3. Normal results: rebias the exponent and round the mantissa to nearest
  //    even; a carry into the exponent gives the next power of two.
  if (magnitude >= 0x38800000u) {
    uint32_t roundingBias = 0xfffu + ((magnitude >> 13) & 1u);
    return static_cast<uint16_t>(
        sign | ((magnitude + roundingBias - ((127u - 15u) << 23)) >> 13));
  }
  // 4. Subnormal results, in units of 2^-24. Up to 2^-25 (half the smallest
  //    subnormal, a tie that goes to the even zero) everything becomes zero.
  if (magnitude <= 0x33000000u)
    return sign;
  uint32_t exponent = magnitude >> 23;
  uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  // value = mantissa * 2^(exponent - 150) = mantissa * 2^(exponent - 126)
  // units; exponent is in [102, 112], so the shift is in [14, 24].
  uint32_t shift = 126 - exponent;
  uint32_t quotient = mantissa >> shift;
  uint32_t remainder = mantissa & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (remainder > half || (remainder == half && (quotient & 1u)))
    ++quotient; // May reach 0x400, the smallest normal, which is exact.
  return static_cast<uint16_t>(sign | quotient);
}

/// `value` truncated toward zero into [min, max]; NaN gives 0. Saturating
/// keeps the conversion defined for any float, where a plain cast is UB.
static int64_t truncateToInt(float value, int64_t min, int64_t max) {
  if (std::isnan(value))
    return 0;
  // Compare in double: it holds every f32 and the i32 bounds exactly, and
  // the i64 bounds become +-2^63, which still bracket the range correctly.
  double truncated = std::trunc(static_cast<double>(value));
  if (truncated <= static_cast<double>(min))
    return min;
  if (truncated >= static_cast<double>(max))
    return max;
  return static_cast<int64_t>(truncated);
}

static int64_t intMin(ElementType type) {
  return type == ElementType::I32 ? INT32_MIN : INT64_MIN;
}

static int64_t intMax(ElementType type) {
  return type == ElementType::I32 ? INT32_MAX : INT64_MAX;
}

float roundTo(ElementType type, float value) {
  switch (type) {
  case ElementType::F32:
    return value;
  case ElementType::BF16:
    return bf16ToFloat(floatToBf16(value));
  case ElementType::F16:
    return f16ToFloat(floatToF16(value));
  case ElementType::I32:
  case ElementType::I64:
    // What `setFloat` then `getFloat` gives, so the identity holds for every
    // element type.
    return static_cast<float>(truncateToInt(value, intMin(type), intMax(type)));
  }
  assert(false && "unknown element type");
  return value;
}

/// `value` rounded to f32 with round-to-odd: any inexact result gets its
/// lowest bit set. Rounding that f32 again to bf16 or f16 (far fewer than 22
/// bits) then equals rounding `value` directly, which a plain conversion
/// followed by a second rounding would not guarantee.
static float int64ToFloatRoundToOdd(int64_t value) {
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value)
                                 : static_cast<uint64_t>(value);
  int shift = 0;
  bool inexact = false;
  while (magnitude >= (uint64_t(1) << 24)) {
    inexact |= (magnitude & 1u) != 0;
    magnitude >>= 1;
    ++shift;
  }
  if (inexact)
    magnitude |= 1u;
  float result = std::ldexp(static_cast<float>(magnitude), shift);
  return value < 0 ? -result : result;
}

//===----------------------------------------------------------------------===//
// HostTensor
//===----------------------------------------------------------------------===//

HostTensor::HostTensor(ElementType type, std::vector<int64_t> shape)
    : type(type), shape(std::move(shape)) {
  for ([[maybe_unused]] int64_t dim : this->shape)
    assert(dim >= 0 && "negative dimension");
  bytes.assign(static_cast<size_t>(getNumElements()) * elementSize(type), 0);
}

int64_t HostTensor::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

float HostTensor::getFloat(int64_t index) const {
  assert(index >= 0 && index < getNumElements() && "index out of range");
  switch (type) {
  case ElementType::F32:
    return dataAs<float>()[index];
  case ElementType::BF16:
    return bf16ToFloat(dataAs<uint16_t>()[index]);
  case ElementType::F16:
    return f16ToFloat(dataAs<uint16_t>()[index]);
  case ElementType::I32:
    return static_cast<float>(dataAs<int32_t>()[index]);
  case ElementType::I64:
    return static_cast<float>(dataAs<int64_t>()[index]);
  }
  assert(false && "unknown element type");
  return 0;
}

void HostTensor::setFloat(int64_t index, float value) {
  assert(index >= 0 && index < getNumElements() && "index out of range");
  switch (type) {
  case ElementType::F32:
    dataAs<float>()[index] = value;
    return;
  case ElementType::BF16:
    dataAs<uint16_t>()[index] = floatToBf16(value);
    return;
  case ElementType::F16:
    dataAs<uint16_t>()[index] = floatToF16(value);
    return;
  case ElementType::I32:
    dataAs<int32_t>()[index] =
        static_cast<int32_t>(truncateToInt(value, INT32_MIN, INT32_MAX));
    return;
  case ElementType::I64:
    dataAs<int64_t>()[index] = truncateToInt(value, INT64_MIN, INT64_MAX);
    return;
  }
  assert(false && "unknown element type");
}

int64_t HostTensor::getInt(int64_t index) const {
  assert(index >= 0 && index < getNumElements() && "index out of range");
  switch (type) {
  case ElementType::I32:
    return dataAs<int32_t>()[index];
  case ElementType::I64:
    return dataAs<int64_t>()[index];
  case ElementType::F32:
  case ElementType::BF16:
  case ElementType::F16:
    return truncateToInt(getFloat(index), INT64_MIN, INT64_MAX);
  }
  assert(false && "unknown element type");
  return 0;
}

void HostTensor::setInt(int64_t index, int64_t value) {
  assert(index >= 0 && index < getNumElements() && "index out of range");
  switch (type) {
  case ElementType::I32:
    // Wraps modulo 2^32, like an MLIR `arith.trunci`.
    dataAs<int32_t>()[index] =
        static_cast<int32_t>(static_cast<uint32_t>(value));
    return;
  case ElementType::I64:
    dataAs<int64_t>()[index] = value;
    return;
  case ElementType::F32:
    dataAs<float>()[index] = static_cast<float>(value);
    return;
  case ElementType::BF16:
  case ElementType::F16:
    setFloat(index, int64ToFloatRoundToOdd(value));
    return;
  }
  assert(false && "unknown element type");
}

std::vector<int64_t> HostTensor::getStrides() const {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

uint64_t HostTensor::checksum() const {
  uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](uint8_t byte) { hash = (hash ^ byte) * 1099511628211ull; };
  mix(static_cast<uint8_t>(type));
  // The rank keeps [1, 0] apart from [1] holding zeros.
  mix(static_cast<uint8_t>(shape.size()));
  for (int64_t dim : shape) {
    // Fixed little-endian bytes, so the checksum is the same on every host.
    uint64_t bits = static_cast<uint64_t>(dim);
    for (int i = 0; i < 8; ++i)
      mix(static_cast<uint8_t>(bits >> (8 * i)));
  }
  for (uint8_t byte : bytes)
    mix(byte);
  return hash;
}

std::string formatTensorType(ElementType type,
                             const std::vector<int64_t> &shape) {
  std::string result;
  for (int64_t dim : shape) {
    // Negative sizes only come from MLIR's dynamic marker; print it as MLIR
    // would rather than as a meaningless number.
    result += dim < 0 ? "?" : std::to_string(dim);
    result += 'x';
  }
  result += elementTypeName(type);
  return result;
}

} // namespace kiln
