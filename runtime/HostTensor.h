//===- HostTensor.h - A dense tensor in host memory -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The runtime's value type: a row-major tensor that owns its bytes. bf16 and
// f16 elements are stored as their 16-bit patterns; `getFloat`/`setFloat`
// convert through f32 with round-to-nearest-even, so every store rounds a
// value exactly as its type requires. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_HOSTTENSOR_H_
#define KILN_RUNTIME_HOSTTENSOR_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Element types a tensor may hold.
enum class ElementType : uint8_t { F32, BF16, F16, I32, I64 };

/// Bytes per element.
size_t elementSize(ElementType type);
/// The lower-case MLIR spelling: "f32", "bf16", "f16", "i32", "i64".
std::string_view elementTypeName(ElementType type);
/// The inverse of `elementTypeName`; nullopt for an unknown name.
std::optional<ElementType> parseElementType(std::string_view name);
bool isFloatType(ElementType type);

/// bf16 and f16 conversions (round to nearest even; NaN stays NaN).
float bf16ToFloat(uint16_t bits);
uint16_t floatToBf16(float value);
float f16ToFloat(uint16_t bits);
uint16_t floatToF16(float value);
/// `value` rounded to the nearest value of the float type `type`.
float roundTo(ElementType type, float value);

/// Allocates on cache-line boundaries, as the executor's arena does, so a
/// kernel's vector loads and stores of whole lines touch one line each:
/// glibc's malloc places a large block 16 bytes past a page boundary, where
/// a 2048^3 matmul measured 2-3% slower (every zmm access of a row split
/// across two lines), which skewed the tuner's and `kiln bench`'s timings.
template <typename T> struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};
  CacheLineAllocator() = default;
  template <typename U> CacheLineAllocator(const CacheLineAllocator<U> &) {}
  T *allocate(size_t count) {
    return static_cast<T *>(::operator new(count * sizeof(T), kAlignment));
  }
  void deallocate(T *pointer, size_t) {
    ::operator delete(pointer, kAlignment);
  }
  friend bool operator==(const CacheLineAllocator &,
                         const CacheLineAllocator &) {
    return true;
  }
  friend bool operator!=(const CacheLineAllocator &,
                         const CacheLineAllocator &) {
    return false;
  }
};

/// A dense row-major tensor in host memory that owns its storage.
class HostTensor {
public:
  HostTensor() = default;
  /// A zero-filled tensor.
  HostTensor(ElementType type, std::vector<int64_t> shape);

  ElementType getElementType() const { return type; }
  const std::vector<int64_t> &getShape() const { return shape; }
  int64_t getRank() const { return static_cast<int64_t>(shape.size()); }
  int64_t getNumElements() const;
  size_t getByteSize() const { return bytes.size(); }

  uint8_t *data() { return bytes.data(); }
  const uint8_t *data() const { return bytes.data(); }
  template <typename T> T *dataAs() { return reinterpret_cast<T *>(data()); }
  template <typename T> const T *dataAs() const {
    return reinterpret_cast<const T *>(data());
  }

  /// Element `index` (row-major flat index) converted to f32. For integer
  /// tensors the integer value, converted.
  float getFloat(int64_t index) const;
  /// Stores `value` at `index`, rounded to the element type.
  void setFloat(int64_t index, float value);
  /// Element `index` of an integer tensor (floats are truncated toward zero).
  int64_t getInt(int64_t index) const;
  void setInt(int64_t index, int64_t value);

  /// Row-major strides in elements.
  std::vector<int64_t> getStrides() const;

  /// FNV-1a hash of the element type, rank, shape and bytes: equal tensors, and
  /// only those in practice, have equal checksums.
  uint64_t checksum() const;

private:
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t, CacheLineAllocator<uint8_t>> bytes;
};

/// "2x3xf32"-style spelling of a tensor's type, as in MLIR.
std::string formatTensorType(ElementType type,
                             const std::vector<int64_t> &shape);

} // namespace kiln

#endif // KILN_RUNTIME_HOSTTENSOR_H_
