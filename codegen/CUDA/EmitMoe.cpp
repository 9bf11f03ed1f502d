//===- EmitMoe.cpp - CUDA for mixture-of-experts kernels -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// One kernel for a mixture-of-experts feed-forward: route, gather the tokens
// of each expert, run its SwiGLU, combine. A block owns block_m tokens:
//
//  1. stages the tokens (their producers, e.g. the rms_norm, fused; norm
//     statistics reduced a warp per token first);
//  2. routes each token: the router logits (a matmul of the tokens or a
//     pointwise value), softmax over the experts, the top k highest first
//     (the lower index first among equals), weights rescaled if asked;
//  3. per expert, gathers the block's tokens routed to it and computes
//     silu(x gate[e]) * (x up[e]) for them, rounded to the storage type as
//     the reference does, then adds weight * (act down[e]) to the token's
//     combined row: each expert's weights are read once per block, by all
//     the tokens that chose it (a grouped matmul);
//  4. stores the results from the combined rows (residual add fused).
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/CudaSource.h"
#include "codegen/CUDA/Generators.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

static MoeExpertsOp getExperts(func::FuncOp kernel) {
  MoeExpertsOp experts;
  kernel.walk([&](MoeExpertsOp op) { experts = op; });
  return experts;
}

/// The f32 shared memory of a block of `tokens` tokens, in bytes.
static int64_t getSharedBytes(MoeExpertsOp experts, int64_t tokens) {
  int64_t hidden = getTensorType(experts.getInput()).getShape()[1];
  int64_t ffn = getTensorType(experts.getGate()).getShape()[2];
  int64_t topK = getTensorType(experts.getIndices()).getShape()[1];
  return 4 * tokens * (2 * hidden + ffn + 2 * topK + 2 + 2);
}

/// Opens the loop of a block's threads over its `blockM` x `hidden` token
/// elements: element `e` is hidden unit `h` of the block's row `r`, token
/// `row` of the whole input.
static void openBlockElementLoop(PointwiseEmitter &emitter, int64_t blockM,
                                 int64_t hidden, int64_t threads) {
  emitter.open(llvm::formatv("for (int e = threadIdx.x; e < {0}; e += {1}) {{",
                             blockM * hidden, threads)
                   .str());
  emitter.line() << llvm::formatv("const int r = e / {0}, h = e % {0};\n",
                                  hidden);
  emitter.line() << "const int64_t row = rowBase + r;\n";
}

/// The expression that rounds f32 `value` to the storage type `type`.
static std::string roundTo(Type type, const std::string &value) {
  if (type.isBF16())
    return "kiln_round_bf16(" + value + ")";
  if (type.isF16())
    return "kiln_round_f16(" + value + ")";
  return value;
}

FailureOr<std::string> kiln::codegen::emitMoe(func::FuncOp kernel,
                                              CudaConfigAttr config) {
  MoeExpertsOp experts = getExperts(kernel);
  auto router = experts.getWeights().getDefiningOp<MoeRouterOp>();
  if (!router || experts.getIndices() != router.getIndices())
    return experts.emitError() << "CUDA generation expects moe_experts to "
                                  "take the weights and indices of a "
                                  "moe_router in the same kernel";
  Value input = experts.getInput();
  Type type = getTensorType(input).getElementType();
  ArrayRef<int64_t> gateShape = getTensorType(experts.getGate()).getShape();
  int64_t tokens = getTensorType(input).getShape()[0];
  int64_t hidden = gateShape[1], ffn = gateShape[2], count = gateShape[0];
  int64_t topK = router.getTopK();
  int64_t blockM = config.getBlockM(), warps = config.getWarps(),
          threads = getThreads(config);
  int64_t bytes = getSharedBytes(experts, blockM);
  if (bytes > 48 * 1024)
    return experts.emitError() << "CUDA config " << config << " needs " << bytes
                               << " bytes of shared memory (at most 49152)";
  if (count > 256)
    return experts.emitError() << "CUDA generation covers at most 256 "
                                  "experts, not "
                               << count;

  std::string source;
  llvm::raw_string_ostream os(source);
  // One block per SM as the floor leaves ptxas the registers for the
  // router's unrolled loops over the experts.
  os << getSignature(kernel, threads, /*minBlocks=*/1);
  os << llvm::formatv("  // {0} tokens of {1}, {2} SwiGLU experts of width "
                      "{3}, top {4}; {5} tokens per block.\n",
                      tokens, hidden, count, ffn, topK, blockM);
  os << llvm::formatv("  __shared__ float tokenTile[{0}][{1}];\n"
                      "  __shared__ float combined[{0}][{1}];\n"
                      "  __shared__ float activation[{0}][{2}];\n"
                      "  __shared__ float routeWeight[{0}][{3}];\n"
                      "  __shared__ int routeExpert[{0}][{3}];\n"
                      "  __shared__ int members[{0}];\n"
                      "  __shared__ float memberWeight[{0}];\n"
                      "  __shared__ int memberCount;\n",
                      blockM, hidden, ffn, topK);
  os << llvm::formatv(
      "  const int64_t rowBase = (int64_t)blockIdx.x * {0};\n"
      "  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;\n",
      blockM);
  PointwiseEmitter emitter(os, "  ");
  // 1. Tokens, with the statistics of the norms they come from.
  SmallVector<Operation *> rows = getRowProducers(input, tokens, hidden);
  for (auto [index, row] : llvm::enumerate(rows)) {
    std::string name = llvm::formatv("rowStats{0}", index);
    emitter.line() << llvm::formatv("__shared__ float {0}[2][{1}];\n", name,
                                    blockM);
    emitTileRowStatistics(emitter, row, blockM, warps, tokens, name);
  }
  emitter.line() << "// 1. Stage the block's tokens.\n";
  openBlockElementLoop(emitter, blockM, hidden, threads);
  emitter.line() << "float value = 0.0f;\n";
  emitter.open(llvm::formatv("if (row < {0}) {{", tokens).str());
  std::string token = emitter.emit(input, {"row", "h"});
  emitter.line() << "value = " << token << ";\n";
  emitter.close();
  emitter.line() << "tokenTile[r][h] = " << roundTo(type, "value") << ";\n";
  emitter.line() << "combined[r][h] = 0.0f;\n";
  emitter.close();
  emitter.line() << "__syncthreads();\n";
  // Reads of the tokens come from the tile from here on.
  bool tokensFromTile = true;
  emitter.setSource(input, [&](PointwiseEmitter &, ArrayRef<std::string> at) {
    tokensFromTile &= at.front() == "row";
    return "tokenTile[r][" + at.back() + "]";
  });

  // 2. Routing, one thread per token.
  emitter.line() << "// 2. Route: softmax over the experts, then the top "
                 << topK << ".\n";
  emitter.open(llvm::formatv("for (int r = threadIdx.x; r < {0}; r += {1}) {{",
                             blockM, threads)
                   .str());
  emitter.line() << "const int64_t row = rowBase + r;\n";
  emitter.open(llvm::formatv("if (row < {0}) {{", tokens).str());
  emitter.line() << llvm::formatv("float probability[{0}];\n", count);
  Value logits = router.getLogits();
  auto matmul = logits.getDefiningOp<MatmulOp>();
  emitter.line() << "#pragma unroll\n";
  emitter.open(llvm::formatv("for (int x = 0; x < {0}; ++x) {{", count).str());
  if (matmul && !matmul.getTransposeLhs() &&
      getTensorType(matmul.getRhs()).getRank() == 2) {
    // The router matmul, rounded to the storage type as its result is.
    emitter.line() << "float logit = 0.0f;\n";
    emitter.open(llvm::formatv("for (int64_t k = 0; k < {0}; ++k) {{",
                               getTensorType(matmul.getLhs()).getShape().back())
                     .str());
    std::string a = emitter.emit(matmul.getLhs(), {"row", "k"});
    std::string b = emitter.emit(matmul.getRhs(), matmul.getTransposeRhs()
                                                      ? Coords{"x", "k"}
                                                      : Coords{"k", "x"});
    emitter.line() << "logit += " << a << " * " << b << ";\n";
    emitter.close();
    emitter.line() << "probability[x] = " << roundTo(type, "logit") << ";\n";
  } else {
    std::string logit = emitter.emit(logits, {"row", "x"});
    emitter.line() << "probability[x] = " << logit << ";\n";
  }
  emitter.close();
  // Loops over the experts are unrolled so `probability` stays in
  // registers.
  os << llvm::formatv(
      "      float top = -INFINITY, total = 0.0f;\n"
      "      #pragma unroll\n"
      "      for (int x = 0; x < {0}; ++x)\n"
      "        top = fmaxf(top, probability[x]);\n"
      "      #pragma unroll\n"
      "      for (int x = 0; x < {0}; ++x) {{\n"
      "        probability[x] = expf(probability[x] - top);\n"
      "        total += probability[x];\n"
      "      }\n"
      "      float chosenSum = 0.0f;\n"
      "      for (int choice = 0; choice < {1}; ++choice) {{\n"
      "        // The highest remaining probability; strict > keeps the lower "
      "index among equals.\n"
      "        int best = 0;\n"
      "        float bestProbability = probability[0];\n"
      "        #pragma unroll\n"
      "        for (int x = 1; x < {0}; ++x)\n"
      "          if (probability[x] > bestProbability) {{\n"
      "            best = x;\n"
      "            bestProbability = probability[x];\n"
      "          }\n"
      "        #pragma unroll\n"
      "        for (int x = 0; x < {0}; ++x)\n"
      "          if (x == best)\n"
      "            probability[x] = -1.0f;\n"
      "        const float weight = bestProbability / total;\n"
      "        routeExpert[r][choice] = best;\n"
      "        routeWeight[r][choice] = weight;\n"
      "        chosenSum += weight;\n"
      "      }\n",
      count, topK);
  // The weights are rounded once, as the router's result is.
  os << llvm::formatv("      for (int choice = 0; choice < {0}; ++choice)\n"
                      "        routeWeight[r][choice] = {1};\n",
                      topK,
                      roundTo(type, router.getNormalize()
                                        ? "routeWeight[r][choice] / chosenSum"
                                        : "routeWeight[r][choice]"));
  emitter.close();
  emitter.close();
  emitter.line() << "__syncthreads();\n";

  // 3. Experts.
  emitter.line() << "// 3. Per expert: gather its tokens, SwiGLU, combine.\n";
  emitter.open(
      llvm::formatv("for (int expert = 0; expert < {0}; ++expert) {{", count)
          .str());
  os << llvm::formatv(
      "    // Every thread has read the previous expert's memberCount.\n"
      "    __syncthreads();\n"
      "    if (threadIdx.x == 0) {{\n"
      "      int found = 0;\n"
      "      for (int r = 0; r < {0}; ++r)\n"
      "        for (int choice = 0; choice < {1}; ++choice)\n"
      "          if (rowBase + r < {2} && routeExpert[r][choice] == expert) "
      "{{\n"
      "            members[found] = r;\n"
      "            memberWeight[found++] = routeWeight[r][choice];\n"
      "          }\n"
      "      memberCount = found;\n"
      "    }\n"
      "    __syncthreads();\n"
      "    if (memberCount == 0)\n"
      "      continue;\n",
      blockM, topK, tokens);
  emitter.open(llvm::formatv("for (int e = threadIdx.x; e < memberCount * {0}; "
                             "e += {1}) {{",
                             ffn, threads)
                   .str());
  emitter.line() << llvm::formatv(
      "const int member = e / {0}, f = e % {0}, r = members[member];\n", ffn);
  emitter.line() << "float gate = 0.0f, up = 0.0f;\n";
  emitter.open(llvm::formatv("for (int h = 0; h < {0}; ++h) {{", hidden).str());
  emitter.line() << "const float x = tokenTile[r][h];\n";
  std::string gate = emitter.emit(experts.getGate(), {"expert", "h", "f"});
  std::string up = emitter.emit(experts.getUp(), {"expert", "h", "f"});
  emitter.line() << "gate += x * " << gate << ";\n";
  emitter.line() << "up += x * " << up << ";\n";
  emitter.close();
  emitter.line() << "activation[member][f] = "
                 << roundTo(type, "gate / (1.0f + expf(-gate)) * up") << ";\n";
  emitter.close();
  emitter.line() << "__syncthreads();\n";
  emitter.open(llvm::formatv("for (int e = threadIdx.x; e < memberCount * {0}; "
                             "e += {1}) {{",
                             hidden, threads)
                   .str());
  emitter.line() << llvm::formatv("const int member = e / {0}, h = e % {0};\n",
                                  hidden);
  emitter.line() << "float y = 0.0f;\n";
  emitter.open(llvm::formatv("for (int f = 0; f < {0}; ++f) {{", ffn).str());
  std::string down = emitter.emit(experts.getDown(), {"expert", "f", "h"});
  emitter.line() << "y += activation[member][f] * " << down << ";\n";
  emitter.close();
  emitter.line() << "// A token appears once per expert: no two threads add "
                    "to one element.\n";
  emitter.line() << "combined[members[member]][h] += memberWeight[member] * "
                    "y;\n";
  emitter.close();
  emitter.line() << "__syncthreads();\n";
  emitter.close();

  // 4. Results.
  emitter.line() << "// 4. Store the results of the combined rows.\n";
  openBlockElementLoop(emitter, blockM, hidden, threads);
  emitter.line() << llvm::formatv("if (row >= {0})\n", tokens);
  emitter.line() << "  continue;\n";
  emitter.setSource(experts.getResult(),
                    [](PointwiseEmitter &, ArrayRef<std::string>) {
                      return std::string("combined[r][h]");
                    });
  if (failed(
          emitResultStores(emitter, kernel, experts.getResult(), {"row", "h"})))
    return failure();
  emitter.close();
  os << "}\n";
  if (!tokensFromTile)
    return experts.emitError() << "CUDA generation expects the router to read "
                                  "the tokens row by row";
  return source;
}

CudaLaunch kiln::codegen::getMoeLaunch(func::FuncOp kernel,
                                       CudaConfigAttr config) {
  int64_t tokens = getTensorType(getExperts(kernel).getInput()).getShape()[0];
  CudaLaunch launch;
  launch.blockX = getThreads(config);
  launch.gridX = llvm::divideCeil(tokens, config.getBlockM());
  return launch;
}

/// Up to 16 tokens per block, fewer where their rows would not fit in 48 KiB
/// of shared memory; 4 warps.
CudaConfigAttr kiln::codegen::getDefaultMoeConfig(func::FuncOp kernel) {
  MoeExpertsOp experts = getExperts(kernel);
  int64_t tokens = getTensorType(experts.getInput()).getShape()[0];
  int64_t blockM = std::clamp<int64_t>(llvm::PowerOf2Ceil(tokens), 1, 16);
  while (blockM > 1 && getSharedBytes(experts, blockM) > 48 * 1024)
    blockM /= 2;
  return CudaConfigAttr::get(kernel.getContext(), blockM, 1, 1, /*warps=*/4,
                             /*stages=*/1);
}
