//===- Attrs.cpp - Verifiers of the kiln attributes -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The checks on kernel-config attributes that hold whatever kernel they are
// attached to; checks against a kernel's shapes live in the backend that
// reads the config.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnDialect.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace kiln;

//===----------------------------------------------------------------------===//
// CpuConfigAttr
//===----------------------------------------------------------------------===//

LogicalResult CpuConfigAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, DenseI64ArrayAttr tileSizes,
    int64_t vectorWidth, DenseI64ArrayAttr microTile, bool packMatmul,
    int64_t kBlock, bool packLhs, int64_t mBlock, bool packRhsPerPanel) {
  if (!tileSizes)
    return emitError() << "expected tile_sizes";
  for (auto [index, size] : llvm::enumerate(tileSizes.asArrayRef()))
    if (size < 0)
      return emitError() << "expected tile size " << index << " (" << size
                         << ") to be >= 0";
  if (vectorWidth < 1 || vectorWidth > 64 || !llvm::isPowerOf2_64(vectorWidth))
    return emitError() << "expected vector_width (" << vectorWidth
                       << ") to be a power of two in [1, 64]";
  if (microTile) {
    if (microTile.size() != 3)
      return emitError() << "expected micro_tile to hold [m, n, k] (got "
                         << microTile.size() << " sizes)";
    for (int64_t size : microTile.asArrayRef())
      if (size < 1)
        return emitError() << "expected micro_tile sizes (" << size
                           << ") to be >= 1";
  }
  if (kBlock < 0)
    return emitError() << "expected k_block (" << kBlock << ") to be >= 0";
  if (packMatmul && !microTile)
    return emitError() << "expected a micro_tile with pack_matmul = true "
                          "(the packing tile follows the micro tile)";
  if (packLhs && !packMatmul)
    return emitError() << "expected pack_matmul = true with pack_lhs = true "
                          "(the lhs is packed along with the rhs)";
  if (mBlock < 0)
    return emitError() << "expected m_block (" << mBlock << ") to be >= 0";
  if (mBlock > 0 && !packLhs)
    return emitError() << "expected pack_lhs = true with m_block = " << mBlock
                       << " (an m block is a block of the packed lhs)";
  if (mBlock > 0 && mBlock % microTile[0] != 0)
    return emitError() << "expected m_block (" << mBlock
                       << ") to be a multiple of micro_tile[0] ("
                       << microTile[0] << ")";
  if (packRhsPerPanel && !packLhs)
    return emitError() << "expected pack_lhs = true with pack_rhs_per_panel = "
                          "true (only row groups of a packed lhs share a rhs "
                          "panel's first use)";
  return success();
}

//===----------------------------------------------------------------------===//
// CudaConfigAttr
//===----------------------------------------------------------------------===//

LogicalResult
CudaConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t blockM, int64_t blockN, int64_t blockK,
                       int64_t warps, int64_t stages, int64_t splitK,
                       int64_t clusterM, int64_t clusterN) {
  for (auto [name, size] : {std::pair<StringRef, int64_t>{"block_m", blockM},
                            {"block_n", blockN},
                            {"block_k", blockK}})
    if (size < 1 || !llvm::isPowerOf2_64(size))
      return emitError() << "expected " << name << " (" << size
                         << ") to be a power of two >= 1";
  // 32 warps are the 1024 threads CUDA allows in one thread block.
  if (warps < 1 || warps > 32)
    return emitError() << "expected warps (" << warps << ") to be in [1, 32]";
  if (stages < 1 || stages > 8)
    return emitError() << "expected stages (" << stages << ") to be in [1, 8]";
  if (splitK < 1 || splitK > 64)
    return emitError() << "expected split_k (" << splitK
                       << ") to be in [1, 64]";
  for (auto [name, size] : {std::pair<StringRef, int64_t>{"cluster_m", clusterM},
                            {"cluster_n", clusterN}})
    if (size < 1 || size > 8)
      return emitError() << "expected " << name << " (" << size
                         << ") to be in [1, 8]";
  // 8 blocks is the cluster size every sm_90 device supports.
  if (clusterM * clusterN > 8)
    return emitError() << "expected cluster_m * cluster_n ("
                       << clusterM * clusterN << ") to be at most 8";
  return success();
}
