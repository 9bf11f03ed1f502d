//===- CpuCodegenTest.cpp - Compiled kernels vs the reference --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Each test writes a small kernel in kiln IR, lowers it with
// kiln-cpu-lower-kernel for the host, links it into a shared object, loads
// it, calls its entry point over all tiles (in one call, and again split
// into two ranges) and compares every output element with the reference
// evaluator on the same seeded inputs. Outputs start as NaN, so an element
// that no tile writes fails the comparison.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/LoadKernel.h"
#include "codegen/CPU/Patterns.h"
#include "codegen/CPU/Pipelines.h"
#include "codegen/Common/Target.h"
#include "models/zoo/Zoo.h"
#include "passes/Pipelines.h"
#include "reference/Evaluator.h"
#include "runtime/HostTensor.h"
#include "runtime/KernelAbi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace mlir;
using namespace kiln;

namespace {

/// Relative and absolute tolerance of a comparison; with `scaled`, the
/// absolute tolerance is relative to the largest expected magnitude (when
/// above 1).
struct Tolerance {
  double rtol, atol;
  bool scaled = false;
};
constexpr Tolerance kF32{1e-4, 1e-5};
constexpr Tolerance kBf16{2e-2, 1e-2};
/// Whole zoo kernels chain reductions (norm, matmul, SwiGLU, matmul) whose
/// f32 rounding adds up beyond kF32 against the double reference. With
/// seeded N(0, 1) weights their results reach magnitudes of hundreds, where
/// one f32 ulp exceeds 1e-5: an element that happens to lie near zero
/// carries the rounding of its large terms, so the absolute tolerance
/// scales with the largest magnitude.
constexpr Tolerance kF32Chained{1e-3, 1e-4, /*scaled=*/true};

class CpuCodegenTest : public ::testing::Test {
protected:
  CpuCodegenTest() {
    DialectRegistry registry;
    cpu::registerCpuCodegenDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          diagnostics += diagnostic.str() + "\n";
          return success();
        });
    SmallString<128> path;
    EXPECT_FALSE(
        llvm::sys::fs::createUniqueDirectory("kiln-cpu-codegen", path));
    directory = path.str().str();
  }

  ~CpuCodegenTest() override { llvm::sys::fs::remove_directories(directory); }

  /// Lowers, compiles and loads the single kernel of `source` for `target`;
  /// `reference` receives the kernel as written, for the evaluator.
  cpu::LoadedKernel compile(StringRef source, StringRef target = "host") {
    reference = parseSourceString<ModuleOp>(source, &context);
    EXPECT_TRUE(reference) << diagnostics;
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(source, &context);
    if (!reference || !module)
      return {};
    std::string path =
        directory + "/kernel" + std::to_string(compiled++) + ".so";
    FailureOr<cpu::LoadedKernel> kernel =
        cpu::compileAndLoadKernel(*module, target, path);
    if (failed(kernel)) {
      ADD_FAILURE() << "compiling failed:\n" << diagnostics;
      return {};
    }
    return std::move(*kernel);
  }

  func::FuncOp getReferenceKernel() {
    return *reference->getOps<func::FuncOp>().begin();
  }

  /// Output tensors of the kernel's result types, filled with NaN (all ones
  /// bits) so that unwritten elements are visible.
  std::vector<HostTensor> makeOutputs(const std::vector<HostTensor> &like) {
    std::vector<HostTensor> outputs;
    for (const HostTensor &tensor : like) {
      outputs.emplace_back(tensor.getElementType(), tensor.getShape());
      std::memset(outputs.back().data(), 0xff, outputs.back().getByteSize());
    }
    return outputs;
  }

  /// Calls `kernel` on each [begin, end) range in `ranges`.
  static void run(const cpu::LoadedKernel &kernel, std::vector<HostTensor> &inputs,
                  std::vector<HostTensor> &outputs,
                  ArrayRef<std::pair<int64_t, int64_t>> ranges) {
    std::vector<void *> buffers;
    for (HostTensor &tensor : inputs)
      buffers.push_back(tensor.data());
    for (HostTensor &tensor : outputs)
      buffers.push_back(tensor.data());
    for (auto [begin, end] : ranges)
      kernel(buffers.data(), begin, end);
  }

  /// Expects `actual` to match `expected` element by element.
  static void expectClose(const HostTensor &actual, const HostTensor &expected,
                          Tolerance tolerance, const std::string &what) {
    ASSERT_EQ(actual.getShape(), expected.getShape()) << what;
    ASSERT_EQ(actual.getElementType(), expected.getElementType()) << what;
    double atol = tolerance.atol;
    if (tolerance.scaled) {
      double largest = 1.0;
      for (int64_t i = 0; i < expected.getNumElements(); ++i)
        if (double value = expected.getFloat(i); std::isfinite(value))
          largest = std::max(largest, std::fabs(value));
      atol *= largest;
    }
    int64_t mismatches = 0;
    for (int64_t i = 0; i < expected.getNumElements(); ++i) {
      double want = expected.getFloat(i), got = actual.getFloat(i);
      bool close = std::isnan(want)
                       ? std::isnan(got)
                       : std::fabs(got - want) <=
                             atol + tolerance.rtol * std::fabs(want);
      if (!close && ++mismatches <= 5)
        ADD_FAILURE() << what << ": element " << i << " is " << got
                      << ", expected " << want;
    }
    EXPECT_EQ(mismatches, 0) << what << ": " << mismatches << " of "
                             << expected.getNumElements() << " elements differ";
  }

  /// Compiles `source` for `target`, checks its tile count, and checks its
  /// outputs on seeded inputs (see checkOutputs).
  void checkKernel(StringRef source, Tolerance tolerance, int64_t expectedTiles,
                   uint64_t seed = 7, StringRef target = "host") {
    cpu::LoadedKernel kernel = compile(source, target);
    ASSERT_NE(kernel.getEntry(), nullptr);
    EXPECT_EQ(kernel.getInfo().tileCount, expectedTiles);
    func::FuncOp function = getReferenceKernel();
    FailureOr<std::vector<HostTensor>> inputs =
        reference::makeSeededInputs(function, seed);
    ASSERT_TRUE(succeeded(inputs)) << diagnostics;
    checkOutputs(kernel, *inputs, tolerance);
  }

  /// Compares the outputs of the compiled `kernel` on `inputs` with the
  /// reference's over all tiles, over two ranges, and over a range that
  /// overhangs both ends; an empty range must write nothing.
  void checkOutputs(const cpu::LoadedKernel &kernel,
                    std::vector<HostTensor> &inputs, Tolerance tolerance) {
    FailureOr<std::vector<HostTensor>> expected =
        reference::evaluate(getReferenceKernel(), inputs, {});
    ASSERT_TRUE(succeeded(expected)) << diagnostics;
    EXPECT_EQ(kernel.getInfo().numBuffers,
              static_cast<int64_t>(inputs.size() + expected->size()));

    int64_t tiles = kernel.getInfo().tileCount;
    int64_t half = tiles / 2;
    std::vector<
        std::pair<std::string, std::vector<std::pair<int64_t, int64_t>>>>
        schedules = {{"all tiles", {{0, tiles}}},
                     {"two ranges", {{half, tiles}, {0, half}}},
                     {"overhanging range", {{-3, tiles + 3}}}};
    for (auto &[name, ranges] : schedules) {
      std::vector<HostTensor> outputs = makeOutputs(*expected);
      run(kernel, inputs, outputs, ranges);
      for (size_t i = 0; i < outputs.size(); ++i)
        expectClose(outputs[i], (*expected)[i], tolerance,
                    name + ", result " + std::to_string(i));
    }

    // An empty range writes nothing.
    std::vector<HostTensor> untouched = makeOutputs(*expected);
    run(kernel, inputs, untouched, {{tiles, tiles}, {1, 0}});
    // (The fill pattern of all ones bits, so that integer results count.)
    for (const HostTensor &tensor : untouched) {
      const uint8_t *bytes = tensor.data();
      for (int64_t i = 0; i < tensor.getByteSize(); ++i)
        ASSERT_EQ(bytes[i], 0xff) << "an empty tile range wrote byte " << i;
    }
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  std::string directory;
  int compiled = 0;
  OwningOpRef<ModuleOp> reference;
};

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

TEST_F(CpuCodegenTest, ElementwiseChainWithBroadcast) {
  // 37 x 1000 f32 is about 37k elements: tiles of 16 rows.
  checkKernel(R"mlir(
    func.func @chain(%x: tensor<37x1000xf32>, %y: tensor<1000xf32>, %z: tensor<37x1xf32>) -> tensor<37x1000xf32> attributes {kiln.kernel} {
      %0 = kiln.mul %x, %y : (tensor<37x1000xf32>, tensor<1000xf32>) -> tensor<37x1000xf32>
      %1 = kiln.add %0, %z : (tensor<37x1000xf32>, tensor<37x1xf32>) -> tensor<37x1000xf32>
      %2 = kiln.tanh %1 : tensor<37x1000xf32>
      %3 = kiln.sigmoid %x : tensor<37x1000xf32>
      %4 = kiln.silu %1 : tensor<37x1000xf32>
      %5 = kiln.sub %2, %3 : (tensor<37x1000xf32>, tensor<37x1000xf32>) -> tensor<37x1000xf32>
      %6 = kiln.max %5, %4 : (tensor<37x1000xf32>, tensor<37x1000xf32>) -> tensor<37x1000xf32>
      %7 = kiln.abs %z : tensor<37x1xf32>
      %8 = kiln.exp %7 : tensor<37x1xf32>
      %9 = kiln.rsqrt %8 : tensor<37x1xf32>
      %10 = kiln.div %6, %9 : (tensor<37x1000xf32>, tensor<37x1xf32>) -> tensor<37x1000xf32>
      %11 = kiln.relu %10 : tensor<37x1000xf32>
      %12 = kiln.gelu %11 {approximation = #kiln.gelu_approximation<tanh>} : tensor<37x1000xf32>
      %13 = kiln.log %8 : tensor<37x1xf32>
      %14 = kiln.min %12, %13 : (tensor<37x1000xf32>, tensor<37x1xf32>) -> tensor<37x1000xf32>
      return %14 : tensor<37x1000xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/3);
}

TEST_F(CpuCodegenTest, ElementwiseBf16WithCasts) {
  checkKernel(R"mlir(
    func.func @bf16(%x: tensor<5x33xbf16>, %y: tensor<33xf32>) -> tensor<5x33xf32> attributes {kiln.kernel} {
      %0 = kiln.cast %y : tensor<33xf32> to tensor<33xbf16>
      %1 = kiln.mul %x, %0 : (tensor<5x33xbf16>, tensor<33xbf16>) -> tensor<5x33xbf16>
      %2 = kiln.gelu %1 : tensor<5x33xbf16>
      %3 = kiln.cast %2 : tensor<5x33xbf16> to tensor<5x33xf32>
      return %3 : tensor<5x33xf32>
    }
  )mlir",
              kBf16, /*expectedTiles=*/1);
}

//===----------------------------------------------------------------------===//
// Matmul with a bias and gelu epilogue
//===----------------------------------------------------------------------===//

/// `gelu(x w + b)` for x: MxK, w: KxN, b: N of element type `type`.
static std::string matmulBiasGelu(int64_t m, int64_t n, int64_t k,
                                  StringRef type) {
  return llvm::formatv(R"mlir(
    func.func @mm(%x: tensor<{0}x{2}x{3}>, %w: tensor<{2}x{1}x{3}>, %b: tensor<{1}x{3}>) -> tensor<{0}x{1}x{3}> attributes {{kiln.kernel} {{
      %0 = kiln.matmul %x, %w : (tensor<{0}x{2}x{3}>, tensor<{2}x{1}x{3}>) -> tensor<{0}x{1}x{3}>
      %1 = kiln.add %0, %b : (tensor<{0}x{1}x{3}>, tensor<{1}x{3}>) -> tensor<{0}x{1}x{3}>
      %2 = kiln.gelu %1 : tensor<{0}x{1}x{3}>
      return %2 : tensor<{0}x{1}x{3}>
    }
  )mlir",
                       m, n, k, type)
      .str();
}

TEST_F(CpuCodegenTest, MatmulBiasGeluOneByOne) {
  checkKernel(matmulBiasGelu(1, 1, 1, "f32"), kF32, 1);
}

TEST_F(CpuCodegenTest, MatmulBiasGeluPrimes) {
  checkKernel(matmulBiasGelu(7, 13, 5, "f32"), kF32, 1);
}

TEST_F(CpuCodegenTest, MatmulBiasGeluAwkward) {
  // The default config halves its tiles until there are 4: 130 rows in
  // tiles of 72 (nine micro tiles of 8, then seven and a remainder of 2);
  // 70 columns in tiles of 64 (two micro tiles of 32, then a remainder of
  // 6). The rhs is packed: 72 rows share each panel.
  checkKernel(matmulBiasGelu(130, 70, 33, "f32"), kF32, 4);
}

TEST_F(CpuCodegenTest, MatmulBiasGeluBf16OneByOne) {
  checkKernel(matmulBiasGelu(1, 1, 1, "bf16"), kBf16, 1);
}

TEST_F(CpuCodegenTest, MatmulBiasGeluBf16Primes) {
  checkKernel(matmulBiasGelu(7, 13, 5, "bf16"), kBf16, 1);
}

TEST_F(CpuCodegenTest, MatmulBiasGeluBf16Awkward) {
  checkKernel(matmulBiasGelu(130, 70, 33, "bf16"), kBf16, 4);
}

TEST_F(CpuCodegenTest, BatchMatmulBroadcastAndTransposes) {
  // The rhs is shared by both batches and read transposed; the lhs too.
  checkKernel(R"mlir(
    func.func @bmm(%a: tensor<2x3x9x11xf32>, %b: tensor<1x1x10x9xf32>) -> tensor<2x3x11x10xf32> attributes {kiln.kernel} {
      %0 = kiln.matmul %a, %b {transpose_lhs = true, transpose_rhs = true} : (tensor<2x3x9x11xf32>, tensor<1x1x10x9xf32>) -> tensor<2x3x11x10xf32>
      return %0 : tensor<2x3x11x10xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/6);
}

//===----------------------------------------------------------------------===//
// Packed matmuls (pack_matmul = true, k blocks)
//===----------------------------------------------------------------------===//

/// The config attribute of a packed matmul with `tiles` over the result,
/// AVX-512 micro tiles (or AVX2 ones with `avx2`), k blocks of `kBlock`,
/// the lhs packed too with `packLhs` and in blocks of `mBlock` rows.
static std::string packedConfig(StringRef tiles, int64_t kBlock, bool avx2,
                                bool packLhs = false, int64_t mBlock = 0) {
  return llvm::formatv(
             "#kiln.cpu_config<tile_sizes = [{0}], vector_width = {1}, "
             "micro_tile = [{2}, {3}, 1], pack_matmul = true, k_block = {4}, "
             "pack_lhs = {5}, m_block = {6}>",
             tiles, avx2 ? 8 : 16, avx2 ? 4 : 8, avx2 ? 16 : 32, kBlock,
             packLhs ? "true" : "false", mBlock)
      .str();
}

/// `gelu(x w + b) + r` for x: MxK, w: KxN, b: N, r: MxN with `config`.
static std::string packedMatmul(int64_t m, int64_t n, int64_t k,
                                StringRef type, StringRef config) {
  return llvm::formatv(R"mlir(
    func.func @mm(%x: tensor<{0}x{2}x{3}>, %w: tensor<{2}x{1}x{3}>, %b: tensor<{1}x{3}>, %r: tensor<{0}x{1}x{3}>) -> tensor<{0}x{1}x{3}> attributes {{kiln.kernel, kiln.cpu_config = {4}} {{
      %0 = kiln.matmul %x, %w : (tensor<{0}x{2}x{3}>, tensor<{2}x{1}x{3}>) -> tensor<{0}x{1}x{3}>
      %1 = kiln.add %0, %b : (tensor<{0}x{1}x{3}>, tensor<{1}x{3}>) -> tensor<{0}x{1}x{3}>
      %2 = kiln.gelu %1 : tensor<{0}x{1}x{3}>
      %3 = kiln.add %2, %r : (tensor<{0}x{1}x{3}>, tensor<{0}x{1}x{3}>) -> tensor<{0}x{1}x{3}>
      return %3 : tensor<{0}x{1}x{3}>
    }
  )mlir",
                       m, n, k, type, config)
      .str();
}

TEST_F(CpuCodegenTest, PackedMatmulOneByOne) {
  checkKernel(packedMatmul(1, 1, 1, "f32", packedConfig("0, 0", 0, false)),
              kF32, 1);
}

TEST_F(CpuCodegenTest, PackedMatmulPrimes) {
  // 37 rows in tiles of 16, 41 columns in tiles of 32 (panels of 32: the
  // second one padded), k = 53 in blocks of 16 (the last one partial).
  checkKernel(packedMatmul(37, 41, 53, "f32", packedConfig("16, 32", 16, false)),
              kF32, 6);
}

TEST_F(CpuCodegenTest, PackedMatmulAwkwardAvx2) {
  // AVX2 micro tiles of 4 x 16 on x86-64-v3.
  checkKernel(packedMatmul(130, 70, 33, "f32", packedConfig("64, 48", 8, true)),
              kF32, 6, /*seed=*/7, "x86-64-v3");
}

TEST_F(CpuCodegenTest, PackedMatmulBf16) {
  checkKernel(packedMatmul(19, 45, 70, "bf16", packedConfig("8, 32", 32, false)),
              kBf16, 6);
}

TEST_F(CpuCodegenTest, PackedLhsMatmulPrimes) {
  // The lhs in panels of 8 rows too: 37 rows in tiles of 16 (the last tile
  // of 5 rows zero padded to one panel); k = 53 in columns of 16 (the last
  // 5 one panel column at a time).
  checkKernel(
      packedMatmul(37, 41, 53, "f32", packedConfig("16, 32", 16, false, true)),
      kF32, 6);
}

TEST_F(CpuCodegenTest, PackedLhsMatmulAwkwardAvx2) {
  checkKernel(
      packedMatmul(130, 70, 33, "f32", packedConfig("64, 48", 8, true, true)),
      kF32, 6, /*seed=*/7, "x86-64-v3");
}

TEST_F(CpuCodegenTest, PackedLhsMatmulBf16) {
  checkKernel(
      packedMatmul(19, 45, 70, "bf16", packedConfig("8, 32", 32, false, true)),
      kBf16, 6);
}

/// A matmul alone, m x k times k x n in f32, with `config`.
static std::string matmulAlone(int64_t m, int64_t k, int64_t n,
                               StringRef config) {
  return llvm::formatv(R"mlir(
    func.func @mm(%a: tensor<{0}x{1}xf32>, %b: tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32> attributes {{kiln.kernel, kiln.cpu_config = {3}} {{
      %0 = kiln.matmul %a, %b : (tensor<{0}x{1}xf32>, tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32>
      return %0 : tensor<{0}x{2}xf32>
    }
  )mlir",
                       m, k, n, config)
      .str();
}

TEST_F(CpuCodegenTest, MBlockMatmulInPlace) {
  // A matmul alone, its result accumulated in place: 96 rows in tiles of
  // 48, m blocks of 16 rows (three per tile), 64 columns (two panels), k =
  // 300 in blocks of 128 (the last one partial).
  checkKernel(
      matmulAlone(96, 300, 64, packedConfig("48, 0", 128, false, true, 16)),
      kF32, 2);
}

TEST_F(CpuCodegenTest, MBlockMatmulOneKBlock) {
  // The whole depth (k = 100) in one k block: every micro kernel starts
  // from zeros and writes its tile of the result once. 40 rows in m blocks
  // of 16 (the last one of 8).
  checkKernel(
      matmulAlone(40, 100, 64, packedConfig("0, 0", 128, false, true, 16)),
      kF32, 1);
}

TEST_F(CpuCodegenTest, MBlockMatmulEpilogueAvx2) {
  // With a fused epilogue the accumulator is the epilogue's input; AVX2
  // micro tiles of 4 x 16, m blocks of 8 rows.
  checkKernel(
      packedMatmul(64, 48, 70, "f32", packedConfig("32, 48", 32, true, true, 8)),
      kF32, 2, /*seed=*/7, "x86-64-v3");
}

TEST_F(CpuCodegenTest, MBlockMatmulRemainderPanels) {
  // Panels that do not divide the tile leave a narrower panel of the rest,
  // in a buffer of its own: 41 columns are a panel of 32 and one of 9
  // padded to 16, with the epilogue after both; the last m block of a tile
  // of 40 rows is partial (16 + 16 + 8).
  checkKernel(
      packedMatmul(80, 41, 53, "f32", packedConfig("40, 0", 16, false, true, 16)),
      kF32, 2);
  // 8 x 48 register tiles, k = 200 in blocks of 64: 112 columns are two
  // panels and one vector, in two tiles of 32 rows; 224 columns are four
  // panels and two vectors, in four tiles of 16 rows (each tile's unpack
  // goes straight into the result, kiln-cpu-tile-and-fuse).
  StringRef wide = "#kiln.cpu_config<tile_sizes = [32, 0], vector_width = "
                   "16, micro_tile = [8, 48, 1], pack_matmul = true, "
                   "k_block = 64, pack_lhs = true, m_block = 16>";
  checkKernel(matmulAlone(64, 200, 112, wide), kF32, 2);
  checkKernel(matmulAlone(64, 200, 224,
                          "#kiln.cpu_config<tile_sizes = [16, 0], "
                          "vector_width = 16, micro_tile = [8, 48, 1], "
                          "pack_matmul = true, k_block = 64, pack_lhs = "
                          "true, m_block = 8>"),
              kF32, 4);
  // AVX2 panels of 16 columns: 70 is four and a rest of 6, padded to 8.
  checkKernel(
      packedMatmul(64, 70, 45, "f32", packedConfig("32, 0", 16, true, true, 8)),
      kF32, 2, /*seed=*/7, "x86-64-v3");
}

TEST_F(CpuCodegenTest, MBlockMatmulNarrowerThanAPanel) {
  // 24 columns, narrower than one panel of 32, keep the packed accumulator.
  checkKernel(
      packedMatmul(80, 24, 53, "f32", packedConfig("40, 0", 16, false, true, 16)),
      kF32, 2);
}

TEST_F(CpuCodegenTest, PerPanelRhsPacks) {
  // Each rhs panel packed at its first use in the first m block, whose
  // loop is peeled: tiles of 40 rows in m blocks of 16 (the last one of
  // 8), two panels, three k blocks, with the epilogue; 192 deep in k blocks
  // of 128 and 64; AVX2's 4 x 16 tiles, three panels per tile. Then
  // 41 columns, whose padded packs stay outside the k blocks and whole.
  auto perPanel = [](StringRef tiles, int64_t kBlock, int64_t mBlock,
                     bool avx2) {
    std::string config = packedConfig(tiles, kBlock, avx2, true, mBlock);
    return config.substr(0, config.size() - 1) + ", pack_rhs_per_panel = true>";
  };
  checkKernel(packedMatmul(80, 64, 48, "f32", perPanel("40, 0", 16, 16, false)),
              kF32, 2);
  checkKernel(matmulAlone(64, 192, 96, perPanel("0, 0", 128, 32, false)), kF32,
              1);
  checkKernel(packedMatmul(64, 48, 64, "f32", perPanel("32, 48", 32, 8, true)),
              kF32, 2, /*seed=*/7, "x86-64-v3");
  checkKernel(packedMatmul(80, 41, 53, "f32", perPanel("40, 0", 16, 16, false)),
              kF32, 2);
  // One m block of all a tile's rows: each panel is packed into the same
  // one panel's space (kiln-cpu-prefetch-pack-sources), the first k block's
  // and the later ones' alike; in tiles of 40 rows, with the epilogue.
  checkKernel(matmulAlone(64, 192, 96, perPanel("0, 0", 64, 64, false)), kF32,
              1);
  checkKernel(packedMatmul(80, 64, 48, "f32", perPanel("40, 0", 16, 40, false)),
              kF32, 2);
}

TEST_F(CpuCodegenTest, ThreeVectorRegisterTiles) {
  // 8 x 48 register tiles (kiln-cpu-split-register-tiles: 24 rows of one
  // vector), in place: 64 rows in m blocks of 32, 96 columns (two whole
  // panels), k = 200 in blocks of 64. Then with partial ones and an
  // epilogue: 37 x 100 (the last panel padded, the last rows one vector at
  // a time).
  StringRef config = "#kiln.cpu_config<tile_sizes = [0, 0], vector_width = "
                     "16, micro_tile = [8, 48, 1], pack_matmul = true, "
                     "k_block = 64, pack_lhs = true, m_block = 32>";
  checkKernel(matmulAlone(64, 200, 96, config), kF32, 1);
  checkKernel(packedMatmul(37, 100, 70, "f32", config), kF32, 1);
}

TEST_F(CpuCodegenTest, PackedLhsBatchMatmulTransposes) {
  // A transposed lhs (K x M per batch) packs into the same panels.
  checkKernel(llvm::formatv(R"mlir(
    func.func @bmm(%a: tensor<2x3x9x11xf32>, %b: tensor<1x1x37x9xf32>) -> tensor<2x3x11x37xf32> attributes {{kiln.kernel, kiln.cpu_config = {0}} {{
      %0 = kiln.matmul %a, %b {{transpose_lhs = true, transpose_rhs = true} : (tensor<2x3x9x11xf32>, tensor<1x1x37x9xf32>) -> tensor<2x3x11x37xf32>
      return %0 : tensor<2x3x11x37xf32>
    }
  )mlir",
                            packedConfig("1, 1, 0, 32", 4, false, true))
                  .str(),
              kF32, 12);
}

TEST_F(CpuCodegenTest, DefaultDeepMatmulIsPackedBothTargets) {
  // The default config packs and sweeps k = 600 in blocks of 256 with a
  // partial last one; the 70 x 45 result is one tile.
  checkKernel(matmulBiasGelu(70, 45, 600, "f32"), kF32, 1);
  checkKernel(matmulBiasGelu(70, 45, 600, "f32"), kF32, 1, /*seed=*/7,
              "x86-64-v3");
}

TEST_F(CpuCodegenTest, DefaultShallowMatmulIsPackedByRowsBothTargets) {
  // k = 20 is one partial k block, but 256 rows share each packed panel:
  // 300 rows go by tiles of 256 (a partial one of 44), 200 columns by tiles
  // of 64 (a partial one of 8), 8 tiles in all.
  checkKernel(matmulBiasGelu(300, 200, 20, "f32"), kF32, 8);
  checkKernel(matmulBiasGelu(300, 200, 20, "f32"), kF32, 8, /*seed=*/7,
              "x86-64-v3");
}

TEST_F(CpuCodegenTest, PackedBatchMatmulTransposes) {
  // The rhs is shared by both batches and read transposed; the lhs too.
  checkKernel(llvm::formatv(R"mlir(
    func.func @bmm(%a: tensor<2x3x9x11xf32>, %b: tensor<1x1x37x9xf32>) -> tensor<2x3x11x37xf32> attributes {{kiln.kernel, kiln.cpu_config = {0}} {{
      %0 = kiln.matmul %a, %b {{transpose_lhs = true, transpose_rhs = true} : (tensor<2x3x9x11xf32>, tensor<1x1x37x9xf32>) -> tensor<2x3x11x37xf32>
      return %0 : tensor<2x3x11x37xf32>
    }
  )mlir",
                            packedConfig("1, 1, 0, 32", 4, false))
                  .str(),
              kF32, 12);
}

TEST_F(CpuCodegenTest, PackedBatchMatmulAvx2) {
  checkKernel(llvm::formatv(R"mlir(
    func.func @bmm(%a: tensor<3x5x20xf32>, %b: tensor<3x20x17xf32>) -> tensor<3x5x17xf32> attributes {{kiln.kernel, kiln.cpu_config = {0}} {{
      %0 = kiln.matmul %a, %b : (tensor<3x5x20xf32>, tensor<3x20x17xf32>) -> tensor<3x5x17xf32>
      return %0 : tensor<3x5x17xf32>
    }
  )mlir",
                            packedConfig("1, 0, 0", 0, true))
                  .str(),
              kF32, 3, /*seed=*/7, "x86-64-v3");
}

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

TEST_F(CpuCodegenTest, SoftmaxRows) {
  // 300 rows of 257: rows whole, 15 rows per tile.
  checkKernel(R"mlir(
    func.func @softmax(%x: tensor<300x257xf32>) -> tensor<300x257xf32> attributes {kiln.kernel} {
      %0 = kiln.softmax %x {axis = 1 : i64} : tensor<300x257xf32>
      return %0 : tensor<300x257xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/20);
}

TEST_F(CpuCodegenTest, SoftmaxLeadingAxisBf16) {
  checkKernel(R"mlir(
    func.func @softmax(%x: tensor<17x6x5xbf16>) -> tensor<17x6x5xbf16> attributes {kiln.kernel} {
      %0 = kiln.softmax %x {axis = 0 : i64} : tensor<17x6x5xbf16>
      return %0 : tensor<17x6x5xbf16>
    }
  )mlir",
              kBf16, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, RmsNorm) {
  checkKernel(R"mlir(
    func.func @rms(%x: tensor<2x333x96xf32>, %g: tensor<96xf32>) -> tensor<2x333x96xf32> attributes {kiln.kernel} {
      %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<2x333x96xf32>, tensor<96xf32>) -> tensor<2x333x96xf32>
      return %0 : tensor<2x333x96xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/16);
}

TEST_F(CpuCodegenTest, LayerNorm) {
  checkKernel(R"mlir(
    func.func @ln(%x: tensor<9x50xf32>, %g: tensor<50xf32>, %b: tensor<50xf32>) -> tensor<9x50xf32> attributes {kiln.kernel} {
      %0 = kiln.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f32} : (tensor<9x50xf32>, tensor<50xf32>, tensor<50xf32>) -> tensor<9x50xf32>
      return %0 : tensor<9x50xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, ReduceSumKeepDims) {
  checkKernel(R"mlir(
    func.func @sum(%x: tensor<23x45x170xf32>) -> tensor<23x45x1xf32> attributes {kiln.kernel} {
      %0 = kiln.reduce_sum %x {axes = array<i64: 2>, keep_dims = true} : (tensor<23x45x170xf32>) -> tensor<23x45x1xf32>
      return %0 : tensor<23x45x1xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, ReduceMeanAndMaxOverOuterAxes) {
  checkKernel(R"mlir(
    func.func @reduce(%x: tensor<6x7x19xf32>) -> tensor<7xf32> attributes {kiln.kernel} {
      %0 = kiln.reduce_mean %x {axes = array<i64: 0, 2>} : (tensor<6x7x19xf32>) -> tensor<7xf32>
      %1 = kiln.reduce_max %x {axes = array<i64: 0, 2>} : (tensor<6x7x19xf32>) -> tensor<7xf32>
      %2 = kiln.add %0, %1 : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xf32>
      return %2 : tensor<7xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

//===----------------------------------------------------------------------===//
// Data movement, gather, rope, conv
//===----------------------------------------------------------------------===//

TEST_F(CpuCodegenTest, TransposeSliceConcatReshape) {
  checkKernel(R"mlir(
    func.func @move(%x: tensor<4x6x5xf32>, %y: tensor<2x5x6xf32>) -> tensor<6x60xf32> attributes {kiln.kernel} {
      %0 = kiln.transpose %x {permutation = array<i64: 0, 2, 1>} : (tensor<4x6x5xf32>) -> tensor<4x5x6xf32>
      %1 = kiln.slice %0 {starts = array<i64: 1, 0, 0>, limits = array<i64: 4, 5, 6>, strides = array<i64: 2, 1, 1>} : (tensor<4x5x6xf32>) -> tensor<2x5x6xf32>
      %2 = kiln.concat %1, %y {axis = 0 : i64} : (tensor<2x5x6xf32>, tensor<2x5x6xf32>) -> tensor<4x5x6xf32>
      %3 = kiln.reshape %2 : tensor<4x5x6xf32> to tensor<6x20xf32>
      %4 = kiln.broadcast_to %3 : tensor<6x20xf32> to tensor<3x6x20xf32>
      %5 = kiln.transpose %4 {permutation = array<i64: 1, 0, 2>} : (tensor<3x6x20xf32>) -> tensor<6x3x20xf32>
      %6 = kiln.reshape %5 : tensor<6x3x20xf32> to tensor<6x60xf32>
      return %6 : tensor<6x60xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, GatherEmbedding) {
  checkKernel(R"mlir(
    func.func @embed(%table: tensor<50x24xf32>, %ids: tensor<3x7xi32> {kiln.range = array<i64: 0, 50>}) -> tensor<3x7x24xf32> attributes {kiln.kernel} {
      %0 = kiln.gather %table, %ids {axis = 0 : i64} : (tensor<50x24xf32>, tensor<3x7xi32>) -> tensor<3x7x24xf32>
      return %0 : tensor<3x7x24xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, Rope) {
  checkKernel(R"mlir(
    func.func @rope(%q: tensor<1x3x11x16xf32>) -> tensor<1x3x11x16xf32> attributes {kiln.kernel} {
      %0 = kiln.rope %q {theta = 1.0e+04 : f32, position_offset = 5 : i64} : tensor<1x3x11x16xf32>
      return %0 : tensor<1x3x11x16xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, Conv2DPaddedStridedDilated) {
  checkKernel(R"mlir(
    func.func @conv(%x: tensor<2x3x11x10xf32>, %w: tensor<4x3x3x2xf32>) -> tensor<2x4x6x5xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {strides = array<i64: 2, 2>, padding = array<i64: 1, 0, 2, 1>, dilations = array<i64: 1, 2>} : (tensor<2x3x11x10xf32>, tensor<4x3x3x2xf32>) -> tensor<2x4x6x5xf32>
      return %0 : tensor<2x4x6x5xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/2);
}

// Convolutions are matmuls over im2col patches with the matmul's packed
// panels and register tiles: filter counts and output positions that are
// no multiple of the micro tile, several images, and tiles along the
// filters and the output rows.
TEST_F(CpuCodegenTest, Conv2DPatchEmbedding) {
  // 70 filters of 8 x 8 patches, 15 positions per image, one tile per image.
  checkKernel(R"mlir(
    func.func @patches(%x: tensor<2x3x40x24xf32>, %w: tensor<70x3x8x8xf32>) -> tensor<2x70x5x3xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {strides = array<i64: 8, 8>} : (tensor<2x3x40x24xf32>, tensor<70x3x8x8xf32>) -> tensor<2x70x5x3xf32>
      return %0 : tensor<2x70x5x3xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, Conv2DTiledByOutputRows) {
  // 150 filters, 30 x 30 positions in tiles of 4 output rows, the last one
  // of 2.
  checkKernel(R"mlir(
    func.func @conv(%x: tensor<1x13x30x30xf32>, %w: tensor<150x13x3x3xf32>) -> tensor<1x150x30x30xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {padding = array<i64: 1, 1, 1, 1>} : (tensor<1x13x30x30xf32>, tensor<150x13x3x3xf32>) -> tensor<1x150x30x30xf32>
      return %0 : tensor<1x150x30x30xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/8);
}

TEST_F(CpuCodegenTest, Conv2DDeepBlockedAndUnpacked) {
  // k = 576 goes by k blocks of 256 with packed filters; 20 filters of
  // k = 360 stay unpacked.
  checkKernel(R"mlir(
    func.func @deep(%x: tensor<1x64x8x8xf32>, %w: tensor<24x64x3x3xf32>) -> tensor<1x24x8x8xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {padding = array<i64: 1, 1, 1, 1>} : (tensor<1x64x8x8xf32>, tensor<24x64x3x3xf32>) -> tensor<1x24x8x8xf32>
      return %0 : tensor<1x24x8x8xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
  checkKernel(R"mlir(
    func.func @unpacked(%x: tensor<1x40x9x11xf32>, %w: tensor<20x40x3x3xf32>) -> tensor<1x20x7x9xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w : (tensor<1x40x9x11xf32>, tensor<20x40x3x3xf32>) -> tensor<1x20x7x9xf32>
      return %0 : tensor<1x20x7x9xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, Conv2DBf16) {
  checkKernel(R"mlir(
    func.func @conv(%x: tensor<2x5x12x12xbf16>, %w: tensor<40x5x4x4xbf16>) -> tensor<2x40x3x3xbf16> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {strides = array<i64: 4, 4>} : (tensor<2x5x12x12xbf16>, tensor<40x5x4x4xbf16>) -> tensor<2x40x3x3xbf16>
      return %0 : tensor<2x40x3x3xbf16>
    }
  )mlir",
              kBf16, /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, Conv2DGrouped) {
  checkKernel(R"mlir(
    func.func @conv(%x: tensor<1x4x7x7xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x5x5xf32> attributes {kiln.kernel} {
      %0 = kiln.conv2d %x, %w {groups = 2 : i64} : (tensor<1x4x7x7xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x5x5xf32>
      return %0 : tensor<1x6x5x5xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, ErfAcrossItsRange) {
  // Both tails, the flat ends, values near zero, signed zeros and the
  // non-finite values, 4099 in all (no multiple of the vector width).
  cpu::LoadedKernel kernel = compile(R"mlir(
    func.func @erf(%x: tensor<4099xf32>) -> tensor<4099xf32> attributes {kiln.kernel} {
      %0 = kiln.erf %x : tensor<4099xf32>
      return %0 : tensor<4099xf32>
    }
  )mlir");
  ASSERT_NE(kernel.getEntry(), nullptr);
  HostTensor x(ElementType::F32, {4099});
  std::vector<double> special = {0.0,   -0.0,  1e-30, -1e-20, 1e-7,
                                 -3e-4, 0.5,   -0.84, 3.9,    -4.1,
                                 9.0,   -30.0, std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity(),
                                 std::numeric_limits<double>::quiet_NaN()};
  for (int64_t i = 0; i < x.getNumElements(); ++i)
    x.setFloat(i, i < static_cast<int64_t>(special.size())
                      ? special[i]
                      : -7.0 + 14.0 * static_cast<double>(i) / 4099.0);
  std::vector<HostTensor> inputs;
  inputs.push_back(std::move(x));
  checkOutputs(kernel, inputs, kF32);
}

TEST_F(CpuCodegenTest, ErfBf16) {
  checkKernel(R"mlir(
    func.func @erf(%x: tensor<7x33xbf16>) -> tensor<7x33xbf16> attributes {kiln.kernel} {
      %0 = kiln.erf %x : tensor<7x33xbf16>
      return %0 : tensor<7x33xbf16>
    }
  )mlir",
              kBf16, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, SelectBroadcastsItsOperands) {
  // A column of conditions (negative, zero and positive), a full true value
  // and a scalar false value.
  checkKernel(R"mlir(
    func.func @select(%c: tensor<5x1xi32> {kiln.range = array<i64: -2, 3>}, %a: tensor<5x37xf32>, %b: tensor<f32>) -> tensor<5x37xf32> attributes {kiln.kernel} {
      %0 = kiln.select %c, %a, %b : (tensor<5x1xi32>, tensor<5x37xf32>, tensor<f32>) -> tensor<5x37xf32>
      return %0 : tensor<5x37xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, SelectIntegersByI64Condition) {
  checkKernel(R"mlir(
    func.func @select(%c: tensor<3x4xi64> {kiln.range = array<i64: 0, 2>}, %a: tensor<4xi32> {kiln.range = array<i64: -50, 50>}, %b: tensor<3x1xi32> {kiln.range = array<i64: 100, 200>}) -> tensor<3x4xi32> attributes {kiln.kernel} {
      %0 = kiln.select %c, %a, %b : (tensor<3x4xi64>, tensor<4xi32>, tensor<3x1xi32>) -> tensor<3x4xi32>
      return %0 : tensor<3x4xi32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, MaxPoolPaddedStrided) {
  // Uneven padding and strides: the first and last windows of each
  // dimension lie partly in the padding.
  checkKernel(R"mlir(
    func.func @pool(%x: tensor<2x3x11x10xf32>) -> tensor<2x3x6x4xf32> attributes {kiln.kernel} {
      %0 = kiln.max_pool2d %x {kernel = array<i64: 3, 2>, strides = array<i64: 2, 3>, padding = array<i64: 1, 0, 2, 1>} : (tensor<2x3x11x10xf32>) -> tensor<2x3x6x4xf32>
      return %0 : tensor<2x3x6x4xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, MaxPoolNegativeInputsBf16Tiled) {
  // All inputs negative, so that a zero from the padding would show; 32
  // channels of 32 x 32 outputs are two tiles of channels.
  checkKernel(R"mlir(
    func.func @pool(%x: tensor<1x32x64x64xbf16>) -> tensor<1x32x32x32xbf16> attributes {kiln.kernel} {
      %0 = kiln.abs %x : tensor<1x32x64x64xbf16>
      %1 = kiln.neg %0 : tensor<1x32x64x64xbf16>
      %2 = kiln.max_pool2d %1 {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x32x64x64xbf16>) -> tensor<1x32x32x32xbf16>
      return %2 : tensor<1x32x32x32xbf16>
    }
  )mlir",
              kBf16, /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, AvgPoolCountsPositionsInsideTheInput) {
  checkKernel(R"mlir(
    func.func @pool(%x: tensor<2x4x9x8xf32>) -> tensor<2x4x5x3xf32> attributes {kiln.kernel} {
      %0 = kiln.avg_pool2d %x {kernel = array<i64: 3, 4>, strides = array<i64: 2, 3>, padding = array<i64: 1, 2, 1, 1>} : (tensor<2x4x9x8xf32>) -> tensor<2x4x5x3xf32>
      return %0 : tensor<2x4x5x3xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, AvgPoolCountIncludePad) {
  checkKernel(R"mlir(
    func.func @pool(%x: tensor<1x3x7x7xf32>) -> tensor<1x3x4x4xf32> attributes {kiln.kernel} {
      %0 = kiln.avg_pool2d %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, count_include_pad = true} : (tensor<1x3x7x7xf32>) -> tensor<1x3x4x4xf32>
      return %0 : tensor<1x3x4x4xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, TwoResultsAndAPassthrough) {
  // Several results are one tile; a result that is an input is a copy.
  checkKernel(R"mlir(
    func.func @two(%x: tensor<3x40xf32>) -> (tensor<3x40xf32>, tensor<3x40xf32>, tensor<3x40xf32>) attributes {kiln.kernel} {
      %0 = kiln.exp %x : tensor<3x40xf32>
      %1 = kiln.neg %0 : tensor<3x40xf32>
      return %0, %1, %x : tensor<3x40xf32>, tensor<3x40xf32>, tensor<3x40xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// A kernel of one kiln.attention with `attributes`; `config` (if any) is
/// its #kiln.cpu_config.
static std::string attentionKernel(StringRef type, int64_t batch,
                                   int64_t heads, int64_t kvHeads,
                                   int64_t querySeq, int64_t keySeq,
                                   int64_t dim, int64_t valueDim,
                                   StringRef attributes, StringRef config) {
  std::string q = llvm::formatv("tensor<{0}x{1}x{2}x{3}x{4}>", batch, heads,
                                querySeq, dim, type);
  std::string k = llvm::formatv("tensor<{0}x{1}x{2}x{3}x{4}>", batch, kvHeads,
                                keySeq, dim, type);
  std::string v = llvm::formatv("tensor<{0}x{1}x{2}x{3}x{4}>", batch, kvHeads,
                                keySeq, valueDim, type);
  std::string r = llvm::formatv("tensor<{0}x{1}x{2}x{3}x{4}>", batch, heads,
                                querySeq, valueDim, type);
  std::string configAttr =
      config.empty() ? "" : ", kiln.cpu_config = " + config.str();
  return llvm::formatv(R"mlir(
    func.func @attn(%q: {0}, %k: {1}, %v: {2}) -> {3} attributes {{kiln.kernel{5}} {{
      %0 = kiln.attention %q, %k, %v {4} : ({0}, {1}, {2}) -> {3}
      return %0 : {3}
    }
  )mlir",
                       q, k, v, r, attributes, configAttr);
}

TEST_F(CpuCodegenTest, AttentionCausalGroupedQuery) {
  // Four query heads over two kv heads; one tile per head.
  checkKernel(attentionKernel("f32", 1, 4, 2, 13, 13, 16, 16,
                              "{causal = true}", ""),
              kF32, /*expectedTiles=*/4);
}

TEST_F(CpuCodegenTest, AttentionCausalQueryAndKeyBlocks) {
  // Query blocks of 8 over 17 rows, 131 keys: three key blocks of 64, the
  // last partial, and the diagonal masked; causal with Sk > Sq.
  checkKernel(attentionKernel("f32", 1, 2, 1, 17, 131, 16, 16,
                              "{causal = true}",
                              "#kiln.cpu_config<tile_sizes = [1, 1, 8, 0], "
                              "vector_width = 8, micro_tile = [4, 16, 1]>"),
              kF32, /*expectedTiles=*/6);
}

TEST_F(CpuCodegenTest, AttentionNonCausalScaleAndValueWidth) {
  // Sq 13 against Sk 17, a value width other than the key width, a scale.
  checkKernel(attentionKernel("f32", 2, 3, 3, 13, 17, 16, 8,
                              "{scale = 0.5 : f32}",
                              "#kiln.cpu_config<tile_sizes = [1, 0, 5, 0], "
                              "vector_width = 8, micro_tile = [4, 16, 1]>"),
              kF32, /*expectedTiles=*/6);
}

TEST_F(CpuCodegenTest, AttentionCausalRowsWithoutKeys) {
  // 13 queries, 5 keys: the first 8 rows see no key and are zero.
  checkKernel(attentionKernel("f32", 1, 1, 1, 13, 5, 8, 8, "{causal = true}",
                              "#kiln.cpu_config<tile_sizes = [0, 0, 4, 0], "
                              "vector_width = 8, micro_tile = [4, 16, 1]>"),
              kF32, /*expectedTiles=*/4);
}

TEST_F(CpuCodegenTest, AttentionOneByOne) {
  checkKernel(attentionKernel("f32", 1, 1, 1, 1, 1, 1, 1, "{causal = true}",
                              ""),
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, AttentionUntiled) {
  // A config without tiles: the whole op is one tile of its decomposition.
  checkKernel(attentionKernel("f32", 2, 4, 2, 17, 70, 16, 16,
                              "{causal = true}",
                              "#kiln.cpu_config<tile_sizes = [0, 0, 0, 0], "
                              "vector_width = 8>"),
              kF32, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, AttentionBf16GroupedQuery) {
  checkKernel(attentionKernel("bf16", 2, 4, 1, 17, 17, 32, 32,
                              "{causal = true}", ""),
              kBf16, /*expectedTiles=*/8);
}

TEST_F(CpuCodegenTest, AttentionWithRopeAndTransposesFused) {
  // The decoder's attention kernel: the producers run inside each tile.
  checkKernel(R"mlir(
    func.func @attention_rope(%x: tensor<1x13x64xf32>, %y: tensor<1x13x32xf32>, %z: tensor<1x13x32xf32>) -> tensor<1x4x13x16xf32> attributes {kiln.kernel} {
      %0 = kiln.reshape %x : tensor<1x13x64xf32> to tensor<1x13x4x16xf32>
      %1 = kiln.transpose %0 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x13x4x16xf32>) -> tensor<1x4x13x16xf32>
      %2 = kiln.reshape %y : tensor<1x13x32xf32> to tensor<1x13x2x16xf32>
      %3 = kiln.transpose %2 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x13x2x16xf32>) -> tensor<1x2x13x16xf32>
      %4 = kiln.reshape %z : tensor<1x13x32xf32> to tensor<1x13x2x16xf32>
      %5 = kiln.transpose %4 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x13x2x16xf32>) -> tensor<1x2x13x16xf32>
      %6 = kiln.rope %1 : tensor<1x4x13x16xf32>
      %7 = kiln.rope %3 : tensor<1x2x13x16xf32>
      %8 = kiln.attention %6, %7, %5 {causal = true} : (tensor<1x4x13x16xf32>, tensor<1x2x13x16xf32>, tensor<1x2x13x16xf32>) -> tensor<1x4x13x16xf32>
      return %8 : tensor<1x4x13x16xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/4);
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

/// The config of a mixture-of-experts kernel of rank-2 results with blocks
/// of `tokens` tokens (0: one tile) and AVX2 register tiles [4, 16]: the
/// experts' matmuls then pad their blocks to 4 rows and pack matrices whose
/// width 16 divides.
static std::string moeConfig(int64_t tokens, StringRef extraTiles = "") {
  return llvm::formatv("#kiln.cpu_config<tile_sizes = [{0}{1}, 0], "
                       "vector_width = 8, micro_tile = [4, 16, 1]>",
                       extraTiles, tokens)
      .str();
}

TEST_F(CpuCodegenTest, MoeRouterTopTwo) {
  // Two results tiled over tokens together, the last tile partial.
  checkKernel(llvm::formatv(R"mlir(
    func.func @router(%l: tensor<13x5xf32>) -> (tensor<13x2xf32>, tensor<13x2xi32>) attributes {{kiln.kernel, kiln.cpu_config = {0}} {{
      %w, %i = kiln.moe_router %l {{top_k = 2 : i64} : (tensor<13x5xf32>) -> (tensor<13x2xf32>, tensor<13x2xi32>)
      return %w, %i : tensor<13x2xf32>, tensor<13x2xi32>
    }
  )mlir",
                            moeConfig(8))
                  .str(),
              kF32, /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, MoeRouterTiesTakeTheLowerIndex) {
  // relu makes many logits 0: equal probabilities go lowest index first.
  checkKernel(llvm::formatv(R"mlir(
    func.func @router(%x: tensor<17x6xf32>) -> (tensor<17x3xf32>, tensor<17x3xi32>) attributes {{kiln.kernel, kiln.cpu_config = {0}} {{
      %l = kiln.relu %x : tensor<17x6xf32>
      %w, %i = kiln.moe_router %l {{top_k = 3 : i64, normalize = false} : (tensor<17x6xf32>) -> (tensor<17x3xf32>, tensor<17x3xi32>)
      return %w, %i : tensor<17x3xf32>, tensor<17x3xi32>
    }
  )mlir",
                            moeConfig(8))
                  .str(),
              kF32, /*expectedTiles=*/3);
}

/// A kernel of one kiln.moe_experts over 4 experts of width `ffn` on 16
/// hidden features, whose indices are drawn from [`low`, `high`), with
/// `config` (the default without one).
static std::string expertsKernel(StringRef type, int64_t tokens, int64_t topK,
                                 int64_t low, int64_t high, int64_t ffn,
                                 StringRef config = "") {
  std::string attributes =
      config.empty() ? "kiln.kernel"
                     : ("kiln.kernel, kiln.cpu_config = " + config).str();
  return llvm::formatv(R"mlir(
    func.func @experts(%x: tensor<{0}x16x{1}>, %w: tensor<{0}x{2}x{1}>, %i: tensor<{0}x{2}xi32> {{kiln.range = array<i64: {3}, {4}>}, %g: tensor<4x16x{5}x{1}>, %u: tensor<4x16x{5}x{1}>, %d: tensor<4x{5}x16x{1}>) -> tensor<{0}x16x{1}> attributes {{{6}} {{
      %0 = kiln.moe_experts %x, %w, %i, %g, %u, %d : (tensor<{0}x16x{1}>, tensor<{0}x{2}x{1}>, tensor<{0}x{2}xi32>, tensor<4x16x{5}x{1}>, tensor<4x16x{5}x{1}>, tensor<4x{5}x16x{1}>) -> tensor<{0}x16x{1}>
      return %0 : tensor<{0}x16x{1}>
    }
  )mlir",
                       tokens, type, topK, low, high, ffn, attributes);
}

TEST_F(CpuCodegenTest, MoeExpertsTopTwoSomeExpertsIdle) {
  // Experts 2 and 3 get no token; tiles of 8 tokens, the last partial.
  checkKernel(expertsKernel("f32", 13, 2, 0, 2, 24, moeConfig(8)), kF32,
              /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, MoeExpertsAllTokensToOneExpert) {
  checkKernel(expertsKernel("f32", 17, 1, 3, 4, 24, moeConfig(8)), kF32,
              /*expectedTiles=*/3);
}

TEST_F(CpuCodegenTest, MoeExpertsAllSlotsToOneExpert) {
  // Both slots of all 37 tokens go to expert 3: one block of 74 rows (not a
  // multiple of the 4-row register tile) while the others are empty.
  checkKernel(expertsKernel("f32", 37, 2, 3, 4, 32, moeConfig(0)), kF32,
              /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, MoeExpertsGroupedPackedPanels) {
  // 61 tokens over 4 experts, 32 per tile: blocks of several register tiles
  // of rows, every matrix packed into panels of 16 columns. Three chained
  // contractions of up to 48 terms: the chained tolerance.
  checkKernel(expertsKernel("f32", 61, 2, 0, 4, 48, moeConfig(32)), kF32Chained,
              /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, MoeExpertsWithoutRegisterTile) {
  // A config without a register tile: unpadded blocks, unpacked matrices.
  checkKernel(expertsKernel("f32", 23, 2, 0, 4, 32,
                            "#kiln.cpu_config<tile_sizes = [16, 0], "
                            "vector_width = 8>"),
              kF32, /*expectedTiles=*/2);
}

TEST_F(CpuCodegenTest, MoeExpertsDefaultConfig) {
  checkKernel(expertsKernel("f32", 130, 2, 0, 4, 32), kF32,
              /*expectedTiles=*/3);
}

TEST_F(CpuCodegenTest, MoeExpertsBf16) {
  checkKernel(expertsKernel("bf16", 9, 2, 0, 4, 32, moeConfig(4)), kBf16,
              /*expectedTiles=*/3);
}

/// The moe model's feed-forward kernel with `topK` experts per token and
/// `config` (the default without one).
static std::string moeLayerKernel(int64_t topK, StringRef config = "") {
  std::string attributes =
      config.empty() ? "kiln.kernel"
                     : ("kiln.kernel, kiln.cpu_config = " + config).str();
  return llvm::formatv(R"mlir(
    func.func @moe(%x: tensor<1x13x32xf32>, %s: tensor<32xf32>, %r: tensor<32x4xf32>, %g: tensor<4x32x48xf32>, %u: tensor<4x32x48xf32>, %d: tensor<4x48x32xf32>) -> tensor<1x13x32xf32> attributes {{{1}} {{
      %0 = kiln.rms_norm %x, %s : (tensor<1x13x32xf32>, tensor<32xf32>) -> tensor<1x13x32xf32>
      %1 = kiln.reshape %0 : tensor<1x13x32xf32> to tensor<13x32xf32>
      %2 = kiln.matmul %1, %r : (tensor<13x32xf32>, tensor<32x4xf32>) -> tensor<13x4xf32>
      %w, %i = kiln.moe_router %2 {{top_k = {0} : i64} : (tensor<13x4xf32>) -> (tensor<13x{0}xf32>, tensor<13x{0}xi32>)
      %3 = kiln.moe_experts %1, %w, %i, %g, %u, %d : (tensor<13x32xf32>, tensor<13x{0}xf32>, tensor<13x{0}xi32>, tensor<4x32x48xf32>, tensor<4x32x48xf32>, tensor<4x48x32xf32>) -> tensor<13x32xf32>
      %4 = kiln.reshape %3 : tensor<13x32xf32> to tensor<1x13x32xf32>
      %5 = kiln.add %x, %4 : (tensor<1x13x32xf32>, tensor<1x13x32xf32>) -> tensor<1x13x32xf32>
      return %5 : tensor<1x13x32xf32>
    }
  )mlir",
                       topK, attributes);
}

TEST_F(CpuCodegenTest, MoeLayerTopOne) {
  checkKernel(moeLayerKernel(1), kF32Chained, /*expectedTiles=*/1);
}

TEST_F(CpuCodegenTest, MoeLayerTopTwo) {
  // The router's matmul and the norm fused into tiles of 8 tokens.
  checkKernel(moeLayerKernel(2, moeConfig(8, "0, ")), kF32Chained,
              /*expectedTiles=*/2);
}

//===----------------------------------------------------------------------===//
// Several results
//===----------------------------------------------------------------------===//

TEST_F(CpuCodegenTest, ThreeMatmulsOfOneNormTiledByRows) {
  // The decoder's q, k, v projections: results of different widths share
  // the row tiles.
  checkKernel(R"mlir(
    func.func @qkv(%x: tensor<1x13x64xf32>, %s: tensor<64xf32>, %a: tensor<64x64xf32>, %b: tensor<64x32xf32>, %c: tensor<64x32xf32>) -> (tensor<1x13x64xf32>, tensor<1x13x32xf32>, tensor<1x13x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 4, 0], vector_width = 8, micro_tile = [4, 16, 1]>} {
      %0 = kiln.rms_norm %x, %s : (tensor<1x13x64xf32>, tensor<64xf32>) -> tensor<1x13x64xf32>
      %1 = kiln.matmul %0, %a : (tensor<1x13x64xf32>, tensor<64x64xf32>) -> tensor<1x13x64xf32>
      %2 = kiln.matmul %0, %b : (tensor<1x13x64xf32>, tensor<64x32xf32>) -> tensor<1x13x32xf32>
      %3 = kiln.matmul %0, %c : (tensor<1x13x64xf32>, tensor<64x32xf32>) -> tensor<1x13x32xf32>
      return %1, %2, %3 : tensor<1x13x64xf32>, tensor<1x13x32xf32>, tensor<1x13x32xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/4);
}

// The exp result is also read by the neg: bufferization keeps it in a copy
// that is written back whole after the tile loop, so the 9 tiles cannot be
// split across calls (kiln-cpu-distribute-tiles) and run as one.
TEST_F(CpuCodegenTest, TwoElementwiseResultsTiled) {
  checkKernel(R"mlir(
    func.func @two(%x: tensor<5x40xf32>) -> (tensor<5x40xf32>, tensor<5x40xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [2, 16], vector_width = 8>} {
      %0 = kiln.exp %x : tensor<5x40xf32>
      %1 = kiln.neg %0 : tensor<5x40xf32>
      return %0, %1 : tensor<5x40xf32>, tensor<5x40xf32>
    }
  )mlir",
              kF32, /*expectedTiles=*/1);
}

//===----------------------------------------------------------------------===//
// The zoo
//===----------------------------------------------------------------------===//

/// Every kernel of a zoo model after the graph pipeline, lowered and
/// compiled into one shared object, against the reference on seeded inputs,
/// over all tiles and over two ranges.
class CpuZooTest : public CpuCodegenTest {
protected:
  void checkModel(StringRef name, ArrayRef<std::string> settings = {}) {
    SCOPED_TRACE(name.str());
    std::string error;
    FailureOr<zoo::Model> model =
        zoo::buildModel(context, name, settings, error);
    ASSERT_TRUE(succeeded(model)) << error;
    PassManager graph(&context);
    graph::buildGraphPipeline(graph, graph::GraphPipelineOptions());
    ASSERT_TRUE(succeeded(graph.run(*model->module))) << diagnostics;

    // 1. The kernels alone, for the reference and for the backend.
    OwningOpRef<ModuleOp> kernels = model->module->clone();
    for (func::FuncOp function :
         llvm::make_early_inc_range(kernels->getOps<func::FuncOp>()))
      if (!cpu::isKernel(function))
        function.erase();
    reference = kernels->clone();
    PassManager pm(&context);
    cpu::buildCpuLowerKernelPipeline(pm, cpu::CpuLowerKernelPipelineOptions());
    ASSERT_TRUE(succeeded(pm.run(*kernels))) << diagnostics;
    std::string path =
        directory + "/" + name.str() + std::to_string(compiled++) + ".so";
    ASSERT_TRUE(succeeded(cpu::compileToSharedObject(
        *kernels, codegen::getHostCpuTarget(), path)))
        << diagnostics;

    // 2. Each kernel against the reference.
    SmallVector<cpu::KernelEntry> entries = cpu::getKernelEntries(*kernels);
    for (func::FuncOp function : reference->getOps<func::FuncOp>()) {
      SCOPED_TRACE(function.getSymName().str());
      const cpu::KernelEntry *entry =
          llvm::find_if(entries, [&](const cpu::KernelEntry &e) {
            return e.symbol == function.getSymName();
          });
      ASSERT_NE(entry, entries.end());
      FailureOr<cpu::LoadedKernel> kernel =
          cpu::loadKernel(function.getLoc(), path, *entry);
      ASSERT_TRUE(succeeded(kernel)) << diagnostics;
      FailureOr<std::vector<HostTensor>> inputs =
          reference::makeSeededInputs(function, /*seed=*/11);
      ASSERT_TRUE(succeeded(inputs)) << diagnostics;
      FailureOr<std::vector<HostTensor>> expected =
          reference::evaluate(function, *inputs, {});
      ASSERT_TRUE(succeeded(expected)) << diagnostics;
      int64_t tiles = kernel->getInfo().tileCount;
      for (auto ranges : {std::vector<std::pair<int64_t, int64_t>>{{0, tiles}},
                          {{tiles / 2, tiles}, {0, tiles / 2}}}) {
        std::vector<HostTensor> outputs = makeOutputs(*expected);
        run(*kernel, *inputs, outputs, ranges);
        for (size_t i = 0; i < outputs.size(); ++i)
          expectClose(outputs[i], (*expected)[i], kF32Chained,
                      function.getSymName().str() + " result " +
                          std::to_string(i));
      }
    }
  }
};

TEST_F(CpuZooTest, EveryModelsKernelsMatchTheReference) {
  for (const zoo::ModelInfo &info : zoo::listModels())
    checkModel(info.name);
}

TEST_F(CpuZooTest, DecoderWithExperts) {
  checkModel("decoder", {"experts=4"});
}

//===----------------------------------------------------------------------===//
// Targets
//===----------------------------------------------------------------------===//

TEST(CpuTargetTest, NamedLevelsHaveTheirVectorWidths) {
  llvm::Expected<codegen::CpuTarget> avx2 = codegen::getCpuTarget("avx2");
  ASSERT_TRUE(bool(avx2)) << llvm::toString(avx2.takeError());
  EXPECT_EQ(avx2->cpu, "x86-64-v3");
  EXPECT_TRUE(avx2->hasAvx2 && avx2->hasFma);
  EXPECT_FALSE(avx2->hasAvx512);
  EXPECT_EQ(avx2->getF32Lanes(), 8);

  llvm::Expected<codegen::CpuTarget> avx512 =
      codegen::getCpuTarget("x86-64-v4");
  ASSERT_TRUE(bool(avx512)) << llvm::toString(avx512.takeError());
  EXPECT_TRUE(avx512->hasAvx512);
  EXPECT_EQ(avx512->getF32Lanes(), 16);
  EXPECT_EQ(avx512->getFingerprint(), "x86_64/x86-64-v4/avx512");

  llvm::Expected<codegen::CpuTarget> sse = codegen::getCpuTarget("x86-64");
  ASSERT_TRUE(bool(sse)) << llvm::toString(sse.takeError());
  EXPECT_EQ(sse->getF32Lanes(), 4);
}

TEST(CpuTargetTest, UnknownTargetIsAnError) {
  llvm::Expected<codegen::CpuTarget> target = codegen::getCpuTarget("pentium");
  ASSERT_FALSE(bool(target));
  std::string message = llvm::toString(target.takeError());
  EXPECT_NE(message.find("unknown CPU target 'pentium'"), std::string::npos)
      << message;
}

TEST(CpuTargetTest, HostIsDetectedFromTheMachine) {
  codegen::CpuTarget host = codegen::getHostCpuTarget();
  EXPECT_EQ(host.name, "host");
  EXPECT_FALSE(host.cpu.empty());
  // The feature string names each feature the flags were read from.
  bool listsAvx2 = host.features.find("+avx2") != std::string::npos;
  EXPECT_EQ(host.hasAvx2, listsAvx2) << host.features;
  bool listsAvx512 = host.features.find("+avx512f") != std::string::npos;
  if (host.hasAvx512)
    EXPECT_TRUE(listsAvx512) << host.features;
  if (host.hasAvx512)
    EXPECT_EQ(host.vectorBits, 512);
  else if (host.hasAvx2)
    EXPECT_EQ(host.vectorBits, 256);
  EXPECT_EQ(host.getF32Lanes() * 32, host.vectorBits);
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST_F(CpuCodegenTest, UnsupportedOpIsAnErrorAtTheOp) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func @weight() -> tensor<4xf32> attributes {kiln.kernel} {
      %0 = kiln.weight "w" : tensor<4xf32>
      return %0 : tensor<4xf32>
    }
  )mlir",
                                                             &context);
  ASSERT_TRUE(module) << diagnostics;
  PassManager pm(&context);
  cpu::buildCpuLowerKernelPipeline(pm, cpu::CpuLowerKernelPipelineOptions());
  EXPECT_TRUE(failed(pm.run(*module)));
  EXPECT_NE(diagnostics.find("'kiln.weight' cannot be lowered by the CPU "
                             "backend yet"),
            std::string::npos)
      << diagnostics;
}

TEST_F(CpuCodegenTest, LinkErrorIsADiagnostic) {
  // An output path in a directory that does not exist: the linker fails and
  // the failure comes back as a diagnostic, not a crash.
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      R"mlir(
    func.func @neg(%x: tensor<4xf32>) -> tensor<4xf32> attributes {kiln.kernel} {
      %0 = kiln.neg %x : tensor<4xf32>
      return %0 : tensor<4xf32>
    }
  )mlir",
      &context);
  ASSERT_TRUE(module);
  PassManager pm(&context);
  cpu::buildCpuLowerKernelPipeline(pm, cpu::CpuLowerKernelPipelineOptions());
  ASSERT_TRUE(succeeded(pm.run(*module))) << diagnostics;
  EXPECT_TRUE(failed(
      cpu::compileToSharedObject(*module, codegen::getHostCpuTarget(),
                                 directory + "/no/such/directory/kernel.so")));
  EXPECT_NE(diagnostics.find("linking kernels into"), std::string::npos)
      << diagnostics;
}

} // namespace
