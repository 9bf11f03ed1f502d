//===- TinyMultimodal.cpp - The tiny-multimodal model -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The zoo's default model, a small assistant-style multimodal model: a ViT
// encodes the image into patch tokens, a linear projector maps them to the
// text width, and they precede the text-token embeddings in a decoder whose
// layers use mixture-of-experts feed-forwards. Attention is causal over the
// whole [image tokens, text tokens] sequence, and the output is the logits
// of every position.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Models.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace kiln::zoo {

/// The vision knobs carry this prefix where a name would clash with the
/// decoder's.
static constexpr llvm::StringLiteral kVisionPrefix = "vision_";

/// image [batch, channels, image, image] and tokens [batch, seq] -> logits
/// [batch, (image / patch)^2 + seq, vocab].
static void buildTinyMultimodal(GraphBuilder &graph, const Config &config) {
  VisionOptions vision =
      getVisionOptions(config, kVisionPrefix, /*classToken=*/false);
  int64_t batch = config.getInt("batch"), seq = config.getInt("seq");
  int64_t vocab = config.getInt("vocab"), hidden = config.getInt("hidden");
  Builder builder(graph.getContext());
  Value image = graph.addInput(
      "image", graph.getTensorType(
                   {batch, vision.channels, vision.image, vision.image}));
  Value tokens = graph.addInput(
      "tokens", RankedTensorType::get({batch, seq}, builder.getI32Type()),
      std::make_pair(int64_t(0), vocab));

  Value patches = visionEncoder(graph, image, "vision", vision);
  {
    GraphBuilder::Scope scope(graph, "projector");
    patches =
        graph.linear(patches, "projector.weight", hidden, "projector.bias");
  }
  Value text =
      tokenEmbedding(graph, tokens, "text.embed_tokens", vocab, hidden);
  Value x = graph.concat({patches, text}, /*axis=*/1);
  x = decoderLayers(graph, x, "text", getDecoderOptions(config));
  GraphBuilder::Scope scope(graph, "text.lm_head");
  graph.setOutputs(graph.linear(x, "text.lm_head", vocab));
}

ModelDef getTinyMultimodalModel() {
  std::vector<Knob> knobs = visionKnobs(kVisionPrefix);
  for (Knob &knob : decoderKnobs(/*defaultExperts=*/4))
    knobs.push_back(std::move(knob));
  return {{"tiny-multimodal",
           "ViT patch tokens projected in front of the text tokens of a "
           "mixture-of-experts decoder; image [batch, channels, image, "
           "image] and tokens [batch, seq] -> logits [batch, (image/patch)^2 "
           "+ seq, vocab]",
           std::move(knobs)},
          [](const Config &config) {
            std::string message = checkVision(config, kVisionPrefix);
            return message.empty() ? checkDecoder(config) : message;
          },
          buildTinyMultimodal};
}

} // namespace kiln::zoo
