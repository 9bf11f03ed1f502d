//===- Kernels.h - Reference numeric kernels of the kiln ops ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// One plain C++ function per kiln op family, evaluated on host tensors. These
// kernels are the numerical oracle that compiled CPU and CUDA kernels are
// checked against, so they favour clarity and exactness over speed. No MLIR
// or LLVM dependency, no exceptions.
//
// Numerics policy:
//  - Every op reads its float inputs as values (`getFloat`), computes in
//    double (accumulations, exp/log/erf/tanh, normalizations), and rounds each
//    output element exactly once to the output element type. The rounding is
//    a correct round-to-nearest-even from the double result: a bf16 or f16
//    output does not pass through a second rounding to f32 on the way.
//  - Where an op's description says "accumulation is in f32" (matmul,
//    reductions), the oracle still accumulates in double; that is the exact
//    value a compiled kernel approximates, and tests compare with tolerances.
//  - Data movement ops (transpose, reshape, broadcastTo, concat, slice,
//    gather) copy element bytes, so they are exact for every element type,
//    i32 and i64 included. `cast` converts integer values exactly.
//  - The one intermediate rounding is in `moeExperts`, which rounds the hidden
//    activation to the input element type as a real kernel would store it.
//  - max/min (binary and reduce) follow IEEE-754 maximum/minimum: NaN
//    propagates and -0 < +0.
//
// Shapes and attributes are guaranteed valid by the IR verifier before these
// run; preconditions are only assert()ed. Errors that depend on tensor values
// (an index out of range) are returned as nullopt plus a message.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_REFERENCE_KERNELS_H_
#define KILN_REFERENCE_KERNELS_H_

#include "runtime/HostTensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::reference {

enum class UnaryKind {
  Neg,
  Abs,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Tanh,
  Sigmoid,
  Relu,
  /// x * sigmoid(x).
  Silu,
  /// x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))).
  GeluErf,
  /// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
  GeluTanh,
  Erf,
};
enum class BinaryKind { Add, Sub, Mul, Div, Max, Min, Pow };
enum class ReduceKind { Sum, Mean, Max };

/// Applies `kind` elementwise; the result has the input's type.
HostTensor unary(UnaryKind kind, const HostTensor &input);

/// Applies `kind` elementwise with numpy broadcasting; the result shape is the
/// broadcast of both shapes and the element type is `lhs`'s.
HostTensor binary(BinaryKind kind, const HostTensor &lhs,
                  const HostTensor &rhs);

/// `trueValue` where `condition` (i32/i64) is non-zero, else `falseValue`,
/// with the three shapes broadcast as numpy does. Copies element bytes, so
/// it is exact for every element type.
HostTensor select(const HostTensor &condition, const HostTensor &trueValue,
                  const HostTensor &falseValue);

/// The `kiln.cast` op: converts to `to`, between float types (round to
/// nearest even), from integers to floats (correctly rounded), and between
/// i32 and i64 (i64 to i32 keeps the low 32 bits). Not called `cast`, which
/// would hide `llvm::cast<T>` from unqualified calls in this namespace.
HostTensor castTo(const HostTensor &input, ElementType to);

/// `[..., M, K] x [..., K, N] -> [..., M, N]`; `transposeLhs`/`transposeRhs`
/// read an operand as `[..., K, M]`/`[..., N, K]`. Both have rank >= 2 and
/// the batch dimensions broadcast as numpy does (so a rank-2 operand is
/// shared by every batch of the other). Element type is `lhs`'s.
HostTensor matmul(const HostTensor &lhs, const HostTensor &rhs,
                  bool transposeLhs, bool transposeRhs);

/// NCHW input `[N, C, H, W]` convolved with an `[O, C / groups, KH, KW]`
/// filter; `strides` and `dilations` are `{h, w}`, `padding` is
/// `{top, left, bottom, right}` zeros. Result `[N, O, OH, OW]` with
/// `OH = (H + top + bottom - dh (KH - 1) - 1) / sh + 1` (likewise OW).
HostTensor conv2d(const HostTensor &input, const HostTensor &filter,
                  const std::vector<int64_t> &strides,
                  const std::vector<int64_t> &padding,
                  const std::vector<int64_t> &dilations, int64_t groups);

/// Pools each `kernel` `{KH, KW}` window of an NCHW input moved by
/// `strides` `{h, w}`, with `padding` `{top, left, bottom, right}`: the
/// maximum of the window's positions inside the input, or their mean (divided
/// by `KH * KW` with `countIncludePad`, padding counting as zeros). Result
/// `[N, C, OH, OW]` with `OH = (H + top + bottom - KH) / sh + 1`.
HostTensor maxPool2d(const HostTensor &input,
                     const std::vector<int64_t> &kernel,
                     const std::vector<int64_t> &strides,
                     const std::vector<int64_t> &padding);
HostTensor avgPool2d(const HostTensor &input,
                     const std::vector<int64_t> &kernel,
                     const std::vector<int64_t> &strides,
                     const std::vector<int64_t> &padding,
                     bool countIncludePad);

/// Reduces the listed `axes` (each in [0, rank), no repeats); with `keepDims`
/// they stay as size 1, otherwise they are dropped.
HostTensor reduce(ReduceKind kind, const HostTensor &input,
                  const std::vector<int64_t> &axes, bool keepDims);

/// `exp(x - max) / sum(exp(x - max))` along `axis`.
HostTensor softmax(const HostTensor &input, int64_t axis);

/// `(x - mean) / sqrt(var + epsilon) * scale + bias` over the last axis with
/// the biased variance; `scale` and `bias` are `[D]`.
HostTensor layerNorm(const HostTensor &input, const HostTensor &scale,
                     const HostTensor &bias, double epsilon);

/// `x / sqrt(mean(x^2) + epsilon) * scale` over the last axis; `scale` is
/// `[D]`.
HostTensor rmsNorm(const HostTensor &input, const HostTensor &scale,
                   double epsilon);

/// Result dimension `i` is input dimension `permutation[i]`.
HostTensor transpose(const HostTensor &input,
                     const std::vector<int64_t> &permutation);

/// The same elements in row-major order with a new `shape` (same count).
HostTensor reshape(const HostTensor &input, const std::vector<int64_t> &shape);

/// Broadcasts `input` to `shape` as numpy does.
HostTensor broadcastTo(const HostTensor &input,
                       const std::vector<int64_t> &shape);

/// Joins `inputs` (same rank and element type, equal sizes except along
/// `axis`) along `axis`.
HostTensor concat(const std::vector<const HostTensor *> &inputs, int64_t axis);

/// Along each dimension takes `start, start + stride, ...` below `limit`;
/// empty `strides` means all ones.
HostTensor slice(const HostTensor &input, const std::vector<int64_t> &starts,
                 const std::vector<int64_t> &limits,
                 const std::vector<int64_t> &strides);

/// Takes `data` slices along `axis` at each of `indices` (i32 or i64); the
/// result shape is `data.shape[:axis] + indices.shape + data.shape[axis+1:]`.
/// An index outside `[0, data.shape[axis])` returns nullopt and sets `error`
/// to a message naming the index value, its position and the valid range.
std::optional<HostTensor> gather(const HostTensor &data,
                                 const HostTensor &indices, int64_t axis,
                                 std::string &error);

/// Rotate-half rotary embedding of the last axis (size D, even): the pair
/// `(x[i], x[i + D/2])` turns by `p * theta^(-2i/D)`, where the position `p`
/// is `positionOffset` plus the index along axis rank-2 (0 for rank 1).
HostTensor rope(const HostTensor &input, double theta, int64_t positionOffset);

/// `softmax(q k^T * scale) v` for q `[B, Hq, Sq, D]`, k `[B, Hkv, Sk, D]`,
/// v `[B, Hkv, Sk, Dv]` -> `[B, Hq, Sq, Dv]` with `query`'s element type.
/// Query head `h` reads key/value head `h / (Hq / Hkv)`. `scale` defaults to
/// `1 / sqrt(D)`. With `causal`, query `i` sees keys `j <= i + Sk - Sq`; a
/// query that sees no key outputs zeros.
HostTensor attention(const HostTensor &query, const HostTensor &key,
                     const HostTensor &value, bool causal,
                     std::optional<double> scale);

/// The two results of `moeRouter`.
struct RouterResult {
  /// `[T, topK]`, the logits' element type.
  HostTensor weights;
  /// `[T, topK]` i32 expert indices.
  HostTensor indices;
};

/// For logits `[T, E]`: softmax over E, then the `topK` highest probabilities
/// per token, highest first, the lower expert index first among equals. With
/// `normalize` the chosen weights are rescaled to sum to one.
RouterResult moeRouter(const HostTensor &logits, int64_t topK, bool normalize);

/// SwiGLU mixture of experts for x `[T, H]`, weights `[T, k]`, indices
/// `[T, k]` (i32/i64), gate and up `[E, H, F]`, down `[E, F, H]`:
/// `out[t] = sum_j weights[t, j] * ffn_e(x[t])`, `e = indices[t, j]`,
/// `ffn_e(x) = (silu(x gate[e]) * (x up[e])) down[e]`. The hidden activation
/// (the product before `down`) is rounded to the input element type, as a
/// real kernel would store it. Result `[T, H]` with the input's element type.
/// An index outside `[0, E)` returns nullopt and sets `error`.
std::optional<HostTensor>
moeExperts(const HostTensor &input, const HostTensor &weights,
           const HostTensor &indices, const HostTensor &gate,
           const HostTensor &up, const HostTensor &down, std::string &error);

} // namespace kiln::reference

#endif // KILN_REFERENCE_KERNELS_H_
