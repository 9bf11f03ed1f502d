//===- CudaProgram.cpp - The kernels of a CUDA artifact --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Like the container, the section reader trusts nothing: sizes are checked
// against the bytes there are before anything is sliced, and the index is
// parsed with a nesting limit. nlohmann-json reports errors by exception;
// they are caught here and become messages.
//
//===----------------------------------------------------------------------===//

#include "runtime/CUDA/CudaProgram.h"
#include "runtime/FileBytes.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <set>

namespace kiln {

using nlohmann::json;

static constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'C', 'U', 'D', 'A'};
static constexpr size_t kHeaderSize = 24;
static constexpr uint64_t kMaxIndexBytes = uint64_t(64) << 20;
static constexpr int kMaxIndexDepth = 8;
static constexpr size_t kMaxKernels = 16384;
static constexpr int64_t kMaxParams = 1024;
/// The hardware's limits on a launch: threads per block, grid y and z.
static constexpr uint64_t kMaxBlockThreads = 1024;
static constexpr uint64_t kMaxGridYZ = 65535;
static constexpr uint64_t kMaxGridX = (uint64_t(1) << 31) - 1;
/// The most dynamic shared memory a block may opt in to (sm_90a; sm_80 has
/// less, which the driver checks when launching).
static constexpr uint64_t kMaxSharedBytes = 227 * 1024;
/// A bound on one kernel's workspace that no real split-K tile grid nears
/// but that keeps a damaged index from asking for an absurd allocation.
static constexpr uint64_t kMaxWorkspaceBytes = uint64_t(16) << 30;

const CudaKernelImage *CudaProgram::findKernel(const std::string &symbol) const {
  auto found = std::find_if(
      kernels.begin(), kernels.end(),
      [&](const CudaKernelImage &kernel) { return kernel.symbol == symbol; });
  return found == kernels.end() ? nullptr : &*found;
}

bool isKnownCudaArch(const std::string &arch) {
  return arch == "sm_80" || arch == "sm_90a";
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

static json encodeTensorMaps(const std::vector<CudaTensorMapSpec> &maps) {
  json array = json::array();
  for (const CudaTensorMapSpec &map : maps)
    array.push_back({{"param", map.param},
                     {"type", map.type},
                     {"dims", map.dims},
                     {"box", map.box}});
  return array;
}

bool encodeCudaSection(const CudaProgram &program, std::vector<uint8_t> &bytes,
                       std::string &error) {
  json kernels = json::array();
  for (const CudaKernelImage &kernel : program.kernels)
    kernels.push_back({{"symbol", kernel.symbol},
                       {"params", kernel.numParams},
                       {"grid", kernel.grid},
                       {"block", kernel.block},
                       {"shared_bytes", kernel.sharedBytes},
                       {"workspace_bytes", kernel.workspaceBytes},
                       {"tensor_maps", encodeTensorMaps(kernel.tensorMaps)},
                       {"config", kernel.config},
                       {"cubin_size", kernel.cubin.size()}});
  std::string index;
  try {
    index = json{{"arch", program.arch}, {"kernels", std::move(kernels)}}
                .dump(/*indent=*/1);
  } catch (const json::type_error &) {
    error = "the CUDA kernels' index: a name is not valid UTF-8";
    return false;
  }
  bytes.assign(kMagic, kMagic + sizeof(kMagic));
  appendLittleEndian(bytes, kCudaSectionVersion, 4);
  appendLittleEndian(bytes, 0, 4);
  appendLittleEndian(bytes, index.size(), 8);
  bytes.insert(bytes.end(), index.begin(), index.end());
  for (const CudaKernelImage &kernel : program.kernels)
    bytes.insert(bytes.end(), kernel.cubin.begin(), kernel.cubin.end());
  return true;
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

namespace {
/// Reads the fields of one JSON object, failing with the field's path.
class FieldReader {
public:
  FieldReader(const json &object, std::string path, std::string &error)
      : object(object), path(std::move(path)), error(error) {}

  /// Fails unless the object has exactly `names` as fields.
  bool expectFields(std::initializer_list<const char *> names) {
    if (!object.is_object())
      return fail(path + ": expected an object");
    for (const char *name : names)
      if (!object.contains(name))
        return fail(path + ": missing field '" + name + "'");
    for (auto it = object.begin(); it != object.end(); ++it)
      if (std::none_of(names.begin(), names.end(),
                       [&](const char *name) { return it.key() == name; }))
        return fail(path + ": unknown field '" + it.key() + "'");
    return true;
  }

  bool readString(const char *name, std::string &value) {
    const json &field = object.at(name);
    if (!field.is_string())
      return fail(path + "." + name + ": expected a string");
    value = field.get<std::string>();
    return true;
  }

  bool readInteger(const char *name, uint64_t max, uint64_t &value) {
    return readIntegerValue(object.at(name), path + "." + name, max, value);
  }

  /// N unsigned integers of T; their limits are validateKernel's.
  template <typename T, size_t N>
  bool readDims(const char *name, std::array<T, N> &dims) {
    const json &field = object.at(name);
    std::string at = path + "." + name;
    if (!field.is_array() || field.size() != N)
      return fail(at + ": expected " + std::to_string(N) + " integers");
    for (size_t i = 0; i < N; ++i) {
      uint64_t value = 0;
      if (!readIntegerValue(field[i], at + "[" + std::to_string(i) + "]",
                            std::numeric_limits<T>::max(), value))
        return false;
      dims[i] = static_cast<T>(value);
    }
    return true;
  }

  /// The array `name`, each element read by `read(element, path)`.
  bool readArray(const char *name,
                 const std::function<bool(const json &, const std::string &)>
                     &read) {
    const json &field = object.at(name);
    std::string at = path + "." + name;
    if (!field.is_array())
      return fail(at + ": expected an array");
    for (size_t i = 0; i < field.size(); ++i)
      if (!read(field[i], at + "[" + std::to_string(i) + "]"))
        return false;
    return true;
  }

private:
  bool readIntegerValue(const json &field, const std::string &at, uint64_t max,
                        uint64_t &value) {
    if (!field.is_number_unsigned() && !(field.is_number_integer() &&
                                         field.get<int64_t>() >= 0))
      return fail(at + ": expected a non-negative integer");
    value = field.get<uint64_t>();
    if (value > max)
      return fail(at + ": " + std::to_string(value) + " exceeds the limit " +
                  std::to_string(max));
    return true;
  }

  bool fail(const std::string &message) {
    error = message;
    return false;
  }

  const json &object;
  std::string path;
  std::string &error;
};
} // namespace

/// Parses one tensor map of a kernel entry.
static bool parseTensorMap(const json &entry, const std::string &path,
                           CudaTensorMapSpec &map, std::string &error) {
  FieldReader reader(entry, path, error);
  uint64_t param = 0;
  if (!reader.expectFields({"param", "type", "dims", "box"}) ||
      !reader.readInteger("param", kMaxParams, param) ||
      !reader.readString("type", map.type) ||
      !reader.readDims("dims", map.dims) || !reader.readDims("box", map.box))
    return false;
  map.param = static_cast<uint32_t>(param);
  return true;
}

/// Parses one kernel entry of the index; the cubin is filled in later.
static bool parseKernel(const json &entry, size_t i, CudaKernelImage &kernel,
                        uint64_t &cubinSize, std::string &error) {
  FieldReader reader(entry, "kernels[" + std::to_string(i) + "]", error);
  uint64_t params = 0, shared = 0;
  if (!reader.expectFields({"symbol", "params", "grid", "block",
                            "shared_bytes", "workspace_bytes", "tensor_maps",
                            "config", "cubin_size"}) ||
      !reader.readString("symbol", kernel.symbol) ||
      !reader.readInteger("params", kMaxParams, params) ||
      !reader.readDims("grid", kernel.grid) ||
      !reader.readDims("block", kernel.block) ||
      !reader.readInteger("shared_bytes", UINT32_MAX, shared) ||
      !reader.readInteger("workspace_bytes", UINT64_MAX,
                          kernel.workspaceBytes) ||
      !reader.readArray("tensor_maps",
                        [&](const json &map, const std::string &at) {
                          kernel.tensorMaps.emplace_back();
                          return parseTensorMap(map, at,
                                                kernel.tensorMaps.back(),
                                                error);
                        }) ||
      !reader.readString("config", kernel.config) ||
      !reader.readInteger("cubin_size", UINT64_MAX, cubinSize))
    return false;
  kernel.numParams = static_cast<int64_t>(params);
  kernel.sharedBytes = static_cast<uint32_t>(shared);
  return true;
}

/// Parses the index JSON into `program`, with the cubins' sizes.
static bool parseIndex(std::string_view text, CudaProgram &program,
                       std::vector<uint64_t> &cubinSizes, std::string &error) {
  int depth = 0;
  json index = json::parse(text.begin(), text.end(),
                           [&](int level, json::parse_event_t, json &) {
                             depth = std::max(depth, level);
                             return true;
                           },
                           /*allow_exceptions=*/false);
  if (index.is_discarded() || depth > kMaxIndexDepth) {
    error = "the index is not valid JSON";
    return false;
  }
  FieldReader reader(index, "index", error);
  if (!reader.expectFields({"arch", "kernels"}) ||
      !reader.readString("arch", program.arch))
    return false;
  const json &kernels = index.at("kernels");
  if (!kernels.is_array() || kernels.size() > kMaxKernels) {
    error = "index.kernels: expected an array of at most " +
            std::to_string(kMaxKernels) + " kernels";
    return false;
  }
  program.kernels.resize(kernels.size());
  cubinSizes.resize(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i)
    if (!parseKernel(kernels[i], i, program.kernels[i], cubinSizes[i], error))
      return false;
  return true;
}

static std::optional<CudaProgram> decode(const uint8_t *data, size_t size,
                                         std::string &error) {
  // 1. The header and the index.
  if (size < kHeaderSize || std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    error = "not a CUDA kernels section (bad magic)";
    return std::nullopt;
  }
  uint64_t version = readLittleEndian(data + 8, 4);
  if (version != kCudaSectionVersion) {
    error = "unsupported CUDA section version " + std::to_string(version) +
            " (this runtime reads version " +
            std::to_string(kCudaSectionVersion) + ")";
    return std::nullopt;
  }
  uint64_t indexSize = readLittleEndian(data + 16, 8);
  if (indexSize > kMaxIndexBytes || indexSize > size - kHeaderSize) {
    error = "the index (" + std::to_string(indexSize) +
            " bytes) extends beyond the section";
    return std::nullopt;
  }
  CudaProgram program;
  std::vector<uint64_t> cubinSizes;
  if (!parseIndex(std::string_view(reinterpret_cast<const char *>(data) +
                                       kHeaderSize,
                                   indexSize),
                  program, cubinSizes, error))
    return std::nullopt;

  // 2. The cubins tile the rest exactly.
  uint64_t cursor = kHeaderSize + indexSize;
  for (size_t i = 0; i < program.kernels.size(); ++i) {
    if (cubinSizes[i] > size - cursor) {
      error = "the cubin of kernel '" + program.kernels[i].symbol +
              "' extends beyond the section";
      return std::nullopt;
    }
    program.kernels[i].cubin.assign(data + cursor, data + cursor + cubinSizes[i]);
    cursor += cubinSizes[i];
  }
  if (cursor != size) {
    error = std::to_string(size - cursor) +
            " bytes at the end of the section belong to no kernel";
    return std::nullopt;
  }
  return program;
}

std::optional<CudaProgram> decodeCudaSection(const uint8_t *data, size_t size,
                                             std::string &error) {
  std::optional<CudaProgram> program;
  try {
    program = decode(data, size, error);
  } catch (const std::exception &e) {
    // Allocation failures; JSON errors are reported without exceptions.
    error = std::string("unexpected error: ") + e.what();
    program.reset();
  }
  return program;
}

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

/// Checks one kernel on its own.
static bool validateKernel(const CudaKernelImage &kernel, std::string &error) {
  std::string at = "kernel '" + kernel.symbol + "'";
  uint64_t threads =
      uint64_t(kernel.block[0]) * kernel.block[1] * kernel.block[2];
  if (threads == 0 || threads > kMaxBlockThreads) {
    error = at + ": " + std::to_string(threads) +
            " threads per block (expected 1 to 1024)";
    return false;
  }
  if (kernel.grid[0] == 0 || kernel.grid[0] > kMaxGridX ||
      kernel.grid[1] == 0 || kernel.grid[1] > kMaxGridYZ ||
      kernel.grid[2] == 0 || kernel.grid[2] > kMaxGridYZ) {
    error = at + ": grid exceeds the hardware's limits";
    return false;
  }
  if (kernel.sharedBytes > kMaxSharedBytes) {
    error = at + ": " + std::to_string(kernel.sharedBytes) +
            " bytes of shared memory per block (at most " +
            std::to_string(kMaxSharedBytes) + ")";
    return false;
  }
  if (kernel.workspaceBytes > kMaxWorkspaceBytes) {
    error = at + ": a workspace of " + std::to_string(kernel.workspaceBytes) +
            " bytes (at most " + std::to_string(kMaxWorkspaceBytes) + ")";
    return false;
  }
  for (size_t i = 0; i < kernel.tensorMaps.size(); ++i) {
    const CudaTensorMapSpec &map = kernel.tensorMaps[i];
    std::string where = at + ": tensor map " + std::to_string(i);
    if (static_cast<int64_t>(map.param) >= kernel.numParams) {
      error = where + " views parameter " + std::to_string(map.param) +
              " of " + std::to_string(kernel.numParams);
      return false;
    }
    if (map.type != "bf16" && map.type != "f16") {
      error = where + " has type '" + map.type + "' (expected bf16 or f16)";
      return false;
    }
    // TMA: rows of whole 16 bytes, at most 2^32 elements a dimension, boxes
    // of 1 to 256 elements whose inner span fits the 128-byte swizzle.
    if (map.dims[0] == 0 || map.dims[1] == 0 || map.dims[0] % 8 != 0 ||
        map.dims[0] > (uint64_t(1) << 32) || map.dims[1] > (uint64_t(1) << 32)) {
      error = where + " has dims " + std::to_string(map.dims[0]) + "x" +
              std::to_string(map.dims[1]) +
              " (rows of whole 16 bytes, at most 2^32 each)";
      return false;
    }
    if (map.box[0] == 0 || map.box[0] * 2 > 128 || map.box[0] % 8 != 0 ||
        map.box[1] == 0 || map.box[1] > 256) {
      error = where + " has box " + std::to_string(map.box[0]) + "x" +
              std::to_string(map.box[1]) +
              " (inner 8 to 64 by 8, outer 1 to 256)";
      return false;
    }
  }
  static constexpr uint8_t kElf[4] = {0x7f, 'E', 'L', 'F'};
  if (kernel.cubin.size() < sizeof(kElf) ||
      std::memcmp(kernel.cubin.data(), kElf, sizeof(kElf)) != 0) {
    error = at + ": the cubin is not an ELF image";
    return false;
  }
  return true;
}

bool validateCudaProgram(const CudaProgram &program, const Manifest &manifest,
                         std::string &error) {
  if (!isKnownCudaArch(program.arch)) {
    error = "unknown CUDA architecture '" + program.arch +
            "' (expected sm_80 or sm_90a)";
    return false;
  }
  std::set<std::string> symbols;
  for (const CudaKernelImage &kernel : program.kernels) {
    if (!symbols.insert(kernel.symbol).second) {
      error = "kernel '" + kernel.symbol + "' appears more than once";
      return false;
    }
    if (!validateKernel(kernel, error))
      return false;
  }
  std::set<std::string> called;
  for (size_t i = 0; i < manifest.steps.size(); ++i) {
    const Step &step = manifest.steps[i];
    const CudaKernelImage *kernel = program.findKernel(step.symbol);
    if (!kernel) {
      error = "steps[" + std::to_string(i) + "] calls kernel '" + step.symbol +
              "', which the CUDA section does not hold";
      return false;
    }
    if (kernel->numParams != static_cast<int64_t>(step.args.size())) {
      error = "steps[" + std::to_string(i) + "] passes " +
              std::to_string(step.args.size()) + " arguments to kernel '" +
              step.symbol + "', which takes " +
              std::to_string(kernel->numParams);
      return false;
    }
    called.insert(step.symbol);
  }
  for (const CudaKernelImage &kernel : program.kernels)
    if (!called.count(kernel.symbol)) {
      error = "kernel '" + kernel.symbol + "' is never called";
      return false;
    }
  return true;
}

} // namespace kiln
