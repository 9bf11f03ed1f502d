//===- ModelFolder.h - Files beside a model, safely resolved ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A model file names other files it needs (a .mlir its weights file, an
// ONNX model its external data). Those names come from the file, so they are
// untrusted: the one function here resolves them without ever leaving the
// model's folder. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_IO_MODELFOLDER_H_
#define KILN_MODELS_IO_MODELFOLDER_H_

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace kiln {

/// The real path of the file `name` that the model at `modelPath` refers
/// to, known to stay inside the model's folder: `name` is relative, has no
/// `..`, does not leave the folder through a symlink, and is a regular file.
/// Otherwise returns nullopt and sets `whyNot` to the reason, phrased to
/// follow the file's name ("must not leave the model's folder ('..')").
std::optional<std::string> resolveInModelFolder(llvm::StringRef modelPath,
                                                llvm::StringRef name,
                                                std::string &whyNot);

} // namespace kiln

#endif // KILN_MODELS_IO_MODELFOLDER_H_
