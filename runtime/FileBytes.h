//===- FileBytes.h - Whole files in memory ----------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The file readers of the runtime (safetensors, artifacts) read a file whole
// and then parse the bytes, which they check against the real size; the
// little-endian integers of those formats are read and written here. No MLIR
// dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_FILEBYTES_H_
#define KILN_RUNTIME_FILEBYTES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// Reads the whole file at `path` into `bytes`. On failure returns false and
/// sets `message` to what went wrong, e.g. "cannot open file (No such file
/// or directory)"; the caller adds the path.
bool readFileBytes(const std::string &path, std::vector<uint8_t> &bytes,
                   std::string &message);

/// " (<the system's description>)" for a non-zero errno value, "" for 0.
std::string describeErrno(int error);

/// Appends the low `width` bytes of `value`, least significant first: the
/// byte order of every integer in Kiln's file formats.
inline void appendLittleEndian(std::vector<uint8_t> &bytes, uint64_t value,
                               int width) {
  for (int i = 0; i < width; ++i)
    bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

/// The `width`-byte little-endian integer at `bytes`.
inline uint64_t readLittleEndian(const uint8_t *bytes, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

} // namespace kiln

#endif // KILN_RUNTIME_FILEBYTES_H_
