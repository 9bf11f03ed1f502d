//===- EmitAttention.cpp - CUDA for flash attention kernels ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Flash attention: a block owns block_m queries of one (batch, head) and
// sweeps the keys in tiles of block_n, keeping per query the running max,
// the running sum of exp(score - max) and the unnormalized output (online
// softmax), so the [Sq x Sk] scores never reach memory. The producers of
// q, k and v (rope, the head split's reshape and transpose) are evaluated
// while staging the tiles in shared memory.
//
// Tile scheme: each warp owns block_m / warps queries; for each, lane l
// scores keys l, l + 32, ... of the tile, the warp reduces the tile's max
// and sum by shuffles, and lane l accumulates output columns l, l + 32, ...
// from the value tile. Query head h reads key/value head h / (Hq / Hkv);
// with `causal` query i sees keys j <= i + Sk - Sq, and key tiles past the
// block's last visible key are skipped.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/CudaSource.h"
#include "codegen/CUDA/Generators.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

static AttentionOp getAttention(func::FuncOp kernel) {
  AttentionOp attention;
  kernel.walk([&](AttentionOp op) { attention = op; });
  return attention;
}

/// Shared memory of the query, key and value tiles (f32), in bytes; the
/// key rows are padded by one so lanes reading one column of different
/// keys hit different banks.
static int64_t getSharedBytes(AttentionOp attention, CudaConfigAttr config) {
  int64_t dim = getTensorType(attention.getQuery()).getShape()[3];
  int64_t valueDim = getTensorType(attention.getValue()).getShape()[3];
  return 4 * (config.getBlockM() * dim + config.getBlockN() * (dim + 1) +
              config.getBlockN() * valueDim);
}

FailureOr<std::string> kiln::codegen::emitAttention(func::FuncOp kernel,
                                                    CudaConfigAttr config) {
  AttentionOp attention = getAttention(kernel);
  ArrayRef<int64_t> query = getTensorType(attention.getQuery()).getShape();
  ArrayRef<int64_t> key = getTensorType(attention.getKey()).getShape();
  int64_t heads = query[1], querySeq = query[2], dim = query[3];
  int64_t kvHeads = key[1], keySeq = key[2];
  int64_t valueDim = getTensorType(attention.getValue()).getShape()[3];
  int64_t blockM = config.getBlockM(), blockN = config.getBlockN(),
          warps = config.getWarps(), threads = getThreads(config);
  if (blockN % 32 != 0 || blockM % warps != 0)
    return attention.emitError()
           << "CUDA config " << config
           << " does not split into whole queries per warp and key tiles of "
              "whole warps (block_n a multiple of 32)";
  int64_t bytes = getSharedBytes(attention, config);
  if (bytes > 48 * 1024)
    return attention.emitError()
           << "CUDA config " << config << " needs " << bytes
           << " bytes of shared memory (at most 49152)";
  int64_t queriesPerWarp = blockM / warps, keysPerLane = blockN / 32;
  int64_t columnsPerLane = llvm::divideCeil(valueDim, 32);
  double scale = attention.getScale()
                     ? attention.getScale()->convertToDouble()
                     : 1.0 / std::sqrt(static_cast<double>(dim));
  bool causal = attention.getCausal();

  std::string source;
  llvm::raw_string_ostream os(source);
  // One block per SM as the floor leaves ptxas the registers for the
  // queries' running state instead of spilling for an occupancy it guessed.
  os << getSignature(kernel, threads, /*minBlocks=*/1);
  os << llvm::formatv(
      "  // Queries [{0} x {1} x {2} x {3}], {4} key/value heads of {5} keys; "
      "{6} queries per block, key tiles of {7}.\n",
      query[0], heads, querySeq, dim, kvHeads, keySeq, blockM, blockN);
  os << llvm::formatv("  __shared__ float queryTile[{0}][{1}];\n", blockM, dim);
  os << llvm::formatv("  __shared__ float keyTile[{0}][{1}];\n", blockN,
                      dim + 1);
  os << llvm::formatv("  __shared__ float valueTile[{0}][{1}];\n", blockN,
                      valueDim);
  // A batch of one indexes nothing.
  std::string batch = query[0] > 1 ? "batch" : "0";
  if (query[0] > 1)
    os << "  const int64_t batch = blockIdx.z;\n";
  os << llvm::formatv(
      "  const int64_t head = blockIdx.y, kvHead = head / {0};\n"
      "  const int64_t queryBase = (int64_t)blockIdx.x * {1};\n"
      "  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;\n",
      heads / kvHeads, blockM);
  // Stages rows [first, first + rows) (below `limit`) of `operand`'s head
  // `head`, `width` wide, into `tile`.
  auto stage = [&](PointwiseEmitter &emitter, Value operand, StringRef tile,
                   StringRef first, StringRef head, int64_t rows, int64_t width,
                   int64_t limit) {
    emitter.open(llvm::formatv("for (int e = threadIdx.x; e < {0}; e += {1}) "
                               "{{",
                               rows * width, threads)
                     .str());
    emitter.line() << llvm::formatv("const int r = e / {0}, d = e % {0};\n",
                                    width);
    emitter.line() << "const int64_t position = " << first << " + r;\n";
    emitter.line() << "float value = 0.0f;\n";
    emitter.open(llvm::formatv("if (position < {0}) {{", limit).str());
    std::string element =
        emitter.emit(operand, {batch, head.str(), "position", "d"});
    emitter.line() << "value = " << element << ";\n";
    emitter.close();
    emitter.line() << tile << "[r][d] = value;\n";
    emitter.close();
  };
  PointwiseEmitter queries(os, "  ");
  os << "  // 1. The block's queries, rope and head split fused.\n";
  stage(queries, attention.getQuery(), "queryTile", "queryBase", "head", blockM,
        dim, querySeq);
  os << llvm::formatv(
      "  float runningMax[{0}], runningSum[{0}], out[{0}][{1}];\n"
      "  #pragma unroll\n  for (int qi = 0; qi < {0}; ++qi) {{\n"
      "    runningMax[qi] = -INFINITY;\n    runningSum[qi] = 0.0f;\n"
      "    #pragma unroll\n    for (int c = 0; c < {1}; ++c)\n"
      "      out[qi][c] = 0.0f;\n  }\n",
      queriesPerWarp, columnsPerLane);
  if (causal)
    os << llvm::formatv(
        "  // Keys past the block's last query's last visible "
        "key take no part.\n"
        "  const int64_t keyEnd = min((int64_t){0}, max((int64_t)0, "
        "queryBase + {1}));\n",
        keySeq, blockM + keySeq - querySeq);
  else
    os << llvm::formatv("  const int64_t keyEnd = {0};\n", keySeq);
  os << "  __syncthreads();\n";
  os << llvm::formatv("  for (int64_t keyBase = 0; keyBase < keyEnd; keyBase "
                      "+= {0}) {{\n",
                      blockN);
  PointwiseEmitter tiles(os, "    ");
  os << "    // 2. The key and value tiles.\n";
  stage(tiles, attention.getKey(), "keyTile", "keyBase", "kvHead", blockN, dim,
        keySeq);
  stage(tiles, attention.getValue(), "valueTile", "keyBase", "kvHead", blockN,
        valueDim, keySeq);
  os << "    __syncthreads();\n";
  os << llvm::formatv(
      "    // 3. Online softmax over the tile, per query of this warp.\n"
      "    #pragma unroll\n"
      "    for (int qi = 0; qi < {0}; ++qi) {{\n"
      "      const int r = warp * {0} + qi;\n"
      "      const int64_t queryPosition = queryBase + r;\n"
      "      float score[{1}];\n"
      "      float tileMax = -INFINITY;\n"
      "      #pragma unroll\n"
      "      for (int t = 0; t < {1}; ++t) {{\n"
      "        const int64_t keyPosition = keyBase + lane + 32 * t;\n"
      "        score[t] = -INFINITY;\n",
      queriesPerWarp, keysPerLane);
  os << llvm::formatv("        if (queryPosition < {0} && keyPosition < {1}",
                      querySeq, keySeq);
  if (causal)
    os << llvm::formatv(" && keyPosition <= queryPosition + {0}",
                        keySeq - querySeq);
  os << llvm::formatv(
      ") {{\n"
      "          float dot = 0.0f;\n"
      "          #pragma unroll\n"
      "          for (int d = 0; d < {0}; ++d)\n"
      "            dot += queryTile[r][d] * keyTile[lane + 32 * t][d];\n"
      "          score[t] = dot * {1:e}f;\n"
      "        }\n"
      "        tileMax = fmaxf(tileMax, score[t]);\n"
      "      }\n"
      "      const float newMax = fmaxf(runningMax[qi], "
      "kiln_warp_max(tileMax));\n"
      "      // No key visible to this query yet.\n"
      "      if (newMax == -INFINITY)\n"
      "        continue;\n"
      "      const float correction = expf(runningMax[qi] - newMax);\n"
      "      float tileSum = 0.0f;\n"
      "      #pragma unroll\n"
      "      for (int t = 0; t < {2}; ++t) {{\n"
      "        score[t] = expf(score[t] - newMax);\n"
      "        tileSum += score[t];\n"
      "      }\n"
      "      runningSum[qi] = runningSum[qi] * correction + "
      "kiln_warp_sum(tileSum);\n"
      "      runningMax[qi] = newMax;\n"
      "      #pragma unroll\n"
      "      for (int c = 0; c < {3}; ++c)\n"
      "        out[qi][c] *= correction;\n"
      "      // Each lane's probabilities go to every lane, which adds them "
      "times its value columns.\n"
      "      #pragma unroll\n"
      "      for (int t = 0; t < {2}; ++t)\n"
      "        for (int source = 0; source < 32; ++source) {{\n"
      "          const float p = __shfl_sync(0xffffffffu, score[t], source);\n"
      "          #pragma unroll\n"
      "          for (int c = 0; c < {3}; ++c)\n"
      "            if (lane + 32 * c < {4})\n"
      "              out[qi][c] += p * valueTile[source + 32 * t][lane + 32 * "
      "c];\n"
      "        }\n"
      "    }\n"
      "    __syncthreads();\n"
      "  }\n",
      dim, scale, keysPerLane, columnsPerLane, valueDim);
  os << llvm::formatv(
      "  // 4. Normalize and store; a query that sees no key gets zeros.\n"
      "  #pragma unroll\n"
      "  for (int qi = 0; qi < {0}; ++qi) {{\n"
      "    const int64_t queryPosition = queryBase + warp * {0} + qi;\n"
      "    #pragma unroll\n"
      "    for (int c = 0; c < {1}; ++c) {{\n"
      "      const int64_t column = lane + 32 * c;\n"
      "      if (queryPosition >= {2} || column >= {3})\n"
      "        continue;\n",
      queriesPerWarp, columnsPerLane, querySeq, valueDim);
  PointwiseEmitter epilogue(os, "      ");
  epilogue.setSource(attention.getResult(),
                     [](PointwiseEmitter &, ArrayRef<std::string>) {
                       return std::string("(runningSum[qi] > 0.0f ? "
                                          "out[qi][c] / runningSum[qi] : "
                                          "0.0f)");
                     });
  if (failed(emitResultStores(epilogue, kernel, attention.getResult(),
                              {batch, "head", "queryPosition", "column"})))
    return failure();
  os << "    }\n  }\n}\n";
  return source;
}

CudaLaunch kiln::codegen::getAttentionLaunch(func::FuncOp kernel,
                                             CudaConfigAttr config) {
  ArrayRef<int64_t> query =
      getTensorType(getAttention(kernel).getQuery()).getShape();
  CudaLaunch launch;
  launch.blockX = getThreads(config);
  launch.gridX = llvm::divideCeil(query[2], config.getBlockM());
  launch.gridY = query[1];
  launch.gridZ = query[0];
  return launch;
}

/// 16 queries over 4 warps; key tiles of 64 keys, 32 for head dims above 64
/// so the f32 tiles stay within 48 KiB.
CudaConfigAttr kiln::codegen::getDefaultAttentionConfig(func::FuncOp kernel) {
  AttentionOp attention = getAttention(kernel);
  int64_t dim = getTensorType(attention.getQuery()).getShape()[3];
  return CudaConfigAttr::get(kernel.getContext(), 16, dim > 64 ? 32 : 64,
                             /*block_k=*/1, /*warps=*/4, /*stages=*/1);
}
