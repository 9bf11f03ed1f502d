//===- Transformer.h - Blocks shared by the zoo models ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The pieces the decoder, moe, encoder, vit and tiny-multimodal models are
// made of: norms, attention, feed-forward variants, embeddings and the layer
// stacks. Activations are `[batch, sequence, hidden]`; weights are named
// `<prefix>.<part>` and laid out `[in, out]` so a projection is a plain
// `x W` matmul (the experts of kiln.moe_experts use the same layout).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ZOO_TRANSFORMER_H_
#define KILN_MODELS_ZOO_TRANSFORMER_H_

#include "models/zoo/GraphBuilder.h"

#include <optional>

namespace kiln::zoo {

/// RMS norm over the last axis with the scale `<prefix>.scale`.
mlir::Value rmsNorm(GraphBuilder &graph, mlir::Value x, llvm::StringRef prefix);
/// Layer norm over the last axis with `<prefix>.scale` and `<prefix>.bias`.
mlir::Value layerNorm(GraphBuilder &graph, mlir::Value x,
                      llvm::StringRef prefix);

/// The shape of a multi-head attention block.
struct AttentionOptions {
  int64_t heads = 1;
  /// Key/value heads; fewer than `heads` for grouped-query attention.
  int64_t kvHeads = 1;
  bool causal = false;
  /// Biases on the q/k/v/output projections.
  bool bias = false;
  /// Rotary embedding of q and k with this theta; none without.
  std::optional<double> ropeTheta;
};

/// Self-attention of `x [B, S, D]`: projections `<prefix>.wq|wk|wv`
/// (`[D, heads*Dh]`, `[D, kvHeads*Dh]`), heads `[B, H, S, Dh]`, optional
/// rope, kiln.attention, and the output projection `<prefix>.wo`. Returns
/// `[B, S, D]` without the residual. `heads` divides D and `kvHeads` divides
/// `heads`.
mlir::Value attention(GraphBuilder &graph, mlir::Value x,
                      llvm::StringRef prefix, const AttentionOptions &options);

/// SwiGLU feed-forward `(silu(x Wg) * (x Wu)) Wd` with `<prefix>.w_gate`,
/// `<prefix>.w_up` `[D, ffn]` and `<prefix>.w_down` `[ffn, D]`.
mlir::Value swigluFfn(GraphBuilder &graph, mlir::Value x,
                      llvm::StringRef prefix, int64_t ffn);
/// Feed-forward `gelu(x W1 + b1) W2 + b2` with `<prefix>.w1|b1|w2|b2`.
mlir::Value geluMlp(GraphBuilder &graph, mlir::Value x, llvm::StringRef prefix,
                    int64_t ffn);
/// Top-k mixture of SwiGLU experts: tokens flattened to `[B*S, D]`, router
/// logits `x <prefix>.router [D, experts]`, kiln.moe_router, and
/// kiln.moe_experts over `<prefix>.w_gate|w_up [E, D, ffn]` and
/// `<prefix>.w_down [E, ffn, D]`. `topK` is at most `experts`.
mlir::Value moeFfn(GraphBuilder &graph, mlir::Value x, llvm::StringRef prefix,
                   int64_t ffn, int64_t experts, int64_t topK);

/// Looks up integer `tokens [B, S]` in the table `name [vocab, hidden]`.
mlir::Value tokenEmbedding(GraphBuilder &graph, mlir::Value tokens,
                           llvm::StringRef name, int64_t vocab, int64_t hidden);
/// `x [B, S, D]` plus the learned positions `name [S, D]`.
mlir::Value addPositions(GraphBuilder &graph, mlir::Value x,
                         llvm::StringRef name);

/// A Llama-style decoder: pre-RMS-norm layers of causal grouped-query
/// attention with rope and a SwiGLU (or, with `experts`, mixture-of-experts)
/// feed-forward.
struct DecoderOptions {
  int64_t layers = 1;
  int64_t heads = 1;
  int64_t kvHeads = 1;
  int64_t ffn = 1;
  double ropeTheta = 10000.0;
  /// Experts per mixture-of-experts layer; 0 for a dense SwiGLU.
  int64_t experts = 0;
  int64_t topK = 1;
};

/// The decoder layers `<prefix>.layers.<i>` over `x [B, S, D]` followed by
/// the final RMS norm `<prefix>.final_norm`.
mlir::Value decoderLayers(GraphBuilder &graph, mlir::Value x,
                          llvm::StringRef prefix,
                          const DecoderOptions &options);

/// A bidirectional encoder of attention and GELU MLP layers, all biased.
struct EncoderOptions {
  int64_t layers = 1;
  int64_t heads = 1;
  int64_t ffn = 1;
  /// Pre-LN (ViT: `x + f(norm(x))`) or post-LN (BERT: `norm(x + f(x))`).
  bool preNorm = false;
};

/// The encoder layers `<prefix>.layers.<i>` over `x [B, S, D]` (no final
/// norm: post-LN layers end normalized, pre-LN callers add their own).
mlir::Value encoderLayers(GraphBuilder &graph, mlir::Value x,
                          llvm::StringRef prefix,
                          const EncoderOptions &options);

/// A ViT image encoder.
struct VisionOptions {
  int64_t image = 1;
  int64_t patch = 1;
  int64_t channels = 1;
  int64_t hidden = 1;
  EncoderOptions encoder;
  /// Prepend a learned class token to the patch tokens.
  bool classToken = false;
};

/// Encodes `image [B, C, I, I]`: patch embedding `<prefix>.patch_embed` by a
/// conv2d with stride `patch`, flattened to `(I/patch)^2` tokens, the
/// optional class token first, learned positions, pre-LN encoder layers and
/// the final layer norm. Returns `[B, tokens, hidden]`. `patch` divides
/// `image`.
mlir::Value visionEncoder(GraphBuilder &graph, mlir::Value image,
                          llvm::StringRef prefix, const VisionOptions &options);

} // namespace kiln::zoo

#endif // KILN_MODELS_ZOO_TRANSFORMER_H_
