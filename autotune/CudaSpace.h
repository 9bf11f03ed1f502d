//===- CudaSpace.h - The GPU configs a kernel may be tuned over -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The CUDA counterpart of Space.h, with the same shape: a kernel's space is
// a list of immutable knobs (a kind and its legal values), a candidate picks
// one value index per knob (`Candidate`, as for the CPU), and candidates
// that cannot compile or cannot be good are filtered before any compile.
//
// Knobs per kind of kernel:
//   matmul-like (matmul, conv2d as implicit GEMM, mixture-of-experts):
//     block_m, block_n, block_k, warps, stages, split-K and, on sm_90a, the
//     thread-block cluster shape;
//   attention: query rows and key/value rows per block, warps, stages;
//   row (softmax, norms, reductions): rows per block, warps;
//   elementwise: elements per block, warps.
//
// Legality: at most 1024 threads per block; whole mma tiles per warp; the
// shared memory of all pipeline stages within the architecture's per-block
// limit (163 KiB on sm_80, 227 KiB on sm_90a); estimated registers at most
// 255 per thread and 64K per block (one block per SM); split-K into equal
// slices of whole block_k tiles; clusters of at most 8 blocks that divide
// the grid.
//
// Tuning results are keyed by a GPU fingerprint: from the driver's device
// description when a device is present, or from the architecture alone
// when tuning compile-only (a cost model, no measurement).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_CUDASPACE_H_
#define KILN_AUTOTUNE_CUDASPACE_H_

#include "autotune/Space.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln::cuda {
struct CudaDeviceInfo;
} // namespace kiln::cuda

namespace kiln::autotune {

/// What a CUDA knob sets.
enum class CudaKnobKind {
  /// Output rows per block (matmul), query rows (attention), rows (row).
  BlockM,
  /// Output columns per block (matmul), key/value rows (attention),
  /// elements per block (elementwise).
  BlockN,
  /// The k depth of one shared-memory stage.
  BlockK,
  Warps,
  /// Shared-memory pipeline depth.
  Stages,
  /// Slices of the k dimension computed by separate blocks and summed.
  SplitK,
  /// Thread-block cluster extent along m and n (sm_90a).
  ClusterM,
  ClusterN,
};

/// One knob and its legal values, ascending.
struct CudaKnob {
  CudaKnobKind kind;
  std::vector<int64_t> values;
};

/// The shape of computation a space is built for.
enum class CudaSpaceKind { Matmul, Attention, Row, Elementwise };

/// The hardware limits the legality checks apply.
struct CudaSpaceLimits {
  /// "sm_80" or "sm_90a".
  std::string arch;
  /// Shared memory one block may opt in to, in bytes.
  int64_t sharedBytesPerBlock = 0;
  int64_t registersPerThread = 255;
  int64_t registersPerMultiprocessor = 65536;
  int64_t threadsPerBlock = 1024;
  /// Blocks per thread-block cluster at most; 1 without clusters.
  int64_t clusterBlocks = 1;
};

/// The limits of `arch` ("sm_80" or "sm_90a"); std::nullopt for others.
std::optional<CudaSpaceLimits> getCudaSpaceLimits(llvm::StringRef arch);

/// The limits of `arch` on `device`, whose reported figures replace the
/// architecture's.
std::optional<CudaSpaceLimits>
getCudaSpaceLimits(llvm::StringRef arch, const cuda::CudaDeviceInfo &device);

/// Every knob's value: what a candidate sets.
struct CudaTuningConfig {
  int64_t blockM = 1, blockN = 1, blockK = 1, warps = 1, stages = 1;
  int64_t splitK = 1, clusterM = 1, clusterN = 1;

  bool operator==(const CudaTuningConfig &other) const;
};

/// A kernel's GPU search space.
struct CudaSearchSpace {
  CudaSpaceKind kind = CudaSpaceKind::Elementwise;
  /// The default config, which candidates modify.
  CudaTuningConfig base;
  std::vector<CudaKnob> knobs;
  CudaSpaceLimits limits;
  /// The problem: matmul m, n, k; attention query rows, key/value rows and
  /// head size; row: rows and row width; elementwise: elements (in m).
  int64_t m = 1, n = 1, k = 1;
  /// Bytes per element of the operands.
  int64_t elementBytes = 4;

  /// The number of candidates before filtering.
  int64_t getSize() const;
};

/// The search space of `kernel` (kiln ops with kiln.kernel) under `limits`.
CudaSearchSpace buildCudaSearchSpace(mlir::func::FuncOp kernel,
                                     const CudaSpaceLimits &limits);

/// The config `candidate` gives: the base with its knobs set.
CudaTuningConfig applyCudaCandidate(const CudaSearchSpace &space,
                                    const Candidate &candidate);

/// `config` as the #kiln.cuda_config the generator reads.
CudaConfigAttr toCudaConfigAttr(mlir::MLIRContext *context,
                                const CudaTuningConfig &config);

/// Shared memory and registers per thread `config` is estimated to need.
int64_t estimateSharedBytes(const CudaSearchSpace &space,
                            const CudaTuningConfig &config);
int64_t estimateRegisters(const CudaSearchSpace &space,
                          const CudaTuningConfig &config);

/// Why `candidate` is illegal, or std::nullopt when it is legal.
std::optional<std::string> checkCudaCandidate(const CudaSearchSpace &space,
                                              const Candidate &candidate);

/// The candidate whose config equals the base; std::nullopt when a base
/// value is not in its knob.
std::optional<Candidate> getCudaBaseCandidate(const CudaSearchSpace &space);

/// Every legal candidate in lexicographic order of the knob indices, at most
/// `limit` of them.
std::vector<Candidate> enumerateCudaCandidates(const CudaSearchSpace &space,
                                               int64_t limit);

/// The tuning-database fingerprint of `arch` on `device`: the architecture,
/// the device's name, compute capability, SM count and memory (GiB).
std::string getCudaFingerprint(llvm::StringRef arch,
                               const cuda::CudaDeviceInfo &device);

/// The fingerprint of compile-only tuning for `arch`, with no device:
/// "cuda/<arch>".
std::string getCudaArchFingerprint(llvm::StringRef arch);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_CUDASPACE_H_
