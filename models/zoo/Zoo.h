//===- Zoo.h - Built-in models with configuration knobs ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The model zoo builds kiln-dialect graphs of common architectures from a
// model name and "knob=value" settings, with deterministic seeded weights.
// Researchers change a knob (layers, widths, heads, experts, activation,
// dtype) and compile the result; tests use the models as realistic inputs.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ZOO_ZOO_H_
#define KILN_MODELS_ZOO_ZOO_H_

#include "runtime/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/LogicalResult.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::zoo {

/// One configuration knob of a model.
struct Knob {
  std::string name;
  std::string defaultValue;
  std::string help;
  /// The allowed values of a choice knob; empty for an integer knob.
  std::vector<std::string> choices;
  /// The inclusive range of an integer knob. The maxima keep every tensor
  /// size far from overflowing int64_t.
  int64_t minValue = 1;
  int64_t maxValue = 1 << 16;

  bool isInteger() const { return choices.empty(); }
};

/// A model of the zoo and its knobs (the common `seed`, `dtype` and `batch`
/// first, then the model's own).
struct ModelInfo {
  std::string name;
  std::string summary;
  std::vector<Knob> knobs;

  /// The knob called `name`, or null.
  const Knob *findKnob(llvm::StringRef name) const;
};

/// Every zoo model in a fixed order; the first is the default model
/// "tiny-multimodal".
llvm::ArrayRef<ModelInfo> listModels();

/// The model called `name`, or null.
const ModelInfo *findModel(llvm::StringRef name);

/// A built model: a module with one `func.func @main` (arguments are the
/// model inputs, each with a `kiln.name` and integer ones with a `kiln.range`;
/// results are its outputs) whose weights are `kiln.weight` ops, and the
/// weights themselves, one per distinct `kiln.weight` name.
struct Model {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  TensorMap weights;
};

/// The most weight elements a model may have (4 GiB of f32): settings beyond
/// it are rejected rather than exhausting host memory.
constexpr int64_t kMaxWeightElements = int64_t(1) << 30;

/// Builds model `name` with `settings` ("knob=value" strings; a later
/// setting of a knob overrides an earlier one). On an unknown model or knob,
/// a malformed or out-of-range value, inconsistent knobs or a model over
/// `kMaxWeightElements`, sets `error` to one message naming the model, the
/// knob and value, and what is allowed, and returns failure. The module
/// returned always verifies. Loads the kiln and func dialects into
/// `context`.
llvm::FailureOr<Model> buildModel(mlir::MLIRContext &context,
                                  llvm::StringRef name,
                                  llvm::ArrayRef<std::string> settings,
                                  std::string &error);

} // namespace kiln::zoo

#endif // KILN_MODELS_ZOO_ZOO_H_
