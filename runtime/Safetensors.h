//===- Safetensors.h - Reading and writing safetensors files ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The safetensors format: an 8-byte little-endian header length N, N bytes
// of JSON mapping each tensor name to {"dtype", "shape", "data_offsets"}
// (plus an optional "__metadata__" object of strings), then the data buffer
// the offsets point into. Only the dtypes HostTensor holds are supported:
// F32, BF16, F16, I32 and I64. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SAFETENSORS_H_
#define KILN_RUNTIME_SAFETENSORS_H_

#include "runtime/HostTensor.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// Named tensors, ordered by name.
using TensorMap = std::map<std::string, HostTensor>;
/// The free-form "__metadata__" of a safetensors file.
using SafetensorsMetadata = std::map<std::string, std::string>;

/// Writes `tensors` to `path` (tensors laid out in name order, header padded
/// with spaces to a multiple of 8 bytes). Returns false and sets `error` on
/// failure.
bool writeSafetensors(const std::string &path, const TensorMap &tensors,
                      std::string &error);
/// As above, and records `metadata` as the file's "__metadata__" (omitted
/// when empty).
bool writeSafetensors(const std::string &path, const TensorMap &tensors,
                      const SafetensorsMetadata &metadata, std::string &error);

/// Reads every tensor of the file at `path`. On any problem returns
/// std::nullopt and sets `error` to one clear message that names the file and
/// what is wrong (and the tensor name when one is involved).
std::optional<TensorMap> readSafetensors(const std::string &path,
                                         std::string &error);
/// As above, and replaces `metadata` by the file's "__metadata__" (empty when
/// it has none). `metadata` is left unchanged on failure.
std::optional<TensorMap> readSafetensors(const std::string &path,
                                         SafetensorsMetadata &metadata,
                                         std::string &error);

/// Serializes `tensors` into `bytes` exactly as `writeSafetensors` lays out a
/// file. Returns false and sets `error` on failure, leaving `bytes` unchanged.
bool writeSafetensorsToMemory(const TensorMap &tensors,
                              std::vector<uint8_t> &bytes, std::string &error);

/// Reads every tensor of the `size` safetensors bytes at `data`, with the same
/// checks as `readSafetensors`. On any problem returns std::nullopt and sets
/// `error` to "failed to read safetensors <nameForErrors>: <what is wrong>",
/// so `nameForErrors` should say where the bytes came from.
std::optional<TensorMap> readSafetensorsFromMemory(const uint8_t *data,
                                                   size_t size,
                                                   std::string nameForErrors,
                                                   std::string &error);

} // namespace kiln

#endif // KILN_RUNTIME_SAFETENSORS_H_
