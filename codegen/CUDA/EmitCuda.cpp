//===- EmitCuda.cpp - CUDA C++ for kiln kernels ----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The CUDA backend's entry points: classify a kernel by its anchor op,
// dispatch to that kind's generator (Emit<Kind>.cpp), and compile the
// source with nvcc. The prelude holds the device helpers every generated
// kernel shares.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/EmitCuda.h"
#include "codegen/CUDA/CudaSource.h"
#include "codegen/CUDA/Generators.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

constexpr llvm::StringLiteral kPrelude = R"cuda(#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// NVRTC compiles without the C library's <math.h>, where nvcc finds INFINITY.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

__device__ __forceinline__ float kiln_f32(float x) { return x; }
__device__ __forceinline__ float kiln_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float kiln_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ void kiln_store(float *p, float v) { *p = v; }
__device__ __forceinline__ void kiln_store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void kiln_store(__half *p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void kiln_store(int32_t *p, int64_t v) { *p = (int32_t)v; }
__device__ __forceinline__ void kiln_store(int64_t *p, int64_t v) { *p = v; }
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

// cp.async (sm_80 and later): 16 bytes from global to shared memory without
// passing through registers; zero fills the 16 bytes when !valid.
__device__ __forceinline__ void kiln_cp_async16(void *shared, const void *global, bool valid) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void kiln_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most `Pending` committed groups of copies are in flight.
template <int Pending>
__device__ __forceinline__ void kiln_cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending)); }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// sm_90: TMA loads completing on mbarriers, and warpgroup MMA (wgmma).
// A CUtensorMap as the driver encodes it: 128 opaque bytes, 64-byte
// aligned, passed by value as a __grid_constant__ kernel parameter so that
// TMA can read it where the launch put it.
struct alignas(64) KilnTensorMap { unsigned long long opaque[16]; };

__device__ __forceinline__ uint32_t kiln_shared_address(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void kiln_mbarrier_init(uint64_t *barrier, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(kiln_shared_address(barrier)),
               "r"(arrivals));
}
// Makes initialized mbarriers visible to the TMA unit (the async proxy).
__device__ __forceinline__ void kiln_fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// Arrives once and expects `bytes` of TMA transactions before the phase
// completes.
__device__ __forceinline__ void kiln_mbarrier_expect_tx(uint64_t *barrier, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(
                   kiln_shared_address(barrier)),
               "r"(bytes)
               : "memory");
}
// Waits until the phase of parity `phase` has completed.
__device__ __forceinline__ void kiln_mbarrier_wait(uint64_t *barrier, uint32_t phase) {
  uint32_t done = 0;
  do {
    asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 " selp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(kiln_shared_address(barrier)), "r"(phase)
                 : "memory");
  } while (!done);
}
// One box of a 2-D tensor map at element coordinates (inner, outer) into
// shared memory at `shared`, counted on `barrier`; elements outside the
// tensor arrive as zeros.
__device__ __forceinline__ void kiln_tma_load_2d(uint32_t shared, const KilnTensorMap *map, int inner,
                                                 int outer, uint64_t *barrier) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(shared),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(inner), "r"(outer),
               "r"(kiln_shared_address(barrier))
               : "memory");
}
// A wgmma shared-memory matrix descriptor with 128-byte swizzling: start
// address, leading and stride byte offsets, each in 16-byte units (14 bits);
// base offset 0 (tiles start on 1024-byte swizzle atoms); mode 1 in bits
// 62-63 = 128B swizzle.
__device__ __forceinline__ uint64_t kiln_wgmma_desc(uint32_t address, uint32_t leading, uint32_t stride) {
  return static_cast<uint64_t>((address & 0x3ffff) >> 4) | static_cast<uint64_t>(leading >> 4) << 16 |
         static_cast<uint64_t>(stride >> 4) << 32 | 1ull << 62;
}
__device__ __forceinline__ void kiln_wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void kiln_wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void kiln_wgmma_wait_all() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
#endif

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

StringRef kiln::codegen::getCudaPrelude() { return kPrelude; }

FailureOr<CudaKernelKind>
kiln::codegen::classifyCudaKernel(func::FuncOp kernel) {
  for (Type type : llvm::concat<const Type>(kernel.getArgumentTypes(),
                                            kernel.getResultTypes()))
    if (getStorageType(cast<RankedTensorType>(type).getElementType()).empty())
      return kernel.emitError()
             << "CUDA generation does not cover tensors of " << type << " yet";
  // 1. The anchors; every other op must be one the pointwise emitter
  // evaluates (or, next to moe_experts, its router and router matmul).
  Operation *experts = nullptr, *attention = nullptr, *conv = nullptr,
            *matmul = nullptr;
  int64_t rows = 0, attentions = 0;
  for (Operation &op : kernel.getBody().front().without_terminator()) {
    if (isa<MoeExpertsOp>(op))
      experts = &op;
    else if (isa<AttentionOp>(op))
      attention = &op, ++attentions;
    else if (isa<Conv2DOp>(op))
      conv = &op;
    else if (isa<MatmulOp>(op))
      matmul = &op;
    else if (isa<RmsNormOp, LayerNormOp, SoftmaxOp>(op) && isPointwiseOp(&op))
      ++rows;
  }
  for (Operation &op : kernel.getBody().front().without_terminator()) {
    if (isPointwiseOp(&op) || isa<MoeExpertsOp, AttentionOp>(op) ||
        (isa<MatmulOp, Conv2DOp>(op) && !attention) ||
        (isa<MoeRouterOp>(op) && experts))
      continue;
    if (auto softmax = dyn_cast<SoftmaxOp>(op))
      return softmax.emitError()
             << "CUDA generation covers softmax along the last axis only, "
                "not axis "
             << softmax.getAxis();
    return op.emitError() << "CUDA generation does not cover '" << op.getName()
                          << "' in this kernel yet";
  }
  // 2. The kind, by the anchor that shapes the kernel most.
  if (experts)
    return CudaKernelKind::Moe;
  if (attention) {
    if (attentions > 1 || conv || matmul)
      return attention->emitError() << "CUDA generation covers one attention "
                                       "and no matmul per kernel";
    return CudaKernelKind::Attention;
  }
  if (conv || matmul) {
    if (failed(checkContractions(kernel)))
      return failure();
    return conv ? CudaKernelKind::Conv : CudaKernelKind::Matmul;
  }
  if (rows == 1)
    return CudaKernelKind::Row;
  func::ReturnOp ret = getReturn(kernel);
  ArrayRef<int64_t> shape = getTensorType(ret.getOperand(0)).getShape();
  for (Value value : ret.getOperands())
    if (getTensorType(value).getShape() != shape)
      return ret.emitError() << "CUDA generation expects the results of an "
                                "elementwise kernel to share one shape";
  return CudaKernelKind::Elementwise;
}

/// The kind of `kernel` for queries (default configs, launch shapes): an
/// uncovered kernel counts as elementwise without a diagnostic, since
/// emitCudaKernel is the one that reports why it is not covered.
static CudaKernelKind classifyQuietly(func::FuncOp kernel) {
  ScopedDiagnosticHandler quiet(kernel.getContext(),
                                [](Diagnostic &) { return success(); });
  FailureOr<CudaKernelKind> kind = classifyCudaKernel(kernel);
  return succeeded(kind) ? *kind : CudaKernelKind::Elementwise;
}

CudaConfigAttr kiln::codegen::getDefaultCudaConfig(func::FuncOp kernel,
                                                   StringRef arch) {
  switch (classifyQuietly(kernel)) {
  case CudaKernelKind::Moe:
    return getDefaultMoeConfig(kernel);
  case CudaKernelKind::Attention:
    return getDefaultAttentionConfig(kernel);
  case CudaKernelKind::Matmul:
  case CudaKernelKind::Conv:
    return getDefaultContractionConfig(kernel, arch);
  case CudaKernelKind::Row:
    return getDefaultRowConfig(kernel);
  case CudaKernelKind::Elementwise:
    break;
  }
  // Elementwise: 256 threads.
  return CudaConfigAttr::get(kernel.getContext(), 1, 256, 1, 8, 1);
}

FailureOr<std::string> kiln::codegen::emitCudaKernel(func::FuncOp kernel,
                                                     StringRef arch) {
  FailureOr<CudaKernelKind> kind = classifyCudaKernel(kernel);
  if (failed(kind))
    return failure();
  CudaConfigAttr config = getConfig(kernel, arch);
  bool contraction =
      *kind == CudaKernelKind::Matmul || *kind == CudaKernelKind::Conv;
  if (!contraction && (config.getSplitK() > 1 || config.hasClusters()))
    return kernel.emitError()
           << "CUDA config " << config
           << " splits k or clusters blocks, which only matmul and conv "
              "kernels do";
  if (config.hasClusters() && arch != "sm_90a")
    return kernel.emitError() << "CUDA config " << config
                              << " clusters blocks, which needs sm_90a (not "
                              << arch << ")";
  switch (*kind) {
  case CudaKernelKind::Moe:
    return emitMoe(kernel, config);
  case CudaKernelKind::Attention:
    return emitAttention(kernel, config);
  case CudaKernelKind::Matmul:
  case CudaKernelKind::Conv:
    return emitContraction(kernel, config, arch);
  case CudaKernelKind::Row:
    return emitRow(kernel, config);
  case CudaKernelKind::Elementwise:
    break;
  }
  return emitElementwise(kernel, config);
}

CudaLaunch kiln::codegen::getCudaLaunch(func::FuncOp kernel, StringRef arch) {
  CudaConfigAttr config = getConfig(kernel, arch);
  switch (classifyQuietly(kernel)) {
  case CudaKernelKind::Moe:
    return getMoeLaunch(kernel, config);
  case CudaKernelKind::Attention:
    return getAttentionLaunch(kernel, config);
  case CudaKernelKind::Matmul:
  case CudaKernelKind::Conv:
    return getContractionLaunch(kernel, config, arch);
  case CudaKernelKind::Row:
    return getRowLaunch(kernel, config);
  case CudaKernelKind::Elementwise:
    break;
  }
  return getElementwiseLaunch(kernel, config);
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
