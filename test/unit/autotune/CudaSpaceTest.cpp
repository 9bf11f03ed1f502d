//===- CudaSpaceTest.cpp - Tests of the GPU search space -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/CudaSpace.h"
#include "runtime/CUDA/CudaModel.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <set>

using namespace mlir;
using namespace kiln;
using namespace kiln::autotune;

namespace {

class CudaSpaceTest : public ::testing::Test {
protected:
  CudaSpaceTest() { context.loadDialect<KilnDialect, func::FuncDialect>(); }

  /// The kernel @k of `source`.
  func::FuncOp parseKernel(StringRef source) {
    module = parseSourceString<ModuleOp>(source, &context);
    EXPECT_TRUE(module);
    return module ? module->lookupSymbol<func::FuncOp>("k") : func::FuncOp();
  }

  CudaSpaceLimits getLimits(StringRef arch) {
    std::optional<CudaSpaceLimits> limits = getCudaSpaceLimits(arch);
    EXPECT_TRUE(limits);
    return *limits;
  }

  /// A bf16 matmul of m x k by k x n.
  func::FuncOp parseMatmul(int64_t m, int64_t n, int64_t k) {
    std::string source = llvm::formatv(R"mlir(
      func.func @k(%a: tensor<{0}x{2}xbf16>, %b: tensor<{2}x{1}xbf16>)
          -> tensor<{0}x{1}xbf16> attributes {{kiln.kernel} {
        %0 = kiln.matmul %a, %b : (tensor<{0}x{2}xbf16>, tensor<{2}x{1}xbf16>)
            -> tensor<{0}x{1}xbf16>
        return %0 : tensor<{0}x{1}xbf16>
      })mlir",
                                         m, n, k);
    return parseKernel(source);
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

/// The knob of `kind` in `space`, or null.
const CudaKnob *findKnob(const CudaSearchSpace &space, CudaKnobKind kind) {
  for (const CudaKnob &knob : space.knobs)
    if (knob.kind == kind)
      return &knob;
  return nullptr;
}

TEST_F(CudaSpaceTest, LimitsPerArchitecture) {
  EXPECT_EQ(getLimits("sm_80").sharedBytesPerBlock, 163 * 1024);
  EXPECT_EQ(getLimits("sm_90a").sharedBytesPerBlock, 227 * 1024);
  EXPECT_EQ(getLimits("sm_80").clusterBlocks, 1);
  EXPECT_EQ(getLimits("sm_90a").clusterBlocks, 8);
  EXPECT_EQ(getLimits("sm_90a").registersPerThread, 255);
  EXPECT_EQ(getLimits("sm_90a").registersPerMultiprocessor, 65536);
  EXPECT_FALSE(getCudaSpaceLimits("sm_75"));
}

TEST_F(CudaSpaceTest, MatmulKnobsAndSizes) {
  func::FuncOp kernel = parseMatmul(4096, 4096, 4096);
  CudaSearchSpace ampere = buildCudaSearchSpace(kernel, getLimits("sm_80"));
  CudaSearchSpace hopper = buildCudaSearchSpace(kernel, getLimits("sm_90a"));
  EXPECT_EQ(ampere.kind, CudaSpaceKind::Matmul);
  EXPECT_EQ(ampere.m, 4096);
  EXPECT_EQ(ampere.k, 4096);
  EXPECT_EQ(ampere.elementBytes, 2);
  // block_m 16..256 (5), block_n 8..256 (6), block_k 16..128 (4), warps (5),
  // stages (6), split-K 1..16 (5); sm_90a adds clusters 1, 2, 4 on m and n.
  EXPECT_EQ(ampere.getSize(), 5 * 6 * 4 * 5 * 6 * 5);
  EXPECT_EQ(hopper.getSize(), ampere.getSize() * 9);
  EXPECT_FALSE(findKnob(ampere, CudaKnobKind::ClusterM));
  ASSERT_TRUE(findKnob(hopper, CudaKnobKind::ClusterN));
  // The default config is a candidate, and a legal one.
  std::optional<Candidate> base = getCudaBaseCandidate(ampere);
  ASSERT_TRUE(base);
  EXPECT_EQ(checkCudaCandidate(ampere, *base), std::nullopt);
  EXPECT_TRUE(applyCudaCandidate(ampere, *base) == ampere.base);
}

TEST_F(CudaSpaceTest, SmallProblemsGetSmallSpaces) {
  // Tiles no larger than the problem; no split-K on a shallow k.
  CudaSearchSpace space =
      buildCudaSearchSpace(parseMatmul(16, 8, 64), getLimits("sm_80"));
  EXPECT_EQ(findKnob(space, CudaKnobKind::BlockM), nullptr);
  EXPECT_EQ(findKnob(space, CudaKnobKind::BlockN), nullptr);
  EXPECT_EQ(findKnob(space, CudaKnobKind::SplitK), nullptr);
  ASSERT_TRUE(findKnob(space, CudaKnobKind::BlockK));
  EXPECT_EQ(findKnob(space, CudaKnobKind::BlockK)->values,
            (std::vector<int64_t>{16, 32, 64}));
}

/// Why `config` is illegal in `space` ("legal" when it is not), found as
/// the candidate of its values knob by knob.
std::string checkConfig(const CudaSearchSpace &space,
                        const CudaTuningConfig &config) {
  Candidate candidate;
  for (const CudaKnob &knob : space.knobs) {
    int64_t value = 0;
    switch (knob.kind) {
    case CudaKnobKind::BlockM: value = config.blockM; break;
    case CudaKnobKind::BlockN: value = config.blockN; break;
    case CudaKnobKind::BlockK: value = config.blockK; break;
    case CudaKnobKind::Warps: value = config.warps; break;
    case CudaKnobKind::Stages: value = config.stages; break;
    case CudaKnobKind::SplitK: value = config.splitK; break;
    case CudaKnobKind::ClusterM: value = config.clusterM; break;
    case CudaKnobKind::ClusterN: value = config.clusterN; break;
    }
    auto it = llvm::find(knob.values, value);
    EXPECT_NE(it, knob.values.end());
    candidate.push_back(it - knob.values.begin());
  }
  return checkCudaCandidate(space, candidate).value_or("legal");
}

TEST_F(CudaSpaceTest, LegalityFilters) {
  CudaSearchSpace space =
      buildCudaSearchSpace(parseMatmul(4096, 4096, 4096), getLimits("sm_80"));
  auto check = [&](CudaTuningConfig config) {
    return checkConfig(space, config);
  };
  EXPECT_EQ(check({128, 128, 32, 8, 3}), "legal");
  // Shared memory: 6 stages of (256 + 256) x 128 bf16 = 768 KiB.
  EXPECT_NE(check({256, 256, 128, 8, 6}).find("bytes of shared memory"),
            std::string::npos);
  // Registers: 256 x 256 accumulators over one warp.
  EXPECT_NE(check({256, 256, 16, 1, 1}).find("registers per thread exceed"),
            std::string::npos);
  // 16 warps x 32 threads x (>128 registers) overflows the SM's 64K.
  EXPECT_NE(check({256, 256, 16, 16, 1}).find("per SM"), std::string::npos);
  // More warps than 16x8 mma tiles.
  EXPECT_NE(check({16, 8, 16, 2, 1}).find("whole 16x8 mma tiles"),
            std::string::npos);
  // Split-K: 32 block_k tiles of 128 in 16 slices of 2.
  EXPECT_EQ(check({128, 128, 128, 8, 2, 16}), "legal");
  CudaSearchSpace shallow =
      buildCudaSearchSpace(parseMatmul(128, 128, 512), getLimits("sm_80"));
  ASSERT_TRUE(findKnob(shallow, CudaKnobKind::SplitK));
  EXPECT_EQ(findKnob(shallow, CudaKnobKind::SplitK)->values,
            (std::vector<int64_t>{1, 2}));
  // k = 640 is 5 tiles of 128 (uneven halves) but 10 of 64.
  CudaSearchSpace uneven =
      buildCudaSearchSpace(parseMatmul(128, 128, 640), getLimits("sm_80"));
  auto checkUneven = [&](int64_t blockK) {
    CudaTuningConfig config = uneven.base;
    config.blockK = blockK;
    config.stages = 2;
    config.splitK = 2;
    return checkConfig(uneven, config);
  };
  EXPECT_NE(checkUneven(128).find("does not divide the 5 block_k tiles"),
            std::string::npos);
  EXPECT_EQ(checkUneven(64), "legal");
}

TEST_F(CudaSpaceTest, ClustersMustDivideTheGrid) {
  // 384 / 128 = 3 blocks along m: a cluster of 2 along m cannot tile it.
  CudaSearchSpace space =
      buildCudaSearchSpace(parseMatmul(384, 4096, 1024), getLimits("sm_90a"));
  int64_t legal = 0, clustered = 0;
  for (const Candidate &candidate : enumerateCudaCandidates(space, 1 << 22)) {
    CudaTuningConfig config = applyCudaCandidate(space, candidate);
    ++legal;
    if (config.clusterM > 1 || config.clusterN > 1)
      ++clustered;
    EXPECT_EQ(llvm::divideCeil(384, config.blockM) % config.clusterM, 0);
    EXPECT_LE(config.clusterM * config.clusterN, 8);
    EXPECT_LE(estimateSharedBytes(space, config), 227 * 1024);
    EXPECT_LE(estimateRegisters(space, config), 255);
  }
  EXPECT_GT(legal, 0);
  EXPECT_GT(clustered, 0);
  EXPECT_LT(legal, space.getSize());
}

TEST_F(CudaSpaceTest, RowAndElementwiseKnobs) {
  func::FuncOp row = parseKernel(R"mlir(
    func.func @k(%x: tensor<64x4096xf32>) -> tensor<64x4096xf32>
        attributes {kiln.kernel} {
      %0 = kiln.softmax %x {axis = 1 : i64} : tensor<64x4096xf32>
      return %0 : tensor<64x4096xf32>
    })mlir");
  CudaSearchSpace rows = buildCudaSearchSpace(row, getLimits("sm_80"));
  EXPECT_EQ(rows.kind, CudaSpaceKind::Row);
  EXPECT_EQ(rows.n, 4096);
  // Rows per block 1..8 (4) and warps 1..32 (6).
  EXPECT_EQ(rows.getSize(), 4 * 6);
  for (const Candidate &candidate : enumerateCudaCandidates(rows, 1000)) {
    CudaTuningConfig config = applyCudaCandidate(rows, candidate);
    // One pass over 4096 elements fits registers only with enough threads.
    EXPECT_GE(config.warps * 32 / config.blockM, 32);
    EXPECT_LE(estimateRegisters(rows, config), 255);
  }
  EXPECT_LT(static_cast<int64_t>(enumerateCudaCandidates(rows, 1000).size()),
            rows.getSize());

  func::FuncOp elementwise = parseKernel(R"mlir(
    func.func @k(%x: tensor<1024x1024xf32>) -> tensor<1024x1024xf32>
        attributes {kiln.kernel} {
      %0 = kiln.exp %x : tensor<1024x1024xf32>
      return %0 : tensor<1024x1024xf32>
    })mlir");
  CudaSearchSpace elements =
      buildCudaSearchSpace(elementwise, getLimits("sm_90a"));
  EXPECT_EQ(elements.kind, CudaSpaceKind::Elementwise);
  // Elements per block 128..4096 (6), warps 1..32 (6).
  EXPECT_EQ(elements.getSize(), 6 * 6);
  std::optional<Candidate> base = getCudaBaseCandidate(elements);
  ASSERT_TRUE(base);
  EXPECT_EQ(checkCudaCandidate(elements, *base), std::nullopt);
}

TEST_F(CudaSpaceTest, AttentionKnobs) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%q: tensor<1x8x2048x128xbf16>, %k: tensor<1x8x2048x128xbf16>,
                 %v: tensor<1x8x2048x128xbf16>) -> tensor<1x8x2048x128xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.attention %q, %k, %v {causal = true}
          : (tensor<1x8x2048x128xbf16>, tensor<1x8x2048x128xbf16>,
             tensor<1x8x2048x128xbf16>) -> tensor<1x8x2048x128xbf16>
      return %0 : tensor<1x8x2048x128xbf16>
    })mlir");
  ASSERT_TRUE(kernel);
  CudaSearchSpace space = buildCudaSearchSpace(kernel, getLimits("sm_90a"));
  EXPECT_EQ(space.kind, CudaSpaceKind::Attention);
  EXPECT_EQ(space.k, 128);
  EXPECT_NE(findKnob(space, CudaKnobKind::Stages), nullptr);
  for (const Candidate &candidate : enumerateCudaCandidates(space, 1000)) {
    CudaTuningConfig config = applyCudaCandidate(space, candidate);
    EXPECT_EQ(config.blockM % (16 * config.warps), 0);
  }
  std::optional<Candidate> base = getCudaBaseCandidate(space);
  ASSERT_TRUE(base);
  EXPECT_EQ(checkCudaCandidate(space, *base), std::nullopt);
}

TEST_F(CudaSpaceTest, ConfigsBecomeAttributes) {
  CudaTuningConfig config{128, 128, 32, 8, 3};
  CudaConfigAttr attr = toCudaConfigAttr(&context, config);
  EXPECT_EQ(attr.getBlockN(), 128);
  EXPECT_EQ(attr.getStages(), 3);
  EXPECT_EQ(attr.getSplitK(), 1);
  EXPECT_FALSE(attr.hasClusters());
  config.splitK = 4;
  config.clusterM = 2;
  attr = toCudaConfigAttr(&context, config);
  EXPECT_EQ(attr.getSplitK(), 4);
  EXPECT_EQ(attr.getClusterM(), 2);
  EXPECT_EQ(attr.getClusterN(), 1);
}

TEST_F(CudaSpaceTest, FingerprintsAreStable) {
  EXPECT_EQ(getCudaArchFingerprint("sm_90a"), "cuda/sm_90a");
  EXPECT_EQ(getCudaArchFingerprint("sm_80"), "cuda/sm_80");
  cuda::CudaDeviceInfo device;
  device.name = "NVIDIA H100 80GB HBM3";
  device.major = 9;
  device.minor = 0;
  device.multiprocessors = 132;
  device.memoryBytes = 85029158912ull;
  std::string fingerprint = getCudaFingerprint("sm_90a", device);
  EXPECT_EQ(fingerprint,
            "cuda/sm_90a gpu=NVIDIA H100 80GB HBM3 cc=9.0 sms=132 mem=79G");
  EXPECT_EQ(fingerprint, getCudaFingerprint("sm_90a", device));
  // Any property of the device changes it.
  cuda::CudaDeviceInfo other = device;
  other.multiprocessors = 114;
  EXPECT_NE(getCudaFingerprint("sm_90a", other), fingerprint);
  // The device's figures replace the architecture's limits.
  device.sharedBytesPerBlock = 200000;
  std::optional<CudaSpaceLimits> limits = getCudaSpaceLimits("sm_90a", device);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->sharedBytesPerBlock, 200000);
}

} // namespace
