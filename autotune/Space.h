//===- Space.h - The configs a kernel may be tuned over --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A kernel's search space is a list of knobs, immutable records of a kind,
// an axis and the legal values, derived from the kernel's kind and shapes
// and from the target: tile sizes per dimension (powers of two and even
// divisors of the extent, multiples of the register tile, or whole), the
// register tile of a matmul, packing on or off and the k block. A candidate
// picks one value per knob and is applied to a copy of the default config.
//
// Candidates that cannot be good or cannot compile are filtered before any
// compile: configs verifyCpuConfig rejects, register tiles whose
// accumulators and operands do not fit the vector registers, tiles not a
// multiple of the register tile, and tiles whose working set overflows L2.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_SPACE_H_
#define KILN_AUTOTUNE_SPACE_H_

#include "codegen/CPU/KernelConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln::codegen {
struct CpuTarget;
} // namespace kiln::codegen

namespace kiln::autotune {

/// What a knob sets in a #kiln.cpu_config.
enum class KnobKind {
  /// tile_sizes[axis].
  TileSize,
  /// micro_tile[0] (rows of the register tile).
  MicroTileM,
  /// micro_tile[1] (columns of the register tile).
  MicroTileN,
  /// pack_matmul (0 or 1).
  PackMatmul,
  /// k_block.
  KBlock,
  /// pack_lhs (0 or 1).
  PackLhs,
  /// m_block.
  MBlock,
  /// pack_rhs_per_panel (0 or 1).
  PackRhsPerPanel,
};

/// One knob: its kind, the axis it applies to (tile sizes only, else -1) and
/// its legal values in ascending order.
struct Knob {
  KnobKind kind;
  int64_t axis = -1;
  std::vector<int64_t> values;
};

/// The limits the legality checks apply.
struct SpaceLimits {
  /// Vector registers of the target (16 with AVX2, 32 with AVX-512).
  int64_t vectorRegisters = 16;
  /// The L2 cache a tile's working set must fit in, in bytes.
  int64_t l2Bytes = 1 << 20;
};

/// The limits for `target` with an L2 of `l2Bytes` (0: 1 MiB assumed).
SpaceLimits getSpaceLimits(const codegen::CpuTarget &target, int64_t l2Bytes);

/// One choice per knob: an index into its values.
using Candidate = std::vector<int64_t>;

/// A kernel's search space.
struct SearchSpace {
  cpu::KernelKind kind;
  /// The default config, which candidates modify.
  CpuConfigAttr base;
  std::vector<Knob> knobs;
  SpaceLimits limits;
  /// The shape of the kernel's first result, the contraction depth (0 when
  /// none) and the number of inputs and results, for the legality checks
  /// and the cost model.
  std::vector<int64_t> shape;
  int64_t depth = 0;
  int64_t numInputs = 0, numResults = 0;

  /// The number of candidates before filtering.
  int64_t getSize() const;
};

/// The search space of `kernel` (a function of kiln ops with kiln.kernel)
/// for `target` under `limits`.
SearchSpace buildSearchSpace(mlir::func::FuncOp kernel,
                             const codegen::CpuTarget &target,
                             const SpaceLimits &limits);

/// The config `candidate` gives: a copy of the base with its knobs set.
CpuConfigAttr applyCandidate(const SearchSpace &space,
                             const Candidate &candidate);

/// Why `candidate` is illegal for `kernel`, or nullopt when it is legal.
std::optional<std::string> checkCandidate(const SearchSpace &space,
                                          mlir::func::FuncOp kernel,
                                          const Candidate &candidate);

/// The candidate whose config equals the base; nullopt when the base's
/// values are not all in the space.
std::optional<Candidate> getBaseCandidate(const SearchSpace &space);

/// GotoBLAS's blocking of a matmul whose space has m blocks, as candidates:
/// on several threads one tall tile of whole rows per thread and one wide
/// tile of whole columns per thread (on one thread the whole result);
/// both operands packed, m blocks of 256, k blocks of the largest offered
/// divisor of the depth up to 256, each rhs panel packed at its first use
/// where that is legal, the default's register tile. At 2048^3 the tall
/// tile measured 1.05-1.12x the default on one thread, and at 1024^3 on two
/// threads the wide one ran beside oneDNN where the search's pick ran 5%
/// slower (bench/NOTES.md, session 19), but the cost model ranks them among
/// thousands of candidates only roughly, so searches measure them first.
/// Each also with one m block of all its tile's rows (and the largest such
/// k block whose lhs block fits): its rhs panels are packed one at a time
/// into one panel's space, which at 512x384x1536 ran 1.5-2% faster than m
/// blocks of 256 (session 22). None without m blocks; the illegal ones are
/// left out.
std::vector<Candidate> getBlockedCandidates(const SearchSpace &space,
                                            mlir::func::FuncOp kernel,
                                            int threads);

/// The candidates over knobs of `numValues[k]` values each that `isLegal`
/// accepts, in lexicographic order of the knob indices, at most `limit` of
/// them; shared by the CPU and the CUDA spaces.
std::vector<Candidate>
enumerateLegalCandidates(llvm::ArrayRef<int64_t> numValues, int64_t limit,
                         llvm::function_ref<bool(const Candidate &)> isLegal);

/// Every legal candidate in lexicographic order of the knob indices, at most
/// `limit` of them.
std::vector<Candidate> enumerateCandidates(const SearchSpace &space,
                                           mlir::func::FuncOp kernel,
                                           int64_t limit);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_SPACE_H_
