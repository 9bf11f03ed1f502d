//===- Vit.cpp - The vit model ----------------------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A ViT image encoder: conv2d patch embedding, a class token, learned
// positions, pre-LN layers and a final layer norm; outputs the class-token
// features. The knobs and checks here also serve tiny-multimodal's vision
// part, under a "vision_" prefix.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Models.h"

using namespace mlir;

namespace kiln::zoo {

std::vector<Knob> visionKnobs(StringRef prefix) {
  auto name = [&](StringRef knob) { return (prefix + knob).str(); };
  return {
      intKnob("image", 32, "image height and width in pixels",
              /*maxValue=*/1 << 14),
      intKnob("patch", 8, "patch height and width in pixels",
              /*maxValue=*/1 << 14),
      intKnob("channels", 3, "image channels", /*maxValue=*/1 << 12),
      intKnob(name("layers"), 2, "image encoder layers", /*maxValue=*/256),
      intKnob(name("hidden"), 64, "image encoder width"),
      intKnob(name("heads"), 4, "image encoder attention heads",
              /*maxValue=*/1024),
      intKnob(name("ffn"), 128, "image encoder MLP width",
              /*maxValue=*/1 << 18),
  };
}

std::string checkVision(const Config &config, StringRef prefix) {
  std::string message = config.checkDivides("patch", "image");
  if (message.empty())
    message = config.checkDivides((prefix + "heads").str(),
                                  (prefix + "hidden").str());
  return message;
}

VisionOptions getVisionOptions(const Config &config, StringRef prefix,
                               bool classToken) {
  auto get = [&](StringRef knob) {
    return config.getInt((prefix + knob).str());
  };
  VisionOptions options;
  options.image = config.getInt("image");
  options.patch = config.getInt("patch");
  options.channels = config.getInt("channels");
  options.hidden = get("hidden");
  options.encoder.layers = get("layers");
  options.encoder.heads = get("heads");
  options.encoder.ffn = get("ffn");
  options.encoder.preNorm = true;
  options.classToken = classToken;
  return options;
}

/// image [batch, channels, image, image] -> class-token features
/// [batch, hidden].
static void buildVit(GraphBuilder &graph, const Config &config) {
  VisionOptions options = getVisionOptions(config, "", /*classToken=*/true);
  int64_t batch = config.getInt("batch");
  Value image = graph.addInput(
      "image", graph.getTensorType(
                   {batch, options.channels, options.image, options.image}));
  Value tokens = visionEncoder(graph, image, "vit", options);
  Value classToken = graph.slice(tokens, {0, 0, 0}, {batch, 1, options.hidden});
  graph.setOutputs(graph.reshape(classToken, {batch, options.hidden}));
}

ModelDef getVitModel() {
  return {{"vit",
           "ViT image encoder: conv2d patches, class token, pre-LN "
           "attention and GELU MLP; image [batch, channels, image, image] -> "
           "class-token features [batch, hidden]",
           visionKnobs("")},
          [](const Config &config) { return checkVision(config, ""); },
          buildVit};
}

} // namespace kiln::zoo
