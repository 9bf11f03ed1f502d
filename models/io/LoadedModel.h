//===- LoadedModel.h - A model in memory ------------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What every model source (a .mlir file, an ONNX file, the zoo) produces:
// a kiln module and the tensors its `kiln.weight` ops name.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_IO_LOADEDMODEL_H_
#define KILN_MODELS_IO_LOADEDMODEL_H_

#include "runtime/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace kiln {

/// A model in memory: its IR and the tensors its `kiln.weight` ops name.
struct LoadedModel {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  TensorMap weights;
};

} // namespace kiln

#endif // KILN_MODELS_IO_LOADEDMODEL_H_
