//===- CudaCodegenTest.cpp - Tests of the CUDA generator -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Compile-only: the generated source is checked as text, and compiled to
// cubin with nvcc when the CUDA toolkit is installed (skipped otherwise).
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/EmitCuda.h"
#include "models/zoo/Zoo.h"
#include "passes/Pipelines.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <map>
#include <string>
#include <thread>

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

namespace {

constexpr llvm::StringLiteral kNvcc = "/usr/local/cuda/bin/nvcc";

class CudaCodegenTest : public ::testing::Test {
protected:
  CudaCodegenTest() {
    context.loadDialect<KilnDialect, func::FuncDialect>();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          diagnostics += diagnostic.str() + "\n";
          return success();
        });
  }

  /// The kernel @k of `source`.
  func::FuncOp parseKernel(StringRef source) {
    module = parseSourceString<ModuleOp>(source, &context);
    EXPECT_TRUE(module) << diagnostics;
    return module ? module->lookupSymbol<func::FuncOp>("k") : func::FuncOp();
  }

  /// Compiles `source` to cubin for `arch` with nvcc and expects
  /// `kernelCount` kernels, none spilling registers; prints each kernel's
  /// registers so a test log shows the pressure.
  void expectCubinWithoutSpills(const std::string &source, StringRef arch,
                                size_t kernelCount) {
    SmallString<128> cubin;
    ASSERT_FALSE(
        llvm::sys::fs::createTemporaryFile("kiln-cuda", "cubin", cubin));
    llvm::Expected<std::vector<CudaResourceUsage>> usages =
        compileCudaToCubin(source, arch, kNvcc, cubin);
    llvm::sys::fs::remove(cubin);
    ASSERT_TRUE(bool(usages)) << llvm::toString(usages.takeError());
    EXPECT_EQ(usages->size(), kernelCount);
    for (const CudaResourceUsage &usage : *usages) {
      int64_t spilled = usage.spillStoreBytes + usage.spillLoadBytes;
      EXPECT_EQ(spilled, 0) << usage.function << " " << arch.str() << ": "
                            << usage.registers << " registers";
      std::cout << "[ CUDA     ] " << arch.str() << " " << usage.function
                << ": " << usage.registers << " registers, " << spilled
                << " spill bytes\n";
    }
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  OwningOpRef<ModuleOp> module;
};

TEST_F(CudaCodegenTest, ElementwiseLoadsVectorsAtTheirBroadcastIndex) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%x: tensor<4x8xbf16>, %b: tensor<8xbf16>) -> tensor<4x8xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.add %x, %b : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
      %1 = kiln.silu %0 : tensor<4x8xbf16>
      return %1 : tensor<4x8xbf16>
    })mlir");
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  EXPECT_NE(source->find("const __nv_bfloat16 *__restrict__ arg0"),
            std::string::npos);
  // Eight bf16 lanes per thread: one 128-bit load per argument (the bias
  // at its broadcast index), one 128-bit store.
  EXPECT_NE(source->find("8 consecutive ones per thread"), std::string::npos)
      << *source;
  EXPECT_NE(source->find("*reinterpret_cast<const uint4 *>(&arg0[(column + "
                         "c1 * 8)])"),
            std::string::npos);
  EXPECT_NE(source->find("*reinterpret_cast<const uint4 *>(&arg1[(column)])"),
            std::string::npos);
  EXPECT_NE(source->find("if (first >= 32)"), std::string::npos);
  EXPECT_NE(source->find("*reinterpret_cast<uint4 *>(&result0[first])"),
            std::string::npos);
  EXPECT_EQ(getCudaLaunch(kernel, "sm_80").gridX, 1);
}

TEST_F(CudaCodegenTest, RmsNormTakesOneBlockPerRow) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%x: tensor<6x1024xf32>, %g: tensor<1024xf32>) -> tensor<6x1024xf32>
        attributes {kiln.kernel} {
      %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<6x1024xf32>, tensor<1024xf32>) -> tensor<6x1024xf32>
      return %0 : tensor<6x1024xf32>
    })mlir");
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_90a");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  // 1024 elements: 4 warps, partial sums reduced across them.
  EXPECT_NE(source->find("__launch_bounds__(128)"), std::string::npos)
      << *source;
  EXPECT_NE(source->find("kiln_block_reduce<4, false>(squares1, partials)"),
            std::string::npos);
  EXPECT_NE(source->find("rsqrtf(squares1 / 1024.0f"), std::string::npos);
  CudaLaunch launch = getCudaLaunch(kernel, "sm_90a");
  EXPECT_EQ(launch.gridX, 6);
  EXPECT_EQ(launch.blockX, 128);
}

TEST_F(CudaCodegenTest, SoftmaxReducesMaxThenSum) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%x: tensor<2x64xf16>) -> tensor<2x64xf16> attributes {kiln.kernel} {
      %0 = kiln.softmax %x {axis = 1 : i64} : tensor<2x64xf16>
      return %0 : tensor<2x64xf16>
    })mlir");
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  size_t max = source->find("kiln_block_reduce<1, true>(top1, partials)");
  size_t sum = source->find("kiln_block_reduce<1, false>(total4, partials)");
  ASSERT_NE(max, std::string::npos) << *source;
  ASSERT_NE(sum, std::string::npos);
  EXPECT_LT(max, sum);
}

TEST_F(CudaCodegenTest, UncoveredOpIsNamed) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%x: tensor<16x4xf32>) -> tensor<16x2xf32> attributes {kiln.kernel} {
      %w, %i = kiln.moe_router %x {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
      return %w : tensor<16x2xf32>
    })mlir");
  EXPECT_TRUE(failed(emitCudaKernel(kernel, "sm_80")));
  EXPECT_NE(diagnostics.find("CUDA generation does not cover "
                             "'kiln.moe_router' in this kernel yet"),
            std::string::npos)
      << diagnostics;
}

TEST_F(CudaCodegenTest, Bf16MatmulRunsOnTensorCoresWithItsEpilogue) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<1x16x128xbf16>, %b: tensor<128x64xbf16>, %r: tensor<1x16x64xbf16>) -> tensor<1x16x64xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b : (tensor<1x16x128xbf16>, tensor<128x64xbf16>) -> tensor<1x16x64xbf16>
      %1 = kiln.add %r, %0 : (tensor<1x16x64xbf16>, tensor<1x16x64xbf16>) -> tensor<1x16x64xbf16>
      return %1 : tensor<1x16x64xbf16>
    })mlir");
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  // The default tile fits the 16x64 result: one block of 8 warps side by
  // side, each one 16x8 mma tile.
  EXPECT_NE(source->find("Block tile 16x64x32, 1x8 warps of 1x1 mma tiles"),
            std::string::npos)
      << *source;
  EXPECT_NE(source->find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
            std::string::npos);
  EXPECT_NE(source->find("const float v2 = (a1 + acc0[tm][tn][q]);"),
            std::string::npos);
  CudaLaunch launch = getCudaLaunch(kernel, "sm_80");
  EXPECT_EQ(launch.gridX, 1);
  EXPECT_EQ(launch.gridY, 1);
  EXPECT_EQ(launch.blockX, 256);
}

TEST_F(CudaCodegenTest, F32MatmulAccumulatesWithScalarFmas) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<40x64xf32>, %b: tensor<24x64xf32>) -> tensor<40x24xf32>
        attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b {transpose_rhs = true} : (tensor<40x64xf32>, tensor<24x64xf32>) -> tensor<40x24xf32>
      return %0 : tensor<40x24xf32>
    })mlir");
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  EXPECT_EQ(source->find("mma.sync"), std::string::npos) << *source;
  EXPECT_NE(source->find("acc0[tm][tn][0] += a0 * b0;"), std::string::npos);
  // transpose_rhs reads rhs as [N, K].
  EXPECT_NE(source->find("arg1[(kk + col * 64)]"), std::string::npos);
  // Edge blocks: 40 rows in 64-row tiles, bounds-checked.
  EXPECT_NE(source->find("if (row >= 40 || col >= 24)"), std::string::npos);
}

TEST_F(CudaCodegenTest, OversizedMatmulConfigIsRejected) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<256x256xf32>, %b: tensor<256x256xf32>) -> tensor<256x256xf32>
        attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 128, block_n = 256, block_k = 64, warps = 8>} {
      %0 = kiln.matmul %a, %b : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
      return %0 : tensor<256x256xf32>
    })mlir");
  EXPECT_TRUE(failed(emitCudaKernel(kernel, "sm_90a")));
  EXPECT_NE(diagnostics.find("needs 98304 bytes of shared memory (at most "
                             "49152)"),
            std::string::npos)
      << diagnostics;
}

TEST_F(CudaCodegenTest, DefaultConfigsFollowTheArchitecture) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<512x512xbf16>, %b: tensor<512x512xbf16>) -> tensor<512x512xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b : (tensor<512x512xbf16>, tensor<512x512xbf16>) -> tensor<512x512xbf16>
      return %0 : tensor<512x512xbf16>
    })mlir");
  CudaConfigAttr ampere = getDefaultCudaConfig(kernel, "sm_80");
  CudaConfigAttr hopper = getDefaultCudaConfig(kernel, "sm_90a");
  EXPECT_EQ(ampere.getBlockM(), 128);
  EXPECT_EQ(ampere.getBlockN(), 128);
  EXPECT_EQ(ampere.getBlockK(), 32);
  EXPECT_EQ(ampere.getStages(), 3);
  // sm_90a: the wgmma tile, a warpgroup per 64 rows.
  EXPECT_EQ(hopper.getBlockM(), 128);
  EXPECT_EQ(hopper.getBlockN(), 128);
  EXPECT_EQ(hopper.getBlockK(), 64);
  EXPECT_EQ(hopper.getWarps(), 8);
  EXPECT_EQ(hopper.getStages(), 4);
  // Below a warpgroup's 64 rows, mma.sync tiles twice as wide as sm_80's.
  func::FuncOp narrow = parseKernel(R"mlir(
    func.func @k(%a: tensor<32x512xbf16>, %b: tensor<512x512xbf16>) -> tensor<32x512xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b : (tensor<32x512xbf16>, tensor<512x512xbf16>) -> tensor<32x512xbf16>
      return %0 : tensor<32x512xbf16>
    })mlir");
  EXPECT_EQ(getDefaultCudaConfig(narrow, "sm_90a").getBlockN(), 256);
  EXPECT_EQ(getDefaultCudaConfig(narrow, "sm_90a").getBlockK(), 32);
}

TEST_F(CudaCodegenTest, Sm90aMatmulsTakeTmaAndWgmma) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<200x512xbf16>, %b: tensor<512x320xbf16>) -> tensor<200x320xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b : (tensor<200x512xbf16>, tensor<512x320xbf16>) -> tensor<200x320xbf16>
      %1 = kiln.relu %0 : tensor<200x320xbf16>
      return %1 : tensor<200x320xbf16>
    })mlir");
  CudaLaunch launch = getCudaLaunch(kernel, "sm_90a");
  // 4 stages of (128 + 128) x 64 bf16, and 1 KiB to align the ring.
  EXPECT_EQ(launch.sharedBytes, 4 * 32768 + 1024);
  EXPECT_EQ(launch.gridX, 3);
  EXPECT_EQ(launch.gridY, 2);
  EXPECT_EQ(launch.blockX, 256);
  ASSERT_EQ(launch.tensorMaps.size(), 2u);
  // lhs [200 x 512] in boxes of 64 k x 128 rows; rhs [512 x 320] in boxes
  // of 64 columns x 64 k.
  const CudaTensorMapLaunch &a = launch.tensorMaps[0], &b = launch.tensorMaps[1];
  EXPECT_EQ(a.param, 0);
  EXPECT_TRUE(a.bf16);
  EXPECT_EQ(a.inner, 512);
  EXPECT_EQ(a.outer, 200);
  EXPECT_EQ(a.boxInner, 64);
  EXPECT_EQ(a.boxOuter, 128);
  EXPECT_EQ(b.param, 1);
  EXPECT_EQ(b.inner, 320);
  EXPECT_EQ(b.outer, 512);
  EXPECT_EQ(b.boxInner, 64);
  EXPECT_EQ(b.boxOuter, 64);
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_90a");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  EXPECT_NE(source->find("const __grid_constant__ KilnTensorMap tmapA, const "
                         "__grid_constant__ KilnTensorMap tmapB"),
            std::string::npos)
      << *source;
  EXPECT_NE(source->find("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16."
                         "bf16"),
            std::string::npos);
  EXPECT_NE(source->find("kiln_tma_load_2d(smem + stage * 16384, &tmapA"),
            std::string::npos);
  EXPECT_EQ(source->find("mma.sync"), std::string::npos);
  // sm_80 keeps mma.sync and passes no tensor maps.
  EXPECT_TRUE(getCudaLaunch(kernel, "sm_80").tensorMaps.empty());
  source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  EXPECT_EQ(source->find("wgmma"), std::string::npos);
  // A config that is not a wgmma tile (block_k 32) falls back to mma.sync.
  kernel->setAttr(CudaConfigAttr::kAttrName,
                  CudaConfigAttr::get(&context, 128, 128, 32, 8, 4));
  EXPECT_TRUE(getCudaLaunch(kernel, "sm_90a").tensorMaps.empty());
}

TEST_F(CudaCodegenTest, WgmmaNeedsTwoArgumentOperandsOf16Bits) {
  // A normalized lhs is computed while staging: mma.sync.
  func::FuncOp prologue = parseKernel(R"mlir(
    func.func @k(%x: tensor<128x256xbf16>, %g: tensor<256xbf16>, %b: tensor<256x256xbf16>) -> tensor<128x256xbf16>
        attributes {kiln.kernel} {
      %0 = kiln.rms_norm %x, %g : (tensor<128x256xbf16>, tensor<256xbf16>) -> tensor<128x256xbf16>
      %1 = kiln.matmul %0, %b : (tensor<128x256xbf16>, tensor<256x256xbf16>) -> tensor<128x256xbf16>
      return %1 : tensor<128x256xbf16>
    })mlir");
  EXPECT_TRUE(getCudaLaunch(prologue, "sm_90a").tensorMaps.empty());
  EXPECT_NE(getDefaultCudaConfig(prologue, "sm_90a").getBlockK(), 64);
  // f32 has no wgmma of exact f32 products.
  func::FuncOp f32 = parseKernel(R"mlir(
    func.func @k(%a: tensor<128x256xf32>, %b: tensor<256x256xf32>) -> tensor<128x256xf32>
        attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b : (tensor<128x256xf32>, tensor<256x256xf32>) -> tensor<128x256xf32>
      return %0 : tensor<128x256xf32>
    })mlir");
  EXPECT_TRUE(getCudaLaunch(f32, "sm_90a").tensorMaps.empty());
}

TEST_F(CudaCodegenTest, LaunchesCoverEveryKind) {
  module = parseSourceString<ModuleOp>(R"mlir(
    func.func @qkv(%x: tensor<1x16x64xbf16>, %g: tensor<64xbf16>, %a: tensor<64x64xbf16>, %b: tensor<64x32xbf16>, %c: tensor<64x32xbf16>) -> (tensor<1x16x64xbf16>, tensor<1x16x32xbf16>, tensor<1x16x32xbf16>) attributes {kiln.kernel} {
      %0 = kiln.rms_norm %x, %g : (tensor<1x16x64xbf16>, tensor<64xbf16>) -> tensor<1x16x64xbf16>
      %1 = kiln.matmul %0, %a : (tensor<1x16x64xbf16>, tensor<64x64xbf16>) -> tensor<1x16x64xbf16>
      %2 = kiln.matmul %0, %b : (tensor<1x16x64xbf16>, tensor<64x32xbf16>) -> tensor<1x16x32xbf16>
      %3 = kiln.matmul %0, %c : (tensor<1x16x64xbf16>, tensor<64x32xbf16>) -> tensor<1x16x32xbf16>
      return %1, %2, %3 : tensor<1x16x64xbf16>, tensor<1x16x32xbf16>, tensor<1x16x32xbf16>
    }
    func.func @attention(%q: tensor<2x4x40x16xf32>, %k: tensor<2x2x40x16xf32>, %v: tensor<2x2x40x16xf32>) -> tensor<2x4x40x16xf32> attributes {kiln.kernel} {
      %0 = kiln.attention %q, %k, %v {causal = true} : (tensor<2x4x40x16xf32>, tensor<2x2x40x16xf32>, tensor<2x2x40x16xf32>) -> tensor<2x4x40x16xf32>
      return %0 : tensor<2x4x40x16xf32>
    }
    func.func @conv(%x: tensor<1x3x32x32xf32>, %w: tensor<64x3x8x8xf32>) -> tensor<1x64x4x4xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {strides = array<i64: 8, 8>} : (tensor<1x3x32x32xf32>, tensor<64x3x8x8xf32>) -> tensor<1x64x4x4xf32>
      return %0 : tensor<1x64x4x4xf32>
    }
    func.func @moe(%x: tensor<40x64xf32>, %r: tensor<64x4xf32>, %g: tensor<4x64x128xf32>, %u: tensor<4x64x128xf32>, %d: tensor<4x128x64xf32>) -> tensor<40x64xf32> attributes {kiln.kernel} {
      %0 = kiln.matmul %x, %r : (tensor<40x64xf32>, tensor<64x4xf32>) -> tensor<40x4xf32>
      %w, %i = kiln.moe_router %0 {top_k = 2 : i64} : (tensor<40x4xf32>) -> (tensor<40x2xf32>, tensor<40x2xi32>)
      %1 = kiln.moe_experts %x, %w, %i, %g, %u, %d : (tensor<40x64xf32>, tensor<40x2xf32>, tensor<40x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<40x64xf32>
      return %1 : tensor<40x64xf32>
    })mlir",
                                       &context);
  ASSERT_TRUE(module) << diagnostics;
  auto kernel = [&](StringRef name) {
    return module->lookupSymbol<func::FuncOp>(name);
  };
  // Three groups of one matmul side by side over blockIdx.x.
  CudaLaunch qkv = getCudaLaunch(kernel("qkv"), "sm_80");
  EXPECT_EQ(classifyCudaKernel(kernel("qkv")), CudaKernelKind::Matmul);
  EXPECT_EQ(qkv.gridX, 3);
  EXPECT_EQ(qkv.gridY, 1);
  // Query tiles of 16 x heads x batch.
  CudaLaunch attention = getCudaLaunch(kernel("attention"), "sm_80");
  EXPECT_EQ(classifyCudaKernel(kernel("attention")), CudaKernelKind::Attention);
  EXPECT_EQ(attention.gridX, 3);
  EXPECT_EQ(attention.gridY, 4);
  EXPECT_EQ(attention.gridZ, 2);
  EXPECT_EQ(attention.blockX, 128);
  // 16 pixels x 64 channels: one block.
  CudaLaunch conv = getCudaLaunch(kernel("conv"), "sm_90a");
  EXPECT_EQ(classifyCudaKernel(kernel("conv")), CudaKernelKind::Conv);
  EXPECT_EQ(conv.gridX, 1);
  EXPECT_EQ(conv.gridY, 1);
  // 40 tokens, 16 per block.
  CudaLaunch moe = getCudaLaunch(kernel("moe"), "sm_80");
  EXPECT_EQ(classifyCudaKernel(kernel("moe")), CudaKernelKind::Moe);
  EXPECT_EQ(moe.gridX, 3);
  EXPECT_EQ(moe.sharedBytes, 0);
}

TEST_F(CudaCodegenTest, SplitKLaunchesSlicesOverGridZWithAWorkspace) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<200x4096xbf16>, %b: tensor<4096x192xbf16>) -> tensor<200x192xbf16>
        attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 3, split_k = 8>} {
      %0 = kiln.matmul %a, %b : (tensor<200x4096xbf16>, tensor<4096x192xbf16>) -> tensor<200x192xbf16>
      return %0 : tensor<200x192xbf16>
    })mlir");
  CudaLaunch launch = getCudaLaunch(kernel, "sm_80");
  EXPECT_EQ(launch.gridX, 2);
  EXPECT_EQ(launch.gridY, 2);
  EXPECT_EQ(launch.gridZ, 8);
  // 4 counters padded to 256 bytes, then 4 tiles x 8 slices x 128 x 128
  // floats.
  EXPECT_EQ(launch.workspaceBytes, 256 + 4 * 8 * 128 * 128 * 4);
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  // 128 tiles of k in slices of 16: 512 deep.
  EXPECT_NE(source->find("kBegin = (int64_t)blockIdx.z * 512"),
            std::string::npos)
      << *source;
  EXPECT_NE(source->find("== 7u;"), std::string::npos);
  // Without split-K, no workspace and one slice.
  kernel->setAttr(CudaConfigAttr::kAttrName,
                  CudaConfigAttr::get(&context, 128, 128, 32, 8, 3));
  EXPECT_EQ(getCudaLaunch(kernel, "sm_80").workspaceBytes, 0);
  EXPECT_EQ(getCudaLaunch(kernel, "sm_80").gridZ, 1);
  source = emitCudaKernel(kernel, "sm_80");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  EXPECT_EQ(source->find("workspace"), std::string::npos);
}

TEST_F(CudaCodegenTest, ClustersMustDivideTheGrid) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%a: tensor<384x256xbf16>, %b: tensor<256x256xbf16>) -> tensor<384x256xbf16>
        attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 3, cluster_m = 2>} {
      %0 = kiln.matmul %a, %b : (tensor<384x256xbf16>, tensor<256x256xbf16>) -> tensor<384x256xbf16>
      return %0 : tensor<384x256xbf16>
    })mlir");
  EXPECT_TRUE(failed(emitCudaKernel(kernel, "sm_90a")));
  EXPECT_NE(diagnostics.find("has clusters that do not divide the grid of 2x3 "
                             "blocks"),
            std::string::npos)
      << diagnostics;
  kernel->setAttr(CudaConfigAttr::kAttrName,
                  CudaConfigAttr::get(&context, 128, 128, 32, 8, 3,
                                      /*splitK=*/1, /*clusterM=*/1,
                                      /*clusterN=*/2));
  FailureOr<std::string> source = emitCudaKernel(kernel, "sm_90a");
  ASSERT_TRUE(succeeded(source)) << diagnostics;
  EXPECT_NE(source->find("__cluster_dims__(2, 1, 1)"), std::string::npos);
}

TEST(PtxasUsageTest, ParsesRegistersAndSpills) {
  std::vector<CudaResourceUsage> usages = parsePtxasUsage(
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'a' for 'sm_80'\n"
      "ptxas info    : Function properties for a\n"
      "    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads\n"
      "ptxas info    : Used 255 registers, used 1 barriers, 380 bytes cmem[0]\n"
      "ptxas info    : Compiling entry function 'b' for 'sm_80'\n"
      "ptxas info    : Function properties for b\n"
      "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 18 registers, used 0 barriers, 372 bytes "
      "cmem[0]\n");
  ASSERT_EQ(usages.size(), 2u);
  EXPECT_EQ(usages[0].function, "a");
  EXPECT_EQ(usages[0].registers, 255);
  EXPECT_EQ(usages[0].spillStoreBytes, 12);
  EXPECT_EQ(usages[0].spillLoadBytes, 16);
  EXPECT_EQ(usages[1].function, "b");
  EXPECT_EQ(usages[1].registers, 18);
  EXPECT_EQ(usages[1].spillStoreBytes, 0);
}

/// Every kernel of every zoo model, in f32 (SIMT matmul) and bf16
/// (mma.sync), generated and compiled to cubin for sm_80 and sm_90a: one .cu
/// per model, type and architecture, the nvcc runs in parallel. Default
/// configs compile without register spills.
TEST_F(CudaCodegenTest, ZooKernelsCompileToCubin) {
  if (!llvm::sys::fs::can_execute(kNvcc))
    GTEST_SKIP() << "no CUDA toolkit: " << kNvcc.str() << " is missing";
  SmallString<128> directory;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("kiln-cuda", directory));
  struct Unit {
    std::string name, arch, source;
    std::map<std::string, CudaKernelKind> kinds;
  };
  std::vector<Unit> units;
  for (const zoo::ModelInfo &info : zoo::listModels())
    for (StringRef dtype : {"f32", "bf16"}) {
      std::string error;
      FailureOr<zoo::Model> model =
          zoo::buildModel(context, info.name, {"dtype=" + dtype.str()}, error);
      ASSERT_TRUE(succeeded(model)) << error;
      PassManager pm(&context);
      graph::buildGraphPipeline(pm, graph::GraphPipelineOptions());
      ASSERT_TRUE(succeeded(pm.run(*model->module))) << diagnostics;
      for (StringRef arch : {"sm_80", "sm_90a"}) {
        Unit unit{info.name + "-" + dtype.str() + "-" + arch.str(),
                  arch.str(),
                  getCudaPrelude().str(),
                  {}};
        for (auto kernel : model->module->getOps<func::FuncOp>()) {
          if (!kernel->hasAttr("kiln.kernel"))
            continue;
          FailureOr<std::string> emitted = emitCudaKernel(kernel, arch);
          ASSERT_TRUE(succeeded(emitted))
              << unit.name << " " << kernel.getSymName().str() << ": "
              << diagnostics;
          unit.source += "\n" + *emitted;
          unit.kinds[kernel.getSymName().str()] = *classifyCudaKernel(kernel);
        }
        units.push_back(std::move(unit));
      }
    }
  // nvcc runs as a process each; as many at once as there are cores.
  std::vector<llvm::Expected<std::vector<CudaResourceUsage>>> usages;
  for (size_t i = 0; i < units.size(); ++i)
    usages.push_back(std::vector<CudaResourceUsage>());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < std::max(2u, std::thread::hardware_concurrency());
       ++w)
    workers.emplace_back([&] {
      for (size_t i = next++; i < units.size(); i = next++) {
        std::string cubin = (directory + "/" + units[i].name + ".cubin").str();
        usages[i] =
            compileCudaToCubin(units[i].source, units[i].arch, kNvcc, cubin);
        llvm::sys::fs::remove(cubin);
      }
    });
  for (std::thread &worker : workers)
    worker.join();
  llvm::sys::fs::remove(directory);
  std::map<std::pair<std::string, CudaKernelKind>, int64_t> mostRegisters;
  size_t compiled = 0;
  for (auto [unit, usage] : llvm::zip(units, usages)) {
    ASSERT_TRUE(bool(usage))
        << unit.name << ": " << llvm::toString(usage.takeError());
    EXPECT_EQ(usage->size(), unit.kinds.size()) << unit.name;
    compiled += usage->size();
    for (const CudaResourceUsage &function : *usage) {
      EXPECT_EQ(function.spillStoreBytes + function.spillLoadBytes, 0)
          << unit.name << " " << function.function << ": " << function.registers
          << " registers";
      int64_t &most = mostRegisters[{unit.arch, unit.kinds[function.function]}];
      most = std::max(most, function.registers);
    }
  }
  // 74 kernels per type and architecture today: 6 models, 2 types, 2 archs.
  EXPECT_EQ(compiled, 4 * 74u);
  constexpr const char *kKindNames[] = {"elementwise", "row",       "matmul",
                                        "conv",        "attention", "moe"};
  for (auto [key, registers] : mostRegisters)
    std::cout << "[ CUDA     ] " << key.first << " "
              << kKindNames[static_cast<int>(key.second)] << ": at most "
              << registers << " registers\n";
}

/// Full-size default configs, which small zoo shapes never reach, compile
/// without spills: matmul tiles (128x128 on sm_80, TMA + wgmma 128x128x64
/// on sm_90a for bf16, mma.sync 128x128 for f32),
/// flash attention at head dims 64 and 128, norms and softmax of wide rows.
TEST_F(CudaCodegenTest, LargeDefaultConfigsDoNotSpill) {
  if (!llvm::sys::fs::can_execute(kNvcc))
    GTEST_SKIP() << "no CUDA toolkit: " << kNvcc.str() << " is missing";
  std::string kernels;
  for (StringRef type : {"bf16", "f32"}) {
    std::string t = type.str();
    std::string square = "tensor<1024x1024x" + t + ">";
    kernels += "func.func @matmul_" + t + "(%a: " + square + ", %b: " + square +
               ") -> " + square +
               " attributes {kiln.kernel} {\n  %0 = "
               "kiln.matmul %a, %b : (" +
               square + ", " + square + ") -> " + square +
               "\n  return %0 : " + square + "\n}\n";
    for (int64_t dim : {64, 128}) {
      std::string q = "tensor<1x8x1024x" + std::to_string(dim) + "x" + t + ">";
      std::string kv = "tensor<1x2x1024x" + std::to_string(dim) + "x" + t + ">";
      kernels += "func.func @attention" + std::to_string(dim) + "_" + t +
                 "(%q: " + q + ", %k: " + kv + ", %v: " + kv + ") -> " + q +
                 " attributes {kiln.kernel} {\n  %0 = kiln.attention %q, %k, "
                 "%v {causal = true} : (" +
                 q + ", " + kv + ", " + kv + ") -> " + q +
                 "\n  return %0 : " + q + "\n}\n";
    }
    std::string rows = "tensor<64x4096x" + t + ">";
    std::string row = "tensor<4096x" + t + ">";
    kernels += "func.func @rms_norm_" + t + "(%x: " + rows + ", %g: " + row +
               ") -> " + rows +
               " attributes {kiln.kernel} {\n  %0 = "
               "kiln.rms_norm %x, %g : (" +
               rows + ", " + row + ") -> " + rows + "\n  return %0 : " + rows +
               "\n}\n";
    kernels += "func.func @layer_norm_" + t + "(%x: " + rows + ", %g: " + row +
               ", %b: " + row + ") -> " + rows +
               " attributes {kiln.kernel} "
               "{\n  %0 = kiln.layer_norm %x, %g, %b : (" +
               rows + ", " + row + ", " + row + ") -> " + rows +
               "\n  return %0 : " + rows + "\n}\n";
    kernels += "func.func @softmax_" + t + "(%x: " + rows + ") -> " + rows +
               " attributes {kiln.kernel} {\n  %0 = kiln.softmax %x {axis = 1 "
               ": i64} : " +
               rows + "\n  return %0 : " + rows + "\n}\n";
  }
  module = parseSourceString<ModuleOp>(kernels, &context);
  ASSERT_TRUE(module) << diagnostics;
  for (StringRef arch : {"sm_80", "sm_90a"}) {
    std::string source = getCudaPrelude().str();
    for (auto kernel : module->getOps<func::FuncOp>()) {
      FailureOr<std::string> emitted = emitCudaKernel(kernel, arch);
      ASSERT_TRUE(succeeded(emitted)) << diagnostics;
      source += "\n" + *emitted;
    }
    expectCubinWithoutSpills(source, arch, 12);
  }
}

/// Split-K (deep k, few output tiles) at the default tiles, with clusters
/// on sm_90a, for bf16 and f32, compiles without spills: the partial tile's
/// stores and the ordered sum reuse the accumulators' registers.
TEST_F(CudaCodegenTest, SplitKConfigsDoNotSpill) {
  if (!llvm::sys::fs::can_execute(kNvcc))
    GTEST_SKIP() << "no CUDA toolkit: " << kNvcc.str() << " is missing";
  for (StringRef arch : {"sm_80", "sm_90a"}) {
    std::string kernels;
    for (StringRef type : {"bf16", "f32"}) {
      std::string t = type.str();
      std::string lhs = "tensor<256x8192x" + t + ">",
                  rhs = "tensor<8192x256x" + t + ">",
                  out = "tensor<256x256x" + t + ">";
      kernels += "func.func @split_" + t + "(%a: " + lhs + ", %b: " + rhs +
                 ", %r: " + out + ") -> " + out +
                 " attributes {kiln.kernel} {\n  %0 = kiln.matmul %a, %b : (" +
                 lhs + ", " + rhs + ") -> " + out + "\n  %1 = kiln.add %0, %r "
                 ": (" + out + ", " + out + ") -> " + out +
                 "\n  return %1 : " + out + "\n}\n";
    }
    module = parseSourceString<ModuleOp>(kernels, &context);
    ASSERT_TRUE(module) << diagnostics;
    std::string source = getCudaPrelude().str();
    for (auto kernel : module->getOps<func::FuncOp>()) {
      CudaConfigAttr base = getDefaultCudaConfig(kernel, arch);
      bool hopper = arch == "sm_90a";
      kernel->setAttr(CudaConfigAttr::kAttrName,
                      CudaConfigAttr::get(
                          &context, base.getBlockM(), base.getBlockN(),
                          base.getBlockK(), base.getWarps(), base.getStages(),
                          /*splitK=*/8, /*clusterM=*/hopper ? 2 : 1));
      FailureOr<std::string> emitted = emitCudaKernel(kernel, arch);
      ASSERT_TRUE(succeeded(emitted)) << diagnostics;
      source += "\n" + *emitted;
    }
    expectCubinWithoutSpills(source, arch, 2);
  }
}

/// The wgmma path at every tile shape it takes (a warpgroup per 64 rows,
/// 64 to 256 columns), bf16 and f16, with and without split-K, compiles for
/// sm_90a without spills.
TEST_F(CudaCodegenTest, WgmmaTilesDoNotSpill) {
  if (!llvm::sys::fs::can_execute(kNvcc))
    GTEST_SKIP() << "no CUDA toolkit: " << kNvcc.str() << " is missing";
  std::string kernels;
  struct Tile {
    int64_t m, n, splitK;
  };
  const Tile tiles[] = {{64, 64, 1}, {128, 128, 1}, {128, 256, 1},
                        {256, 128, 1}, {128, 128, 4}};
  for (StringRef type : {"bf16", "f16"})
    for (const Tile &tile : tiles) {
      std::string t = type.str();
      std::string name = llvm::formatv("wgmma_{0}_{1}x{2}_split{3}", t, tile.m,
                                       tile.n, tile.splitK);
      std::string lhs = "tensor<512x1024x" + t + ">",
                  rhs = "tensor<1024x512x" + t + ">",
                  out = "tensor<512x512x" + t + ">";
      kernels += llvm::formatv(
          "func.func @{0}(%a: {1}, %b: {2}) -> {3} attributes {{kiln.kernel, "
          "kiln.cuda_config = #kiln.cuda_config<block_m = {4}, block_n = {5}, "
          "block_k = 64, warps = {6}, stages = 3, split_k = {7}>} {{\n"
          "  %0 = kiln.matmul %a, %b : ({1}, {2}) -> {3}\n"
          "  return %0 : {3}\n}\n",
          name, lhs, rhs, out, tile.m, tile.n, tile.m / 16, tile.splitK);
    }
  module = parseSourceString<ModuleOp>(kernels, &context);
  ASSERT_TRUE(module) << diagnostics;
  std::string source = getCudaPrelude().str();
  for (auto kernel : module->getOps<func::FuncOp>()) {
    ASSERT_EQ(getCudaLaunch(kernel, "sm_90a").tensorMaps.size(), 2u)
        << kernel.getSymName().str();
    FailureOr<std::string> emitted = emitCudaKernel(kernel, "sm_90a");
    ASSERT_TRUE(succeeded(emitted)) << diagnostics;
    source += "\n" + *emitted;
  }
  expectCubinWithoutSpills(source, "sm_90a", 10);
}

} // namespace
