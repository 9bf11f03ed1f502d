//===- Encoder.cpp - The encoder model --------------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A BERT/MiniLM-style text encoder: token and learned position embeddings,
// an embedding layer norm, then post-LN layers of bidirectional biased
// attention and a GELU MLP. Outputs the hidden states.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Models.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace kiln::zoo {

static void buildEncoder(GraphBuilder &graph, const Config &config) {
  int64_t batch = config.getInt("batch"), seq = config.getInt("seq");
  int64_t vocab = config.getInt("vocab"), hidden = config.getInt("hidden");
  Builder builder(graph.getContext());
  Value tokens = graph.addInput(
      "tokens", RankedTensorType::get({batch, seq}, builder.getI32Type()),
      std::make_pair(int64_t(0), vocab));
  Value x =
      tokenEmbedding(graph, tokens, "encoder.embed_tokens", vocab, hidden);
  x = addPositions(graph, x, "encoder.positions");
  x = layerNorm(graph, x, "encoder.embed_norm");
  EncoderOptions options;
  options.layers = config.getInt("layers");
  options.heads = config.getInt("heads");
  options.ffn = config.getInt("ffn");
  options.preNorm = false;
  graph.setOutputs(encoderLayers(graph, x, "encoder", options));
}

ModelDef getEncoderModel() {
  return {{"encoder",
           "BERT/MiniLM-style encoder: learned positions, post-LN "
           "bidirectional attention and GELU MLP; tokens [batch, seq] -> "
           "hidden states [batch, seq, hidden]",
           {
               intKnob("layers", 2, "encoder layers", /*maxValue=*/256),
               intKnob("hidden", 64, "model width"),
               intKnob("heads", 4, "attention heads", /*maxValue=*/1024),
               intKnob("ffn", 128, "MLP width", /*maxValue=*/1 << 18),
               intKnob("vocab", 256, "vocabulary size", /*maxValue=*/1 << 20),
               intKnob("seq", 16, "tokens per sequence"),
           }},
          [](const Config &config) {
            return config.checkDivides("heads", "hidden");
          },
          buildEncoder};
}

} // namespace kiln::zoo
