//===- KernelConfig.cpp - Default CPU kernel configurations -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/KernelConfig.h"

#include "codegen/Common/Target.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace kiln::cpu {

KernelKind classifyKernel(func::FuncOp kernel) {
  KernelKind kind = KernelKind::Elementwise;
  bool attention = false, experts = false;
  kernel.walk([&](Operation *op) {
    attention |= isa<AttentionOp>(op);
    experts |= isa<MoeRouterOp, MoeExpertsOp>(op);
    if (isa<MatmulOp>(op))
      kind = KernelKind::Matmul;
    else if (isa<Conv2DOp>(op) && kind != KernelKind::Matmul)
      kind = KernelKind::Convolution;
    else if (isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp, SoftmaxOp, LayerNormOp,
                 RmsNormOp>(op) &&
             kind == KernelKind::Elementwise)
      kind = KernelKind::Reduction;
  });
  if (attention)
    return KernelKind::Attention;
  if (experts)
    return KernelKind::MixtureOfExperts;
  return kind;
}

/// Register tile [m, n, k] of a matmul: two vector registers of n per row,
/// and as many rows as leave registers for the operands (8 of the 32 zmm
/// registers with AVX-512 hold 16 accumulators; 4 rows of the 16 ymm ones).
static SmallVector<int64_t, 3> getMicroTile(const codegen::CpuTarget &target) {
  int64_t lanes = target.getF32Lanes();
  int64_t rows = target.hasAvx512 ? 8 : 4;
  return {rows, 2 * lanes, 1};
}

/// Tiles of the result dimensions `shape` that hold about `budget` elements,
/// leaving the innermost dimensions whole where they fit and every
/// dimension in `keep` whole.
static SmallVector<int64_t> getBudgetTiles(ArrayRef<int64_t> shape,
                                           ArrayRef<bool> keep, int64_t budget,
                                           int64_t lanes) {
  SmallVector<int64_t> tiles(shape.size(), 0);
  int64_t remaining = budget;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    if (keep[d] || shape[d] <= remaining) {
      remaining =
          std::max<int64_t>(1, remaining / std::max<int64_t>(1, shape[d]));
      continue;
    }
    int64_t tile = remaining;
    // The innermost dimension stays a multiple of the vector width.
    if (d == static_cast<int64_t>(shape.size()) - 1 && tile >= lanes)
      tile = tile / lanes * lanes;
    tiles[d] = std::max<int64_t>(1, tile);
    remaining = 1;
  }
  return tiles;
}

/// Whether every result of a kernel with `results` has dimension `dim`, of
/// the same extent as the first.
static bool isSharedDim(ArrayRef<Type> results, int64_t dim) {
  auto first = cast<ShapedType>(results.front());
  return llvm::all_of(results, [&](Type type) {
    auto shaped = dyn_cast<ShapedType>(type);
    return shaped && shaped.hasRank() && shaped.getRank() > dim &&
           shaped.getDimSize(dim) == first.getDimSize(dim);
  });
}

int64_t getContractionDepth(func::FuncOp kernel) {
  int64_t depth = 0;
  kernel.walk([&](MatmulOp matmul) {
    auto lhs = cast<RankedTensorType>(matmul.getLhs().getType());
    depth = lhs.getDimSize(matmul.getTransposeLhs() ? lhs.getRank() - 2
                                                    : lhs.getRank() - 1);
    return WalkResult::interrupt();
  });
  return depth;
}

/// The depth C * KH * KW of the matmul of the first ungrouped convolution
/// of `kernel`, 0 without one.
static int64_t getConvolutionDepth(func::FuncOp kernel) {
  int64_t depth = 0;
  kernel.walk([&](Conv2DOp conv) {
    if (conv.getGroups() != 1)
      return WalkResult::advance();
    ArrayRef<int64_t> filter = conv.getFilter().getType().getShape();
    depth = filter[1] * filter[2] * filter[3];
    return WalkResult::interrupt();
  });
  return depth;
}

/// Whether an ungrouped convolution of `kernel` has a result of `shape`.
static bool isConvolutionResult(func::FuncOp kernel, ArrayRef<int64_t> shape) {
  bool found = false;
  kernel.walk([&](Conv2DOp conv) {
    found |= conv.getGroups() == 1 &&
             conv.getResult().getType().getShape() == shape;
  });
  return found;
}

/// The tile extents [m, n] of a matmul with an m x n result, `batches`
/// times over: kMatmulTile each (or the extent rounded up to the micro
/// tile), halved while there are fewer than kMinMatmulTiles tiles and the
/// halves stay at least kMinMatmulTile and a multiple of the micro tile. n
/// is halved first: a narrower tile still packs each of its rhs panels once
/// for all its rows.
static std::pair<int64_t, int64_t>
getMatmulTiles(int64_t m, int64_t n, int64_t batches,
               ArrayRef<int64_t> microTile) {
  int64_t tileM = llvm::alignTo(std::min(m, kMatmulTile), microTile[0]);
  int64_t tileN = llvm::alignTo(std::min(n, kMatmulTile), microTile[1]);
  auto count = [&] {
    return batches * llvm::divideCeil(m, tileM) * llvm::divideCeil(n, tileN);
  };
  auto halve = [&](int64_t &tile, int64_t extent, int64_t step) {
    int64_t half = llvm::alignTo(tile / 2, step);
    if (half >= tile || half < kMinMatmulTile || extent <= half)
      return false;
    tile = half;
    return true;
  };
  while (count() < kMinMatmulTiles &&
         (halve(tileN, n, microTile[1]) || halve(tileM, m, microTile[0])))
    ;
  return {tileM, tileN};
}

CpuConfigAttr getDefaultCpuConfig(func::FuncOp kernel,
                                  const codegen::CpuTarget &target) {
  MLIRContext *context = kernel.getContext();
  int64_t lanes = target.getF32Lanes();
  KernelKind kind = classifyKernel(kernel);
  ArrayRef<Type> results = kernel.getFunctionType().getResults();
  SmallVector<int64_t> tiles;
  SmallVector<int64_t, 3> microTile;
  bool pack = false;
  int64_t kBlock = 0;
  // Attention and the experts contract too, and an MoE kernel holds the
  // router's matmul.
  // Convolutions are matmuls over im2col patches.
  if (kind == KernelKind::Matmul || kind == KernelKind::Attention ||
      kind == KernelKind::MixtureOfExperts ||
      kind == KernelKind::Convolution)
    microTile = getMicroTile(target);

  auto resultType = results.empty() ? RankedTensorType()
                                    : dyn_cast<RankedTensorType>(results[0]);
  if (resultType && resultType.hasStaticShape()) {
    ArrayRef<int64_t> shape = resultType.getShape();
    int64_t rank = resultType.getRank();
    tiles.assign(rank, 0);
    if (kind == KernelKind::Attention && rank == 4) {
      // 1. Attention: one (batch, head) and a block of query rows per tile.
      tiles = {shape[0] > 1 ? 1 : 0, shape[1] > 1 ? 1 : 0,
               shape[2] > kAttentionQueryBlock ? kAttentionQueryBlock : 0, 0};
    } else if (kind == KernelKind::MixtureOfExperts && rank >= 2) {
      // 2. Experts: blocks of tokens (the rows); the hidden dimension whole.
      for (int64_t d = 0; d < rank - 2; ++d)
        tiles[d] = shape[d] > 1 ? 1 : 0;
      tiles[rank - 2] = shape[rank - 2] > kMoeTokenBlock ? kMoeTokenBlock : 0;
    } else if (kind == KernelKind::Matmul && rank >= 2) {
      // 1. Batch dimensions one at a time; m and n by tiles of up to
      //    256 x 256 in multiples of the micro tile, whole when they are
      //    small. A tile packs the rhs panels it reads, so the more rows it
      //    has, the fewer times each panel is packed. One thread, CPU time
      //    (noisy): 2048^3 went from 94 GFLOP/s with 64 x 128 tiles to 125,
      //    1024^3 from 109 to 135.
      for (int64_t d = 0; d < rank - 2; ++d)
        tiles[d] = shape[d] > 1 ? 1 : 0;
      int64_t batches = 1;
      for (int64_t d = 0; d < rank - 2; ++d)
        batches *= shape[d];
      int64_t m = shape[rank - 2], n = shape[rank - 1];
      auto [tileM, tileN] = getMatmulTiles(m, n, batches, microTile);
      tiles[rank - 2] = m > tileM ? tileM : 0;
      tiles[rank - 1] = n > tileN ? tileN : 0;
      // 2. The rhs is packed into panels and swept a k block at a time when
      //    enough rows share each panel or k is at least two blocks deep
      //    (rows of a large rhs lie a multiple of 4 KiB apart and, unpacked,
      //    evict each other from L1). Measured with bench/ (see
      //    BENCHMARKS.md), one thread: 512x384x1536 went from 114 to 137
      //    GFLOP/s packed; with k = 256 and n = 2048, 64 rows went from 102
      //    to 122, 32 rows stayed at 105 and 16 rows lost (89 to 81).
      //    Kernels with several results stay unpacked: their tile loops are
      //    merged, which kiln-cpu-pack-matmul does not handle.
      int64_t k = getContractionDepth(kernel);
      if (results.size() == 1 &&
          (std::min(m, tileM) >= kMinPackedRows || k >= 2 * kKBlock)) {
        pack = true;
        // One block is no blocking: 0 keeps the config canonical.
        kBlock = k > kKBlock ? kKBlock : 0;
      }
    } else if (kind == KernelKind::Convolution && rank == 4 &&
               isConvolutionResult(kernel, shape)) {
      // 1. A convolution whose result is the kernel's: the matmul over its
      //    patches (see kiln-cpu-convert-kiln-to-linalg) has the filters as
      //    rows and the output positions as columns; it is tiled like a
      //    matmul, by filters and by whole output rows.
      tiles[0] = shape[0] > 1 ? 1 : 0;
      int64_t rows = shape[1], columns = shape[2] * shape[3];
      auto [tileM, tileN] =
          getMatmulTiles(rows, columns, shape[0], microTile);
      tiles[1] = rows > tileM ? tileM : 0;
      int64_t tileRows = std::max<int64_t>(1, tileN / shape[3]);
      tiles[2] = shape[2] > tileRows ? tileRows : 0;
    } else {
      // 3. Everything else by an element budget. Reduction kernels keep the
      //    last dimension whole: their reductions run along it; their
      //    smaller budget keeps the rows in L1 between passes.
      SmallVector<bool> keep(rank, false);
      if ((kind == KernelKind::Reduction || kind == KernelKind::Attention ||
           kind == KernelKind::MixtureOfExperts) &&
          rank > 0)
        keep.back() = true;
      int64_t budget = kind == KernelKind::Reduction ? kReductionTileElements
                                                     : kTargetTileElements;
      tiles = getBudgetTiles(shape, keep, budget, lanes);
    }
    // The patches a convolution's tile reads are packed into panels of
    // the micro tile's columns, whatever the tile: they are copied from the
    // input anyway, and the panels are what the micro kernel reads best.
    int64_t depth = getConvolutionDepth(kernel);
    if (kind == KernelKind::Convolution && depth > 0 && results.size() == 1) {
      pack = true;
      kBlock = depth > kKBlock ? kKBlock : 0;
    }
    // 4. Several results share the tile loop: only dimensions they all have
    //    with the same extent are tiled.
    for (int64_t d = 0; d < rank; ++d)
      if (!isSharedDim(results, d))
        tiles[d] = 0;
  }
  return CpuConfigAttr::get(
      context, DenseI64ArrayAttr::get(context, tiles), lanes,
      microTile.empty() ? DenseI64ArrayAttr()
                        : DenseI64ArrayAttr::get(context, microTile),
      // The lhs stays unpacked by default: packed by k block, 2048^3 on one
      // thread measured within the noise of unpacked (about 0.8 of oneDNN
      // either way, loaded machine); the tuner may still choose it.
      pack, kBlock, /*packLhs=*/false, /*mBlock=*/0,
      /*packRhsPerPanel=*/false);
}

LogicalResult verifyCpuConfig(func::FuncOp kernel, CpuConfigAttr config) {
  ArrayRef<Type> results = kernel.getFunctionType().getResults();
  ArrayRef<int64_t> tiles = config.getTileSizes().asArrayRef();
  if (results.empty()) {
    if (!tiles.empty())
      return kernel.emitError("expected no tile sizes for a kernel without "
                              "results (got ")
             << tiles.size() << ")";
    return success();
  }
  auto resultType = dyn_cast<ShapedType>(results[0]);
  int64_t rank = resultType && resultType.hasRank() ? resultType.getRank() : 0;
  if (static_cast<int64_t>(tiles.size()) != rank)
    return kernel.emitError("expected one tile size per dimension of the "
                            "first result (rank ")
           << rank << ", got " << tiles.size() << " tile sizes)";
  for (auto [dim, size] : llvm::enumerate(tiles)) {
    if (size == 0 || size >= resultType.getDimSize(dim) ||
        isSharedDim(results, dim))
      continue;
    return kernel.emitError("expected tile size 0 for dimension ")
           << dim << " (tile size " << size << "), which the " << results.size()
           << " results of the kernel do not share";
  }
  return success();
}

} // namespace kiln::cpu
