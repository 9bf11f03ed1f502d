//===- Safetensors.cpp - Reading and writing safetensors files --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Files may come from anywhere, so the reader validates the whole header
// before it allocates or copies any tensor data: every size it trusts is
// checked against the real size of the bytes first. The file reader and the
// memory reader share one parser; the file reader reads the file whole and
// hands it over. nlohmann-json reports errors by exception; they are caught
// here and turned into messages, so callers never see an exception.
//
//===----------------------------------------------------------------------===//

#include "runtime/Safetensors.h"

#include "runtime/FileBytes.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <vector>

// Tensor bytes are copied between memory and file unchanged, which is only
// right where the host, like the format, is little-endian.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");
#endif

namespace kiln {

using nlohmann::json;

/// A header larger than this is not a real model's header; refusing it keeps
/// a corrupt length field from triggering a huge allocation.
static constexpr uint64_t kMaxHeaderLength = 100ull * 1000 * 1000;

/// The header needs 3 levels of nesting; far more is hostile.
static constexpr int kMaxHeaderDepth = 64;

static constexpr const char *kMetadataKey = "__metadata__";

//===----------------------------------------------------------------------===//
// Dtypes
//===----------------------------------------------------------------------===//

static const char *getDtypeName(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return "F32";
  case ElementType::BF16:
    return "BF16";
  case ElementType::F16:
    return "F16";
  case ElementType::I32:
    return "I32";
  case ElementType::I64:
    return "I64";
  }
  return "";
}

static std::optional<ElementType> parseDtype(const std::string &name) {
  for (ElementType type :
       {ElementType::F32, ElementType::BF16, ElementType::F16, ElementType::I32,
        ElementType::I64})
    if (name == getDtypeName(type))
      return type;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

/// Builds the padded header for `tensors`; returns false and sets `message`
/// when a name cannot be stored.
static bool buildHeader(const TensorMap &tensors,
                        const SafetensorsMetadata &metadata,
                        std::string &header, std::string &message) {
  json root = json::object();
  uint64_t offset = 0;
  for (const auto &[name, tensor] : tensors) {
    if (name == kMetadataKey) {
      message = std::string("tensor name '") + kMetadataKey + "' is reserved";
      return false;
    }
    uint64_t end = offset + tensor.getByteSize();
    json shape = json::array();
    for (int64_t dim : tensor.getShape())
      shape.push_back(dim);
    root[name] = {{"dtype", getDtypeName(tensor.getElementType())},
                  {"shape", std::move(shape)},
                  {"data_offsets", {offset, end}}};
    offset = end;
  }
  if (!metadata.empty())
    root[kMetadataKey] = metadata;

  try {
    header = root.dump();
  } catch (const json::type_error &) {
    // dump() rejects strings that are not valid UTF-8, as JSON requires.
    message = "a tensor name or metadata string is not valid UTF-8";
    return false;
  }
  // Padding to 8 bytes keeps the data buffer, and so every tensor, aligned
  // for readers that map the file.
  header.append((8 - header.size() % 8) % 8, ' ');
  return true;
}

/// Hands the serialized form of `tensors` to `sink(const char *, size_t)` as
/// consecutive runs of bytes: the 8-byte length, `header`, then each tensor's
/// data in name order. The file and memory writers share this layout.
template <typename Sink>
static void emitBytes(const TensorMap &tensors, const std::string &header,
                      Sink &&sink) {
  char length[8];
  uint64_t headerLength = header.size();
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<char>(headerLength >> (8 * i));
  sink(length, sizeof(length));
  sink(header.data(), header.size());
  for (const auto &entry : tensors) {
    const HostTensor &tensor = entry.second;
    if (tensor.getByteSize() == 0)
      continue; // An empty tensor's data() may be null.
    sink(reinterpret_cast<const char *>(tensor.data()), tensor.getByteSize());
  }
}

static bool writeFile(const std::string &path, const TensorMap &tensors,
                      const std::string &header, std::string &message) {
  errno = 0;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    message = "cannot open file for writing" + describeErrno(errno);
    return false;
  }
  emitBytes(tensors, header, [&file](const char *data, size_t size) {
    file.write(data, static_cast<std::streamsize>(size));
  });
  file.close();
  if (!file) {
    message = "cannot write file" + describeErrno(errno);
    return false;
  }
  return true;
}

bool writeSafetensors(const std::string &path, const TensorMap &tensors,
                      const SafetensorsMetadata &metadata, std::string &error) {
  std::string message;
  bool ok = false;
  try {
    std::string header;
    ok = buildHeader(tensors, metadata, header, message) &&
         writeFile(path, tensors, header, message);
  } catch (const std::exception &e) {
    // Only allocation failures are expected here; report rather than throw.
    message = std::string("unexpected error: ") + e.what();
    ok = false;
  }
  if (!ok)
    error = "failed to write safetensors file '" + path + "': " + message;
  return ok;
}

bool writeSafetensors(const std::string &path, const TensorMap &tensors,
                      std::string &error) {
  return writeSafetensors(path, tensors, SafetensorsMetadata(), error);
}

bool writeSafetensorsToMemory(const TensorMap &tensors,
                              std::vector<uint8_t> &bytes, std::string &error) {
  std::string message;
  try {
    std::string header;
    if (!buildHeader(tensors, SafetensorsMetadata(), header, message)) {
      error = "failed to write safetensors data: " + message;
      return false;
    }
    std::vector<uint8_t> result;
    size_t total = 8 + header.size();
    for (const auto &entry : tensors)
      total += entry.second.getByteSize();
    result.reserve(total);
    emitBytes(tensors, header, [&result](const char *data, size_t size) {
      result.insert(result.end(), reinterpret_cast<const uint8_t *>(data),
                    reinterpret_cast<const uint8_t *>(data) + size);
    });
    bytes = std::move(result);
    return true;
  } catch (const std::exception &e) {
    // Only allocation failures are expected here; report rather than throw.
    error = std::string("failed to write safetensors data: unexpected "
                        "error: ") +
            e.what();
    return false;
  }
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

namespace {
/// One validated header entry.
struct TensorEntry {
  std::string name;
  ElementType type;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};
} // namespace

/// Parses the "shape" of tensor `name` into `shape`, rejecting negative and
/// non-integer dimensions.
static bool parseShape(const json &value, std::vector<int64_t> &shape,
                       std::string &message) {
  if (!value.is_array()) {
    message = "'shape' is not an array";
    return false;
  }
  for (const json &dim : value) {
    if (!dim.is_number_integer()) {
      message = "'shape' holds " + dim.dump() + ", which is not an integer";
      return false;
    }
    if (dim.is_number_unsigned()) {
      uint64_t size = dim.get<uint64_t>();
      if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        message = "dimension " + std::to_string(size) + " in 'shape' overflows";
        return false;
      }
      shape.push_back(static_cast<int64_t>(size));
      continue;
    }
    int64_t size = dim.get<int64_t>();
    if (size < 0) {
      message = "negative dimension " + std::to_string(size) + " in 'shape'";
      return false;
    }
    shape.push_back(size);
  }
  return true;
}

/// The byte size of a tensor of `type` and `shape`, or nullopt when it does
/// not fit in int64 (HostTensor counts elements in int64).
static std::optional<uint64_t> getByteSize(ElementType type,
                                           const std::vector<int64_t> &shape) {
  // Zero-size tensors are fine whatever their other dimensions, but those
  // dimensions must still multiply without overflow, as HostTensor's
  // getNumElements multiplies them all in order.
  int64_t product = 1;
  bool hasZero = false;
  for (int64_t dim : shape) {
    if (dim == 0) {
      hasZero = true;
      continue;
    }
    if (__builtin_mul_overflow(product, dim, &product))
      return std::nullopt;
  }
  int64_t bytes;
  if (__builtin_mul_overflow(product, static_cast<int64_t>(elementSize(type)),
                             &bytes))
    return std::nullopt;
  return hasZero ? 0 : static_cast<uint64_t>(bytes);
}

/// Validates the entry of tensor `name` against a data buffer of `dataSize`
/// bytes and fills `entry`; on failure sets `message`, without the name.
static bool parseEntry(const std::string &name, const json &value,
                       uint64_t dataSize, TensorEntry &entry,
                       std::string &message) {
  entry.name = name;
  if (!value.is_object()) {
    message = "entry is not an object";
    return false;
  }
  for (const char *field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) {
      message = std::string("missing field '") + field + "'";
      return false;
    }
  }

  // 1. The dtype.
  const json &dtype = value.at("dtype");
  if (!dtype.is_string()) {
    message = "'dtype' is not a string";
    return false;
  }
  std::optional<ElementType> type = parseDtype(dtype.get<std::string>());
  if (!type) {
    message = "unsupported dtype '" + dtype.get<std::string>() +
              "' (expected F32, BF16, F16, I32 or I64)";
    return false;
  }
  entry.type = *type;

  // 2. The shape and the byte size it implies.
  if (!parseShape(value.at("shape"), entry.shape, message))
    return false;
  std::optional<uint64_t> byteSize = getByteSize(entry.type, entry.shape);
  if (!byteSize) {
    message = "the element count of 'shape' overflows";
    return false;
  }

  // 3. The offsets, which must cover exactly that many bytes of the buffer.
  const json &offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
    message = "'data_offsets' is not a pair of non-negative integers";
    return false;
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) {
    message = "'data_offsets' begin (" + std::to_string(entry.begin) +
              ") is after its end (" + std::to_string(entry.end) + ")";
    return false;
  }
  if (entry.end > dataSize) {
    message = "'data_offsets' end (" + std::to_string(entry.end) +
              ") is beyond the data buffer (" + std::to_string(dataSize) +
              " bytes)";
    return false;
  }
  if (entry.end - entry.begin != *byteSize) {
    message = "'data_offsets' span " + std::to_string(entry.end - entry.begin) +
              " bytes but shape " + formatTensorType(entry.type, entry.shape) +
              " needs " + std::to_string(*byteSize);
    return false;
  }
  return true;
}

/// Reads the 8-byte header length at the start of the `size` bytes at `data`
/// and checks that the header fits. `noun` names the bytes in messages
/// ("file" or "data").
static bool parseHeaderLength(const uint8_t *data, uint64_t size,
                              const char *noun, uint64_t &headerLength,
                              std::string &message) {
  if (size < 8) {
    message = std::string(noun) + " is " + std::to_string(size) +
              " bytes, too short for the 8-byte header length";
    return false;
  }
  headerLength = 0;
  for (int i = 0; i < 8; ++i)
    headerLength |= static_cast<uint64_t>(data[i]) << (8 * i);
  if (headerLength > kMaxHeaderLength) {
    message = "header length " + std::to_string(headerLength) +
              " is absurd (the limit is " + std::to_string(kMaxHeaderLength) +
              " bytes)";
    return false;
  }
  if (headerLength > size - 8) {
    message = "header length " + std::to_string(headerLength) +
              " is larger than the " + noun + " (" + std::to_string(size) +
              " bytes)";
    return false;
  }
  return true;
}

/// Parses `header` into validated entries and `metadata`. On failure sets
/// `message`, naming the tensor when one is at fault.
static bool parseHeader(const std::string &header, uint64_t dataSize,
                        std::vector<TensorEntry> &entries,
                        SafetensorsMetadata &metadata, std::string &message) {
  // 1. Parse, noting repeated top-level keys: JSON parsers silently keep the
  //    last one, which would hide a tensor. Note the depth too: dump(), used
  //    in messages, recurses once per level, so deep nesting could overflow
  //    the stack.
  std::vector<std::string> keys;
  int maxDepth = 0;
  json root;
  try {
    root = json::parse(header.begin(), header.end(),
                       [&](int depth, json::parse_event_t event, json &parsed) {
                         maxDepth = std::max(maxDepth, depth);
                         if (depth == 1 && event == json::parse_event_t::key &&
                             parsed.is_string())
                           keys.push_back(parsed.get<std::string>());
                         return true;
                       });
  } catch (const json::exception &e) {
    message = std::string("header is not valid JSON: ") + e.what();
    return false;
  }
  if (maxDepth > kMaxHeaderDepth) {
    message = "header JSON is nested deeper than " +
              std::to_string(kMaxHeaderDepth) + " levels";
    return false;
  }
  if (!root.is_object()) {
    message = "header is not a JSON object";
    return false;
  }
  std::sort(keys.begin(), keys.end());
  auto repeated = std::adjacent_find(keys.begin(), keys.end());
  if (repeated != keys.end()) {
    message = "header names '" + *repeated + "' more than once";
    return false;
  }

  // 2. Validate each entry on its own.
  for (const auto &[name, value] : root.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) {
        message = std::string("'") + kMetadataKey + "' is not an object";
        return false;
      }
      for (const auto &[key, text] : value.items()) {
        if (!text.is_string()) {
          message = std::string("'") + kMetadataKey + "' entry '" + key +
                    "' is not a string";
          return false;
        }
        metadata[key] = text.get<std::string>();
      }
      continue;
    }
    TensorEntry entry;
    if (!parseEntry(name, value, dataSize, entry, message)) {
      message = "tensor '" + name + "': " + message;
      return false;
    }
    entries.push_back(std::move(entry));
  }

  // 3. No two tensors may share bytes; empty ones share none.
  std::vector<const TensorEntry *> byOffset;
  for (const TensorEntry &entry : entries)
    if (entry.begin != entry.end)
      byOffset.push_back(&entry);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const TensorEntry *a, const TensorEntry *b) {
              return a->begin < b->begin;
            });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    if (byOffset[i]->begin < byOffset[i - 1]->end) {
      message = "tensors '" + byOffset[i - 1]->name + "' and '" +
                byOffset[i]->name + "' overlap in the data buffer";
      return false;
    }
  }
  return true;
}

/// Parses and validates the `size` safetensors bytes at `data`. On success
/// replaces `metadata`; on failure sets `message` and leaves it alone.
static std::optional<TensorMap> parseBytes(const uint8_t *data, uint64_t size,
                                           const char *noun,
                                           SafetensorsMetadata &metadata,
                                           std::string &message) {
  // 1. Find and validate the header.
  uint64_t headerLength;
  if (!parseHeaderLength(data, size, noun, headerLength, message))
    return std::nullopt;
  std::string header(reinterpret_cast<const char *>(data) + 8, headerLength);
  uint64_t dataStart = 8 + headerLength;
  std::vector<TensorEntry> entries;
  SafetensorsMetadata newMetadata;
  if (!parseHeader(header, size - dataStart, entries, newMetadata, message))
    return std::nullopt;

  // 2. Copy each tensor into its storage; every range was checked against
  //    the size above.
  TensorMap tensors;
  for (TensorEntry &entry : entries) {
    HostTensor tensor(entry.type, std::move(entry.shape));
    if (tensor.getByteSize() != 0)
      std::memcpy(tensor.data(), data + dataStart + entry.begin,
                  tensor.getByteSize());
    tensors.emplace(entry.name, std::move(tensor));
  }
  metadata = std::move(newMetadata);
  return tensors;
}

std::optional<TensorMap> readSafetensors(const std::string &path,
                                         SafetensorsMetadata &metadata,
                                         std::string &error) {
  std::string message;
  std::optional<TensorMap> tensors;
  try {
    std::vector<uint8_t> bytes;
    if (readFileBytes(path, bytes, message))
      tensors =
          parseBytes(bytes.data(), bytes.size(), "file", metadata, message);
  } catch (const std::exception &e) {
    // JSON errors are handled where they arise; this catches what is left,
    // such as running out of memory, so that no exception escapes.
    message = std::string("unexpected error: ") + e.what();
    tensors.reset();
  }
  if (!tensors)
    error = "failed to read safetensors file '" + path + "': " + message;
  return tensors;
}

std::optional<TensorMap> readSafetensors(const std::string &path,
                                         std::string &error) {
  SafetensorsMetadata metadata;
  return readSafetensors(path, metadata, error);
}

std::optional<TensorMap> readSafetensorsFromMemory(const uint8_t *data,
                                                   size_t size,
                                                   std::string nameForErrors,
                                                   std::string &error) {
  std::string message;
  std::optional<TensorMap> tensors;
  try {
    SafetensorsMetadata metadata;
    tensors = parseBytes(data, size, "data", metadata, message);
  } catch (const std::exception &e) {
    // As in readSafetensors: only what JSON handling leaves, such as running
    // out of memory.
    message = std::string("unexpected error: ") + e.what();
    tensors.reset();
  }
  if (!tensors)
    error = "failed to read safetensors " + nameForErrors + ": " + message;
  return tensors;
}

} // namespace kiln
