//===- EmitCuda.h - CUDA C++ for kiln kernels ------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The CUDA backend's generator: one readable CUDA C++ `__global__` function
// per kernel (`func.func` with `kiln.kernel`), specialized to the kernel's
// static shapes and its `kiln.cuda_config`, and the ahead-of-time compile of
// such source to cubin with nvcc, with the register and spill figures ptxas
// reports.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CUDA_EMITCUDA_H_
#define KILN_CODEGEN_CUDA_EMITCUDA_H_

#include "ir/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::codegen {

/// The shape of computation a kernel has, which picks its CUDA template.
enum class CudaKernelKind {
  /// Elementwise ops and data movement (broadcast, reshape, transpose,
  /// slice, concat, gather, rope, pooling): a few consecutive elements per
  /// thread, 128-bit loads and stores where the innermost axis allows.
  Elementwise,
  /// One softmax, rms_norm or layer_norm over the last axis, with its
  /// producers and consumers: one block per row, warp-shuffle then
  /// shared-memory reductions.
  Row,
  /// Matmuls (rhs 2-D) with a prologue on their lhs (norm, elementwise,
  /// data movement) and epilogues; results reading several matmuls of one
  /// lhs: block tiles in shared memory, warps of 16x8 mma.sync tiles.
  Matmul,
  /// conv2d as an implicit GEMM (pixels x taps x channels) with its
  /// epilogue, on the matmul generator.
  Conv,
  /// Attention as flash attention (online softmax over K/V tiles in shared
  /// memory, causal masks, grouped-query heads), its producers (rope, head
  /// split) fused into the tile loads.
  Attention,
  /// moe_router + moe_experts: route, gather each expert's tokens, SwiGLU,
  /// combine, in one kernel.
  Moe,
};

/// The helpers every generated kernel uses (loads and stores of f32, bf16
/// and f16, warp and block reductions); once at the top of a .cu file.
llvm::StringRef getCudaPrelude();

/// The kind of `kernel`, or failure with one error at the first op the CUDA
/// generator does not cover.
mlir::FailureOr<CudaKernelKind> classifyCudaKernel(mlir::func::FuncOp kernel);

/// The default config of `kernel` for `arch` ("sm_80" or "sm_90a"). How
/// each kind reads a config: Matmul and Conv tile [M x N] by block_m x
/// block_n, sweep k by block_k, and stream arguments through `stages`
/// cp.async stages (stages > 1, operands that are kernel arguments); on
/// sm_90a, bf16/f16 matmuls of two arguments whose config is a wgmma tile
/// (block_k 64, a warpgroup per 64 rows, block_n a multiple of 64 up to
/// 256, stages > 1) load through TMA and multiply with wgmma instead;
/// Attention takes block_m queries per block and key tiles of block_n; Moe
/// takes block_m tokens per block; Row takes one row per block;
/// Elementwise uses only `warps`.
CudaConfigAttr getDefaultCudaConfig(mlir::func::FuncOp kernel,
                                    llvm::StringRef arch);

/// CUDA C++ for `kernel`: an `extern "C" __global__` function named like the
/// kernel whose parameters are the kernel's arguments then its results, as
/// device pointers. Uses the kernel's `kiln.cuda_config`, or the default for
/// `arch` when it has none. Fails with one error naming an uncovered op.
mlir::FailureOr<std::string> emitCudaKernel(mlir::func::FuncOp kernel,
                                            llvm::StringRef arch);

/// The launch shape of a generated kernel. `sharedBytes` is the dynamic
/// shared memory (cp.async pipelines), the rest being static. Buffers must
/// be 16-byte aligned: elementwise kernels use 128-bit loads and stores.
/// A kernel with `workspaceBytes` > 0 (a split-K contraction) takes one
/// more parameter after its results: a device buffer of that size, zeroed
/// before its first launch and reserved to it. The kernel leaves the
/// buffer's counters at zero when it finishes, so later launches (and
/// graph replays) need no reset.
/// A TMA tensor map a launch passes (sm_90a wgmma contractions): a 2-D
/// row-major view of the 16-bit tensor in kernel parameter `param`, which
/// the host encodes with cuTensorMapEncodeTiled (128-byte swizzle, zero
/// fill out of bounds) once the tensor's address is known, and passes by
/// value after the pointer parameters (and the workspace), in order.
struct CudaTensorMapLaunch {
  int64_t param = 0;
  /// bf16 elements when true, f16 otherwise.
  bool bf16 = true;
  /// Elements of the contiguous (inner) and the outer dimension.
  int64_t inner = 0, outer = 0;
  /// The box one load copies: `boxInner` x 2 bytes is the 128-byte swizzle
  /// span.
  int64_t boxInner = 0, boxOuter = 0;
};

struct CudaLaunch {
  int64_t gridX = 1;
  int64_t gridY = 1;
  int64_t gridZ = 1;
  int64_t blockX = 1;
  int64_t sharedBytes = 0;
  int64_t workspaceBytes = 0;
  std::vector<CudaTensorMapLaunch> tensorMaps;
};

/// How `emitCudaKernel(kernel, arch)` is launched.
CudaLaunch getCudaLaunch(mlir::func::FuncOp kernel, llvm::StringRef arch);

/// What ptxas reports for one compiled function.
struct CudaResourceUsage {
  std::string function;
  int64_t registers = 0;
  int64_t spillStoreBytes = 0;
  int64_t spillLoadBytes = 0;
};

/// The per-function figures in ptxas `-v` output (the "Compiling entry
/// function", "spill stores" and "Used N registers" lines).
std::vector<CudaResourceUsage> parsePtxasUsage(llvm::StringRef output);

/// Compiles `source` with the nvcc at `nvcc` to the cubin `cubinPath` for
/// `arch`, and returns ptxas's usage of every function in it. Fails with
/// nvcc's diagnostics.
llvm::Expected<std::vector<CudaResourceUsage>>
compileCudaToCubin(llvm::StringRef source, llvm::StringRef arch,
                   llvm::StringRef nvcc, llvm::StringRef cubinPath);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_CUDA_EMITCUDA_H_
