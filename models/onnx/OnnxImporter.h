//===- OnnxImporter.h - ONNX models into the kiln dialect ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Imports an ONNX model (default-domain opset 13 to 21, the forms PyTorch
// exports) into a kiln module with `func.func @main`. Initializers become
// `kiln.weight`s (small ones `kiln.constant`s); shape computations fold at
// import, so the module is fully static. Files come from anywhere, so every
// size, offset and path in them is checked before it is used: the importer
// never reads outside the model's folder and never allocates a tensor larger
// than `kMaxTensorBytes`.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ONNX_ONNXIMPORTER_H_
#define KILN_MODELS_ONNX_ONNXIMPORTER_H_

#include "models/io/LoadedModel.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::onnx {

/// The largest tensor (initializer, folded constant or value of the graph)
/// the importer accepts, in bytes.
constexpr int64_t kMaxTensorBytes = int64_t(1) << 34;

/// Options of an import.
struct ImportOptions {
  /// Full shapes of graph inputs by name; they fix the inputs' symbolic
  /// dims (and must agree with their fixed ones).
  std::map<std::string, std::vector<int64_t>> inputShapes;
};

/// Imports the ONNX model at `path`. Every problem is emitted as a
/// diagnostic naming the node (op type, name, opset), tensor or input it is
/// about; all unsupported ops are reported at once, as notes of one error.
mlir::FailureOr<LoadedModel> importOnnxFile(mlir::MLIRContext &context,
                                            llvm::StringRef path,
                                            const ImportOptions &options);

} // namespace kiln::onnx

#endif // KILN_MODELS_ONNX_ONNXIMPORTER_H_
