//===- Decoder.cpp - The decoder and moe models -----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Llama-style decoder-only language models: token embedding, pre-RMS-norm
// layers of causal grouped-query attention with rope, a SwiGLU or top-k
// mixture-of-experts feed-forward, the final norm and the LM head. `decoder`
// and `moe` are one builder with different defaults (experts 0 and 4), so
// `--model decoder --set experts=8` turns the decoder into a mixture too.
// The knobs and checks here also serve tiny-multimodal's text part.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Models.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace kiln::zoo {

std::vector<Knob> decoderKnobs(int64_t defaultExperts) {
  Knob experts = intKnob("experts", defaultExperts,
                         "experts per layer (0: a dense SwiGLU feed-forward)",
                         /*maxValue=*/1024);
  experts.minValue = 0;
  return {
      intKnob("layers", 2, "decoder layers", /*maxValue=*/256),
      intKnob("hidden", 64, "model width"),
      intKnob("heads", 4, "query heads", /*maxValue=*/1024),
      intKnob("kv_heads", 2, "key/value heads (grouped-query attention)",
              /*maxValue=*/1024),
      intKnob("ffn", 128, "feed-forward width (of each expert)",
              /*maxValue=*/1 << 18),
      intKnob("vocab", 256, "vocabulary size", /*maxValue=*/1 << 20),
      intKnob("seq", 16, "text tokens per sequence"),
      intKnob("rope_theta", 10000, "rotary embedding base",
              /*maxValue=*/1 << 30),
      experts,
      intKnob("top_k", 2, "experts each token is routed to (with experts)",
              /*maxValue=*/1024),
  };
}

std::string checkDecoder(const Config &config) {
  for (std::string message : {config.checkDivides("heads", "hidden"),
                              config.checkDivides("kv_heads", "heads")})
    if (!message.empty())
      return message;
  int64_t headDim = config.getInt("hidden") / config.getInt("heads");
  if (headDim % 2 != 0)
    return config.error("rope needs an even head size, but hidden (" +
                        Twine(config.getInt("hidden")) + ") / heads (" +
                        Twine(config.getInt("heads")) + ") is " +
                        Twine(headDim));
  // A dense decoder ignores top_k.
  if (config.getInt("experts") == 0)
    return "";
  return config.checkAtMost("top_k", "experts");
}

DecoderOptions getDecoderOptions(const Config &config) {
  DecoderOptions options;
  options.layers = config.getInt("layers");
  options.heads = config.getInt("heads");
  options.kvHeads = config.getInt("kv_heads");
  options.ffn = config.getInt("ffn");
  options.ropeTheta = static_cast<double>(config.getInt("rope_theta"));
  options.experts = config.getInt("experts");
  options.topK = config.getInt("top_k");
  return options;
}

/// tokens [batch, seq] -> logits [batch, seq, vocab], with weights under
/// `prefix`.
static void buildDecoder(GraphBuilder &graph, const Config &config,
                         StringRef prefix) {
  int64_t batch = config.getInt("batch"), seq = config.getInt("seq");
  int64_t vocab = config.getInt("vocab"), hidden = config.getInt("hidden");
  Builder builder(graph.getContext());
  Value tokens = graph.addInput(
      "tokens", RankedTensorType::get({batch, seq}, builder.getI32Type()),
      std::make_pair(int64_t(0), vocab));
  Value x = tokenEmbedding(graph, tokens, (prefix + ".embed_tokens").str(),
                           vocab, hidden);
  x = decoderLayers(graph, x, prefix, getDecoderOptions(config));
  std::string head = (prefix + ".lm_head").str();
  GraphBuilder::Scope scope(graph, head);
  graph.setOutputs(graph.linear(x, head, vocab));
}

ModelDef getDecoderModel() {
  return {{"decoder",
           "Llama-style decoder: RMSNorm, RoPE, grouped-query causal "
           "attention, SwiGLU; tokens [batch, seq] -> logits [batch, seq, "
           "vocab]",
           decoderKnobs(/*defaultExperts=*/0)},
          checkDecoder,
          [](GraphBuilder &graph, const Config &config) {
            buildDecoder(graph, config, "decoder");
          }};
}

ModelDef getMoeModel() {
  return {{"moe",
           "the decoder with a top-k mixture-of-experts feed-forward; tokens "
           "[batch, seq] -> logits [batch, seq, vocab]",
           decoderKnobs(/*defaultExperts=*/4)},
          checkDecoder,
          [](GraphBuilder &graph, const Config &config) {
            buildDecoder(graph, config, "moe");
          }};
}

} // namespace kiln::zoo
