//===- Models.h - The zoo's model definitions (internal) --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What each model file provides to the registry in Zoo.cpp: its knobs, a
// consistency check over the knob values and a body builder. The knob values
// reaching a model are already parsed and range-checked, and a body builder
// runs only after the check passed, so builders may rely on both.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ZOO_MODELS_H_
#define KILN_MODELS_ZOO_MODELS_H_

#include "models/zoo/GraphBuilder.h"
#include "models/zoo/Transformer.h"
#include "models/zoo/Zoo.h"

#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace kiln::zoo {

/// The parsed knob values of one build: every knob of the model, set or
/// defaulted.
class Config {
public:
  Config(const ModelInfo &info, llvm::StringMap<std::string> values)
      : info(info), values(std::move(values)) {}

  /// The value of integer knob `knob`.
  int64_t getInt(llvm::StringRef knob) const;
  /// The value of choice knob `knob`.
  llvm::StringRef getString(llvm::StringRef knob) const;

  /// "model 'NAME': " followed by `message`, the form of every knob error.
  std::string error(const llvm::Twine &message) const;
  /// An error unless knob `divisor` divides knob `dividend`; empty if it does.
  std::string checkDivides(llvm::StringRef divisor,
                           llvm::StringRef dividend) const;
  /// An error unless knob `small` is at most knob `large`; empty if it is.
  std::string checkAtMost(llvm::StringRef small, llvm::StringRef large) const;

private:
  const ModelInfo &info;
  llvm::StringMap<std::string> values;
};

/// A model of the zoo as the registry holds it.
struct ModelDef {
  /// The name, summary and the model's own knobs (the common ones are added
  /// by the registry).
  ModelInfo info;
  /// One message about inconsistent knob values, or empty when consistent.
  std::string (*check)(const Config &config);
  /// Builds @main: its inputs, ops and outputs.
  void (*build)(GraphBuilder &graph, const Config &config);
};

/// An integer knob with values in [1, `maxValue`].
Knob intKnob(llvm::StringRef name, int64_t defaultValue, llvm::StringRef help,
             int64_t maxValue = 1 << 16);

//===----------------------------------------------------------------------===//
// Knob groups shared between models
//===----------------------------------------------------------------------===//

/// The text decoder's knobs: layers, hidden, heads, kv_heads, ffn, vocab,
/// seq, rope_theta, experts (0 for a dense feed-forward) and top_k.
std::vector<Knob> decoderKnobs(int64_t defaultExperts);
/// The consistency checks of `decoderKnobs`.
std::string checkDecoder(const Config &config);
/// The decoder options of `decoderKnobs`' values.
DecoderOptions getDecoderOptions(const Config &config);

/// The image encoder's knobs: image, patch, channels, and `prefix`layers,
/// `prefix`hidden, `prefix`heads and `prefix`ffn.
std::vector<Knob> visionKnobs(llvm::StringRef prefix);
/// The consistency checks of `visionKnobs`.
std::string checkVision(const Config &config, llvm::StringRef prefix);
/// The image encoder options of `visionKnobs`' values.
VisionOptions getVisionOptions(const Config &config, llvm::StringRef prefix,
                               bool classToken);

//===----------------------------------------------------------------------===//
// The models (Decoder.cpp holds both decoder and moe)
//===----------------------------------------------------------------------===//

ModelDef getTinyMultimodalModel();
ModelDef getMlpModel();
ModelDef getDecoderModel();
ModelDef getMoeModel();
ModelDef getEncoderModel();
ModelDef getVitModel();

} // namespace kiln::zoo

#endif // KILN_MODELS_ZOO_MODELS_H_
