//===- ModelFile.h - Models on disk: .mlir plus safetensors ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A model on disk is a .mlir file in the kiln dialect whose module attribute
// `kiln.weights_file` names a safetensors file in the same folder (or whose
// weights are all inline constants), or an ONNX file (imported by
// models/onnx). Loading never reads outside the model's folder.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_IO_MODELFILE_H_
#define KILN_MODELS_IO_MODELFILE_H_

#include "models/io/LoadedModel.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace kiln {

/// How to load a model file.
struct ModelFileOptions {
  /// Full shapes of the inputs by name, fixing an ONNX model's symbolic dims.
  std::map<std::string, std::vector<int64_t>> inputShapes;
};

/// Adds the input shape `setting`, "name=2x128", to `options`; false on a
/// malformed or repeated setting, with `error` saying why.
bool addInputShape(ModelFileOptions &options, llvm::StringRef setting,
                   std::string &error);

/// Loads the model at `path`: a `.onnx` file is imported, any other file is
/// parsed as .mlir, verified, and its weights file loaded. Every problem is
/// emitted as a diagnostic with its location.
mlir::FailureOr<LoadedModel> loadModelFile(mlir::MLIRContext &context,
                                           llvm::StringRef path,
                                           const ModelFileOptions &options = {});

/// The model's entry function: `@main`, else the module's only function.
mlir::FailureOr<mlir::func::FuncOp> getEntryFunction(mlir::ModuleOp module);

/// Replaces `weights` by the tensors of the safetensors file `path`, which
/// must hold a tensor of the declared type for every `kiln.weight` op.
mlir::LogicalResult loadWeightsOverride(mlir::ModuleOp module,
                                        TensorMap &weights,
                                        llvm::StringRef path);

/// Checks that `weights` holds a tensor of the right type for every
/// `kiln.weight` op of `module`; emits an error at the first that does not.
mlir::LogicalResult verifyWeights(mlir::ModuleOp module,
                                  const TensorMap &weights);

/// Replaces every `kiln.weight` op by a `kiln.constant` holding its tensor,
/// making the module self-contained.
mlir::LogicalResult inlineWeights(mlir::ModuleOp module,
                                  const TensorMap &weights);

/// Writes `module` to `mlirPath` and, unless its weights are inline, the
/// weights beside it as `<stem>.safetensors`, recorded in the module's
/// `kiln.weights_file` attribute.
mlir::LogicalResult exportModel(mlir::ModuleOp module, const TensorMap &weights,
                                llvm::StringRef mlirPath);

} // namespace kiln

#endif // KILN_MODELS_IO_MODELFILE_H_
