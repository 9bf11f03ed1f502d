//===- EmitContraction.cpp - CUDA for matmul and conv kernels --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Matmuls, and conv2d as an implicit GEMM, with their fused producers
// (prologue: a norm or elementwise/data movement on the lhs) and consumers
// (epilogue: elementwise ops, data movement into the results). A kernel's
// results fall into groups by the contractions they read: `matmul*3`
// computes three groups side by side over blockIdx.x, `silu(x A) * (x B)`
// one group of two matmuls whose accumulators meet in the epilogue.
//
// Tile scheme: a block computes a block_m x block_n tile of its group's
// [M x N] result. Per block_k step it stages the lhs tile and one rhs tile
// per matmul in shared memory (zero padded at the edges; producers are
// evaluated while staging), then each warp accumulates its 16x8 tiles in
// f32: on tensor cores with mma.sync m16n8k16 for bf16/f16, with scalar
// FMAs in the same register layout for f32 (exact f32, no tf32).
//
// Split-K (config split_k = S > 1): grid z cuts k into S slices of whole
// block_k tiles. Each block writes its f32 accumulators to a workspace and
// counts itself in a per-tile counter; the block that arrives last reads
// the S partial tiles back in slice order (so the sum is the same whatever
// order the blocks ran in), applies the epilogue and resets the counter.
// Nobody waits on another block, so no launch order can deadlock.
//
// sm_90a wgmma path (isWgmma): a bf16/f16 matmul of two kernel arguments
// with a wgmma config (block_k 64, one warpgroup of 4 warps per 64 rows of
// block_m, block_n a multiple of 64 up to 256, stages >= 2). Thread 0
// issues TMA loads of each k tile into a ring of `stages` shared-memory
// stages, each completing on its own mbarrier (expect_tx of the stage's
// bytes); every warpgroup waits on the stage's barrier, runs 4 wgmma
// m64nNk16 (k = 16 each) on its 64 rows, waits for them and, after a block
// barrier, thread 0 refills the stage with the tile `stages` ahead.
// Layout assumptions, which the host's tensor maps and the descriptors
// share:
//   - lhs [M x K] row-major, tensor map box 64 (k) x block_m (rows), 128B
//     swizzle: a stage's A tile is block_m rows of 128 bytes, swizzled in
//     1024-byte atoms of 8 rows (16-byte chunk c of row r at c ^ (r % 8)).
//     wgmma reads it K-major (trans-a 0): stride byte offset 1024 (8 rows),
//     leading byte offset unused with 128B swizzle (16); k step kk starts
//     kk * 32 bytes into each row.
//   - rhs [K x N] row-major, box 64 (n) x 64 (k), 128B swizzle, block_n / 64
//     boxes side by side 8192 bytes apart: rows of 128 bytes along n.
//     wgmma reads it MN-major (trans-b 1): leading byte offset 8192 (the
//     next 64 columns), stride byte offset 1024 (the next 8 k rows); k step
//     kk starts kk * 16 rows = 2048 bytes in.
//   - every stage tile starts on a 1024-byte boundary (the dynamic shared
//     memory is aligned up to one), so the descriptors' base offset is 0.
// The accumulators of wgmma m64nN f32 follow the mma.sync m16n8 fragment
// per 8 columns: warp w of the warpgroup holds rows 16w + group (+ 8),
// columns 8t + 2 * pair (+ 1), so the epilogue is the same code.
//
// Workspace layout (bytes): [0, counterBytes) one u32 counter per output
// tile (blockIdx.y * gridDim.x + blockIdx.x), padded to 256; then per tile,
// per slice, the partial tile: accumulator (j, tm, tn, q) of thread t at
// float index ((j * tilesM + tm) * tilesN + tn) * 4 + q) * threads + t, so
// a warp's stores and loads are coalesced.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/CudaSource.h"
#include "codegen/CUDA/Generators.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

namespace {

/// One matmul or conv2d of a kernel as a GEMM [M x K] x [K x N]. A conv's
/// rows are its output pixels (n, oy, ox), its columns its output channels
/// and its k its filter taps (c, ky, kx).
struct Contraction {
  Operation *op;
  int64_t m, n, k;
  Value lhs;
};

/// Results computed from the same contractions, and those contractions
/// (indices into the kernel's contractions), which share their lhs.
struct Group {
  SmallVector<unsigned> contractions;
  SmallVector<unsigned> results;
};

/// How the warps of a block split its tile: `rows` x `columns` warps, each
/// owning a (block_m / rows) x (block_n / columns) tile of 16x8 mma tiles.
struct WarpGrid {
  int64_t rows = 1, columns = 1;
};

} // namespace

static SmallVector<Contraction> getContractions(func::FuncOp kernel) {
  SmallVector<Contraction> contractions;
  kernel.walk([&](Operation *op) {
    if (auto matmul = dyn_cast<MatmulOp>(op)) {
      ArrayRef<int64_t> lhs = getTensorType(matmul.getLhs()).getShape();
      int64_t k = lhs.back();
      contractions.push_back(
          {op, ShapedType::getNumElements(lhs) / k,
           getTensorType(matmul.getResult()).getShape().back(), k,
           matmul.getLhs()});
    } else if (auto conv = dyn_cast<Conv2DOp>(op)) {
      ArrayRef<int64_t> out = getTensorType(conv.getResult()).getShape();
      ArrayRef<int64_t> filter = getTensorType(conv.getFilter()).getShape();
      contractions.push_back({op, out[0] * out[2] * out[3], out[1],
                              filter[1] * filter[2] * filter[3],
                              conv.getInput()});
    }
  });
  return contractions;
}

static SmallVector<Group> getGroups(func::FuncOp kernel,
                                    ArrayRef<Contraction> contractions) {
  SmallVector<Group> groups;
  for (auto [index, value] : llvm::enumerate(getReturn(kernel).getOperands())) {
    SmallVector<unsigned> reads;
    for (auto [c, contraction] : llvm::enumerate(contractions))
      if (dependsOn(value, contraction.op->getResult(0)))
        reads.push_back(c);
    auto it = llvm::find_if(groups, [&](const Group &group) {
      return group.contractions == reads;
    });
    if (it == groups.end()) {
      groups.push_back({reads, {}});
      it = std::prev(groups.end());
    }
    it->results.push_back(index);
  }
  return groups;
}

LogicalResult kiln::codegen::checkContractions(func::FuncOp kernel) {
  SmallVector<Contraction> contractions = getContractions(kernel);
  for (const Contraction &contraction : contractions) {
    if (auto matmul = dyn_cast<MatmulOp>(contraction.op)) {
      if (matmul.getTransposeLhs() ||
          getTensorType(matmul.getRhs()).getRank() != 2)
        return matmul.emitError() << "CUDA generation covers matmuls with a "
                                     "2-D rhs and no transpose_lhs only";
    } else if (cast<Conv2DOp>(contraction.op).getGroups() != 1) {
      return contraction.op->emitError()
             << "CUDA generation covers conv2d with one group only";
    }
  }
  for (const Group &group : getGroups(kernel, contractions)) {
    if (group.contractions.empty())
      return getReturn(kernel).emitError()
             << "CUDA generation expects every result of a matmul kernel to "
                "be computed from a matmul";
    const Contraction &first = contractions[group.contractions.front()];
    for (unsigned c : group.contractions) {
      const Contraction &other = contractions[c];
      if (other.lhs != first.lhs || other.n != first.n ||
          (group.contractions.size() > 1 && !isa<MatmulOp>(other.op)))
        return other.op->emitError()
               << "CUDA generation expects the matmuls a result reads to "
                  "share their lhs and their shape";
    }
  }
  return success();
}

/// Splits the warps along M while their tiles keep 16 rows and stay no more
/// than twice as tall as wide in warps, the rest along N.
static WarpGrid getWarpGrid(CudaConfigAttr config) {
  WarpGrid grid{config.getWarps(), 1};
  while (grid.rows > 1 && (config.getBlockM() / grid.rows < 16 ||
                           grid.rows > 2 * grid.columns)) {
    grid.rows /= 2;
    grid.columns *= 2;
  }
  return grid;
}

/// The most matmuls one group reads.
static int64_t getMatmulsPerGroup(func::FuncOp kernel) {
  SmallVector<Contraction> contractions = getContractions(kernel);
  int64_t most = 1;
  for (const Group &group : getGroups(kernel, contractions))
    most = std::max<int64_t>(most, group.contractions.size());
  return most;
}

/// The bytes of the split-K workspace's counters: one u32 per output tile,
/// padded so the partial tiles after them stay 256-byte aligned.
static int64_t getCounterBytes(int64_t tiles) {
  return llvm::alignTo(tiles * 4, 256);
}

/// The floats of one slice's partial tile: every accumulator of every
/// thread.
static int64_t getPartialFloats(func::FuncOp kernel, CudaConfigAttr config) {
  return getMatmulsPerGroup(kernel) * config.getBlockM() * config.getBlockN();
}

/// The k extent of one split-K slice of a k of `k`: whole block_k tiles,
/// the tiles shared out as evenly as they go.
static int64_t getSliceK(int64_t k, CudaConfigAttr config) {
  int64_t tiles = llvm::divideCeil(k, config.getBlockK());
  return llvm::divideCeil(tiles, config.getSplitK()) * config.getBlockK();
}

/// The norms the lhs of `contraction` reads row by row (see
/// getRowProducers); a conv's lhs is read by taps, not rows.
static SmallVector<Operation *>
getPrologueRows(const Contraction &contraction) {
  if (!isa<MatmulOp>(contraction.op))
    return {};
  return getRowProducers(contraction.lhs, contraction.m, contraction.k);
}

/// Whether the kernel's operand tiles stream through a cp.async pipeline of
/// `stages` (> 1) shared-memory stages: every contraction is a matmul of two
/// kernel arguments (no prologue to evaluate) with a [K x N] rhs, and rows
/// of both hold whole 16-byte chunks.
static bool isPipelined(func::FuncOp kernel, CudaConfigAttr config) {
  if (config.getStages() < 2)
    return false;
  return llvm::all_of(getContractions(kernel), [](const Contraction &c) {
    auto matmul = dyn_cast<MatmulOp>(c.op);
    int64_t chunk =
        128 / getTensorType(c.lhs).getElementType().getIntOrFloatBitWidth();
    return matmul && isa<BlockArgument>(matmul.getLhs()) &&
           isa<BlockArgument>(matmul.getRhs()) && !matmul.getTransposeRhs() &&
           c.k % chunk == 0 && c.n % chunk == 0;
  });
}

/// The k depth of a wgmma k tile: 64 16-bit elements, one 128-byte
/// swizzle row.
static constexpr int64_t kWgmmaBlockK = 64;

/// Whether the kernel takes the sm_90a TMA + wgmma path (see the file
/// comment): one matmul of two 16-bit kernel arguments whose rows are whole
/// 16-byte units (TMA's global stride), and a wgmma config.
static bool isWgmma(func::FuncOp kernel, CudaConfigAttr config,
                    StringRef arch) {
  SmallVector<Contraction> contractions = getContractions(kernel);
  if (arch != "sm_90a" || contractions.size() != 1 ||
      getGroups(kernel, contractions).size() != 1)
    return false;
  const Contraction &c = contractions.front();
  auto matmul = dyn_cast<MatmulOp>(c.op);
  Type type = getTensorType(c.lhs).getElementType();
  if (!matmul || !(type.isBF16() || type.isF16()) ||
      !isa<BlockArgument>(matmul.getLhs()) ||
      !isa<BlockArgument>(matmul.getRhs()) || matmul.getTransposeRhs() ||
      c.k % 8 != 0 || c.n % 8 != 0)
    return false;
  int64_t blockM = config.getBlockM(), blockN = config.getBlockN();
  return config.getBlockK() == kWgmmaBlockK && blockM % 64 == 0 &&
         blockM <= 256 && config.getWarps() == 4 * (blockM / 64) &&
         blockN % 64 == 0 && blockN <= 256 && config.getStages() >= 2;
}

/// The bytes of one wgmma stage's A and B tiles.
static int64_t getWgmmaStageBytes(CudaConfigAttr config) {
  return (config.getBlockM() + config.getBlockN()) * kWgmmaBlockK * 2;
}

/// Shared memory of the operand tiles (all stages of a pipelined kernel,
/// which it allocates dynamically) and row statistics, in bytes.
static int64_t getSharedBytes(func::FuncOp kernel, CudaConfigAttr config) {
  SmallVector<Contraction> contractions = getContractions(kernel);
  Type type = getTensorType(contractions.front().lhs).getElementType();
  int64_t bytes =
      (config.getBlockM() + getMatmulsPerGroup(kernel) * config.getBlockN()) *
      config.getBlockK() * type.getIntOrFloatBitWidth() / 8;
  if (isPipelined(kernel, config))
    return bytes * config.getStages();
  for (const Contraction &contraction : contractions)
    bytes += getPrologueRows(contraction).size() * 2 * 4 * config.getBlockM();
  return bytes;
}

/// Emits the mma (or FMA) steps of one block_k tile for accumulator `acc`
/// and rhs tile `tileB`.
static void emitTileProducts(llvm::raw_ostream &os, Type elementType,
                             int64_t tilesM, int64_t tilesN, int64_t blockK,
                             StringRef acc, StringRef tileB) {
  os << llvm::formatv(
      "      #pragma unroll\n      for (int kk = 0; kk < {0}; kk += 16) {{\n"
      "        #pragma unroll\n        for (int tm = 0; tm < {1}; ++tm)\n"
      "          #pragma unroll\n          for (int tn = 0; tn < {2}; ++tn) "
      "{{\n",
      blockK, tilesM, tilesN);
  if (elementType.isF32()) {
    os << llvm::formatv(
        "            const int r0 = warpRow + tm * 16 + group, c0 = warpCol + "
        "tn * 8 + pair * 2;\n"
        "            #pragma unroll\n"
        "            for (int q = 0; q < 16; ++q) {{\n"
        "              const float a0 = tileA[r0][kk + q], a1 = tileA[r0 + "
        "8][kk + q];\n"
        "              const float b0 = {1}[kk + q][c0], b1 = {1}[kk + q][c0 "
        "+ 1];\n"
        "              {0}[tm][tn][0] += a0 * b0;\n"
        "              {0}[tm][tn][1] += a0 * b1;\n"
        "              {0}[tm][tn][2] += a1 * b0;\n"
        "              {0}[tm][tn][3] += a1 * b1;\n"
        "            }\n",
        acc, tileB);
  } else {
    // The m16n8k16 fragments: A rows group and group + 8, B column group,
    // two consecutive k per 32-bit register.
    StringRef mma = elementType.isBF16() ? "bf16" : "f16";
    os << llvm::formatv(
        "            const int a0 = warpRow + tm * 16 + group, b0 = warpCol + "
        "tn * 8 + group, k = kk + pair * 2;\n"
        "            const uint32_t a[4] = {{\n"
        "                kiln_pack(tileA[a0][k], tileA[a0][k + 1]),\n"
        "                kiln_pack(tileA[a0 + 8][k], tileA[a0 + 8][k + 1]),\n"
        "                kiln_pack(tileA[a0][k + 8], tileA[a0][k + 9]),\n"
        "                kiln_pack(tileA[a0 + 8][k + 8], tileA[a0 + 8][k + "
        "9])};\n"
        "            const uint32_t b[2] = {{\n"
        "                kiln_pack({1}[k][b0], {1}[k + 1][b0]),\n"
        "                kiln_pack({1}[k + 8][b0], {1}[k + 9][b0])};\n"
        "            float *d = {0}[tm][tn];\n",
        acc, tileB);
    os << llvm::formatv(
        R"(            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.{0}.{0}.f32 "
                         "{{%0, %1, %2, %3}, {{%4, %5, %6, %7}, {{%8, %9}, {{%0, %1, %2, %3};"
                         : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                         : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
)",
        mma);
  }
  os << "          }\n      }\n";
}

/// The main loop of a pipelined group: k tile kt + stages - 1 is copied by
/// cp.async while tile kt is multiplied; the barrier at the top of each
/// step both publishes tile kt and frees the stage the next copy fills
/// (the one multiplied in the step before).
static void emitPipelinedMainLoop(llvm::raw_ostream &os,
                                  ArrayRef<Contraction> contractions,
                                  const Group &group, CudaConfigAttr config,
                                  Type elementType, int64_t tilesM,
                                  int64_t tilesN) {
  const Contraction &first = contractions[group.contractions.front()];
  int64_t blockM = config.getBlockM(), blockN = config.getBlockN(),
          blockK = config.getBlockK(), stages = config.getStages();
  int64_t chunk = 128 / elementType.getIntOrFloatBitWidth();
  int64_t threads = getThreads(config);
  auto argument = [](Value value) {
    return cast<BlockArgument>(value).getArgNumber();
  };
  // The tiles of this block's k slice, [kBegin, kEnd).
  os << llvm::formatv("    const int64_t kTiles = (kEnd - kBegin + {0}) / "
                      "{1};\n",
                      blockK - 1, blockK);
  os << "    // Issues the copies of the operand tiles at k0 into `stage`, 16 "
        "bytes each, zeros beyond the edges.\n";
  os << "    auto loadTiles = [&](int stage, int64_t k0) {\n";
  os << llvm::formatv(
      "      for (int e = threadIdx.x; e < {0}; e += {1}) {{\n"
      "        const int r = e / {2}, c = e % {2} * {3};\n"
      "        const int64_t row = rowBase + r, kk = k0 + c;\n"
      "        const bool inside = row < {4} && kk < {5};\n"
      "        kiln_cp_async16(&stageA[stage][r][c], arg{6} + (inside ? row * "
      "{5} + kk : 0), inside);\n"
      "      }\n",
      blockM * blockK / chunk, threads, blockK / chunk, chunk, first.m, first.k,
      argument(first.lhs));
  for (auto [j, c] : llvm::enumerate(group.contractions)) {
    const Contraction &contraction = contractions[c];
    os << llvm::formatv(
        "      for (int e = threadIdx.x; e < {0}; e += {1}) {{\n"
        "        const int r = e / {2}, c = e % {2} * {3};\n"
        "        const int64_t kk = k0 + r, col = colBase + c;\n"
        "        const bool inside = kk < {4} && col < {5};\n"
        "        kiln_cp_async16(&stageB[stage][{6}][r][c], arg{7} + (inside ? "
        "kk * {5} + col : 0), inside);\n"
        "      }\n",
        blockK * blockN / chunk, threads, blockN / chunk, chunk, contraction.k,
        contraction.n, j, argument(contraction.op->getOperand(1)));
  }
  os << "    };\n";
  os << llvm::formatv("    for (int stage = 0; stage < {0}; ++stage) {{\n"
                      "      if (stage < kTiles)\n"
                      "        loadTiles(stage, kBegin + stage * {1});\n"
                      "      kiln_cp_async_commit();\n"
                      "    }\n"
                      "    for (int64_t kt = 0; kt < kTiles; ++kt) {{\n"
                      "      kiln_cp_async_wait<{2}>();\n"
                      "      __syncthreads();\n"
                      "      const int64_t next = kt + {0};\n"
                      "      if (next < kTiles)\n"
                      "        loadTiles(next % {3}, kBegin + next * {1});\n"
                      "      kiln_cp_async_commit();\n"
                      "      const auto tileA = stageA[kt % {3}];\n"
                      "      const auto tileB = stageB[kt % {3}];\n",
                      stages - 1, blockK, stages - 2, stages);
  for (size_t j = 0; j < group.contractions.size(); ++j)
    emitTileProducts(os, elementType, tilesM, tilesN, blockK,
                     llvm::formatv("acc{0}", j).str(),
                     llvm::formatv("tileB[{0}]", j).str());
  os << "    }\n    kiln_cp_async_wait<0>();\n";
}

/// The main loop of the wgmma path (see the file comment) over this
/// block's k slice [kBegin, kEnd), accumulating into acc0[0][n / 8][4].
static void emitWgmmaMainLoop(llvm::raw_ostream &os, CudaConfigAttr config,
                              Type elementType) {
  int64_t blockM = config.getBlockM(), blockN = config.getBlockN(),
          stages = config.getStages();
  int64_t tileA = blockM * kWgmmaBlockK * 2, tileB = blockN * kWgmmaBlockK * 2;
  os << llvm::formatv(
      "    // Stage s: A at smem + s * {0}, B at smem + {1} + s * {2}.\n"
      "    const uint32_t smem = (kiln_shared_address(kilnShared) + 1023) & "
      "~1023u;\n"
      "    __shared__ __align__(8) uint64_t kilnFull[{3}];\n"
      "    const int64_t kTiles = (kEnd - kBegin + 63) / 64;\n"
      "    if (threadIdx.x == 0) {{\n"
      "      for (int s = 0; s < {3}; ++s)\n"
      "        kiln_mbarrier_init(&kilnFull[s], 1);\n"
      "      kiln_fence_barrier_init();\n"
      "    }\n"
      "    __syncthreads();\n",
      tileA, stages * tileA, tileB, stages);
  os << "    // Thread 0 loads k tile k0 into `stage`: the A box, then B's "
        "64-column boxes.\n";
  os << llvm::formatv(
      "    auto loadTiles = [&](int stage, int64_t k0) {{\n"
      "      kiln_mbarrier_expect_tx(&kilnFull[stage], {0});\n"
      "      kiln_tma_load_2d(smem + stage * {1}, &tmapA, (int)k0, "
      "(int)rowBase, &kilnFull[stage]);\n"
      "      #pragma unroll\n"
      "      for (int h = 0; h < {2}; ++h)\n"
      "        kiln_tma_load_2d(smem + {3} + stage * {4} + h * 8192, &tmapB, "
      "(int)(colBase + h * 64), (int)k0, &kilnFull[stage]);\n"
      "    };\n"
      "    if (threadIdx.x == 0)\n"
      "      for (int s = 0; s < {5} && s < kTiles; ++s)\n"
      "        loadTiles(s, kBegin + s * 64);\n",
      tileA + tileB, tileA, blockN / 64, stages * tileA, tileB, stages);
  // The wgmma instruction: acc0's blockN / 2 floats, the two descriptors,
  // scale-d = 1 (accumulate), no negation, trans-a 0 (K-major A), trans-b 1
  // (MN-major B).
  int64_t registers = blockN / 2;
  SmallVector<std::string> names, operands;
  for (int64_t i = 0; i < registers; ++i) {
    names.push_back("%" + std::to_string(i));
    operands.push_back(
        llvm::formatv("\"+f\"(acc0[0][{0}][{1}])", i / 4, i % 4).str());
  }
  StringRef mma = elementType.isBF16() ? "bf16" : "f16";
  os << llvm::formatv(
      "    const int warpgroup = threadIdx.x / 128;\n"
      "    for (int64_t kt = 0; kt < kTiles; ++kt) {{\n"
      "      const int stage = kt % {0};\n"
      "      kiln_mbarrier_wait(&kilnFull[stage], (uint32_t)(kt / {0}) & 1u);\n"
      "      const uint32_t a = smem + stage * {1} + warpgroup * 8192, b = "
      "smem + {2} + stage * {3};\n"
      "      kiln_wgmma_fence();\n"
      "      #pragma unroll\n"
      "      for (int kk = 0; kk < 4; ++kk) {{\n"
      "        const uint64_t descA = kiln_wgmma_desc(a + kk * 32, 16, 1024);\n"
      "        const uint64_t descB = kiln_wgmma_desc(b + kk * 2048, 8192, "
      "1024);\n",
      stages, tileA, stages * tileA, tileB);
  os << llvm::formatv(
      "        asm volatile(\"{{\\n .reg .pred p;\\n setp.ne.b32 p, %{0}, "
      "0;\\n\"\n"
      "                     \" wgmma.mma_async.sync.aligned.m64n{1}k16.f32.{2}."
      "{2} \"\n"
      "                     \"{{{3}}, %{4}, %{5}, p, 1, 1, 0, 1;\\n}\\n\"\n"
      "                     : {6}\n"
      "                     : \"l\"(descA), \"l\"(descB), \"r\"(1));\n",
      registers + 2, blockN, mma, llvm::join(names, ", "), registers,
      registers + 1, llvm::join(operands, ", "));
  os << llvm::formatv(
      "      }\n"
      "      kiln_wgmma_commit();\n"
      "      kiln_wgmma_wait_all();\n"
      "      // Every warpgroup is done with the stage: refill it.\n"
      "      __syncthreads();\n"
      "      if (threadIdx.x == 0 && kt + {0} < kTiles)\n"
      "        loadTiles(stage, kBegin + (kt + {0}) * 64);\n"
      "    }\n",
      stages);
}

/// Split-K: writes this block's partial accumulators (acc0 ..) to the
/// workspace; the block that completes the tile's count sums all slices'
/// partials, in slice order, back into the accumulators for the epilogue,
/// and the others return. See the file comment for the layout.
static void emitSplitKReduction(llvm::raw_ostream &os, const Group &group,
                                CudaConfigAttr config, int64_t tilesM,
                                int64_t tilesN, int64_t partialFloats,
                                int64_t counterBytes) {
  int64_t threads = getThreads(config), splitK = config.getSplitK();
  os << "    // Split-K: publish this slice's partial tile, then the last "
        "slice to arrive sums them all.\n";
  os << llvm::formatv(
      "    const int64_t tile = (int64_t)blockIdx.y * gridDim.x + blockIdx.x;\n"
      "    float *partials = reinterpret_cast<float *>(workspace + {0}) + tile "
      "* {1};\n",
      counterBytes, splitK * partialFloats);
  // Visits every accumulator with its index `at` in a partial tile.
  auto forEach = [&](StringRef body) {
    for (size_t j = 0; j < group.contractions.size(); ++j)
      os << llvm::formatv(
          "    #pragma unroll\n    for (int tm = 0; tm < {0}; ++tm)\n"
          "      #pragma unroll\n      for (int tn = 0; tn < {1}; ++tn)\n"
          "        #pragma unroll\n        for (int q = 0; q < 4; ++q) {{\n"
          "          const int64_t at = ((({2} * {0} + tm) * {1} + tn) * 4 + q) "
          "* {3} + threadIdx.x;\n"
          "          {4}\n"
          "        }\n",
          tilesM, tilesN, j, threads,
          llvm::formatv(body.data(), j, partialFloats, splitK).str());
  };
  forEach("partials[blockIdx.z * {1} + at] = acc{0}[tm][tn][q];");
  // The writers' fence orders their partials before their count; the last
  // block's fence after reading the count orders its reads after them.
  os << "    __threadfence();\n    __syncthreads();\n";
  os << "    __shared__ bool kilnLastSlice;\n";
  os << llvm::formatv(
      "    if (threadIdx.x == 0) {{\n"
      "      unsigned *counter = reinterpret_cast<unsigned *>(workspace) + "
      "tile;\n"
      "      kilnLastSlice = atomicAdd(counter, 1u) == {0}u;\n"
      "      if (kilnLastSlice) {{\n"
      "        __threadfence();\n"
      "        // Ready for the next launch: every slice of this one counted.\n"
      "        *counter = 0u;\n"
      "      }\n"
      "    }\n"
      "    __syncthreads();\n"
      "    if (!kilnLastSlice)\n"
      "      return;\n",
      splitK - 1);
  // Slice by slice, so that one slice's loads are in flight at a time (all
  // of them at once would not fit in registers); each sum still adds the
  // slices in order. __ldcg reads through L2: this SM's L1 is not coherent
  // with the other SMs' stores.
  forEach("acc{0}[tm][tn][q] = 0.0f;");
  os << llvm::formatv("    #pragma unroll 1\n"
                      "    for (int z = 0; z < {0}; ++z) {{\n",
                      splitK);
  forEach("acc{0}[tm][tn][q] += __ldcg(&partials[z * {1} + at]);");
  os << "    }\n";
}

/// The coordinates of the lhs element (GEMM row `row`, k `kk`) of
/// `contraction`, with the condition under which it is inside the input
/// (conv padding), emitted through `emitter`.
static std::pair<Coords, std::string>
emitLhsCoords(PointwiseEmitter &emitter, const Contraction &contraction) {
  ArrayRef<int64_t> shape = getTensorType(contraction.lhs).getShape();
  if (isa<MatmulOp>(contraction.op)) {
    Coords coords = emitDelinearize(emitter, "row", shape.drop_back(), "m");
    coords.push_back("kk");
    return {coords, ""};
  }
  auto conv = cast<Conv2DOp>(contraction.op);
  ArrayRef<int64_t> out = getTensorType(conv.getResult()).getShape();
  ArrayRef<int64_t> filter = getTensorType(conv.getFilter()).getShape();
  Coords pixel = emitDelinearize(emitter, "row", {out[0], out[2], out[3]}, "p");
  Coords tap = emitDelinearize(emitter, "kk", filter.drop_front(), "t");
  ArrayRef<int64_t> strides = conv.getStrides(), padding = conv.getPadding(),
                    dilations = conv.getDilations();
  std::string iy = emitter.fresh("iy"), ix = emitter.fresh("ix");
  emitter.line() << llvm::formatv(
      "const int64_t {0} = {1} * {2} - {3} + {4} * {5};\n", iy, pixel[1],
      strides[0], padding[0], tap[1], dilations[0]);
  emitter.line() << llvm::formatv(
      "const int64_t {0} = {1} * {2} - {3} + {4} * {5};\n", ix, pixel[2],
      strides[1], padding[1], tap[2], dilations[1]);
  return {{pixel[0], tap[0], iy, ix},
          llvm::formatv("{0} >= 0 && {0} < {1} && {2} >= 0 && {2} < {3}", iy,
                        shape[2], ix, shape[3])};
}

/// The coordinates of the rhs element (k `kk`, GEMM column `col`).
static Coords emitRhsCoords(PointwiseEmitter &emitter,
                            const Contraction &contraction) {
  if (auto matmul = dyn_cast<MatmulOp>(contraction.op))
    return matmul.getTransposeRhs() ? Coords{"col", "kk"} : Coords{"kk", "col"};
  auto conv = cast<Conv2DOp>(contraction.op);
  Coords coords{"col"};
  coords.append(emitDelinearize(
      emitter, "kk", getTensorType(conv.getFilter()).getShape().drop_front(),
      "t"));
  return coords;
}

/// The coordinates in the contraction's result of GEMM element (row, col).
static Coords emitResultCoords(PointwiseEmitter &emitter,
                               const Contraction &contraction) {
  ArrayRef<int64_t> out =
      getTensorType(contraction.op->getResult(0)).getShape();
  if (isa<MatmulOp>(contraction.op)) {
    Coords coords = emitDelinearize(emitter, "row", out.drop_back(), "m");
    coords.push_back("col");
    return coords;
  }
  Coords pixel = emitDelinearize(emitter, "row", {out[0], out[2], out[3]}, "p");
  return {pixel[0], "col", pixel[1], pixel[2]};
}

FailureOr<std::string> kiln::codegen::emitContraction(func::FuncOp kernel,
                                                      CudaConfigAttr config,
                                                      StringRef arch) {
  SmallVector<Contraction> contractions = getContractions(kernel);
  SmallVector<Group> groups = getGroups(kernel, contractions);
  Type elementType = getTensorType(contractions.front().lhs).getElementType();
  std::string type = getStorageType(elementType);
  int64_t blockM = config.getBlockM(), blockN = config.getBlockN(),
          blockK = config.getBlockK(), warps = config.getWarps();
  bool wgmma = isWgmma(kernel, config, arch);
  // A wgmma warpgroup owns 64 rows by all block_n columns: its 4 warps are
  // 4 rows of warps, one column.
  WarpGrid grid =
      wgmma ? WarpGrid{config.getWarps(), 1} : getWarpGrid(config);
  if (blockM % (grid.rows * 16) != 0 || blockN % (grid.columns * 8) != 0 ||
      blockK % 16 != 0)
    return contractions.front().op->emitError()
           << "CUDA config " << config
           << " does not split into 16x8x16 mma tiles over " << warps
           << " warps";
  // The wgmma ring is aligned up to 1024 bytes inside dynamic shared
  // memory.
  int64_t bytes = wgmma ? config.getStages() * getWgmmaStageBytes(config) + 1024
                        : getSharedBytes(kernel, config);
  bool pipelined = wgmma || isPipelined(kernel, config);
  // Static shared memory ends at 48 KiB; the pipeline's dynamic shared
  // memory at what a block may opt in to.
  int64_t limit = !pipelined ? 48 * 1024 : arch == "sm_90a" ? 232448 : 166912;
  if (bytes > limit)
    return contractions.front().op->emitError()
           << "CUDA config " << config << " needs " << bytes
           << " bytes of shared memory (at most " << limit << ")";
  int64_t tilesM = blockM / grid.rows / 16, tilesN = blockN / grid.columns / 8;
  int64_t perGroup = getMatmulsPerGroup(kernel);
  int64_t splitK = config.getSplitK();
  for (const Group &group : groups) {
    const Contraction &first = contractions[group.contractions.front()];
    if (splitK > llvm::divideCeil(first.k, blockK))
      return first.op->emitError()
             << "CUDA config " << config << " splits k (" << first.k
             << ") into more slices than it has block_k tiles";
  }
  CudaLaunch launch = getContractionLaunch(kernel, config, arch);
  if (launch.gridX % config.getClusterN() != 0 ||
      launch.gridY % config.getClusterM() != 0)
    return contractions.front().op->emitError()
           << "CUDA config " << config << " has clusters that do not divide "
           << "the grid of " << launch.gridX << "x" << launch.gridY
           << " blocks (columns x rows)";

  std::string source;
  llvm::raw_string_ostream os(source);
  // One block per SM as the floor lets ptxas keep every accumulator in
  // registers instead of spilling to reach a higher occupancy it guessed.
  SmallVector<std::string> extraParameters;
  if (splitK > 1)
    extraParameters.push_back("unsigned char *__restrict__ workspace");
  if (wgmma) {
    extraParameters.push_back("const __grid_constant__ KilnTensorMap tmapA");
    extraParameters.push_back("const __grid_constant__ KilnTensorMap tmapB");
  }
  // Clusters span cluster_n column tiles (x) by cluster_m row tiles (y).
  std::string attributes =
      config.hasClusters()
          ? llvm::formatv("__cluster_dims__({0}, {1}, 1)",
                          config.getClusterN(), config.getClusterM())
                .str()
          : "";
  os << getSignature(kernel, getThreads(config), /*minBlocks=*/1,
                     extraParameters, attributes);
  os << llvm::formatv("  // Block tile {0}x{1}x{2}, {3}x{4} warps of {5}x{6} "
                      "mma tiles of 16x8.\n",
                      blockM, blockN, blockK, grid.rows, grid.columns, tilesM,
                      tilesN);
  int64_t stages = config.getStages();
  if (wgmma) {
    os << llvm::formatv("  // TMA + wgmma: {0} stages of operand tiles in "
                        "dynamic shared memory.\n",
                        stages);
    os << "  extern __shared__ __align__(1024) unsigned char kilnShared[];\n";
  } else if (pipelined) {
    os << llvm::formatv("  // cp.async pipeline: {0} stages of operand tiles "
                        "in dynamic shared memory.\n",
                        stages);
    os << "  extern __shared__ __align__(16) unsigned char kilnShared[];\n";
    os << llvm::formatv("  {0} (*stageA)[{1}][{2}] = reinterpret_cast<{0} "
                        "(*)[{1}][{2}]>(kilnShared);\n",
                        type, blockM, blockK);
    os << llvm::formatv("  {0} (*stageB)[{1}][{2}][{3}] = reinterpret_cast<{0} "
                        "(*)[{1}][{2}][{3}]>(kilnShared + {4});\n",
                        type, perGroup, blockK, blockN,
                        stages * blockM * blockK *
                            elementType.getIntOrFloatBitWidth() / 8);
  } else {
    os << llvm::formatv("  __shared__ {0} tileA[{1}][{2}];\n", type, blockM,
                        blockK);
    os << llvm::formatv("  __shared__ {0} tileB[{1}][{2}][{3}];\n", type,
                        perGroup, blockK, blockN);
  }
  // With wgmma's one warp column, warp w's rows start at w * 16: the
  // warpgroup's 4 warps cover its 64 rows in order.
  os << llvm::formatv(
      "  const int64_t rowBase = (int64_t)blockIdx.y * {0};\n"
      "  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;\n"
      "  const int group = lane / 4, pair = lane % 4;\n"
      "  const int warpRow = (warp / {1}) * {2}, warpCol = (warp % {1}) * "
      "{3};\n",
      blockM, grid.columns, tilesM * 16, tilesN * 8);
  // Row statistics of prologue norms, per contraction's lhs.
  llvm::DenseMap<Operation *, std::string> statistics;
  for (const Contraction &contraction : contractions)
    for (Operation *row : getPrologueRows(contraction))
      if (!statistics.count(row)) {
        std::string name = llvm::formatv("rowStats{0}", statistics.size());
        os << llvm::formatv("  __shared__ float {0}[2][{1}];\n", name, blockM);
        statistics[row] = name;
      }

  int64_t firstColumnTile = 0;
  for (auto [g, group] : llvm::enumerate(groups)) {
    const Contraction &first = contractions[group.contractions.front()];
    int64_t columnTiles = llvm::divideCeil(first.n, blockN);
    PointwiseEmitter emitter(os, "    ");
    os << llvm::formatv("  {0}if (blockIdx.x < {1}) {{\n",
                        g == 0 ? "" : "else ", firstColumnTile + columnTiles);
    os << llvm::formatv("    // Results {0}: [{1} x {2}] x [{2} x {3}] from "
                        "{4}.\n",
                        llvm::join(llvm::map_range(group.results,
                                                   [](unsigned r) {
                                                     return std::to_string(r);
                                                   }),
                                   ", "),
                        first.m, first.k, first.n, first.op->getName());
    os << llvm::formatv("    const int64_t colBase = ((int64_t)blockIdx.x - "
                        "{0}) * {1};\n",
                        firstColumnTile, blockN);
    os << llvm::formatv("    if (rowBase >= {0})\n      return;\n", first.m);
    // 1. Row statistics of the lhs's norms: a warp per tile row.
    for (Operation *row : getPrologueRows(first))
      emitTileRowStatistics(emitter, row, blockM, warps, first.m,
                            statistics[row]);
    // 2. The main loop over this block's slice of k.
    if (splitK > 1)
      os << llvm::formatv("    const int64_t kBegin = (int64_t)blockIdx.z * "
                          "{0}, kEnd = kBegin + {0} < {1} ? kBegin + {0} : "
                          "{1};\n",
                          getSliceK(first.k, config), first.k);
    else
      os << llvm::formatv("    const int64_t kBegin = 0, kEnd = {0};\n",
                          first.k);
    for (size_t j = 0; j < group.contractions.size(); ++j)
      emitter.line() << llvm::formatv("float acc{0}[{1}][{2}][4] = {{};\n", j,
                                      tilesM, tilesN);
    if (wgmma) {
      emitWgmmaMainLoop(os, config, elementType);
    } else if (pipelined) {
      emitPipelinedMainLoop(os, contractions, group, config, elementType,
                            tilesM, tilesN);
    } else {
      emitter.open(llvm::formatv("for (int64_t k0 = kBegin; k0 < kEnd; k0 "
                                 "+= {0}) {{",
                                 blockK)
                       .str());
      emitter.line() << "// Stage the operand tiles (zero beyond the edges).\n";
      emitter.open(llvm::formatv("for (int e = threadIdx.x; e < {0}; e += {1}) "
                                 "{{",
                                 blockM * blockK, getThreads(config))
                       .str());
      emitter.line() << llvm::formatv("const int r = e / {0}, c = e % {0};\n",
                                      blockK);
      emitter.line() << "const int64_t row = rowBase + r, kk = k0 + c;\n";
      emitter.line() << "float value = 0.0f;\n";
      emitter.open(
          llvm::formatv("if (row < {0} && kk < {1}) {{", first.m, first.k)
              .str());
      auto [lhsCoords, inside] = emitLhsCoords(emitter, first);
      if (!inside.empty())
        emitter.open("if (" + inside + ") {");
      std::string lhs = emitter.emit(first.lhs, lhsCoords);
      emitter.line() << "value = " << lhs << ";\n";
      if (!inside.empty())
        emitter.close();
      emitter.close();
      emitter.line() << "kiln_store(&tileA[r][c], value);\n";
      emitter.close();
      for (auto [j, c] : llvm::enumerate(group.contractions)) {
        const Contraction &contraction = contractions[c];
        emitter.open(llvm::formatv("for (int e = threadIdx.x; e < {0}; e += "
                                   "{1}) {{",
                                   blockK * blockN, getThreads(config))
                         .str());
        emitter.line() << llvm::formatv("const int r = e / {0}, c = e % {0};\n",
                                        blockN);
        emitter.line() << "const int64_t kk = k0 + r, col = colBase + c;\n";
        emitter.line() << "float value = 0.0f;\n";
        emitter.open(llvm::formatv("if (kk < {0} && col < {1}) {{",
                                   contraction.k, contraction.n)
                         .str());
        Coords rhsCoords = emitRhsCoords(emitter, contraction);
        std::string rhs =
            emitter.emit(contraction.op->getOperand(1), rhsCoords);
        emitter.line() << "value = " << rhs << ";\n";
        emitter.close();
        emitter.line() << llvm::formatv(
            "kiln_store(&tileB[{0}][r][c], value);\n", j);
        emitter.close();
      }
      emitter.line() << "__syncthreads();\n";
      for (size_t j = 0; j < group.contractions.size(); ++j)
        emitTileProducts(os, elementType, tilesM, tilesN, blockK,
                         llvm::formatv("acc{0}", j).str(),
                         llvm::formatv("tileB[{0}]", j).str());
      emitter.line() << "__syncthreads();\n";
      emitter.close();
    }
    // 3. The sum over the k slices.
    if (splitK > 1)
      emitSplitKReduction(os, group, config, tilesM, tilesN,
                          getPartialFloats(kernel, config),
                          getCounterBytes(launch.gridX * launch.gridY));
    // 4. Epilogue: accumulator q of tile (tm, tn) is row r0 + 8 * (q / 2),
    // column c0 + q % 2.
    os << llvm::formatv(
        "    #pragma unroll\n    for (int tm = 0; tm < {0}; ++tm)\n"
        "      #pragma unroll\n      for (int tn = 0; tn < {1}; ++tn)\n"
        "        #pragma unroll\n        for (int q = 0; q < 4; ++q) {{\n",
        tilesM, tilesN);
    PointwiseEmitter epilogue(os, "          ");
    epilogue.line() << "const int64_t row = rowBase + warpRow + tm * 16 + "
                       "group + 8 * (q / 2);\n";
    epilogue.line() << "const int64_t col = colBase + warpCol + tn * 8 + "
                       "pair * 2 + q % 2;\n";
    epilogue.line() << llvm::formatv("if (row >= {0} || col >= {1})\n", first.m,
                                     first.n);
    epilogue.line() << "  continue;\n";
    Coords coords = emitResultCoords(epilogue, first);
    for (auto [j, c] : llvm::enumerate(group.contractions))
      epilogue.setSource(contractions[c].op->getResult(0),
                         [j = j](PointwiseEmitter &, ArrayRef<std::string>) {
                           return llvm::formatv("acc{0}[tm][tn][q]", j).str();
                         });
    if (failed(emitResultStores(epilogue, kernel, first.op->getResult(0),
                                coords, group.results)))
      return failure();
    os << "        }\n  }\n";
    firstColumnTile += columnTiles;
  }
  os << "}\n";
  return source;
}

CudaLaunch kiln::codegen::getContractionLaunch(func::FuncOp kernel,
                                               CudaConfigAttr config,
                                               StringRef arch) {
  SmallVector<Contraction> contractions = getContractions(kernel);
  CudaLaunch launch;
  launch.blockX = getThreads(config);
  if (isWgmma(kernel, config, arch)) {
    launch.sharedBytes = config.getStages() * getWgmmaStageBytes(config) + 1024;
    const Contraction &c = contractions.front();
    auto matmul = cast<MatmulOp>(c.op);
    bool bf16 = getTensorType(c.lhs).getElementType().isBF16();
    // lhs as [M x K] in boxes of 64 k x block_m rows; rhs as [K x N] in
    // boxes of 64 columns x 64 k.
    launch.tensorMaps.push_back(
        {cast<BlockArgument>(matmul.getLhs()).getArgNumber(), bf16, c.k, c.m,
         kWgmmaBlockK, config.getBlockM()});
    launch.tensorMaps.push_back(
        {cast<BlockArgument>(matmul.getRhs()).getArgNumber(), bf16, c.n, c.k,
         64, kWgmmaBlockK});
  } else if (isPipelined(kernel, config)) {
    launch.sharedBytes = getSharedBytes(kernel, config);
  }
  launch.gridX = 0;
  for (const Group &group : getGroups(kernel, contractions)) {
    const Contraction &first = contractions[group.contractions.front()];
    launch.gridX += llvm::divideCeil(first.n, config.getBlockN());
    launch.gridY = std::max<int64_t>(
        launch.gridY, llvm::divideCeil(first.m, config.getBlockM()));
  }
  launch.gridZ = config.getSplitK();
  if (launch.gridZ > 1) {
    int64_t tiles = launch.gridX * launch.gridY;
    launch.workspaceBytes = getCounterBytes(tiles) +
                            tiles * launch.gridZ *
                                getPartialFloats(kernel, config) * 4;
  }
  return launch;
}

/// sm_90a matmuls that the wgmma path covers and that fill at least a
/// warpgroup's 64x64x64 take its 128x128x64 tile (64 where the problem is
/// no larger) with 4 TMA stages. Otherwise tensor-core tiles: 128x128x32
/// on sm_80, twice as wide in N on sm_90a
/// (more registers and shared memory per SM) for bf16/f16; f32's scalar
/// path keeps 128 wide, whose accumulators fit in registers. Groups of
/// several matmuls narrow N to keep the accumulators' registers. Tiles are
/// cut down to the problem so small matmuls do not pad, with at most one
/// warp per 16x8 mma tile.
CudaConfigAttr kiln::codegen::getDefaultContractionConfig(func::FuncOp kernel,
                                                          StringRef arch) {
  bool hopper = arch == "sm_90a";
  SmallVector<Contraction> contractions = getContractions(kernel);
  int64_t m = 0, n = 0, k = 0;
  for (const Contraction &contraction : contractions) {
    m = std::max(m, contraction.m);
    n = std::max(n, contraction.n);
    k = std::max(k, contraction.k);
  }
  if (hopper && m >= 64 && n >= 64 && k >= 64) {
    int64_t blockM = m > 64 ? 128 : 64;
    auto wgmma = CudaConfigAttr::get(kernel.getContext(), blockM,
                                     n > 64 ? 128 : 64, kWgmmaBlockK,
                                     /*warps=*/4 * (blockM / 64),
                                     /*stages=*/4);
    if (isWgmma(kernel, wgmma, arch))
      return wgmma;
  }
  bool wide = hopper &&
              !getTensorType(contractions.front().lhs).getElementType().isF32();
  int64_t blockM = std::clamp<int64_t>(llvm::PowerOf2Ceil(m), 16, 128);
  int64_t blockN =
      std::clamp<int64_t>(llvm::PowerOf2Ceil(n), 8,
                          (wide ? 256 : 128) / getMatmulsPerGroup(kernel));
  int64_t blockK = std::clamp<int64_t>(llvm::PowerOf2Ceil(k), 16, 32);
  int64_t warps = std::min<int64_t>(8, (blockM / 16) * (blockN / 8));
  int64_t stages = hopper ? 4 : 3;
  // Fewer warps where getWarpGrid's split would cut a narrow tile below 8
  // columns per warp.
  auto config = [&] {
    return CudaConfigAttr::get(kernel.getContext(), blockM, blockN, blockK,
                               warps, stages);
  };
  while (warps > 1 && blockN % (getWarpGrid(config()).columns * 8) != 0)
    warps /= 2;
  return config();
}
