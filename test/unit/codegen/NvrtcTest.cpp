//===- NvrtcTest.cpp - Tests of the NVRTC compile and its cache -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Compile-only: a generated kernel is compiled to cubin with NVRTC, which
// needs no GPU. Skipped where libnvrtc or the CUDA headers are missing.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/EmitCuda.h"
#include "codegen/CUDA/Nvrtc.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

namespace {

class NvrtcTest : public ::testing::Test {
protected:
  void SetUp() override {
    context.loadDialect<KilnDialect, func::FuncDialect>();
    module = parseSourceString<ModuleOp>(R"mlir(
      func.func @k(%x: tensor<4x8xbf16>, %y: tensor<4x8xbf16>)
          -> tensor<4x8xbf16> attributes {kiln.kernel} {
        %0 = kiln.add %x, %y : (tensor<4x8xbf16>, tensor<4x8xbf16>) -> tensor<4x8xbf16>
        return %0 : tensor<4x8xbf16>
      })mlir",
                                         &context);
    ASSERT_TRUE(module);
    FailureOr<std::string> kernel = emitCudaKernel(
        module->lookupSymbol<func::FuncOp>("k"), "sm_80");
    ASSERT_TRUE(succeeded(kernel));
    source = getCudaPrelude().str() + *kernel;
    ASSERT_FALSE(
        llvm::sys::fs::createUniqueDirectory("kiln-nvrtc-test", cacheDir));
  }

  void TearDown() override { llvm::sys::fs::remove_directories(cacheDir); }

  /// The compiler with the cache folder of this test, or nullopt (and the
  /// test skipped by the caller) without NVRTC or the CUDA headers.
  std::optional<NvrtcCompiler> loadCompiler(bool cache = true) {
    if (!llvm::sys::fs::exists(KILN_CUDA_INCLUDE_DIR "/cuda_bf16.h"))
      return std::nullopt;
    NvrtcOptions options;
    options.includeDirs = {KILN_CUDA_INCLUDE_DIR};
    if (cache)
      options.cacheDir = cacheDir.str().str();
    llvm::Expected<NvrtcCompiler> compiler = NvrtcCompiler::load(options);
    if (!compiler) {
      llvm::consumeError(compiler.takeError());
      return std::nullopt;
    }
    return std::move(*compiler);
  }

  /// The one cache entry's path.
  std::string getEntryPath(const NvrtcCompiler &compiler) {
    llvm::SmallString<128> path(cacheDir);
    llvm::sys::path::append(path,
                            compiler.getCacheKey(source, "sm_80") + ".cubin");
    return path.str().str();
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::string source;
  llvm::SmallString<128> cacheDir;
};

/// An ELF file, as every cubin is.
bool isElf(const std::vector<uint8_t> &bytes) {
  return bytes.size() > 4 && bytes[0] == 0x7f && bytes[1] == 'E' &&
         bytes[2] == 'L' && bytes[3] == 'F';
}

TEST_F(NvrtcTest, MissingLibraryIsAClearError) {
  NvrtcOptions options;
  options.libraries = {"libkiln-no-such-nvrtc.so"};
  llvm::Expected<NvrtcCompiler> compiler = NvrtcCompiler::load(options);
  ASSERT_FALSE(compiler);
  std::string message = llvm::toString(compiler.takeError());
  EXPECT_NE(message.find("cannot load NVRTC"), std::string::npos) << message;
  EXPECT_NE(message.find("libkiln-no-such-nvrtc.so"), std::string::npos)
      << message;
}

TEST_F(NvrtcTest, CompilesAGeneratedKernelForBothArchitectures) {
  std::optional<NvrtcCompiler> compiler = loadCompiler(/*cache=*/false);
  if (!compiler)
    GTEST_SKIP() << "no NVRTC or CUDA headers";
  for (const char *arch : {"sm_80", "sm_90a"}) {
    llvm::Expected<NvrtcResult> result = compiler->compile(source, "k", arch);
    ASSERT_TRUE(bool(result)) << llvm::toString(result.takeError());
    EXPECT_TRUE(isElf(result->cubin)) << arch;
    EXPECT_EQ(result->cache, NvrtcCacheOutcome::Disabled);
  }
}

TEST_F(NvrtcTest, ReportsCompileErrorsWithTheLog) {
  std::optional<NvrtcCompiler> compiler = loadCompiler(/*cache=*/false);
  if (!compiler)
    GTEST_SKIP() << "no NVRTC or CUDA headers";
  llvm::Expected<NvrtcResult> result =
      compiler->compile("__global__ void k() { undeclared(); }", "k", "sm_80");
  ASSERT_FALSE(result);
  std::string message = llvm::toString(result.takeError());
  EXPECT_NE(message.find("NVRTC failed to compile 'k' for sm_80"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("undeclared"), std::string::npos) << message;
}

TEST_F(NvrtcTest, RejectsUnknownArchitectures) {
  std::optional<NvrtcCompiler> compiler = loadCompiler();
  if (!compiler)
    GTEST_SKIP() << "no NVRTC or CUDA headers";
  llvm::Expected<NvrtcResult> result = compiler->compile(source, "k", "sm_75");
  ASSERT_FALSE(result);
  EXPECT_NE(llvm::toString(result.takeError()).find("unknown CUDA "
                                                    "architecture 'sm_75'"),
            std::string::npos);
}

TEST_F(NvrtcTest, SecondCompileIsACacheHit) {
  std::optional<NvrtcCompiler> compiler = loadCompiler();
  if (!compiler)
    GTEST_SKIP() << "no NVRTC or CUDA headers";
  llvm::Expected<NvrtcResult> first = compiler->compile(source, "k", "sm_80");
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  EXPECT_EQ(first->cache, NvrtcCacheOutcome::Miss);
  EXPECT_TRUE(llvm::sys::fs::exists(getEntryPath(*compiler)));
  llvm::Expected<NvrtcResult> second = compiler->compile(source, "k", "sm_80");
  ASSERT_TRUE(bool(second)) << llvm::toString(second.takeError());
  EXPECT_EQ(second->cache, NvrtcCacheOutcome::Hit);
  EXPECT_EQ(second->cubin, first->cubin);
  // Another architecture is another entry.
  llvm::Expected<NvrtcResult> hopper = compiler->compile(source, "k", "sm_90a");
  ASSERT_TRUE(bool(hopper)) << llvm::toString(hopper.takeError());
  EXPECT_EQ(hopper->cache, NvrtcCacheOutcome::Miss);
}

TEST_F(NvrtcTest, KeyDependsOnSourceArchitectureAndOptions) {
  std::optional<NvrtcCompiler> compiler = loadCompiler();
  if (!compiler)
    GTEST_SKIP() << "no NVRTC or CUDA headers";
  std::string key = compiler->getCacheKey(source, "sm_80");
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, compiler->getCacheKey(source, "sm_80"));
  EXPECT_NE(key, compiler->getCacheKey(source + " ", "sm_80"));
  EXPECT_NE(key, compiler->getCacheKey(source, "sm_90a"));
  NvrtcOptions options;
  options.includeDirs = {KILN_CUDA_INCLUDE_DIR, "/elsewhere"};
  llvm::Expected<NvrtcCompiler> other = NvrtcCompiler::load(options);
  ASSERT_TRUE(bool(other)) << llvm::toString(other.takeError());
  EXPECT_NE(key, other->getCacheKey(source, "sm_80"));
}

TEST_F(NvrtcTest, DamagedEntryIsDetectedAndRebuilt) {
  std::optional<NvrtcCompiler> compiler = loadCompiler();
  if (!compiler)
    GTEST_SKIP() << "no NVRTC or CUDA headers";
  llvm::Expected<NvrtcResult> first = compiler->compile(source, "k", "sm_80");
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  std::string path = getEntryPath(*compiler);
  // 1. One flipped byte in the cubin.
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.put('\x5a');
  }
  llvm::Expected<NvrtcResult> rebuilt = compiler->compile(source, "k", "sm_80");
  ASSERT_TRUE(bool(rebuilt)) << llvm::toString(rebuilt.takeError());
  EXPECT_EQ(rebuilt->cache, NvrtcCacheOutcome::Rebuilt);
  EXPECT_EQ(rebuilt->cubin, first->cubin);
  // 2. A truncated entry.
  {
    std::string bytes(20, '\0');
    std::ifstream(path, std::ios::binary).read(bytes.data(), 20);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  llvm::Expected<NvrtcResult> again = compiler->compile(source, "k", "sm_80");
  ASSERT_TRUE(bool(again)) << llvm::toString(again.takeError());
  EXPECT_EQ(again->cache, NvrtcCacheOutcome::Rebuilt);
  // 3. The rewritten entry is intact again.
  llvm::Expected<NvrtcResult> hit = compiler->compile(source, "k", "sm_80");
  ASSERT_TRUE(bool(hit)) << llvm::toString(hit.takeError());
  EXPECT_EQ(hit->cache, NvrtcCacheOutcome::Hit);
  EXPECT_EQ(hit->cubin, first->cubin);
}

} // namespace
