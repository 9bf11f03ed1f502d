//===- Transformer.cpp - Blocks shared by the zoo models --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Transformer.h"

#include "ir/KilnDialect.h"

using namespace mlir;

namespace kiln::zoo {

/// `<prefix>.<part>`, the name of a weight or sub-block.
static std::string join(StringRef prefix, const Twine &part) {
  return (prefix + "." + part).str();
}

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

Value rmsNorm(GraphBuilder &graph, Value x, StringRef prefix) {
  GraphBuilder::Scope scope(graph, prefix);
  int64_t dim = getShape(x).back();
  Value scale = graph.weight(join(prefix, "scale"), {dim}, WeightInit::scale());
  return RmsNormOp::create(graph.getBuilder(), graph.getLoc(), x, scale,
                           /*epsilon=*/APFloat(1.0e-6f));
}

Value layerNorm(GraphBuilder &graph, Value x, StringRef prefix) {
  GraphBuilder::Scope scope(graph, prefix);
  int64_t dim = getShape(x).back();
  Value scale = graph.weight(join(prefix, "scale"), {dim}, WeightInit::scale());
  Value bias = graph.weight(join(prefix, "bias"), {dim}, WeightInit::bias());
  return LayerNormOp::create(graph.getBuilder(), graph.getLoc(), x, scale, bias,
                             /*epsilon=*/APFloat(1.0e-5f));
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

Value attention(GraphBuilder &graph, Value x, StringRef prefix,
                const AttentionOptions &options) {
  GraphBuilder::Scope scope(graph, prefix);
  ArrayRef<int64_t> shape = getShape(x);
  int64_t batch = shape[0], seq = shape[1], hidden = shape[2];
  int64_t headDim = hidden / options.heads;
  OpBuilder &builder = graph.getBuilder();

  // x [B, S, D] -> x W [B, S, heads * Dh] -> [B, heads, S, Dh].
  auto project = [&](StringRef weight, StringRef bias, int64_t heads) {
    Value y = graph.linear(x, join(prefix, weight), heads * headDim,
                           options.bias ? join(prefix, bias) : "");
    y = graph.reshape(y, {batch, seq, heads, headDim});
    return graph.transpose(y, {0, 2, 1, 3});
  };
  Value q = project("wq", "bq", options.heads);
  Value k = project("wk", "bk", options.kvHeads);
  Value v = project("wv", "bv", options.kvHeads);
  if (options.ropeTheta) {
    APFloat theta(static_cast<float>(*options.ropeTheta));
    q = RopeOp::create(builder, graph.getLoc(), q, theta,
                       /*position_offset=*/0);
    k = RopeOp::create(builder, graph.getLoc(), k, theta,
                       /*position_offset=*/0);
  }
  Value heads = AttentionOp::create(builder, graph.getLoc(), q, k, v,
                                    options.causal, /*scale=*/FloatAttr());
  heads = graph.transpose(heads, {0, 2, 1, 3});
  heads = graph.reshape(heads, {batch, seq, options.heads * headDim});
  return graph.linear(heads, join(prefix, "wo"), hidden,
                      options.bias ? join(prefix, "bo") : "");
}

//===----------------------------------------------------------------------===//
// Feed-forward blocks
//===----------------------------------------------------------------------===//

Value swigluFfn(GraphBuilder &graph, Value x, StringRef prefix, int64_t ffn) {
  GraphBuilder::Scope scope(graph, prefix);
  int64_t hidden = getShape(x).back();
  Value gate = graph.activation(graph.linear(x, join(prefix, "w_gate"), ffn),
                                Activation::Silu);
  Value up = graph.linear(x, join(prefix, "w_up"), ffn);
  return graph.linear(graph.mul(gate, up), join(prefix, "w_down"), hidden);
}

Value geluMlp(GraphBuilder &graph, Value x, StringRef prefix, int64_t ffn) {
  GraphBuilder::Scope scope(graph, prefix);
  int64_t hidden = getShape(x).back();
  Value y = graph.linear(x, join(prefix, "w1"), ffn, join(prefix, "b1"));
  y = graph.activation(y, Activation::Gelu);
  return graph.linear(y, join(prefix, "w2"), hidden, join(prefix, "b2"));
}

Value moeFfn(GraphBuilder &graph, Value x, StringRef prefix, int64_t ffn,
             int64_t experts, int64_t topK) {
  GraphBuilder::Scope scope(graph, prefix);
  ArrayRef<int64_t> shape = getShape(x);
  int64_t batch = shape[0], seq = shape[1], hidden = shape[2];
  OpBuilder &builder = graph.getBuilder();

  // The router and the experts work on a flat list of tokens.
  Value tokens = graph.reshape(x, {batch * seq, hidden});
  Value logits = graph.linear(tokens, join(prefix, "router"), experts);
  auto router = MoeRouterOp::create(builder, graph.getLoc(), logits, topK,
                                    /*normalize=*/true);
  Value gate = graph.weight(join(prefix, "w_gate"), {experts, hidden, ffn},
                            WeightInit::fanIn(hidden));
  Value up = graph.weight(join(prefix, "w_up"), {experts, hidden, ffn},
                          WeightInit::fanIn(hidden));
  Value down = graph.weight(join(prefix, "w_down"), {experts, ffn, hidden},
                            WeightInit::fanIn(ffn));
  Value out =
      MoeExpertsOp::create(builder, graph.getLoc(), tokens, router.getWeights(),
                           router.getIndices(), gate, up, down);
  return graph.reshape(out, {batch, seq, hidden});
}

//===----------------------------------------------------------------------===//
// Embeddings
//===----------------------------------------------------------------------===//

Value tokenEmbedding(GraphBuilder &graph, Value tokens, StringRef name,
                     int64_t vocab, int64_t hidden) {
  GraphBuilder::Scope scope(graph, name);
  // Unit variance, like the activations a norm produces.
  Value table =
      graph.weight(name, {vocab, hidden}, WeightInit::normal(/*stddev=*/1.0));
  return GatherOp::create(graph.getBuilder(), graph.getLoc(), table, tokens,
                          /*axis=*/0);
}

Value addPositions(GraphBuilder &graph, Value x, StringRef name) {
  GraphBuilder::Scope scope(graph, name);
  ArrayRef<int64_t> shape = getShape(x);
  // Small next to the token features they are added to.
  Value positions = graph.weight(name, {shape[1], shape[2]},
                                 WeightInit::normal(/*stddev=*/0.1));
  return graph.add(x, positions);
}

//===----------------------------------------------------------------------===//
// Layer stacks
//===----------------------------------------------------------------------===//

Value decoderLayers(GraphBuilder &graph, Value x, StringRef prefix,
                    const DecoderOptions &options) {
  AttentionOptions attentionOptions;
  attentionOptions.heads = options.heads;
  attentionOptions.kvHeads = options.kvHeads;
  attentionOptions.causal = true;
  attentionOptions.ropeTheta = options.ropeTheta;
  for (int64_t i = 0; i < options.layers; ++i) {
    std::string layer = join(prefix, "layers." + Twine(i));
    GraphBuilder::Scope scope(graph, layer);
    Value h = rmsNorm(graph, x, join(layer, "attn_norm"));
    x = graph.add(x,
                  attention(graph, h, join(layer, "attn"), attentionOptions));
    h = rmsNorm(graph, x, join(layer, "ffn_norm"));
    h = options.experts > 0
            ? moeFfn(graph, h, join(layer, "moe"), options.ffn, options.experts,
                     options.topK)
            : swigluFfn(graph, h, join(layer, "ffn"), options.ffn);
    x = graph.add(x, h);
  }
  return rmsNorm(graph, x, join(prefix, "final_norm"));
}

Value encoderLayers(GraphBuilder &graph, Value x, StringRef prefix,
                    const EncoderOptions &options) {
  AttentionOptions attentionOptions;
  attentionOptions.heads = options.heads;
  attentionOptions.kvHeads = options.heads;
  attentionOptions.bias = true;
  for (int64_t i = 0; i < options.layers; ++i) {
    std::string layer = join(prefix, "layers." + Twine(i));
    GraphBuilder::Scope scope(graph, layer);
    std::string attnNorm = join(layer, "attn_norm");
    std::string mlpNorm = join(layer, "mlp_norm");
    if (options.preNorm) {
      Value h = layerNorm(graph, x, attnNorm);
      x = graph.add(x,
                    attention(graph, h, join(layer, "attn"), attentionOptions));
      h = layerNorm(graph, x, mlpNorm);
      x = graph.add(x, geluMlp(graph, h, join(layer, "mlp"), options.ffn));
    } else {
      Value h = attention(graph, x, join(layer, "attn"), attentionOptions);
      x = layerNorm(graph, graph.add(x, h), attnNorm);
      h = geluMlp(graph, x, join(layer, "mlp"), options.ffn);
      x = layerNorm(graph, graph.add(x, h), mlpNorm);
    }
  }
  return x;
}

Value visionEncoder(GraphBuilder &graph, Value image, StringRef prefix,
                    const VisionOptions &options) {
  int64_t batch = getShape(image)[0];
  int64_t grid = options.image / options.patch;
  int64_t hidden = options.hidden;
  Value x;
  {
    // A conv2d whose stride is its kernel size cuts the image into patches
    // and projects each one: [B, C, I, I] -> [B, hidden, grid, grid].
    std::string patchEmbed = join(prefix, "patch_embed");
    GraphBuilder::Scope scope(graph, patchEmbed);
    OpBuilder &builder = graph.getBuilder();
    int64_t patch = options.patch;
    Value filter = graph.weight(
        join(patchEmbed, "weight"), {hidden, options.channels, patch, patch},
        WeightInit::fanIn(options.channels * patch * patch));
    x = Conv2DOp::create(builder, graph.getLoc(), image, filter,
                         builder.getDenseI64ArrayAttr({patch, patch}),
                         builder.getDenseI64ArrayAttr({0, 0, 0, 0}),
                         builder.getDenseI64ArrayAttr({1, 1}),
                         builder.getI64IntegerAttr(1));
    // Patches in row-major order become the tokens [B, grid * grid, hidden];
    // the bias is added there, where it broadcasts along the last axis.
    x = graph.reshape(x, {batch, hidden, grid * grid});
    x = graph.transpose(x, {0, 2, 1});
    x = graph.add(x, graph.weight(join(patchEmbed, "bias"), {hidden},
                                  WeightInit::bias()));
  }
  if (options.classToken) {
    std::string name = join(prefix, "class_token");
    GraphBuilder::Scope scope(graph, name);
    Value token =
        graph.weight(name, {1, 1, hidden}, WeightInit::normal(/*stddev=*/0.1));
    token = graph.broadcastTo(token, {batch, 1, hidden});
    x = graph.concat({token, x}, /*axis=*/1);
  }
  x = addPositions(graph, x, join(prefix, "positions"));
  x = encoderLayers(graph, x, prefix, options.encoder);
  return layerNorm(graph, x, join(prefix, "final_norm"));
}

} // namespace kiln::zoo
