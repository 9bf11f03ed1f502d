//===- CudaSpace.cpp - The GPU configs a kernel may be tuned over -*- C++ -*-//
//
// SPDX-License-Identifier: Apache-2.0
//
// The resource estimates are deliberately simple and a little generous:
// they reject what certainly cannot fit (ptxas would spill or the launch
// would fail) without modelling the generator's exact code; the measured
// search decides among what is left.
//
//===----------------------------------------------------------------------===//

#include "autotune/CudaSpace.h"

#include "codegen/CUDA/EmitCuda.h"
#include "runtime/CUDA/CudaModel.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <set>

using namespace mlir;

namespace kiln::autotune {

//===----------------------------------------------------------------------===//
// Limits and fingerprints
//===----------------------------------------------------------------------===//

std::optional<CudaSpaceLimits> getCudaSpaceLimits(StringRef arch) {
  CudaSpaceLimits limits;
  limits.arch = arch.str();
  if (arch == "sm_80") {
    limits.sharedBytesPerBlock = 163 * 1024;
  } else if (arch == "sm_90a") {
    limits.sharedBytesPerBlock = 227 * 1024;
    // The portable cluster size limit.
    limits.clusterBlocks = 8;
  } else {
    return std::nullopt;
  }
  return limits;
}

std::optional<CudaSpaceLimits>
getCudaSpaceLimits(StringRef arch, const cuda::CudaDeviceInfo &device) {
  std::optional<CudaSpaceLimits> limits = getCudaSpaceLimits(arch);
  if (!limits)
    return std::nullopt;
  if (device.sharedBytesPerBlock > 0)
    limits->sharedBytesPerBlock = device.sharedBytesPerBlock;
  if (device.registersPerMultiprocessor > 0)
    limits->registersPerMultiprocessor = device.registersPerMultiprocessor;
  return limits;
}

std::string getCudaFingerprint(StringRef arch,
                               const cuda::CudaDeviceInfo &device) {
  return llvm::formatv("{0} gpu={1} cc={2}.{3} sms={4} mem={5}G",
                       getCudaArchFingerprint(arch), device.name, device.major,
                       device.minor, device.multiprocessors,
                       device.memoryBytes >> 30)
      .str();
}

std::string getCudaArchFingerprint(StringRef arch) {
  return ("cuda/" + arch).str();
}

//===----------------------------------------------------------------------===//
// Building the space
//===----------------------------------------------------------------------===//

bool CudaTuningConfig::operator==(const CudaTuningConfig &other) const {
  return blockM == other.blockM && blockN == other.blockN &&
         blockK == other.blockK && warps == other.warps &&
         stages == other.stages && splitK == other.splitK &&
         clusterM == other.clusterM && clusterN == other.clusterN;
}

int64_t CudaSearchSpace::getSize() const {
  int64_t size = 1;
  for (const CudaKnob &knob : knobs)
    size *= static_cast<int64_t>(knob.values.size());
  return size;
}

static RankedTensorType getType(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// Powers of two from `least` up to the one that covers `extent` (at most
/// `most`), plus `keep`.
static std::vector<int64_t> getPowers(int64_t least, int64_t most,
                                      int64_t extent, int64_t keep) {
  int64_t cap = std::clamp<int64_t>(
      static_cast<int64_t>(llvm::PowerOf2Ceil(std::max<int64_t>(extent, 1))),
      least, most);
  std::set<int64_t> values = {keep};
  for (int64_t p = least; p <= cap; p *= 2)
    values.insert(p);
  return {values.begin(), values.end()};
}

/// The values of `fixed` and `keep`.
static std::vector<int64_t> getValues(std::initializer_list<int64_t> fixed,
                                      int64_t keep) {
  std::set<int64_t> values(fixed);
  values.insert(keep);
  return {values.begin(), values.end()};
}

/// The problem extents and element size of a matmul-like kernel: `op` is
/// its matmul, conv2d or moe_experts op.
static void setContraction(Operation *op, CudaSearchSpace &space) {
  auto result = getType(op->getResult(0));
  space.elementBytes =
      std::max<int64_t>(getType(op->getOperand(0)).getElementTypeBitWidth() / 8,
                        1);
  if (auto conv = dyn_cast<Conv2DOp>(op)) {
    // Implicit GEMM: rows are output pixels, columns output channels, depth
    // the filter's input channels and window.
    ArrayRef<int64_t> filter = getType(conv.getFilter()).getShape();
    space.n = filter[0];
    space.k = filter[1] * filter[2] * filter[3];
    space.m = result.getNumElements() / space.n;
    return;
  }
  ArrayRef<int64_t> lhs = getType(op->getOperand(0)).getShape();
  space.k = lhs.back();
  space.n = result.getShape().back();
  space.m = result.getNumElements() / space.n;
}

/// Classifies `kernel` by its heaviest op and sets the problem extents.
static void setProblem(func::FuncOp kernel, CudaSearchSpace &space) {
  Operation *contraction = nullptr, *attention = nullptr, *row = nullptr;
  kernel.walk([&](Operation *op) {
    if (isa<MatmulOp, Conv2DOp, MoeExpertsOp>(op))
      contraction = op;
    else if (isa<AttentionOp>(op))
      attention = op;
    else if (isa<SoftmaxOp, RmsNormOp, LayerNormOp, ReduceSumOp, ReduceMeanOp,
                 ReduceMaxOp>(op))
      row = op;
  });
  if (attention) {
    auto op = cast<AttentionOp>(attention);
    ArrayRef<int64_t> query = getType(op.getQuery()).getShape();
    ArrayRef<int64_t> key = getType(op.getKey()).getShape();
    space.kind = CudaSpaceKind::Attention;
    space.m = query[query.size() - 2];
    space.n = key[key.size() - 2];
    space.k = query.back();
    space.elementBytes =
        std::max<int64_t>(getType(op.getQuery()).getElementTypeBitWidth() / 8,
                          1);
    return;
  }
  if (contraction) {
    space.kind = CudaSpaceKind::Matmul;
    setContraction(contraction, space);
    return;
  }
  if (row) {
    auto input = getType(row->getOperand(0));
    space.kind = CudaSpaceKind::Row;
    space.n = input.getShape().back();
    space.m = input.getNumElements() / std::max<int64_t>(space.n, 1);
    space.elementBytes =
        std::max<int64_t>(input.getElementTypeBitWidth() / 8, 1);
    return;
  }
  space.kind = CudaSpaceKind::Elementwise;
  if (kernel.getNumResults() > 0)
    space.m = getType(kernel.getBody().front().getTerminator()->getOperand(0))
                  .getNumElements();
}

/// The default config: the generator's for the kinds it knows, a flash
/// attention default otherwise.
static CudaTuningConfig getBase(func::FuncOp kernel,
                                const CudaSearchSpace &space) {
  CudaTuningConfig base;
  if (space.kind == CudaSpaceKind::Attention) {
    base.blockM = 64;
    base.blockN = 64;
    base.blockK = static_cast<int64_t>(llvm::PowerOf2Ceil(space.k));
    base.warps = 4;
    base.stages = 2;
    return base;
  }
  CudaConfigAttr config =
      codegen::getDefaultCudaConfig(kernel, space.limits.arch);
  base.blockM = config.getBlockM();
  base.blockN = config.getBlockN();
  base.blockK = config.getBlockK();
  base.warps = config.getWarps();
  base.stages = config.getStages();
  return base;
}

CudaSearchSpace buildCudaSearchSpace(func::FuncOp kernel,
                                     const CudaSpaceLimits &limits) {
  CudaSearchSpace space;
  space.limits = limits;
  setProblem(kernel, space);
  space.base = getBase(kernel, space);
  const CudaTuningConfig &base = space.base;
  auto add = [&](CudaKnobKind kind, std::vector<int64_t> values) {
    if (values.size() > 1)
      space.knobs.push_back({kind, std::move(values)});
  };
  switch (space.kind) {
  case CudaSpaceKind::Matmul: {
    // 1. Block tiles in whole 16x8x16 mma tiles, no larger than the problem.
    add(CudaKnobKind::BlockM, getPowers(16, 256, space.m, base.blockM));
    add(CudaKnobKind::BlockN, getPowers(8, 256, space.n, base.blockN));
    add(CudaKnobKind::BlockK, getPowers(16, 128, space.k, base.blockK));
    add(CudaKnobKind::Warps, getValues({1, 2, 4, 8, 16}, base.warps));
    add(CudaKnobKind::Stages, getValues({1, 2, 3, 4, 5, 6}, base.stages));
    // 2. Split-K where the depth is worth slicing.
    std::vector<int64_t> splits = {1};
    for (int64_t s = 2; s <= 16 && space.k / s >= 256; s *= 2)
      splits.push_back(s);
    add(CudaKnobKind::SplitK, splits);
    // 3. Clusters of blocks scheduled together on one GPC (sm_90a).
    if (limits.clusterBlocks > 1) {
      add(CudaKnobKind::ClusterM, {1, 2, 4});
      add(CudaKnobKind::ClusterN, {1, 2, 4});
    }
    break;
  }
  case CudaSpaceKind::Attention:
    add(CudaKnobKind::BlockM, getPowers(16, 128, space.m, base.blockM));
    add(CudaKnobKind::BlockN, getPowers(16, 128, space.n, base.blockN));
    add(CudaKnobKind::Warps, getValues({1, 2, 4, 8}, base.warps));
    add(CudaKnobKind::Stages, getValues({1, 2, 3}, base.stages));
    break;
  case CudaSpaceKind::Row:
    add(CudaKnobKind::BlockM, getPowers(1, 8, space.m, base.blockM));
    add(CudaKnobKind::Warps, getValues({1, 2, 4, 8, 16, 32}, base.warps));
    break;
  case CudaSpaceKind::Elementwise:
    add(CudaKnobKind::BlockN, getPowers(128, 4096, space.m, base.blockN));
    add(CudaKnobKind::Warps, getValues({1, 2, 4, 8, 16, 32}, base.warps));
    break;
  }
  return space;
}

//===----------------------------------------------------------------------===//
// Candidates
//===----------------------------------------------------------------------===//

/// The field of `config` that `kind` sets.
static int64_t &getField(CudaTuningConfig &config, CudaKnobKind kind) {
  switch (kind) {
  case CudaKnobKind::BlockM:
    return config.blockM;
  case CudaKnobKind::BlockN:
    return config.blockN;
  case CudaKnobKind::BlockK:
    return config.blockK;
  case CudaKnobKind::Warps:
    return config.warps;
  case CudaKnobKind::Stages:
    return config.stages;
  case CudaKnobKind::SplitK:
    return config.splitK;
  case CudaKnobKind::ClusterM:
    return config.clusterM;
  case CudaKnobKind::ClusterN:
    break;
  }
  return config.clusterN;
}

CudaTuningConfig applyCudaCandidate(const CudaSearchSpace &space,
                                    const Candidate &candidate) {
  CudaTuningConfig config = space.base;
  for (auto [knob, choice] : llvm::zip_equal(space.knobs, candidate))
    getField(config, knob.kind) = knob.values[choice];
  return config;
}

CudaConfigAttr toCudaConfigAttr(MLIRContext *context,
                                const CudaTuningConfig &config) {
  return CudaConfigAttr::get(context, config.blockM, config.blockN,
                             config.blockK, config.warps, config.stages,
                             config.splitK, config.clusterM, config.clusterN);
}

int64_t estimateSharedBytes(const CudaSearchSpace &space,
                            const CudaTuningConfig &config) {
  int64_t bytes = space.elementBytes;
  switch (space.kind) {
  case CudaSpaceKind::Matmul:
    // Each stage holds an lhs and an rhs tile.
    return config.stages * (config.blockM + config.blockN) * config.blockK *
           bytes;
  case CudaSpaceKind::Attention:
    // The query block, and each stage a key and a value tile.
    return (config.blockM + 2 * config.stages * config.blockN) * space.k *
           bytes;
  case CudaSpaceKind::Row:
  case CudaSpaceKind::Elementwise:
    break;
  }
  // One partial per warp for the block reductions.
  return config.warps * 4;
}

int64_t estimateRegisters(const CudaSearchSpace &space,
                          const CudaTuningConfig &config) {
  // Addresses, indices and loop state.
  constexpr int64_t kOverhead = 32;
  int64_t threads = config.warps * 32;
  switch (space.kind) {
  case CudaSpaceKind::Matmul: {
    // f32 accumulators, and one 16-deep k step of operands in registers.
    int64_t accumulators = config.blockM * config.blockN / threads;
    int64_t operands = llvm::divideCeil(
        (config.blockM + config.blockN) * 16 * space.elementBytes, 4 * threads);
    return accumulators + operands + kOverhead;
  }
  case CudaSpaceKind::Attention: {
    // The output rows' accumulators and one block of scores, per thread.
    int64_t output = config.blockM * space.k / threads;
    int64_t scores = config.blockM * config.blockN / threads;
    return output + scores + kOverhead;
  }
  case CudaSpaceKind::Row:
    // One pass over the row: its elements stay in registers.
    return llvm::divideCeil(space.n * config.blockM, threads) + kOverhead;
  case CudaSpaceKind::Elementwise:
    break;
  }
  return llvm::divideCeil(config.blockN, threads) + kOverhead;
}

/// Why `config` cannot tile a matmul-like kernel, if it cannot.
static std::optional<std::string> checkMatmul(const CudaSearchSpace &space,
                                              const CudaTuningConfig &config) {
  int64_t mmaTiles = (config.blockM / 16) * (config.blockN / 8);
  if (config.warps > mmaTiles || mmaTiles % config.warps != 0)
    return llvm::formatv("{0} warps do not split {1}x{2} into whole 16x8 mma "
                         "tiles",
                         config.warps, config.blockM, config.blockN)
        .str();
  // The generator cuts k into slices of whole block_k tiles; equal slices
  // keep every block busy and none empty.
  int64_t kTiles = llvm::divideCeil(space.k, config.blockK);
  if (kTiles % config.splitK != 0)
    return llvm::formatv("split-K {0} does not divide the {1} block_k tiles "
                         "of k={2} evenly",
                         config.splitK, kTiles, space.k)
        .str();
  int64_t cluster = config.clusterM * config.clusterN;
  if (cluster > space.limits.clusterBlocks)
    return llvm::formatv("a cluster of {0} blocks exceeds {1}", cluster,
                         space.limits.clusterBlocks)
        .str();
  if (llvm::divideCeil(space.m, config.blockM) % config.clusterM != 0 ||
      llvm::divideCeil(space.n, config.blockN) % config.clusterN != 0)
    return std::string("the cluster shape does not divide the grid");
  return std::nullopt;
}

std::optional<std::string> checkCudaCandidate(const CudaSearchSpace &space,
                                              const Candidate &candidate) {
  CudaTuningConfig config = applyCudaCandidate(space, candidate);
  const CudaSpaceLimits &limits = space.limits;
  int64_t threads = config.warps * 32;
  // 1. What the hardware cannot launch.
  if (threads > limits.threadsPerBlock)
    return llvm::formatv("{0} threads per block exceed {1}", threads,
                         limits.threadsPerBlock)
        .str();
  int64_t shared = estimateSharedBytes(space, config);
  if (shared > limits.sharedBytesPerBlock)
    return llvm::formatv("{0} bytes of shared memory exceed {1} per block",
                         shared, limits.sharedBytesPerBlock)
        .str();
  int64_t registers = estimateRegisters(space, config);
  if (registers > limits.registersPerThread)
    return llvm::formatv("{0} registers per thread exceed {1}", registers,
                         limits.registersPerThread)
        .str();
  if (registers * threads > limits.registersPerMultiprocessor)
    return llvm::formatv("{0} registers per block exceed {1} per SM",
                         registers * threads, limits.registersPerMultiprocessor)
        .str();
  // 2. What the kind's tiling needs.
  switch (space.kind) {
  case CudaSpaceKind::Matmul:
    return checkMatmul(space, config);
  case CudaSpaceKind::Attention:
    if (config.blockM % (16 * config.warps) != 0)
      return llvm::formatv("{0} query rows do not give each of {1} warps "
                           "whole 16-row mma tiles",
                           config.blockM, config.warps)
          .str();
    return std::nullopt;
  case CudaSpaceKind::Row:
    if (threads / config.blockM < 32)
      return std::string("less than a warp per row");
    return std::nullopt;
  case CudaSpaceKind::Elementwise:
    if (config.blockN % threads != 0)
      return llvm::formatv("{0} elements do not split evenly over {1} threads",
                           config.blockN, threads)
          .str();
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Candidate> getCudaBaseCandidate(const CudaSearchSpace &space) {
  Candidate candidate;
  CudaTuningConfig base = space.base;
  for (const CudaKnob &knob : space.knobs) {
    auto it = llvm::find(knob.values, getField(base, knob.kind));
    if (it == knob.values.end())
      return std::nullopt;
    candidate.push_back(it - knob.values.begin());
  }
  return candidate;
}

std::vector<Candidate> enumerateCudaCandidates(const CudaSearchSpace &space,
                                               int64_t limit) {
  std::vector<int64_t> numValues;
  for (const CudaKnob &knob : space.knobs)
    numValues.push_back(static_cast<int64_t>(knob.values.size()));
  return enumerateLegalCandidates(
      numValues, limit, [&](const Candidate &candidate) {
        return !checkCudaCandidate(space, candidate);
      });
}

} // namespace kiln::autotune
