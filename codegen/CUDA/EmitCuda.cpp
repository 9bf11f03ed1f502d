//===- EmitCuda.cpp - CUDA C++ for kiln kernels ----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Kernels compute in f32 whatever their storage type: loads widen through
// kiln_f32 and stores narrow with round-to-nearest-even, as the reference
// evaluator does. Shapes are static, so every extent and stride is a literal
// in the generated source.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/EmitCuda.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

namespace {

constexpr llvm::StringLiteral kPrelude = R"cuda(#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

__device__ __forceinline__ float kiln_f32(float x) { return x; }
__device__ __forceinline__ float kiln_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float kiln_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ void kiln_store(float *p, float v) { *p = v; }
__device__ __forceinline__ void kiln_store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void kiln_store(__half *p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ float kiln_round_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }
__device__ __forceinline__ float kiln_round_f16(float v) { return __half2float(__float2half_rn(v)); }

// Two 16-bit elements in one 32-bit mma operand register, `lo` first.
__device__ __forceinline__ uint32_t kiln_pack(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  __nv_bfloat162 v = __halves2bfloat162(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}
__device__ __forceinline__ uint32_t kiln_pack(__half lo, __half hi) {
  __half2 v = __halves2half2(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ float kiln_warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ float kiln_warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
// Reduces over the whole block: within each warp by shuffles, then the warps'
// partials through shared memory. The trailing barrier lets the next
// reduction reuse `partials`.
template <int Warps, bool Max>
__device__ __forceinline__ float kiln_block_reduce(float v, float *partials) {
  v = Max ? kiln_warp_max(v) : kiln_warp_sum(v);
  if (Warps == 1)
    return v;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0)
    partials[warp] = v;
  __syncthreads();
  v = lane < Warps ? partials[lane] : (Max ? -INFINITY : 0.0f);
  v = Max ? kiln_warp_max(v) : kiln_warp_sum(v);
  __syncthreads();
  return v;
}
)cuda";

/// The CUDA type that stores elements of `type`, or "" for types the
/// generator does not cover.
std::string getStorageType(Type type) {
  if (type.isF32())
    return "float";
  if (type.isBF16())
    return "__nv_bfloat16";
  if (type.isF16())
    return "__half";
  return "";
}

RankedTensorType getTensorType(Value value) {
  return cast<RankedTensorType>(value.getType());
}

bool isElementwiseOp(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, NegOp, AbsOp,
             ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp, ReluOp, SiluOp,
             ErfOp, GeluOp, CastOp, BroadcastToOp>(op);
}

bool isRowOp(Operation *op) {
  return isa<SoftmaxOp, RmsNormOp, LayerNormOp>(op);
}

/// Whether `shape` broadcasts to `target` as numpy does.
bool broadcastsTo(ArrayRef<int64_t> shape, ArrayRef<int64_t> target) {
  if (shape.size() > target.size())
    return false;
  size_t lead = target.size() - shape.size();
  for (auto [index, size] : llvm::enumerate(shape))
    if (size != 1 && size != target[lead + index])
      return false;
  return true;
}

/// The C expression of an elementwise op applied to already named operands.
std::string getElementwiseExpression(Operation *op, ArrayRef<std::string> in) {
  return llvm::TypeSwitch<Operation *, std::string>(op)
      .Case([&](AddOp) { return "(" + in[0] + " + " + in[1] + ")"; })
      .Case([&](SubOp) { return "(" + in[0] + " - " + in[1] + ")"; })
      .Case([&](MulOp) { return "(" + in[0] + " * " + in[1] + ")"; })
      .Case([&](DivOp) { return "(" + in[0] + " / " + in[1] + ")"; })
      .Case([&](MaxOp) { return "fmaxf(" + in[0] + ", " + in[1] + ")"; })
      .Case([&](MinOp) { return "fminf(" + in[0] + ", " + in[1] + ")"; })
      .Case([&](PowOp) { return "powf(" + in[0] + ", " + in[1] + ")"; })
      .Case([&](NegOp) { return "(-" + in[0] + ")"; })
      .Case([&](AbsOp) { return "fabsf(" + in[0] + ")"; })
      .Case([&](ExpOp) { return "expf(" + in[0] + ")"; })
      .Case([&](LogOp) { return "logf(" + in[0] + ")"; })
      .Case([&](SqrtOp) { return "sqrtf(" + in[0] + ")"; })
      .Case([&](RsqrtOp) { return "rsqrtf(" + in[0] + ")"; })
      .Case([&](TanhOp) { return "tanhf(" + in[0] + ")"; })
      .Case([&](SigmoidOp) { return "(1.0f / (1.0f + expf(-" + in[0] + ")))"; })
      .Case([&](ReluOp) { return "fmaxf(" + in[0] + ", 0.0f)"; })
      .Case([&](SiluOp) {
        return "(" + in[0] + " / (1.0f + expf(-" + in[0] + ")))";
      })
      .Case([&](ErfOp) { return "erff(" + in[0] + ")"; })
      .Case([&](GeluOp gelu) {
        const std::string &x = in[0];
        if (gelu.getApproximation() == GeluApproximation::Tanh)
          return "(0.5f * " + x + " * (1.0f + tanhf(0.7978845608f * (" + x +
                 " + 0.044715f * " + x + " * " + x + " * " + x + "))))";
        return "(0.5f * " + x + " * (1.0f + erff(" + x + " * 0.70710678118f)))";
      })
      .Case([&](CastOp cast) {
        Type to = getTensorType(cast.getResult()).getElementType();
        if (to.isBF16())
          return "kiln_round_bf16(" + in[0] + ")";
        if (to.isF16())
          return "kiln_round_f16(" + in[0] + ")";
        return in[0];
      })
      .Case([&](BroadcastToOp) { return in[0]; })
      .Default([](Operation *) { return std::string(); });
}

/// The parameter list of the generated function: arguments as const
/// pointers, then results.
std::string getParameters(func::FuncOp kernel) {
  SmallVector<std::string> parameters;
  for (auto [index, type] : llvm::enumerate(kernel.getArgumentTypes()))
    parameters.push_back(llvm::formatv(
        "const {0} *__restrict__ arg{1}",
        getStorageType(cast<RankedTensorType>(type).getElementType()), index));
  for (auto [index, type] : llvm::enumerate(kernel.getResultTypes()))
    parameters.push_back(llvm::formatv(
        "{0} *__restrict__ result{1}",
        getStorageType(cast<RankedTensorType>(type).getElementType()), index));
  return llvm::join(parameters, ", ");
}

func::ReturnOp getReturn(func::FuncOp kernel) {
  return cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
}

/// The generated kernels' threads per block, from the config's warps.
int64_t getThreads(CudaConfigAttr config) { return config.getWarps() * 32; }

CudaConfigAttr getConfig(func::FuncOp kernel, StringRef arch) {
  if (auto config =
          kernel->getAttrOfType<CudaConfigAttr>(CudaConfigAttr::kAttrName))
    return config;
  return getDefaultCudaConfig(kernel, arch);
}

//===----------------------------------------------------------------------===//
// Elementwise kernels
//===----------------------------------------------------------------------===//

/// Emits, at `indent`, the evaluation of every op of `kernel` not yet in
/// `names` at element `i` of `shape` (the kernel's result shape), arguments
/// loaded at their broadcast position, and the stores of the results.
void emitPointwise(llvm::raw_ostream &os, func::FuncOp kernel,
                   ArrayRef<int64_t> shape,
                   llvm::DenseMap<Value, std::string> &names,
                   StringRef indent) {
  // The coordinates of element i, innermost dimension first.
  int64_t stride = 1;
  for (int64_t dim = shape.size() - 1; dim >= 0; --dim) {
    os << indent
       << llvm::formatv("const int64_t c{0} = (i / {1}) % {2};\n", dim, stride,
                        shape[dim]);
    stride *= shape[dim];
  }
  auto getName = [&](Value value) -> std::string {
    auto it = names.find(value);
    if (it != names.end())
      return it->second;
    // Only block arguments are unnamed here: load at the broadcast index.
    auto argument = cast<BlockArgument>(value);
    ArrayRef<int64_t> argShape = getTensorType(argument).getShape();
    size_t lead = shape.size() - argShape.size();
    SmallVector<std::string> terms;
    int64_t argStride = 1;
    for (int64_t dim = argShape.size() - 1; dim >= 0; --dim) {
      if (argShape[dim] != 1)
        terms.push_back(llvm::formatv("c{0} * {1}", lead + dim, argStride));
      argStride *= argShape[dim];
    }
    std::string index = terms.empty() ? "0" : llvm::join(terms, " + ");
    std::string name = llvm::formatv("a{0}", argument.getArgNumber());
    os << indent
       << llvm::formatv("const float {0} = kiln_f32(arg{1}[{2}]);\n", name,
                        argument.getArgNumber(), index);
    names[value] = name;
    return name;
  };
  int64_t next = 0;
  for (Operation &op : kernel.getBody().front().without_terminator()) {
    if (names.count(op.getResult(0)))
      continue;
    std::string name = llvm::formatv("v{0}", next++);
    if (auto constant = dyn_cast<ConstantOp>(op)) {
      auto splat = cast<SplatElementsAttr>(constant.getValue());
      os << indent
         << llvm::formatv("const float {0} = {1:e}f;\n", name,
                          splat.getSplatValue<APFloat>().convertToDouble());
    } else {
      SmallVector<std::string> operands =
          llvm::map_to_vector(op.getOperands(), getName);
      os << indent
         << llvm::formatv("const float {0} = {1};\n", name,
                          getElementwiseExpression(&op, operands));
    }
    names[op.getResult(0)] = name;
  }
  for (auto [index, value] : llvm::enumerate(getReturn(kernel).getOperands()))
    os << indent
       << llvm::formatv("kiln_store(&result{0}[i], {1});\n", index,
                        getName(value));
}

/// One thread per element of the result shape; every value is evaluated at
/// the thread's element.
std::string emitElementwise(func::FuncOp kernel, CudaConfigAttr config) {
  ArrayRef<int64_t> shape =
      getTensorType(getReturn(kernel).getOperand(0)).getShape();
  std::string body;
  llvm::raw_string_ostream os(body);
  os << llvm::formatv("extern \"C\" __global__ void __launch_bounds__({0})\n"
                      "{1}({2}) {{\n",
                      getThreads(config), kernel.getSymName(),
                      getParameters(kernel));
  os << "  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;\n";
  os << llvm::formatv("  if (i >= {0})\n    return;\n",
                      ShapedType::getNumElements(shape));
  llvm::DenseMap<Value, std::string> names;
  emitPointwise(os, kernel, shape, names, "  ");
  os << "}\n";
  return body;
}

//===----------------------------------------------------------------------===//
// Matmul kernels with a fused epilogue
//===----------------------------------------------------------------------===//

/// The kernel's one matmul, or null.
MatmulOp getMatmul(func::FuncOp kernel) {
  MatmulOp matmul;
  kernel.walk([&](MatmulOp op) { matmul = op; });
  return matmul;
}

/// How the warps of a block split its tile: `rows` x `columns` warps, each
/// owning a (block_m / rows) x (block_n / columns) tile of 16x8 mma tiles.
struct WarpGrid {
  int64_t rows = 1, columns = 1;
};

/// Splits the warps along M while their tiles keep 16 rows and stay no more
/// than twice as tall as wide in warps, the rest along N.
WarpGrid getWarpGrid(CudaConfigAttr config) {
  WarpGrid grid{config.getWarps(), 1};
  while (grid.rows > 1 && (config.getBlockM() / grid.rows < 16 ||
                           grid.rows > 2 * grid.columns)) {
    grid.rows /= 2;
    grid.columns *= 2;
  }
  return grid;
}

/// Whether `config` tiles a matmul with element type `type` legally: whole
/// mma tiles per warp and its operand tiles within 48 KiB of static shared
/// memory. Emits an error on `op` otherwise.
LogicalResult checkMatmulConfig(Operation *op, CudaConfigAttr config,
                                Type type) {
  WarpGrid grid = getWarpGrid(config);
  if (config.getBlockM() % (grid.rows * 16) != 0 ||
      config.getBlockN() % (grid.columns * 8) != 0 ||
      config.getBlockK() % 16 != 0)
    return op->emitError() << "CUDA config " << config
                           << " does not split into 16x8x16 mma tiles over "
                           << config.getWarps() << " warps";
  int64_t bytes = (config.getBlockM() + config.getBlockN()) *
                  config.getBlockK() * type.getIntOrFloatBitWidth() / 8;
  if (bytes > 48 * 1024)
    return op->emitError() << "CUDA config " << config << " needs " << bytes
                           << " bytes of shared memory (at most 49152)";
  return success();
}

/// A block computes a block_m x block_n tile of the [batch * M, N] result:
/// per block_k step it stages the operand tiles in shared memory (zero
/// padded at the edges), then each warp accumulates its 16x8 tiles in f32,
/// on tensor cores with mma.sync m16n8k16 for bf16/f16 and with scalar FMAs
/// in the same register layout for f32 (exact f32, no tf32 rounding). The
/// epilogue evaluates the kernel's elementwise ops on each accumulator.
std::string emitMatmul(func::FuncOp kernel, CudaConfigAttr config) {
  MatmulOp matmul = getMatmul(kernel);
  ArrayRef<int64_t> lhsShape = getTensorType(matmul.getLhs()).getShape();
  ArrayRef<int64_t> shape =
      getTensorType(getReturn(kernel).getOperand(0)).getShape();
  Type elementType = getTensorType(matmul.getLhs()).getElementType();
  std::string type = getStorageType(elementType);
  int64_t k = lhsShape.back();
  int64_t n = shape.back();
  int64_t m = ShapedType::getNumElements(lhsShape) / k;
  bool transposeRhs = matmul.getTransposeRhs();
  int64_t blockM = config.getBlockM(), blockN = config.getBlockN(),
          blockK = config.getBlockK(), threads = getThreads(config);
  WarpGrid grid = getWarpGrid(config);
  int64_t tilesM = blockM / grid.rows / 16, tilesN = blockN / grid.columns / 8;
  unsigned lhs = cast<BlockArgument>(matmul.getLhs()).getArgNumber();
  unsigned rhs = cast<BlockArgument>(matmul.getRhs()).getArgNumber();

  std::string body;
  llvm::raw_string_ostream os(body);
  // One block per SM as the floor lets ptxas keep every accumulator in
  // registers instead of spilling to reach a higher occupancy it guessed.
  os << llvm::formatv("extern \"C\" __global__ void __launch_bounds__({0}, 1)\n"
                      "{1}({2}) {{\n",
                      threads, kernel.getSymName(), getParameters(kernel));
  os << llvm::formatv("  // [{0} x {1}] x [{1} x {2}], block tile {3}x{4}x{5}, "
                      "{6}x{7} warps of {8}x{9} mma tiles.\n",
                      m, k, n, blockM, blockN, blockK, grid.rows, grid.columns,
                      tilesM, tilesN);
  os << llvm::formatv("  __shared__ {0} tileA[{1}][{2}];\n", type, blockM,
                      blockK);
  os << llvm::formatv("  __shared__ {0} tileB[{1}][{2}];\n", type, blockK,
                      blockN);
  os << llvm::formatv(
      "  const int64_t rowBase = (int64_t)blockIdx.y * {0};\n"
      "  const int64_t colBase = (int64_t)blockIdx.x * {1};\n"
      "  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;\n"
      "  const int group = lane / 4, pair = lane % 4;\n"
      "  const int warpRow = (warp / {2}) * {3}, warpCol = (warp % {2}) * "
      "{4};\n",
      blockM, blockN, grid.columns, tilesM * 16, tilesN * 8);
  os << llvm::formatv("  float acc[{0}][{1}][4] = {{};\n", tilesM, tilesN);
  os << llvm::formatv("  for (int64_t k0 = 0; k0 < {0}; k0 += {1}) {{\n", k,
                      blockK);
  // Operand tiles, one element per thread per step, zero beyond the edges.
  os << llvm::formatv(
      "    for (int e = threadIdx.x; e < {0} * {1}; e += {2}) {{\n"
      "      const int r = e / {1}, c = e % {1};\n"
      "      const int64_t row = rowBase + r, kk = k0 + c;\n"
      "      tileA[r][c] = row < {3} && kk < {4} ? arg{5}[row * {4} + kk] : "
      "{6}(0.0f);\n"
      "    }\n",
      blockM, blockK, threads, m, k, lhs, type);
  os << llvm::formatv(
      "    for (int e = threadIdx.x; e < {0} * {1}; e += {2}) {{\n"
      "      const int r = e / {1}, c = e % {1};\n"
      "      const int64_t kk = k0 + r, col = colBase + c;\n"
      "      tileB[r][c] = kk < {3} && col < {4} ? arg{5}[{6}] : {7}(0.0f);\n"
      "    }\n",
      blockK, blockN, threads, k, n, rhs,
      transposeRhs ? "col * " + std::to_string(k) + " + kk"
                   : "kk * " + std::to_string(n) + " + col",
      type);
  os << "    __syncthreads();\n";
  os << llvm::formatv(
      "    #pragma unroll\n    for (int kk = 0; kk < {0}; kk += 16) {{\n",
      blockK);
  os << llvm::formatv(
      "      #pragma unroll\n      for (int tm = 0; tm < {0}; ++tm)\n"
      "        #pragma unroll\n        for (int tn = 0; tn < {1}; ++tn) {{\n",
      tilesM, tilesN);
  os << "          const int r0 = warpRow + tm * 16 + group, "
        "c0 = warpCol + tn * 8 + pair * 2;\n";
  if (elementType.isF32()) {
    os << "          #pragma unroll\n"
          "          for (int q = 0; q < 16; ++q) {\n"
          "            const float a0 = tileA[r0][kk + q], "
          "a1 = tileA[r0 + 8][kk + q];\n"
          "            const float b0 = tileB[kk + q][c0], "
          "b1 = tileB[kk + q][c0 + 1];\n"
          "            acc[tm][tn][0] += a0 * b0;\n"
          "            acc[tm][tn][1] += a0 * b1;\n"
          "            acc[tm][tn][2] += a1 * b0;\n"
          "            acc[tm][tn][3] += a1 * b1;\n"
          "          }\n";
  } else {
    // The m16n8k16 fragments: A rows group and group + 8, B column group,
    // two consecutive k per 32-bit register.
    StringRef mma = elementType.isBF16() ? "bf16" : "f16";
    os << "          const int a0 = warpRow + tm * 16 + group, "
          "b0 = warpCol + tn * 8 + group, k = kk + pair * 2;\n"
          "          const uint32_t a[4] = {\n"
          "              kiln_pack(tileA[a0][k], tileA[a0][k + 1]),\n"
          "              kiln_pack(tileA[a0 + 8][k], tileA[a0 + 8][k + 1]),\n"
          "              kiln_pack(tileA[a0][k + 8], tileA[a0][k + 9]),\n"
          "              kiln_pack(tileA[a0 + 8][k + 8], "
          "tileA[a0 + 8][k + 9])};\n"
          "          const uint32_t b[2] = {\n"
          "              kiln_pack(tileB[k][b0], tileB[k + 1][b0]),\n"
          "              kiln_pack(tileB[k + 8][b0], tileB[k + 9][b0])};\n"
          "          float *d = acc[tm][tn];\n";
    os << llvm::formatv(
        R"(          asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.{0}.{0}.f32 "
                       "{{%0, %1, %2, %3}, {{%4, %5, %6, %7}, {{%8, %9}, {{%0, %1, %2, %3};"
                       : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                       : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
)",
        mma);
  }
  os << "        }\n    }\n    __syncthreads();\n  }\n";
  // Epilogue: accumulator q of tile (tm, tn) is row r0 + 8 * (q / 2),
  // column c0 + q % 2.
  os << llvm::formatv(
      "  #pragma unroll\n  for (int tm = 0; tm < {0}; ++tm)\n"
      "    #pragma unroll\n    for (int tn = 0; tn < {1}; ++tn)\n"
      "      #pragma unroll\n      for (int q = 0; q < 4; ++q) {{\n",
      tilesM, tilesN);
  os << "        const int64_t row = rowBase + warpRow + tm * 16 + group + 8 "
        "* (q / 2);\n"
        "        const int64_t col = colBase + warpCol + tn * 8 + pair * 2 + "
        "q % 2;\n";
  os << llvm::formatv("        if (row >= {0} || col >= {1})\n"
                      "          continue;\n"
                      "        const int64_t i = row * {1} + col;\n"
                      "        const float product = acc[tm][tn][q];\n",
                      m, n);
  llvm::DenseMap<Value, std::string> names;
  names[matmul.getResult()] = "product";
  emitPointwise(os, kernel, shape, names, "        ");
  os << "      }\n}\n";
  return body;
}

//===----------------------------------------------------------------------===//
// Row kernels: softmax, rms_norm, layer_norm
//===----------------------------------------------------------------------===//

/// One block per row of the last axis. Each pass strides the row by the
/// block's threads; the statistics reduce within warps by shuffles and
/// across warps through shared memory.
std::string emitRow(func::FuncOp kernel, CudaConfigAttr config) {
  Operation *op = &kernel.getBody().front().front();
  ArrayRef<int64_t> shape = getTensorType(op->getOperand(0)).getShape();
  int64_t width = shape.back();
  int64_t warps = config.getWarps();
  auto argName = [](Value value) {
    return llvm::formatv("arg{0}", cast<BlockArgument>(value).getArgNumber())
        .str();
  };
  std::string x = argName(op->getOperand(0));
  std::string body;
  llvm::raw_string_ostream os(body);
  os << llvm::formatv("extern \"C\" __global__ void __launch_bounds__({0})\n"
                      "{1}({2}) {{\n",
                      getThreads(config), kernel.getSymName(),
                      getParameters(kernel));
  os << llvm::formatv("  __shared__ float partials[{0}];\n", warps);
  os << llvm::formatv("  const int64_t row = (int64_t)blockIdx.x * {0};\n",
                      width);
  std::string loop =
      llvm::formatv("  for (int64_t j = threadIdx.x; j < {0}; j += {1})\n",
                    width, getThreads(config));
  std::string load = "kiln_f32(" + x + "[row + j])";
  std::string sum = llvm::formatv("kiln_block_reduce<{0}, false>", warps);
  std::string store = "    kiln_store(&result0[row + j], ";
  if (isa<SoftmaxOp>(op)) {
    os << "  float top = -INFINITY;\n"
       << loop << "    top = fmaxf(top, " << load << ");\n"
       << llvm::formatv(
              "  top = kiln_block_reduce<{0}, true>(top, partials);\n", warps)
       << "  float total = 0.0f;\n"
       << loop << "    total += expf(" << load << " - top);\n"
       << "  total = " << sum << "(total, partials);\n"
       << "  const float inverse = 1.0f / total;\n"
       << loop << store << "expf(" << load << " - top) * inverse);\n";
  } else if (auto rms = dyn_cast<RmsNormOp>(op)) {
    os << "  float squares = 0.0f;\n"
       << loop << "  {\n    const float v = " << load
       << ";\n    squares += v * v;\n  }\n"
       << "  squares = " << sum << "(squares, partials);\n"
       << llvm::formatv(
              "  const float scale = rsqrtf(squares / {0}.0f + {1:e}f);\n",
              width, rms.getEpsilon().convertToDouble())
       << loop << store << load << " * scale * kiln_f32("
       << argName(rms.getScale()) << "[j]));\n";
  } else {
    auto norm = cast<LayerNormOp>(op);
    os << "  float total = 0.0f;\n"
       << loop << "    total += " << load << ";\n"
       << llvm::formatv("  const float mean = {0}(total, partials) / {1}.0f;\n",
                        sum, width)
       << "  float squares = 0.0f;\n"
       << loop << "  {\n    const float v = " << load
       << " - mean;\n    squares += v * v;\n  }\n"
       << llvm::formatv("  const float scale = rsqrtf({0}(squares, partials) / "
                        "{1}.0f + {2:e}f);\n",
                        sum, width, norm.getEpsilon().convertToDouble())
       << loop << store << "(" << load << " - mean) * scale * kiln_f32("
       << argName(norm.getScale()) << "[j]) + kiln_f32("
       << argName(norm.getBias()) << "[j]));\n";
  }
  os << "}\n";
  return body;
}

} // namespace

StringRef kiln::codegen::getCudaPrelude() { return kPrelude; }

FailureOr<CudaKernelKind>
kiln::codegen::classifyCudaKernel(func::FuncOp kernel) {
  for (Type type : llvm::concat<const Type>(kernel.getArgumentTypes(),
                                            kernel.getResultTypes()))
    if (getStorageType(cast<RankedTensorType>(type).getElementType()).empty())
      return kernel.emitError()
             << "CUDA generation does not cover tensors of " << type << " yet";
  Block &body = kernel.getBody().front();
  func::ReturnOp ret = getReturn(kernel);
  // A single row op on the kernel's arguments, whose result is returned.
  Operation &first = body.front();
  if (isRowOp(&first) && first.getNextNode() == ret.getOperation() &&
      llvm::all_of(first.getOperands(),
                   [](Value v) { return isa<BlockArgument>(v); })) {
    if (auto softmax = dyn_cast<SoftmaxOp>(first);
        softmax && static_cast<int64_t>(softmax.getAxis()) + 1 !=
                       getTensorType(softmax.getInput()).getRank())
      return softmax.emitError()
             << "CUDA generation covers softmax along the last axis only, "
                "not axis "
             << softmax.getAxis();
    return CudaKernelKind::Row;
  }
  ArrayRef<int64_t> shape = getTensorType(ret.getOperand(0)).getShape();
  MatmulOp matmul = getMatmul(kernel);
  if (matmul) {
    if (!isa<BlockArgument>(matmul.getLhs()) ||
        !isa<BlockArgument>(matmul.getRhs()))
      return matmul.emitError() << "CUDA generation covers matmuls of kernel "
                                   "arguments only, not of computed values";
    if (matmul.getTransposeLhs() ||
        getTensorType(matmul.getRhs()).getRank() != 2)
      return matmul.emitError() << "CUDA generation covers matmuls with a 2-D "
                                   "rhs and no transpose_lhs only";
    if (getTensorType(matmul.getResult()).getShape() != shape)
      return matmul.emitError() << "CUDA generation expects the matmul result "
                                   "to have the kernel's result shape";
  }
  for (Operation &op : body.without_terminator()) {
    if (&op == matmul.getOperation())
      continue;
    auto constant = dyn_cast<ConstantOp>(op);
    bool splat = constant && isa<SplatElementsAttr>(constant.getValue());
    if (!splat && !isElementwiseOp(&op))
      return op.emitError() << "CUDA generation does not cover '"
                            << op.getName() << "' in this kernel yet";
    if (!broadcastsTo(getTensorType(op.getResult(0)).getShape(), shape))
      return op.emitError() << "CUDA generation expects every value of an "
                               "elementwise kernel to broadcast to the "
                               "result shape";
  }
  for (Value value : ret.getOperands())
    if (getTensorType(value).getShape() != shape)
      return ret.emitError() << "CUDA generation expects the results of an "
                                "elementwise kernel to share one shape";
  return matmul ? CudaKernelKind::Matmul : CudaKernelKind::Elementwise;
}

CudaConfigAttr kiln::codegen::getDefaultCudaConfig(func::FuncOp kernel,
                                                   StringRef arch) {
  MLIRContext *context = kernel.getContext();
  bool hopper = arch == "sm_90a";
  int64_t rowWidth = 0;
  kernel.walk([&](Operation *op) {
    if (isRowOp(op))
      rowWidth = getTensorType(op->getOperand(0)).getShape().back();
  });
  // Tensor-core tiles: 128x128x32 on sm_80, twice as wide in N on sm_90a
  // (more registers and shared memory per SM) for bf16/f16; f32's scalar
  // path keeps 128 wide, whose accumulators fit in registers. Tiles are cut
  // down to the problem so small matmuls do not pad, with at most one warp
  // per 16x8 mma tile.
  if (MatmulOp matmul = getMatmul(kernel)) {
    ArrayRef<int64_t> lhsShape = getTensorType(matmul.getLhs()).getShape();
    int64_t k = lhsShape.back();
    int64_t m = ShapedType::getNumElements(lhsShape) / k;
    int64_t n = getTensorType(matmul.getResult()).getShape().back();
    int64_t blockM = std::clamp<int64_t>(llvm::PowerOf2Ceil(m), 16, 128);
    bool wide =
        hopper && !getTensorType(matmul.getLhs()).getElementType().isF32();
    int64_t blockN =
        std::clamp<int64_t>(llvm::PowerOf2Ceil(n), 8, wide ? 256 : 128);
    int64_t blockK = std::clamp<int64_t>(llvm::PowerOf2Ceil(k), 16, 32);
    int64_t warps = std::min<int64_t>(8, (blockM / 16) * (blockN / 8));
    return CudaConfigAttr::get(context, blockM, blockN, blockK, warps,
                               hopper ? 4 : 3);
  }
  // Rows: about 8 elements per thread in each pass, 1 to 8 warps.
  if (rowWidth > 0) {
    int64_t warps = std::clamp<int64_t>(
        llvm::PowerOf2Ceil(llvm::divideCeil(rowWidth, 256)), 1, 8);
    return CudaConfigAttr::get(context, 1, llvm::PowerOf2Ceil(rowWidth), 1,
                               warps, 1);
  }
  // Elementwise: 256 threads, one element each.
  return CudaConfigAttr::get(context, 1, 256, 1, 8, 1);
}

FailureOr<std::string> kiln::codegen::emitCudaKernel(func::FuncOp kernel,
                                                     StringRef arch) {
  FailureOr<CudaKernelKind> kind = classifyCudaKernel(kernel);
  if (failed(kind))
    return failure();
  CudaConfigAttr config = getConfig(kernel, arch);
  if (*kind == CudaKernelKind::Row)
    return emitRow(kernel, config);
  if (*kind == CudaKernelKind::Matmul) {
    MatmulOp matmul = getMatmul(kernel);
    if (failed(checkMatmulConfig(
            matmul, config, getTensorType(matmul.getLhs()).getElementType())))
      return failure();
    return emitMatmul(kernel, config);
  }
  return emitElementwise(kernel, config);
}

CudaLaunch kiln::codegen::getCudaLaunch(func::FuncOp kernel, StringRef arch) {
  CudaConfigAttr config = getConfig(kernel, arch);
  CudaLaunch launch;
  launch.blockX = getThreads(config);
  Operation &first = kernel.getBody().front().front();
  ArrayRef<int64_t> shape =
      getTensorType(getReturn(kernel).getOperand(0)).getShape();
  int64_t elements = ShapedType::getNumElements(shape);
  if (getMatmul(kernel)) {
    launch.gridX = llvm::divideCeil(shape.back(), config.getBlockN());
    launch.gridY =
        llvm::divideCeil(elements / shape.back(), config.getBlockM());
    return launch;
  }
  launch.gridX = isRowOp(&first) ? elements / shape.back()
                                 : llvm::divideCeil(elements, launch.blockX);
  return launch;
}

std::vector<CudaResourceUsage>
kiln::codegen::parsePtxasUsage(StringRef output) {
  std::vector<CudaResourceUsage> usages;
  SmallVector<StringRef> lines;
  output.split(lines, '\n');
  for (StringRef line : lines) {
    size_t entry = line.find("Compiling entry function '");
    if (entry != StringRef::npos) {
      StringRef name =
          line.drop_front(entry).drop_until([](char c) { return c == '\''; });
      usages.push_back({name.drop_front()
                            .take_until([](char c) { return c == '\''; })
                            .str()});
      continue;
    }
    if (usages.empty())
      continue;
    // "N bytes stack frame, N bytes spill stores, N bytes spill loads"
    size_t stores = line.find(" bytes spill stores");
    if (stores != StringRef::npos) {
      line.take_front(stores).rsplit(' ').second.getAsInteger(
          10, usages.back().spillStoreBytes);
      size_t loads = line.find(" bytes spill loads");
      line.take_front(loads).rsplit(' ').second.getAsInteger(
          10, usages.back().spillLoadBytes);
      continue;
    }
    // "Used N registers, ..."
    size_t used = line.find("Used ");
    if (used != StringRef::npos && line.contains(" registers"))
      line.drop_front(used + 5)
          .take_until([](char c) { return c == ' '; })
          .getAsInteger(10, usages.back().registers);
  }
  return usages;
}

llvm::Expected<std::vector<CudaResourceUsage>>
kiln::codegen::compileCudaToCubin(StringRef source, StringRef arch,
                                  StringRef nvcc, StringRef cubinPath) {
  if (arch != "sm_80" && arch != "sm_90a")
    return llvm::createStringError("unknown CUDA architecture '" + arch +
                                   "' (expected sm_80 or sm_90a)");
  SmallString<128> sourcePath, logPath;
  if (std::error_code error =
          llvm::sys::fs::createTemporaryFile("kiln-cuda", "cu", sourcePath))
    return llvm::createStringError(error, "cannot create a CUDA source file");
  if (std::error_code error =
          llvm::sys::fs::createTemporaryFile("kiln-cuda", "log", logPath))
    return llvm::createStringError(error, "cannot create an nvcc log file");
  {
    std::error_code error;
    llvm::raw_fd_ostream file(sourcePath, error);
    if (error)
      return llvm::createStringError(error, "cannot write " + sourcePath);
    file << source;
  }
  std::string archFlag = ("-arch=" + arch).str();
  SmallVector<StringRef> args = {nvcc,  "-cubin",  archFlag,
                                 "-O3", "-Xptxas", "-v",
                                 "-o",  cubinPath, sourcePath};
  std::optional<StringRef> redirects[] = {std::nullopt, logPath.str(),
                                          logPath.str()};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(nvcc, args, std::nullopt, redirects, 0,
                                         0, &message);
  auto log = llvm::MemoryBuffer::getFile(logPath);
  std::string output = log ? (*log)->getBuffer().str() : std::string();
  llvm::sys::fs::remove(sourcePath);
  llvm::sys::fs::remove(logPath);
  if (status != 0)
    return llvm::createStringError("nvcc failed for " + arch + ": " +
                                   (message.empty() ? output : message));
  return parsePtxasUsage(output);
}
