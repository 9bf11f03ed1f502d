//===- ModelFile.cpp - Models on disk: .mlir plus safetensors --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/io/ModelFile.h"
#include "models/io/ModelFolder.h"
#include "models/onnx/OnnxImporter.h"

#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"
#include "reference/Evaluator.h"

#include "mlir/IR/Builders.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

namespace kiln {

/// The weights file `name` of the model at `modelPath`, resolved inside the
/// model's folder.
static FailureOr<std::string> resolveWeightsPath(ModuleOp module,
                                                 StringRef modelPath,
                                                 StringRef name) {
  std::string whyNot;
  std::optional<std::string> path =
      resolveInModelFolder(modelPath, name, whyNot);
  if (!path)
    return module.emitError("weights file '") << name << "' " << whyNot;
  return *path;
}

bool addInputShape(ModelFileOptions &options, StringRef setting,
                   std::string &error) {
  auto [key, dims] = setting.rsplit('=');
  if (key.empty() || dims.empty() || key.size() == setting.size()) {
    error = "expected NAME=DIMS (e.g. input_ids=1x128), got '" +
            setting.str() + "'";
    return false;
  }
  std::string name = key.str();
  std::vector<int64_t> shape;
  SmallVector<StringRef> parts;
  dims.split(parts, 'x');
  for (StringRef part : parts) {
    int64_t dim;
    if (part.getAsInteger(10, dim) || dim < 0) {
      error = "expected dims of '" + name +
              "' to be non-negative integers joined by 'x', got '" +
              dims.str() + "'";
      return false;
    }
    shape.push_back(dim);
  }
  if (!options.inputShapes.emplace(name, std::move(shape)).second) {
    error = "the shape of '" + name + "' is given twice";
    return false;
  }
  return true;
}

FailureOr<LoadedModel> loadModelFile(MLIRContext &context, StringRef path,
                                     const ModelFileOptions &options) {
  if (llvm::sys::path::extension(path) == ".onnx")
    return onnx::importOnnxFile(context, path, {options.inputShapes});
  if (!options.inputShapes.empty())
    return emitError(FileLineColLoc::get(&context, path, 0, 0),
                     "input shapes apply to ONNX models, not to '")
           << path << "'";
  llvm::SourceMgr sourceMgr;
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(path, sourceMgr, ParserConfig(&context));
  if (!module)
    return failure();
  LoadedModel model;
  if (auto name = (*module)->getAttr(KilnDialect::kWeightsFileAttrName)) {
    auto fileName = dyn_cast<StringAttr>(name);
    if (!fileName)
      return module->emitError("expected '")
             << KilnDialect::kWeightsFileAttrName << "' to be a string";
    FailureOr<std::string> weightsPath =
        resolveWeightsPath(*module, path, fileName.getValue());
    if (failed(weightsPath))
      return failure();
    std::string error;
    std::optional<TensorMap> weights = readSafetensors(*weightsPath, error);
    if (!weights)
      return module->emitError(error);
    model.weights = std::move(*weights);
  }
  if (failed(verifyWeights(*module, model.weights)))
    return failure();
  model.module = std::move(module);
  return model;
}

FailureOr<func::FuncOp> getEntryFunction(ModuleOp module) {
  if (auto main = module.lookupSymbol<func::FuncOp>("main"))
    return main;
  auto functions = module.getOps<func::FuncOp>();
  if (std::distance(functions.begin(), functions.end()) == 1)
    return *functions.begin();
  return module.emitError(
      "expected a function @main (or exactly one function) as the model");
}

LogicalResult verifyWeights(ModuleOp module, const TensorMap &weights) {
  WalkResult result = module.walk([&](WeightOp op) {
    auto it = weights.find(op.getName().str());
    if (it == weights.end()) {
      op.emitError("weight '") << op.getName() << "' is not in the weights file";
      return WalkResult::interrupt();
    }
    FailureOr<ElementType> type =
        toElementType(op.getType().getElementType());
    if (it->second.getElementType() != *type ||
        ArrayRef<int64_t>(it->second.getShape()) != op.getType().getShape()) {
      op.emitError("weight '")
          << op.getName() << "' is tensor<"
          << formatTensorType(it->second.getElementType(),
                              it->second.getShape())
          << "> in the weights file, expected " << op.getType();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

LogicalResult loadWeightsOverride(ModuleOp module, TensorMap &weights,
                                  StringRef path) {
  std::string error;
  std::optional<TensorMap> loaded = readSafetensors(path.str(), error);
  if (!loaded)
    return module.emitError(error);
  if (failed(verifyWeights(module, *loaded)))
    return failure();
  weights = std::move(*loaded);
  return success();
}

LogicalResult inlineWeights(ModuleOp module, const TensorMap &weights) {
  if (failed(verifyWeights(module, weights)))
    return failure();
  SmallVector<WeightOp> ops;
  module.walk([&](WeightOp op) { ops.push_back(op); });
  for (WeightOp op : ops) {
    OpBuilder builder(op);
    const HostTensor &tensor = weights.at(op.getName().str());
    auto constant = ConstantOp::create(builder, op.getLoc(),
                                       reference::toElementsAttr(tensor, op.getType()));
    op.replaceAllUsesWith(constant.getResult());
    op.erase();
  }
  module->removeAttr(KilnDialect::kWeightsFileAttrName);
  return success();
}

/// Writes `contents` to `path`; the file is removed again if the process
/// dies before it is complete, so no half-written model is left behind.
static LogicalResult writeFile(ModuleOp module, StringRef path,
                               llvm::function_ref<void(raw_ostream &)> contents) {
  std::string error;
  auto file = openOutputFile(path, &error);
  if (!file)
    return module.emitError("cannot write '") << path << "': " << error;
  contents(file->os());
  file->keep();
  return success();
}

LogicalResult exportModel(ModuleOp module, const TensorMap &weights,
                          StringRef mlirPath) {
  TensorMap used;
  module.walk([&](WeightOp op) {
    auto it = weights.find(op.getName().str());
    if (it != weights.end())
      used.insert(*it);
  });
  if (failed(verifyWeights(module, used)))
    return failure();
  if (used.empty()) {
    module->removeAttr(KilnDialect::kWeightsFileAttrName);
  } else {
    SmallString<256> weightsPath(mlirPath);
    llvm::sys::path::replace_extension(weightsPath, "safetensors");
    std::string error;
    if (!writeSafetensors(std::string(weightsPath), used, error))
      return module.emitError(error);
    module->setAttr(
        KilnDialect::kWeightsFileAttrName,
        StringAttr::get(module.getContext(),
                        llvm::sys::path::filename(weightsPath)));
  }
  return writeFile(module, mlirPath,
                   [&](raw_ostream &os) { module.print(os); });
}

} // namespace kiln
