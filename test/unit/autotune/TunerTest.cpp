//===- TunerTest.cpp - Spaces, keys and tuning through the worker -*- C++
//-*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The search space of a matmul, the cache keys (they change with the
// kernel, the target, the compiler version and the thread count, and with
// nothing else), and
// whole tunings through kiln-tune-worker: a small matmul tuned and found
// again in the database, and candidates that crash, hang, run out of memory
// or compute a wrong result, each of which the tuner survives and records.
//
//===----------------------------------------------------------------------===//

#include "autotune/Tuner.h"
#include "autotune/CostModel.h"
#include "autotune/KernelSignature.h"
#include "autotune/Trial.h"
#include "codegen/CPU/Patterns.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

using namespace mlir;
using namespace kiln;
using namespace kiln::autotune;

namespace {

constexpr const char *kMatmul = R"mlir(
  func.func @mm(%a: tensor<32x64xf32>, %b: tensor<64x64xf32>) -> tensor<32x64xf32>
      attributes {kiln.kernel} {
    %0 = kiln.matmul %a, %b : (tensor<32x64xf32>, tensor<64x64xf32>) -> tensor<32x64xf32>
    return %0 : tensor<32x64xf32>
  }
)mlir";

class TunerTest : public ::testing::Test {
protected:
  TunerTest() {
    DialectRegistry registry;
    cpu::registerCpuCodegenDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  func::FuncOp parse(const std::string &source) {
    modules.push_back(parseSourceString<ModuleOp>(source, &context));
    EXPECT_TRUE(modules.back());
    return *modules.back()->getOps<func::FuncOp>().begin();
  }

  TunerOptions makeOptions(const std::string &targetName = "x86-64-v3") {
    TunerOptions options;
    options.target = cantFail(codegen::getCpuTarget(targetName));
    options.fingerprint =
        codegen::getTuningFingerprint(options.target, codegen::HostMachine());
    options.compilerVersion = "test";
    options.workerPath = KILN_TUNE_WORKER_PATH;
    options.peaks.flopsPerSecond = 50e9;
    options.peaks.bytesPerSecond = 10e9;
    options.peaks.numThreads = 1;
    options.measureSeconds = 0.02;
    options.search.maxTrials = 4;
    return options;
  }

  std::unique_ptr<TuningDatabase> openDatabase() {
    dbFolder = std::filesystem::temp_directory_path() /
               ("kiln-tuner-test-" + std::to_string(getpid()));
    std::filesystem::remove_all(dbFolder);
    std::vector<std::string> warnings;
    std::string error;
    auto db =
        TuningDatabase::open((dbFolder / "t.db").string(), warnings, error);
    EXPECT_TRUE(db) << error;
    return db;
  }
  void TearDown() override { std::filesystem::remove_all(dbFolder); }

  MLIRContext context;
  std::vector<OwningOpRef<ModuleOp>> modules;
  std::filesystem::path dbFolder;
};

/// The search space of `kernel` on the CPU `targetName` with `l2Bytes` of
/// L2.
static SearchSpace buildSpace(func::FuncOp kernel, StringRef targetName,
                              int64_t l2Bytes) {
  codegen::CpuTarget target = cantFail(codegen::getCpuTarget(targetName));
  return buildSearchSpace(kernel, target, getSpaceLimits(target, l2Bytes));
}

/// The knob of `kind` in `space`, or null.
static const Knob *findKnob(const SearchSpace &space, KnobKind kind) {
  auto knob =
      llvm::find_if(space.knobs, [&](const Knob &k) { return k.kind == kind; });
  return knob == space.knobs.end() ? nullptr : &*knob;
}

TEST_F(TunerTest, MatmulSpaceIsLegalAndHoldsTheDefault) {
  func::FuncOp kernel = parse(kMatmul);
  SearchSpace space = buildSpace(kernel, "x86-64-v3", 1 << 20);
  ASSERT_EQ(space.kind, cpu::KernelKind::Matmul);
  std::vector<Candidate> legal = enumerateCandidates(space, kernel, 1 << 20);
  EXPECT_GT(legal.size(), 10u);
  EXPECT_LT(static_cast<int64_t>(legal.size()), space.getSize());
  std::optional<Candidate> base = getBaseCandidate(space);
  ASSERT_TRUE(base);
  EXPECT_EQ(applyCandidate(space, *base), space.base);
  EXPECT_NE(std::find(legal.begin(), legal.end(), *base), legal.end());
  for (const Candidate &candidate : legal) {
    CpuConfigAttr config = applyCandidate(space, candidate);
    ArrayRef<int64_t> micro = config.getMicroTile().asArrayRef();
    // 16 ymm registers: accumulators, a rhs row and a broadcast.
    EXPECT_LE(micro[0] * micro[1] / 8 + micro[1] / 8 + 1, 16);
    // One or two vectors of columns: three or four leave too few registers
    // for rows.
    EXPECT_LE(micro[1] / 8, 2) << micro[1];
  }
  // The same enumeration every time.
  EXPECT_EQ(enumerateCandidates(space, kernel, 1 << 20), legal);
}

TEST_F(TunerTest, Avx512MatmulSpaceOffersFourVectorRegisterTiles) {
  func::FuncOp kernel = parse(kMatmul);
  codegen::CpuTarget target = cantFail(codegen::getCpuTarget("x86-64-v4"));
  SearchSpace space =
      buildSearchSpace(kernel, target, getSpaceLimits(target, 1 << 20));
  std::set<std::pair<int64_t, int64_t>> registerTiles;
  for (const Candidate &candidate :
       enumerateCandidates(space, kernel, 1 << 20)) {
    ArrayRef<int64_t> micro =
        applyCandidate(space, candidate).getMicroTile().asArrayRef();
    // 32 zmm registers: accumulators, a rhs row and a broadcast.
    EXPECT_LE(micro[0] * micro[1] / 16 + micro[1] / 16 + 1, 32);
    registerTiles.insert({micro[0], micro[1]});
  }
  // 6 x 64 loads the fewest operands per FMA, 8 x 48 (oneDNN's) nearly as
  // few; 8 x 64 needs 37 registers.
  EXPECT_TRUE(registerTiles.count({6, 64}));
  EXPECT_TRUE(registerTiles.count({8, 48}));
  EXPECT_FALSE(registerTiles.count({8, 64}));
}

/// A matmul kernel alone, m x k times k x n in f32.
static std::string matmulKernel(int64_t m, int64_t k, int64_t n) {
  return llvm::formatv(R"mlir(
    func.func @mm(%a: tensor<{0}x{1}xf32>, %b: tensor<{1}x{2}xf32>)
        -> tensor<{0}x{2}xf32> attributes {{kiln.kernel} {{
      %0 = kiln.matmul %a, %b : (tensor<{0}x{1}xf32>, tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32>
      return %0 : tensor<{0}x{2}xf32>
    }
  )mlir",
                       m, k, n)
      .str();
}

static const std::string kLargeMatmul = matmulKernel(2048, 2048, 2048);

/// The candidate of a matmul's `space` with `rowTile` x `columnTile` tiles
/// and the given knob values, the base's for the other knobs.
static Candidate getMatmulCandidate(const SearchSpace &space,
                                    std::map<KnobKind, int64_t> values,
                                    int64_t rowTile, int64_t columnTile) {
  Candidate candidate = *getBaseCandidate(space);
  int64_t rank = static_cast<int64_t>(space.shape.size());
  for (auto [index, k] : llvm::enumerate(space.knobs)) {
    int64_t value = -1;
    if (k.kind == KnobKind::TileSize)
      value = k.axis == rank - 2 ? rowTile : columnTile;
    else if (values.count(k.kind))
      value = values[k.kind];
    auto it = std::find(k.values.begin(), k.values.end(), value);
    if (value >= 0) {
      EXPECT_NE(it, k.values.end()) << "no value " << value;
      if (it != k.values.end())
        candidate[index] = it - k.values.begin();
    }
  }
  return candidate;
}

TEST_F(TunerTest, LargeMatmulSpaceOffersMBlocks) {
  func::FuncOp kernel = parse(kLargeMatmul);
  SearchSpace space = buildSpace(kernel, "x86-64-v4", 2 << 20);
  const Knob *knob = findKnob(space, KnobKind::MBlock);
  ASSERT_TRUE(knob);
  // 2048: one m block of all the rows.
  EXPECT_EQ(knob->values, (std::vector<int64_t>{0, 128, 256, 512, 2048}));

  auto candidateWith = [&](std::map<KnobKind, int64_t> values,
                           int64_t rowTile, int64_t columnTile) {
    return getMatmulCandidate(space, values, rowTile, columnTile);
  };
  // GotoBLAS's blocking: the whole result in one tile, its lhs in blocks of
  // 512 x 256 (512 KiB, within half of a 2 MiB L2), the result in place.
  Candidate goto512 = candidateWith(
      {{KnobKind::PackLhs, 1}, {KnobKind::MBlock, 512}, {KnobKind::KBlock, 256}},
      0, 0);
  CpuConfigAttr config = applyCandidate(space, goto512);
  EXPECT_EQ(config.getMBlock(), 512);
  EXPECT_EQ(checkCandidate(space, kernel, goto512), std::nullopt);
  // Without m blocks the same tile's accumulators alone are 16 MiB.
  std::optional<std::string> whole = checkCandidate(
      space, kernel,
      candidateWith({{KnobKind::PackLhs, 1}, {KnobKind::MBlock, 0}}, 0, 0));
  ASSERT_TRUE(whole);
  EXPECT_NE(whole->find("exceeds L2"), std::string::npos) << *whole;
  // An m block is a block of the packed lhs.
  EXPECT_TRUE(checkCandidate(
      space, kernel,
      candidateWith({{KnobKind::PackLhs, 0}, {KnobKind::MBlock, 512}}, 0, 0)));
  // An m block past the tile's rows is the kernel of one block of them all.
  std::optional<std::string> pastTheTile = checkCandidate(
      space, kernel,
      candidateWith({{KnobKind::PackLhs, 1}, {KnobKind::MBlock, 512}}, 256,
                    256));
  ASSERT_TRUE(pastTheTile);
  EXPECT_NE(pastTheTile->find("larger than the tile's rows"),
            std::string::npos)
      << *pastTheTile;

  // The searches' seeds: the whole result on one thread; on several, one
  // tall and one wide tile per thread; m and k blocks of 256, each rhs
  // panel packed at its first use; each also in one m block of all its
  // rows (when that is an m block of the space: the whole result's 2048,
  // not a tile's 1024), with the largest k block whose lhs block fits half
  // of L2 (128).
  auto blockedTiles = [&](int threads) {
    std::vector<std::vector<int64_t>> tiles;
    for (const Candidate &blocked :
         getBlockedCandidates(space, kernel, threads))
      tiles.emplace_back(
          applyCandidate(space, blocked).getTileSizes().asArrayRef());
    return tiles;
  };
  auto getConfig = [&](StringRef text) {
    return cast<CpuConfigAttr>(parseAttribute(text, &context));
  };
  std::vector<Candidate> single = getBlockedCandidates(space, kernel, 1);
  ASSERT_EQ(single.size(), 2u);
  EXPECT_EQ(applyCandidate(space, single[0]),
            getConfig("#kiln.cpu_config<tile_sizes = [0, 0], vector_width = "
                      "16, micro_tile = [8, 32, 1], pack_matmul = true, "
                      "k_block = 256, pack_lhs = true, m_block = 256, "
                      "pack_rhs_per_panel = true>"));
  EXPECT_EQ(applyCandidate(space, single[1]),
            getConfig("#kiln.cpu_config<tile_sizes = [0, 0], vector_width = "
                      "16, micro_tile = [8, 32, 1], pack_matmul = true, "
                      "k_block = 128, pack_lhs = true, m_block = 2048, "
                      "pack_rhs_per_panel = true>"));
  using Tiles = std::vector<std::vector<int64_t>>;
  EXPECT_EQ(blockedTiles(2), (Tiles{{1024, 0}, {0, 1024}, {0, 1024}}));
  EXPECT_EQ(blockedTiles(8), (Tiles{{256, 0}, {0, 256}, {0, 256}}));
  // Within half of a 1 MiB L2, 2048 rows would need k blocks of 64: under
  // half the seed's 256, so no such seed.
  EXPECT_EQ(getBlockedCandidates(buildSpace(kernel, "x86-64-v4", 1 << 20),
                                 kernel, 1)
                .size(),
            1u);
  // Not for a matmul too short for m blocks.
  func::FuncOp small = parse(kMatmul);
  EXPECT_TRUE(
      getBlockedCandidates(buildSpace(small, "x86-64-v4", 2 << 20), small, 1)
          .empty());
}

TEST_F(TunerTest, MatmulKBlocksIncludeExactSplitsOfTheDepth) {
  // A depth of 384: the fixed 64, 128 and 256, and the exact splits 192 and
  // 96 (128 is one too); the seeds take 192, the largest split up to 256,
  // where 256 would leave a short last block.
  func::FuncOp kernel = parse(matmulKernel(512, 384, 1536));
  SearchSpace space = buildSpace(kernel, "x86-64-v4", 1 << 20);
  const Knob *knob = findKnob(space, KnobKind::KBlock);
  ASSERT_TRUE(knob);
  EXPECT_TRUE(llvm::is_contained(knob->values, 96));
  EXPECT_TRUE(llvm::is_contained(knob->values, 192));
  EXPECT_TRUE(llvm::is_sorted(knob->values));
  std::vector<Candidate> seeds = getBlockedCandidates(space, kernel, 1);
  ASSERT_EQ(seeds.size(), 2u);
  for (const Candidate &candidate : seeds) {
    CpuConfigAttr seed = applyCandidate(space, candidate);
    EXPECT_EQ(seed.getKBlock(), 192);
    EXPECT_TRUE(seed.getPackRhsPerPanel());
  }
  // The second in one m block: 512 x 192 floats of lhs, within half of L2.
  EXPECT_EQ(applyCandidate(space, seeds[0]).getMBlock(), 256);
  EXPECT_EQ(applyCandidate(space, seeds[1]).getMBlock(), 512);
}

TEST_F(TunerTest, MatmulSpaceOffersPerPanelRhsPacksWithThePackedLhs) {
  func::FuncOp kernel = parse(kLargeMatmul);
  SearchSpace space = buildSpace(kernel, "x86-64-v4", 2 << 20);
  const Knob *knob = findKnob(space, KnobKind::PackRhsPerPanel);
  ASSERT_TRUE(knob);
  EXPECT_EQ(knob->values, (std::vector<int64_t>{0, 1}));
  // The default packs the rhs block whole.
  EXPECT_FALSE(
      applyCandidate(space, *getBaseCandidate(space)).getPackRhsPerPanel());

  std::map<KnobKind, int64_t> blocked = {{KnobKind::PackLhs, 1},
                                         {KnobKind::MBlock, 256},
                                         {KnobKind::KBlock, 256},
                                         {KnobKind::PackRhsPerPanel, 1}};
  Candidate perPanel = getMatmulCandidate(space, blocked, 0, 0);
  EXPECT_TRUE(applyCandidate(space, perPanel).getPackRhsPerPanel());
  EXPECT_EQ(checkCandidate(space, kernel, perPanel), std::nullopt);
  // Only the row groups of a packed lhs share a panel's first use.
  std::optional<std::string> unpackedLhs =
      checkCandidate(space, kernel,
                     getMatmulCandidate(space,
                                        {{KnobKind::PackLhs, 0},
                                         {KnobKind::MBlock, 0},
                                         {KnobKind::PackRhsPerPanel, 1}},
                                        256, 256));
  ASSERT_TRUE(unpackedLhs);
  EXPECT_NE(unpackedLhs->find("config verifier"), std::string::npos)
      << *unpackedLhs;
  // Without m blocks the knob would change nothing.
  blocked[KnobKind::MBlock] = 0;
  std::optional<std::string> noMBlocks = checkCandidate(
      space, kernel, getMatmulCandidate(space, blocked, 256, 256));
  ASSERT_TRUE(noMBlocks);
  EXPECT_NE(noMBlocks->find("whole panels and k blocks in m blocks"),
            std::string::npos)
      << *noMBlocks;
}

TEST_F(TunerTest, CostModelAmortizesPacksOverTallTiles) {
  codegen::CpuTarget target = cantFail(codegen::getCpuTarget("x86-64-v4"));
  MachinePeaks peaks;
  peaks.flopsPerSecond = 230e9;
  peaks.bytesPerSecond = 15e9;
  std::map<KnobKind, int64_t> gotoKnobs = {{KnobKind::PackMatmul, 1},
                                           {KnobKind::PackLhs, 1},
                                           {KnobKind::KBlock, 256},
                                           {KnobKind::MBlock, 256}};

  // 2048^3: the default's 256 x 256 tiles pack the rhs 8 times over, one
  // tile in m blocks once and its lhs once: measured 1.05-1.12x faster on
  // one thread.
  SearchSpace large =
      buildSearchSpace(parse(kLargeMatmul), target,
                       getSpaceLimits(target, 2 << 20));
  Candidate base = *getBaseCandidate(large);
  Candidate whole = getMatmulCandidate(large, gotoKnobs, 0, 0);
  Candidate halves = getMatmulCandidate(large, gotoKnobs, 1024, 0);
  auto speedup = [&](const Candidate &from, const Candidate &to) {
    return predictSeconds(large, from, peaks) /
           predictSeconds(large, to, peaks);
  };
  peaks.numThreads = 1;
  EXPECT_GT(speedup(base, whole), 1.04);
  EXPECT_GT(speedup(halves, whole), 1.01);
  // Two threads: one tall tile each, each packing the whole rhs.
  peaks.numThreads = 2;
  EXPECT_GT(speedup(whole, halves), 1.5);
  EXPECT_GT(speedup(base, halves), 1.03);
}

TEST_F(TunerTest, CostModelPrefersOneMBlockForPanelByPanelPacks) {
  // 512x384x1536: per panel in one m block, every rhs panel is packed into
  // one panel's space in L1; in two, the whole k block is packed for the
  // second to read. Measured 1.5% apart (8 x 32, k blocks of 192).
  codegen::CpuTarget target = cantFail(codegen::getCpuTarget("x86-64-v4"));
  MachinePeaks peaks;
  peaks.flopsPerSecond = 280e9;
  peaks.bytesPerSecond = 36e9;
  peaks.numThreads = 1;
  SearchSpace space = buildSearchSpace(parse(matmulKernel(512, 384, 1536)),
                                       target, getSpaceLimits(target, 1 << 20));
  auto perPanelIn = [&](int64_t mBlock, int64_t perPanel) {
    return predictSeconds(
        space,
        getMatmulCandidate(space,
                           {{KnobKind::PackMatmul, 1},
                            {KnobKind::PackLhs, 1},
                            {KnobKind::KBlock, 192},
                            {KnobKind::MBlock, mBlock},
                            {KnobKind::PackRhsPerPanel, perPanel}},
                           0, 0),
        peaks);
  };
  EXPECT_LT(perPanelIn(512, 1), perPanelIn(256, 1));
  // Packed whole, the block passes through L2 either way.
  EXPECT_DOUBLE_EQ(perPanelIn(512, 0), perPanelIn(256, 0));
}

TEST_F(TunerTest, CostModelPrefersWideRegisterTilesOfWholePanels) {
  codegen::CpuTarget target = cantFail(codegen::getCpuTarget("x86-64-v4"));
  MachinePeaks peaks;
  peaks.flopsPerSecond = 230e9;
  peaks.bytesPerSecond = 15e9;
  peaks.numThreads = 1;
  auto predict = [&](const std::string &kernelText, int64_t columns) {
    SearchSpace space = buildSearchSpace(parse(kernelText), target,
                                         getSpaceLimits(target, 2 << 20));
    Candidate candidate = getMatmulCandidate(
        space,
        {{KnobKind::MicroTileN, columns}, {KnobKind::PackMatmul, 1},
         {KnobKind::PackLhs, 1}, {KnobKind::KBlock, 128},
         {KnobKind::MBlock, 256}},
        0, 0);
    return predictSeconds(space, candidate, peaks);
  };
  // 8 x 48 loads 11 operands for 24 FMAs, 8 x 32 10 for 16: faster where
  // its panels divide the result (1536 columns) or leave a narrower panel
  // of whole vectors (2048 columns: 42 panels and one of 32)...
  std::string panelsOf48 = matmulKernel(512, 384, 1536);
  EXPECT_LT(predict(panelsOf48, 48), predict(panelsOf48, 32));
  EXPECT_LT(predict(kLargeMatmul, 48), predict(kLargeMatmul, 32));
  // ...and slower where the result is narrower than its panel (40 columns):
  // it is then accumulated packed, not in place, where 8 x 32 has a whole
  // panel and a narrower one of 16.
  std::string narrow = matmulKernel(512, 384, 40);
  EXPECT_GT(predict(narrow, 48), predict(narrow, 32));
}

TEST_F(TunerTest, CostModelKnowsStreamingTiles) {
  // x * sigmoid(x) + y over 4096 rows of 1024: memory-bound.
  func::FuncOp kernel = parse(R"mlir(
    func.func @silu(%x: tensor<4096x1024xf32>, %y: tensor<4096x1024xf32>)
        -> tensor<4096x1024xf32> attributes {kiln.kernel} {
      %0 = kiln.sigmoid %x : tensor<4096x1024xf32>
      %1 = kiln.mul %x, %0 : (tensor<4096x1024xf32>, tensor<4096x1024xf32>) -> tensor<4096x1024xf32>
      %2 = kiln.add %1, %y : (tensor<4096x1024xf32>, tensor<4096x1024xf32>) -> tensor<4096x1024xf32>
      return %2 : tensor<4096x1024xf32>
    }
  )mlir");
  SearchSpace space = buildSpace(kernel, "x86-64-v3", 1 << 20);
  ASSERT_EQ(space.knobs.size(), 2u);
  MachinePeaks peaks;
  peaks.flopsPerSecond = 50e9;
  peaks.bytesPerSecond = 10e9;
  peaks.numThreads = 1;
  auto predict = [&](int64_t rows, int64_t columns) {
    Candidate candidate;
    std::vector<int64_t> values = {rows, columns};
    for (auto [knob, value] : llvm::zip_equal(space.knobs, values)) {
      auto it = std::find(knob.values.begin(), knob.values.end(), value);
      EXPECT_NE(it, knob.values.end()) << value;
      candidate.push_back(it - knob.values.begin());
    }
    return predictSeconds(space, candidate, peaks);
  };
  // The bytes at the bandwidth, 48 MiB in 10 GB/s, give or take.
  double whole = predict(4, 0);
  EXPECT_NEAR(whole, 3 * 4096 * 1024 * 4 / 10e9, 0.1 * whole);
  // Small tiles are cheap loop iterations: 2x16 or 1x16 (a quarter of a
  // million tiles) cost little more than whole rows.
  EXPECT_LT(predict(2, 16), 1.25 * whole);
  EXPECT_LT(predict(1, 16), 1.5 * whole);
  // Tall narrow tiles walk more rows side by side than the prefetchers
  // track: several times slower, the narrower the worse.
  EXPECT_GT(predict(256, 16), 2 * whole);
  EXPECT_GT(predict(256, 16), predict(256, 128));
  EXPECT_GT(predict(256, 128), predict(8, 128));
}

TEST_F(TunerTest, KeysChangeWithKernelTargetVersionAndThreadsOnly) {
  func::FuncOp kernel = parse(kMatmul);
  TunerOptions options = makeOptions();
  TuningKey key = getTuningKey(kernel, options);
  EXPECT_EQ(key.signature.size(), 32u);

  // Not the name, a config, the fusion kind or locations.
  std::string renamed = kMatmul;
  renamed.replace(renamed.find("@mm"), 3, "@other_name");
  renamed.replace(renamed.find("{kiln.kernel}"), 13,
                  "{kiln.kernel, kiln.cpu_config = #kiln.cpu_config<"
                  "tile_sizes = [8, 0], vector_width = 8>}");
  EXPECT_EQ(getTuningKey(parse(renamed), options), key);
  func::FuncOp located = parse(kMatmul);
  located->setLoc(FileLineColLoc::get(&context, "model.mlir", 7, 3));
  EXPECT_EQ(getTuningKey(located, options), key);

  // The kernel's code.
  std::string wider = kMatmul;
  for (size_t at; (at = wider.find("32x64")) != std::string::npos;)
    wider.replace(at, 5, "48x64");
  EXPECT_NE(getTuningKey(parse(wider), options).signature, key.signature);
  // The target, the machine and the compiler version.
  EXPECT_NE(getTuningKey(kernel, makeOptions("x86-64-v4")).target, key.target);
  codegen::HostMachine machine;
  machine.l2Bytes = 1 << 20;
  EXPECT_NE(codegen::getTuningFingerprint(options.target, machine), key.target);
  TunerOptions newer = options;
  newer.compilerVersion = "test2";
  EXPECT_FALSE(getTuningKey(kernel, newer) == key);
  // The thread count, and nothing else of the tuner's options.
  TunerOptions twoThreads = options;
  twoThreads.threads = 2;
  EXPECT_EQ(getTuningKey(kernel, twoThreads).signature, key.signature);
  EXPECT_FALSE(getTuningKey(kernel, twoThreads) == key);
  TunerOptions budget = options;
  budget.search.maxTrials = 99;
  budget.measureSeconds = 1;
  budget.seed = 7;
  EXPECT_EQ(getTuningKey(kernel, budget), key);
  EXPECT_EQ(getTuningKey(kernel, makeOptions()), key);
}

TEST_F(TunerTest, TunesThenFindsTheTuningCached) {
  func::FuncOp kernel = parse(kMatmul);
  auto db = openDatabase();
  TunerOptions options = makeOptions();
  FailureOr<KernelTuning> tuning = tuneKernel(kernel, options, *db);
  ASSERT_TRUE(succeeded(tuning));
  EXPECT_FALSE(tuning->cached);
  EXPECT_EQ(tuning->trials, 4);
  EXPECT_TRUE(tuning->failures.empty()) << tuning->failures[0].result.reason;
  EXPECT_GT(tuning->defaultSeconds, 0);
  EXPECT_LE(tuning->tunedSeconds, tuning->defaultSeconds);
  // The final round timed all four together, once per round.
  EXPECT_EQ(tuning->confirmationTrials, 4 * ConfirmOptions().rounds);
  // The stored config parses back into the attribute.
  Attribute parsed = parseAttribute(tuning->config, &context);
  ASSERT_TRUE(parsed && isa<CpuConfigAttr>(parsed)) << tuning->config;

  FailureOr<KernelTuning> again = tuneKernel(kernel, options, *db);
  ASSERT_TRUE(succeeded(again));
  EXPECT_TRUE(again->cached);
  EXPECT_EQ(again->config, tuning->config);
}

TEST_F(TunerTest, TimesCandidatesTogetherInOneWorker) {
  func::FuncOp kernel = parse(kMatmul);
  TunerOptions options = makeOptions();
  FailureOr<std::unique_ptr<KernelTrials>> trials =
      KernelTrials::create(kernel, options);
  ASSERT_TRUE(succeeded(trials));
  const std::vector<Candidate> &legal = (*trials)->getLegal();
  ASSERT_GE(legal.size(), 2u);
  std::vector<Candidate> pair = {legal.front(), legal.back()};
  std::vector<TrialResult> results = (*trials)->measureTogether(pair);
  ASSERT_EQ(results.size(), 2u);
  for (const TrialResult &result : results) {
    EXPECT_TRUE(result.ok()) << result.reason;
    EXPECT_GT(result.seconds.median, 0);
  }

  // The worker itself answers for both of two kernels.
  std::string folder = (std::filesystem::temp_directory_path() /
                        ("kiln-together-" + std::to_string(getpid())))
                           .string();
  std::filesystem::create_directories(folder);
  ASSERT_TRUE(succeeded(writeTrialData(kernel, folder + "/d.st", 1)));
  {
    std::error_code code;
    llvm::raw_fd_ostream os(folder + "/k.mlir", code);
    kernel->getParentOp()->print(os);
  }
  WorkerOptions worker;
  worker.command = {KILN_TUNE_WORKER_PATH,
                    "--kernel",
                    folder + "/k.mlir",
                    "--kernel",
                    folder + "/k.mlir",
                    "--data",
                    folder + "/d.st",
                    "--work-dir",
                    folder,
                    "--target",
                    "x86-64-v3",
                    "--max-seconds",
                    "0.01"};
  results = runWorker(worker, 2);
  std::filesystem::remove_all(folder);
  ASSERT_EQ(results.size(), 2u);
  for (const TrialResult &result : results)
    EXPECT_TRUE(result.ok()) << result.reason;

  // A worker that dies leaves each candidate its failure.
  options.workerArguments = {"--inject-fault", "crash"};
  FailureOr<std::unique_ptr<KernelTrials>> crashing =
      KernelTrials::create(kernel, options);
  ASSERT_TRUE(succeeded(crashing));
  results = (*crashing)->measureTogether(pair);
  ASSERT_EQ(results.size(), 2u);
  for (const TrialResult &result : results)
    EXPECT_EQ(result.status, TrialStatus::Crashed) << result.reason;
}

TEST_F(TunerTest, ReadsAnAnswerLinePerCandidateInOrder) {
  WorkerOptions worker;
  worker.command = {"/bin/sh", "-c",
                    "echo '{\"status\": \"compile-error\", \"reason\": "
                    "\"a\"}'; echo '{\"status\": \"ok\", \"count\": 5, "
                    "\"median\": 0.5}'"};
  std::vector<TrialResult> results = runWorker(worker, 2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, TrialStatus::CompileError);
  EXPECT_EQ(results[0].reason, "a");
  EXPECT_TRUE(results[1].ok());
  EXPECT_EQ(results[1].seconds.median, 0.5);
  // Fewer lines than candidates: the first ones have no answer.
  results = runWorker(worker, 3);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status, TrialStatus::Failed);
  EXPECT_NE(results[0].reason.find("the worker gave no answer"),
            std::string::npos)
      << results[0].reason;
  EXPECT_EQ(results[1].status, TrialStatus::CompileError);
  EXPECT_TRUE(results[2].ok());
}

TEST_F(TunerTest, SurvivesCrashingHangingWrongAndOutOfMemoryCandidates) {
  func::FuncOp kernel = parse(kMatmul);
  struct Case {
    const char *fault;
    TrialStatus status;
    const char *reason;
  };
  for (const Case &c :
       {Case{"crash", TrialStatus::Crashed, "signal 11"},
        Case{"hang", TrialStatus::TimedOut, "killed after"},
        Case{"wrong-result", TrialStatus::WrongResult, "elements differ"},
        Case{"out-of-memory", TrialStatus::OutOfMemory, ""}}) {
    auto db = openDatabase();
    TunerOptions options = makeOptions();
    // One candidate each; only the hang waits out its (short) timeout.
    bool hang = std::string(c.fault) == "hang";
    options.search.maxTrials = 1;
    options.trialTimeoutSeconds = hang ? 3 : 60;
    options.workerMemoryBytes = int64_t(1) << 30;
    options.workerArguments = {"--inject-fault", c.fault};
    std::string diagnostics;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
      diagnostics += diagnostic.str();
      return success();
    });
    FailureOr<KernelTuning> tuning = tuneKernel(kernel, options, *db);
    // Every candidate failed: no tuning, the reason, nothing stored, and
    // this process is still here.
    ASSERT_TRUE(succeeded(tuning)) << c.fault << ": " << diagnostics;
    EXPECT_NE(tuning->error.find("no candidate config"), std::string::npos)
        << tuning->error;
    EXPECT_NE(tuning->error.find(getTrialStatusName(c.status)),
              std::string::npos)
        << tuning->error;
    ASSERT_EQ(tuning->failures.size(), 1u);
    EXPECT_EQ(tuning->failures[0].result.status, c.status);
    EXPECT_TRUE(db->list().empty());

    // The same through the worker directly, to see each failure's record.
    WorkerOptions worker;
    std::string folder = (dbFolder / "w").string();
    std::filesystem::create_directories(folder);
    ASSERT_TRUE(succeeded(writeTrialData(kernel, folder + "/d.st", 1)));
    {
      std::error_code code;
      llvm::raw_fd_ostream os(folder + "/k.mlir", code);
      kernel->getParentOp()->print(os);
    }
    worker.command = {KILN_TUNE_WORKER_PATH,
                      "--kernel",
                      folder + "/k.mlir",
                      "--data",
                      folder + "/d.st",
                      "--work-dir",
                      folder,
                      "--target",
                      "x86-64-v3",
                      "--max-seconds",
                      "0.01",
                      "--inject-fault",
                      c.fault};
    worker.timeoutSeconds = options.trialTimeoutSeconds;
    worker.memoryLimitBytes = options.workerMemoryBytes;
    TrialResult result = runWorker(worker);
    EXPECT_EQ(result.status, c.status)
        << c.fault << ": " << getTrialStatusName(result.status) << " "
        << result.reason;
    EXPECT_NE(result.reason.find(c.reason), std::string::npos) << result.reason;
  }
}

TEST_F(TunerTest, FindsTheTunedConfigForCompiling) {
  func::FuncOp kernel = parse(kMatmul);
  auto db = openDatabase();
  TunerOptions options = makeOptions();
  EXPECT_FALSE(findTunedConfig(kernel, options.fingerprint,
                               options.compilerVersion, options.threads, *db));

  TuningRecord record;
  record.key = getTuningKey(kernel, options);
  record.kernel = "mm";
  record.config = "#kiln.cpu_config<tile_sizes = [8, 0], vector_width = 8>";
  record.medianSeconds = 1e-6;
  std::string error;
  ASSERT_TRUE(db->put(record, error)) << error;
  CpuConfigAttr found = findTunedConfig(
      kernel, options.fingerprint, options.compilerVersion, options.threads,
      *db);
  ASSERT_TRUE(found);
  EXPECT_EQ(found.getTileSizes().asArrayRef(), ArrayRef<int64_t>({8, 0}));
  // Another target, compiler version or thread count: nothing.
  EXPECT_FALSE(findTunedConfig(kernel, options.fingerprint, "other",
                               options.threads, *db));
  EXPECT_FALSE(findTunedConfig(kernel, "other", options.compilerVersion,
                               options.threads, *db));
  EXPECT_FALSE(findTunedConfig(kernel, options.fingerprint,
                               options.compilerVersion, options.threads + 1,
                               *db));

  // A stored text that is no config is ignored with a warning.
  std::string warnings;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    warnings += diagnostic.str();
    return success();
  });
  record.config = "#kiln.not_a_config";
  record.medianSeconds = 1e-7;
  ASSERT_TRUE(db->put(record, error)) << error;
  EXPECT_FALSE(findTunedConfig(kernel, options.fingerprint,
                               options.compilerVersion, options.threads, *db));
  EXPECT_NE(warnings.find("ignoring the tuned config of kernel 'mm'"),
            std::string::npos)
      << warnings;
}

} // namespace
