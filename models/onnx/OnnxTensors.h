//===- OnnxTensors.h - ONNX tensors as host tensors -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Decoding of ONNX TensorProtos (initializers, Constant values) into host
// tensors: inline raw or typed data, or external data in a file beside the
// model. Every size is checked against the data actually present before
// anything is allocated or read.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ONNX_ONNXTENSORS_H_
#define KILN_MODELS_ONNX_ONNXTENSORS_H_

#include "runtime/HostTensor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace onnx {
class TensorProto;
} // namespace onnx

namespace kiln::onnx {

/// A tensor known at import time. ONNX bools are held as i64 zeros and ones
/// (`isBool`), which is enough to fold masks and shape logic.
struct Constant {
  HostTensor tensor;
  bool isBool = false;
};

/// The host element type of the ONNX data type `dataType` (bool as i64,
/// setting `isBool`); nullopt for types Kiln does not hold.
std::optional<ElementType> fromOnnxType(int32_t dataType, bool &isBool);

/// The ONNX name of a data type ("FLOAT", "BOOL", ...), for diagnostics.
std::string onnxTypeName(int32_t dataType);

/// The byte size of a tensor of `shape` and `type`, or nullopt (with
/// `error` set) for a negative dim or more than `kMaxTensorBytes` bytes.
std::optional<int64_t> checkedByteSize(llvm::ArrayRef<int64_t> shape,
                                       ElementType type, std::string &error);

/// Decodes `proto`. External data is resolved inside the folder of the
/// model at `modelPath`. On failure returns nullopt with `error` saying what
/// is wrong (the caller names the tensor).
std::optional<Constant> decodeTensor(const ::onnx::TensorProto &proto,
                                     llvm::StringRef modelPath,
                                     std::string &error);

} // namespace kiln::onnx

#endif // KILN_MODELS_ONNX_ONNXTENSORS_H_
