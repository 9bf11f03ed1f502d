//===- CudaProgram.h - The kernels of a CUDA artifact ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A model compiled for a GPU ships its kernels in the artifact's "cuda"
// section instead of a "code" shared object: one cubin per kernel, with how
// it is launched. The manifest's steps name the kernels by symbol, as for
// the CPU; a kernel's parameters are one device pointer per step argument.
// No MLIR dependency.
//
// The section, version 2, all integers little-endian:
//
//   offset  size  field
//   0       8     magic "KILNCUDA"
//   8       4     u32 section version (1)
//   12      4     u32 reserved, 0
//   16      8     u64 index size I (at most 64 MiB)
//   24      I     the index, JSON:
//                   {"arch": "sm_90a",
//                    "kernels": [{"symbol": "main_kernel_0", "params": 3,
//                                 "grid": [8, 4, 1], "block": [256, 1, 1],
//                                 "shared_bytes": 0,
//                                 "workspace_bytes": 0,
//                                 "tensor_maps": [{"param": 0,
//                                   "type": "bf16", "dims": [512, 256],
//                                   "box": [64, 128]}],
//                                 "config": "#kiln.cuda_config<...>",
//                                 "cubin_size": 5120}]}
//   24+I  ...     the cubins, back to back in index order; nothing after
//                 the last
//
// "config" is the kernel's config as the compiler printed it, for reports.
// "workspace_bytes" > 0 gives the kernel a device buffer of its own, zeroed
// at load, as one more parameter after the steps' arguments (split-K
// contractions sum their slices there). "tensor_maps" lists the TMA tensor
// maps the kernel takes by value after that (sm_90a wgmma kernels): each a
// 2-D row-major view (dims: inner, outer elements) of the tensor of
// parameter `param`, loaded in boxes of `box` with 128-byte swizzling; the
// runtime encodes them once the tensors' addresses are known. Every field
// is required and no
// other is allowed. Version 1 (no workspaces) is not read.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDA_CUDAPROGRAM_H_
#define KILN_RUNTIME_CUDA_CUDAPROGRAM_H_

#include "runtime/Manifest.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// The "cuda" section version this runtime reads and writes.
inline constexpr uint32_t kCudaSectionVersion = 2;

/// A TMA tensor map a kernel takes: see the section's "tensor_maps".
struct CudaTensorMapSpec {
  /// The parameter (a step argument) whose tensor the map views.
  uint32_t param = 0;
  /// "bf16" or "f16".
  std::string type;
  /// Elements of the contiguous (inner) and the outer dimension.
  std::array<uint64_t, 2> dims = {1, 1};
  /// The box one TMA load copies, inner first.
  std::array<uint32_t, 2> box = {1, 1};

  bool operator==(const CudaTensorMapSpec &other) const {
    return param == other.param && type == other.type && dims == other.dims &&
           box == other.box;
  }
};

/// One kernel's cubin and launch shape.
struct CudaKernelImage {
  /// The `extern "C" __global__` function in the cubin, which the
  /// manifest's steps name.
  std::string symbol;
  /// Parameters: one device pointer per argument of the steps calling it.
  int64_t numParams = 0;
  std::array<uint32_t, 3> grid = {1, 1, 1};
  std::array<uint32_t, 3> block = {1, 1, 1};
  /// Dynamic shared memory per block, in bytes.
  uint32_t sharedBytes = 0;
  /// The config the kernel was generated with, as text.
  std::string config;
  /// An ELF image for `CudaProgram::arch`.
  std::vector<uint8_t> cubin;
  /// The bytes of the kernel's own workspace, passed after the steps'
  /// arguments; 0 for none.
  uint64_t workspaceBytes = 0;
  /// The tensor maps passed by value after that, in order.
  std::vector<CudaTensorMapSpec> tensorMaps;
};

/// The kernels of a model compiled for one GPU architecture.
struct CudaProgram {
  /// "sm_80" or "sm_90a".
  std::string arch;
  std::vector<CudaKernelImage> kernels;

  /// The kernel named `symbol`, or null.
  const CudaKernelImage *findKernel(const std::string &symbol) const;
};

/// Whether `arch` is a CUDA architecture kiln compiles for.
bool isKnownCudaArch(const std::string &arch);

/// Serializes `program` as the "cuda" section. Returns false and sets
/// `error` when it cannot be represented (a name that is not UTF-8).
bool encodeCudaSection(const CudaProgram &program, std::vector<uint8_t> &bytes,
                       std::string &error);

/// Parses a "cuda" section, checking its layout, the index's schema and that
/// the cubins tile the rest exactly; what the values mean is
/// `validateCudaProgram`'s to check. Never throws.
std::optional<CudaProgram> decodeCudaSection(const uint8_t *data, size_t size,
                                             std::string &error);

/// Checks `program` on its own (known arch; unique C-identifier symbols;
/// 1 <= block threads <= 1024; grid within the hardware's limits; dynamic
/// shared memory <= 227 KiB; workspace <= 16 GiB; tensor maps of a
/// parameter the kernel has, 16-bit, rows of whole 16 bytes, boxes within
/// TMA's limits; every cubin an ELF image) and against
/// `manifest`: every step names a kernel with as many parameters as the step
/// has arguments, and every kernel is called. On failure returns false and
/// sets `error` to one message naming the kernel at fault.
bool validateCudaProgram(const CudaProgram &program, const Manifest &manifest,
                         std::string &error);

} // namespace kiln

#endif // KILN_RUNTIME_CUDA_CUDAPROGRAM_H_
