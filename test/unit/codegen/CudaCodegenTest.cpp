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

#include <gtest/gtest.h>

#include <iostream>
#include <set>
#include <string>

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

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  OwningOpRef<ModuleOp> module;
};

TEST_F(CudaCodegenTest, ElementwiseLoadsArgumentsAtTheirBroadcastIndex) {
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
  EXPECT_NE(source->find("kiln_f32(arg0[c1 * 1 + c0 * 8])"), std::string::npos)
      << *source;
  EXPECT_NE(source->find("kiln_f32(arg1[c1 * 1])"), std::string::npos);
  EXPECT_NE(source->find("if (i >= 32)"), std::string::npos);
  EXPECT_NE(source->find("kiln_store(&result0[i], v1)"), std::string::npos);
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
  EXPECT_NE(source->find("kiln_block_reduce<4, false>(squares, partials)"),
            std::string::npos);
  EXPECT_NE(source->find("rsqrtf(squares / 1024.0f"), std::string::npos);
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
  size_t max = source->find("kiln_block_reduce<1, true>(top, partials)");
  size_t sum = source->find("kiln_block_reduce<1, false>(total, partials)");
  ASSERT_NE(max, std::string::npos) << *source;
  ASSERT_NE(sum, std::string::npos);
  EXPECT_LT(max, sum);
}

TEST_F(CudaCodegenTest, UncoveredOpIsNamed) {
  func::FuncOp kernel = parseKernel(R"mlir(
    func.func @k(%x: tensor<4x8xf32>) -> tensor<8x4xf32> attributes {kiln.kernel} {
      %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
      return %0 : tensor<8x4xf32>
    })mlir");
  EXPECT_TRUE(failed(emitCudaKernel(kernel, "sm_80")));
  EXPECT_NE(diagnostics.find("CUDA generation does not cover "
                             "'kiln.transpose' in this kernel yet"),
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
  EXPECT_NE(source->find("block tile 16x64x32, 1x8 warps of 1x1 mma tiles"),
            std::string::npos)
      << *source;
  EXPECT_NE(source->find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
            std::string::npos);
  EXPECT_NE(source->find("const float v0 = (a2 + product);"),
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
  EXPECT_NE(source->find("acc[tm][tn][0] += a0 * b0;"), std::string::npos);
  // transpose_rhs reads rhs as [N, K].
  EXPECT_NE(source->find("arg1[col * 64 + kk]"), std::string::npos);
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
  EXPECT_EQ(ampere.getStages(), 3);
  EXPECT_EQ(hopper.getBlockN(), 256);
  EXPECT_EQ(hopper.getStages(), 4);
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

/// Every kernel the generator covers, of every zoo model, compiled in one
/// .cu per model for sm_80 and sm_90a; matmuls, norms and softmax (default
/// configs) without spills.
TEST_F(CudaCodegenTest, ZooKernelsCompileToCubin) {
  if (!llvm::sys::fs::can_execute(kNvcc))
    GTEST_SKIP() << "no CUDA toolkit: " << kNvcc.str() << " is missing";
  SmallString<128> directory;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("kiln-cuda", directory));
  int64_t compiled = 0, skipped = 0;
  // f32 takes the SIMT matmul path, bf16 the tensor-core one.
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
        std::string source = getCudaPrelude().str();
        std::set<std::string> checkedKernels;
        for (auto kernel : model->module->getOps<func::FuncOp>()) {
          if (!kernel->hasAttr("kiln.kernel"))
            continue;
          FailureOr<std::string> emitted = emitCudaKernel(kernel, arch);
          if (failed(emitted)) {
            skipped += arch == "sm_80";
            if (arch == "sm_80")
              std::cout << "[ CUDA     ] skipped " << info.name << " ("
                        << dtype.str() << ") " << kernel.getSymName().str()
                        << ": " << diagnostics;
            diagnostics.clear();
            continue;
          }
          compiled += arch == "sm_80";
          source += "\n" + *emitted;
          if (classifyCudaKernel(kernel) != CudaKernelKind::Elementwise)
            checkedKernels.insert(kernel.getSymName().str());
        }
        std::string cubin =
            (directory + "/" + info.name + "-" + dtype + "-" + arch + ".cubin")
                .str();
        llvm::Expected<std::vector<CudaResourceUsage>> usages =
            compileCudaToCubin(source, arch, kNvcc, cubin);
        ASSERT_TRUE(bool(usages)) << llvm::toString(usages.takeError());
        for (const CudaResourceUsage &usage : *usages)
          if (checkedKernels.count(usage.function)) {
            EXPECT_EQ(usage.spillStoreBytes + usage.spillLoadBytes, 0)
                << info.name << " " << dtype.str() << " " << usage.function
                << " " << arch.str();
          }
        llvm::sys::fs::remove(cubin);
      }
    }
  llvm::sys::fs::remove(directory);
  // Covered kernels exist: the count would be 0 if generation broke.
  EXPECT_GT(compiled, 0);
  std::cout << "[ CUDA     ] compiled " << compiled << " kernels, skipped "
            << skipped << " uncovered ones\n";
}

/// The full-size default tiles (128x128 on sm_80, 128x256 on sm_90a), which
/// small zoo shapes never reach, compile without spills.
TEST_F(CudaCodegenTest, LargeMatmulDefaultConfigsDoNotSpill) {
  if (!llvm::sys::fs::can_execute(kNvcc))
    GTEST_SKIP() << "no CUDA toolkit: " << kNvcc.str() << " is missing";
  for (StringRef type : {"bf16", "f32"}) {
    std::string tensor = ("tensor<1024x1024x" + type + ">").str();
    func::FuncOp kernel = parseKernel(
        "func.func @k(%a: " + tensor + ", %b: " + tensor + ") -> " + tensor +
        " attributes {kiln.kernel} {\n  %0 = kiln.matmul %a, %b : (" + tensor +
        ", " + tensor + ") -> " + tensor + "\n  return %0 : " + tensor + "\n}");
    ASSERT_TRUE(kernel);
    for (StringRef arch : {"sm_80", "sm_90a"}) {
      FailureOr<std::string> source = emitCudaKernel(kernel, arch);
      ASSERT_TRUE(succeeded(source)) << diagnostics;
      SmallString<128> cubin;
      ASSERT_FALSE(
          llvm::sys::fs::createTemporaryFile("kiln-cuda", "cubin", cubin));
      llvm::Expected<std::vector<CudaResourceUsage>> usages =
          compileCudaToCubin(getCudaPrelude().str() + *source, arch, kNvcc,
                             cubin);
      llvm::sys::fs::remove(cubin);
      ASSERT_TRUE(bool(usages)) << llvm::toString(usages.takeError());
      ASSERT_EQ(usages->size(), 1u);
      EXPECT_EQ((*usages)[0].spillStoreBytes + (*usages)[0].spillLoadBytes, 0)
          << type.str() << " " << arch.str() << ": " << (*usages)[0].registers
          << " registers";
    }
  }
}

} // namespace
