//===- KernelConfig.h - Default CPU kernel configurations -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The heuristics that give a kernel its default #kiln.cpu_config, and the
// checks of a config against the kernel it is attached to. The heuristics
// look only at the kiln ops and shapes of the kernel and at the target: the
// same kernel on the same target always gets the same config.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_KERNELCONFIG_H_
#define KILN_CODEGEN_CPU_KERNELCONFIG_H_

#include "ir/KilnDialect.h"

namespace kiln::codegen {
struct CpuTarget;
} // namespace kiln::codegen

namespace kiln::cpu {

/// Elements of the first result that one tile of a non-contraction kernel
/// aims for: large enough to amortize the loop overhead, small enough that a
/// tile's temporaries stay in L2.
inline constexpr int64_t kTargetTileElements = 16384;

/// Elements of the first result per tile of a reduction kernel. Softmax and
/// the norms read their rows in several passes (maximum, sum, output): 16
/// KiB of f32 rows stay in L1 from one pass to the next (measured with
/// bench/: softmax at 32768 x 1024 went from about half the elementwise
/// chain's bandwidth with 64 KiB tiles to 0.85 of it).
inline constexpr int64_t kReductionTileElements = 4096;

/// Keys per block of the online softmax of attention: the scores of a
/// tile's query rows against one block stay in L1.
inline constexpr int64_t kAttentionKeyBlock = 64;

/// The default k block of contractions: a 256 x 32 f32 rhs panel (32 KiB)
/// stays in L1 while a tile's micro kernels sweep it.
inline constexpr int64_t kKBlock = 256;

/// The default extent of a matmul tile along m and along n: each packed rhs
/// panel serves 256 rows, and a 256-row lhs block of one k block (256 KiB)
/// stays in L2 while the tile's panels sweep it.
inline constexpr int64_t kMatmulTile = 256;

/// Matmul tiles are halved until there are at least this many, so that
/// threads share the work...
inline constexpr int64_t kMinMatmulTiles = 8;

/// ...but not below this many rows or columns.
inline constexpr int64_t kMinMatmulTile = 64;

/// Tile rows from which packing the rhs pays for itself whatever k.
inline constexpr int64_t kMinPackedRows = 32;

/// The kind of work that dominates a kernel, from which its config follows.
enum class KernelKind {
  /// Elementwise and data movement only.
  Elementwise,
  /// A reduction, softmax or normalization; the reduced axes stay untiled.
  Reduction,
  /// A matmul (with or without an epilogue).
  Matmul,
  /// A convolution.
  Convolution,
  /// Attention, tiled over (batch, head, query block).
  Attention,
  /// Mixture-of-experts routing and experts, tiled over tokens.
  MixtureOfExperts,
};

/// Query rows per tile of an attention kernel.
inline constexpr int64_t kAttentionQueryBlock = 32;

/// Tokens per tile of a mixture-of-experts kernel: each tile routes its
/// tokens and multiplies the rows routed to each expert by that expert's
/// matrices at once, so a tile of 64 tokens gives each of 4 experts about
/// 32 rows (4 AVX-512 register tiles) with top-2 routing. The moe model at
/// seq 128, hidden 256, ffn 512 (loaded machine, noisy): with unpacked
/// matrices an MoE kernel took about 25 ms with 8 tokens per tile and 8.7
/// ms with 64; packed, on one thread, 2.9 ms with 64 and 2.5 ms with 128
/// (one tile, which leaves the other threads idle).
inline constexpr int64_t kMoeTokenBlock = 64;

/// Classifies `kernel` by its kiln ops.
KernelKind classifyKernel(mlir::func::FuncOp kernel);

/// The k extent of the first matmul of `kernel`, 0 without one.
int64_t getContractionDepth(mlir::func::FuncOp kernel);

/// The default config of `kernel`, a function of kiln ops on tensors, for
/// `target`.
CpuConfigAttr getDefaultCpuConfig(mlir::func::FuncOp kernel,
                                  const codegen::CpuTarget &target);

/// Checks `config` against `kernel`: one tile size per dimension of the first
/// result, with several results only dimensions that every result has with
/// the same extent tiled. Emits an error at the kernel on failure.
mlir::LogicalResult verifyCpuConfig(mlir::func::FuncOp kernel,
                                    CpuConfigAttr config);

} // namespace kiln::cpu

#endif // KILN_CODEGEN_CPU_KERNELCONFIG_H_
