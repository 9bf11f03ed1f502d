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
      .Case([&](SigmoidOp) {
        return "(1.0f / (1.0f + expf(-" + in[0] + ")))";
      })
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
        return "(0.5f * " + x + " * (1.0f + erff(" + x +
               " * 0.70710678118f)))";
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
    parameters.push_back(
        llvm::formatv("const {0} *__restrict__ arg{1}",
                      getStorageType(cast<RankedTensorType>(type)
                                         .getElementType()),
                      index));
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
  if (auto config = kernel->getAttrOfType<CudaConfigAttr>(
          CudaConfigAttr::kAttrName))
    return config;
  return getDefaultCudaConfig(kernel, arch);
}

//===----------------------------------------------------------------------===//
// Elementwise kernels
//===----------------------------------------------------------------------===//

/// One thread per element of the result shape; every value is evaluated at
/// the thread's element, arguments loaded at their broadcast position.
std::string emitElementwise(func::FuncOp kernel, CudaConfigAttr config) {
  ArrayRef<int64_t> shape = getTensorType(getReturn(kernel).getOperand(0))
                                .getShape();
  int64_t elements = ShapedType::getNumElements(shape);
  std::string body;
  llvm::raw_string_ostream os(body);
  os << llvm::formatv("extern \"C\" __global__ void __launch_bounds__({0})\n"
                      "{1}({2}) {{\n",
                      getThreads(config), kernel.getSymName(),
                      getParameters(kernel));
  os << "  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;\n";
  os << llvm::formatv("  if (i >= {0})\n    return;\n", elements);
  // The coordinates of element i, innermost dimension first.
  int64_t stride = 1;
  for (int64_t dim = shape.size() - 1; dim >= 0; --dim) {
    os << llvm::formatv("  const int64_t c{0} = (i / {1}) % {2};\n", dim,
                        stride, shape[dim]);
    stride *= shape[dim];
  }
  llvm::DenseMap<Value, std::string> names;
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
    os << llvm::formatv("  const float {0} = kiln_f32(arg{1}[{2}]);\n", name,
                        argument.getArgNumber(), index);
    names[value] = name;
    return name;
  };
  int64_t next = 0;
  for (Operation &op : kernel.getBody().front().without_terminator()) {
    std::string name = llvm::formatv("v{0}", next++);
    if (auto constant = dyn_cast<ConstantOp>(op)) {
      auto splat = cast<SplatElementsAttr>(constant.getValue());
      os << llvm::formatv(
          "  const float {0} = {1:e}f;\n", name,
          splat.getSplatValue<APFloat>().convertToDouble());
    } else {
      SmallVector<std::string> operands =
          llvm::map_to_vector(op.getOperands(), getName);
      os << llvm::formatv("  const float {0} = {1};\n", name,
                          getElementwiseExpression(&op, operands));
    }
    names[op.getResult(0)] = name;
  }
  for (auto [index, value] : llvm::enumerate(getReturn(kernel).getOperands()))
    os << llvm::formatv("  kiln_store(&result{0}[i], {1});\n", index,
                        getName(value));
  os << "}\n";
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
             << "CUDA generation does not cover tensors of " << type
             << " yet";
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
  for (Operation &op : body.without_terminator()) {
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
  return CudaKernelKind::Elementwise;
}

CudaConfigAttr kiln::codegen::getDefaultCudaConfig(func::FuncOp kernel,
                                                   StringRef arch) {
  MLIRContext *context = kernel.getContext();
  bool hopper = arch == "sm_90a";
  bool contraction = false;
  int64_t rowWidth = 0;
  kernel.walk([&](Operation *op) {
    if (isa<MatmulOp, AttentionOp, Conv2DOp, MoeExpertsOp>(op))
      contraction = true;
    if (isRowOp(op))
      rowWidth = getTensorType(op->getOperand(0)).getShape().back();
  });
  // Tensor-core tiles: the mma.sync tile on sm_80 with a 3-stage cp.async
  // pipeline; wider N and K on sm_90a, whose larger shared memory holds a
  // deeper pipeline.
  if (contraction)
    return hopper ? CudaConfigAttr::get(context, 128, 256, 64, 8, 4)
                  : CudaConfigAttr::get(context, 128, 128, 32, 8, 3);
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
      StringRef name = line.drop_front(entry).drop_until(
          [](char c) { return c == '\''; });
      usages.push_back({name.drop_front().take_until(
                            [](char c) { return c == '\''; })
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
      line.drop_front(used + 5).take_until([](char c) { return c == ' '; })
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
  if (std::error_code error = llvm::sys::fs::createTemporaryFile(
          "kiln-cuda", "cu", sourcePath))
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
  SmallVector<StringRef> args = {nvcc,       "-cubin", archFlag,
                                 "-O3",      "-Xptxas", "-v",
                                 "-o",       cubinPath, sourcePath};
  std::optional<StringRef> redirects[] = {std::nullopt, logPath.str(),
                                          logPath.str()};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(nvcc, args, std::nullopt, redirects,
                                         0, 0, &message);
  auto log = llvm::MemoryBuffer::getFile(logPath);
  std::string output = log ? (*log)->getBuffer().str() : std::string();
  llvm::sys::fs::remove(sourcePath);
  llvm::sys::fs::remove(logPath);
  if (status != 0)
    return llvm::createStringError("nvcc failed for " + arch + ": " +
                                   (message.empty() ? output : message));
  return parsePtxasUsage(output);
}
