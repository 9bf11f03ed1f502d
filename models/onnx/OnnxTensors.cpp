//===- OnnxTensors.cpp - ONNX tensors as host tensors -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/onnx/OnnxTensors.h"

#include "models/io/ModelFolder.h"
#include "models/onnx/OnnxImporter.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <onnx/onnx_pb.h>

#include <cstring>

namespace kiln::onnx {

using ::onnx::TensorProto;

std::optional<ElementType> fromOnnxType(int32_t dataType, bool &isBool) {
  isBool = dataType == TensorProto::BOOL;
  switch (dataType) {
  case TensorProto::FLOAT:
    return ElementType::F32;
  case TensorProto::FLOAT16:
    return ElementType::F16;
  case TensorProto::BFLOAT16:
    return ElementType::BF16;
  case TensorProto::INT32:
    return ElementType::I32;
  case TensorProto::INT64:
  case TensorProto::BOOL:
    return ElementType::I64;
  default:
    return std::nullopt;
  }
}

std::string onnxTypeName(int32_t dataType) {
  if (TensorProto::DataType_IsValid(dataType))
    return TensorProto::DataType_Name(
        static_cast<TensorProto::DataType>(dataType));
  return "type " + std::to_string(dataType);
}

std::optional<int64_t> checkedByteSize(llvm::ArrayRef<int64_t> shape,
                                       ElementType type, std::string &error) {
  int64_t bytes = static_cast<int64_t>(elementSize(type));
  for (int64_t dim : shape) {
    if (dim < 0) {
      error = "has a negative dimension (" + std::to_string(dim) + ")";
      return std::nullopt;
    }
    // Dividing first keeps the product from overflowing.
    if (dim != 0 && bytes > kMaxTensorBytes / dim) {
      error = "is larger than the limit of " +
              std::to_string(kMaxTensorBytes) + " bytes";
      return std::nullopt;
    }
    bytes *= dim;
  }
  return bytes;
}

/// The bytes of one element of `dataType` in raw_data (bool is one byte).
static size_t rawElementSize(int32_t dataType, ElementType type) {
  return dataType == TensorProto::BOOL ? 1 : elementSize(type);
}

/// Fills `tensor` from `count` little-endian raw elements at `data`.
static void fillFromRaw(HostTensor &tensor, bool isBool, const char *data) {
  if (!isBool) {
    std::memcpy(tensor.data(), data, tensor.getByteSize());
    return;
  }
  for (int64_t i = 0, e = tensor.getNumElements(); i < e; ++i)
    tensor.setInt(i, data[i] != 0);
}

/// Reads the external data of `proto` into `raw`: the file named by
/// `location`, `length` bytes from `offset`, all inside the model's folder.
static bool readExternalData(const TensorProto &proto,
                             llvm::StringRef modelPath, uint64_t expected,
                             std::unique_ptr<llvm::MemoryBuffer> &raw,
                             std::string &error) {
  std::string location;
  uint64_t offset = 0, length = expected;
  bool hasLength = false;
  for (const auto &entry : proto.external_data()) {
    auto parse = [&](uint64_t &value) {
      if (llvm::StringRef(entry.value()).getAsInteger(10, value)) {
        error = "external data " + entry.key() + " '" + entry.value() +
                "' is not a non-negative integer";
        return false;
      }
      return true;
    };
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset" && !parse(offset))
      return false;
    else if (entry.key() == "length" && !(hasLength = parse(length)))
      return false;
  }
  if (location.empty()) {
    error = "has external data without a location";
    return false;
  }
  std::string whyNot;
  std::optional<std::string> path =
      resolveInModelFolder(modelPath, location, whyNot);
  if (!path) {
    error = "external data file '" + location + "' " + whyNot;
    return false;
  }
  if (hasLength && length != expected) {
    error = "external data length (" + std::to_string(length) +
            ") does not match its shape and type (" +
            std::to_string(expected) + " bytes)";
    return false;
  }
  uint64_t fileSize = 0;
  if (llvm::sys::fs::file_size(*path, fileSize) || offset > fileSize ||
      length > fileSize - offset) {
    error = "external data [" + std::to_string(offset) + ", " +
            std::to_string(offset) + " + " + std::to_string(length) +
            ") lies beyond the end of '" + location + "' (" +
            std::to_string(fileSize) + " bytes)";
    return false;
  }
  auto buffer = llvm::MemoryBuffer::getFileSlice(*path, length, offset,
                                                 /*IsVolatile=*/false);
  if (!buffer) {
    error = "cannot read external data '" + location +
            "': " + buffer.getError().message();
    return false;
  }
  raw = std::move(*buffer);
  return true;
}

std::optional<Constant> decodeTensor(const TensorProto &proto,
                                     llvm::StringRef modelPath,
                                     std::string &error) {
  Constant constant;
  std::optional<ElementType> type =
      fromOnnxType(proto.data_type(), constant.isBool);
  if (!type) {
    error = "has element type " + onnxTypeName(proto.data_type()) +
            ", which Kiln does not support";
    return std::nullopt;
  }
  if (proto.has_segment()) {
    error = "is segmented, which Kiln does not support";
    return std::nullopt;
  }
  std::vector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  if (!checkedByteSize(shape, *type, error))
    return std::nullopt;
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  uint64_t rawBytes =
      static_cast<uint64_t>(count) * rawElementSize(proto.data_type(), *type);

  // 1. Raw bytes, inline or external: check their size before allocating.
  if (proto.data_location() == TensorProto::EXTERNAL) {
    std::unique_ptr<llvm::MemoryBuffer> raw;
    if (!readExternalData(proto, modelPath, rawBytes, raw, error))
      return std::nullopt;
    constant.tensor = HostTensor(*type, shape);
    fillFromRaw(constant.tensor, constant.isBool, raw->getBufferStart());
    return constant;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != rawBytes) {
      error = "has " + std::to_string(proto.raw_data().size()) +
              " bytes of raw data, expected " + std::to_string(rawBytes) +
              " for its shape and type";
      return std::nullopt;
    }
    constant.tensor = HostTensor(*type, shape);
    fillFromRaw(constant.tensor, constant.isBool, proto.raw_data().data());
    return constant;
  }

  // 2. Typed fields: 16-bit floats and bools travel as int32 values.
  auto checkCount = [&](int size) {
    if (size == count)
      return true;
    error = "has " + std::to_string(size) + " values, expected " +
            std::to_string(count) + " for its shape";
    return false;
  };
  switch (proto.data_type()) {
  case TensorProto::FLOAT:
    if (!checkCount(proto.float_data_size()))
      return std::nullopt;
    constant.tensor = HostTensor(*type, shape);
    for (int64_t i = 0; i < count; ++i)
      constant.tensor.setFloat(i, proto.float_data(i));
    return constant;
  case TensorProto::INT64:
    if (!checkCount(proto.int64_data_size()))
      return std::nullopt;
    constant.tensor = HostTensor(*type, shape);
    for (int64_t i = 0; i < count; ++i)
      constant.tensor.setInt(i, proto.int64_data(i));
    return constant;
  default:
    if (!checkCount(proto.int32_data_size()))
      return std::nullopt;
    constant.tensor = HostTensor(*type, shape);
    for (int64_t i = 0; i < count; ++i) {
      int32_t value = proto.int32_data(i);
      if (*type == ElementType::F16 || *type == ElementType::BF16) {
        uint16_t bits = static_cast<uint16_t>(value);
        std::memcpy(constant.tensor.data() + 2 * i, &bits, 2);
      } else {
        constant.tensor.setInt(i, constant.isBool ? value != 0 : value);
      }
    }
    return constant;
  }
}

} // namespace kiln::onnx
