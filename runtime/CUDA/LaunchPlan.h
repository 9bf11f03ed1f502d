//===- LaunchPlan.h - A CUDA model's device memory and launches -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What a CUDA model does on the device, worked out on the host before any
// driver call: one device allocation holds the weights, the inputs, the
// outputs and the intermediate-buffer arena of the compiler's memory plan
// (runtime/MemoryPlan.h), each at a fixed offset; every kernel launch is a
// kernel, a launch shape and the offsets of its arguments in that
// allocation. Kernels with a workspace (split-K contractions) get a region
// of their own after the arena, which is zeroed with the rest at load and
// reused by every launch of that kernel: the launches of one model run in
// order on one stream. Since nothing moves after loading, the launches can
// be captured once into a CUDA graph and replayed. No driver dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDA_LAUNCHPLAN_H_
#define KILN_RUNTIME_CUDA_LAUNCHPLAN_H_

#include "runtime/CUDA/CudaProgram.h"
#include "runtime/CUDA/DriverApi.h"
#include "runtime/Manifest.h"
#include "runtime/Safetensors.h"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::cuda {

/// The alignment of every region of the device allocation: what cudaMalloc
/// guarantees, enough for any vector load.
inline constexpr uint64_t kDeviceAlignment = 256;

/// Where each tensor lives in the model's one device allocation.
struct DeviceLayout {
  /// Per weight name, its offset.
  std::map<std::string, uint64_t> weightOffsets;
  /// Per input and per output, its offset.
  std::vector<uint64_t> inputOffsets;
  std::vector<uint64_t> outputOffsets;
  /// The start of the intermediate buffers' arena: buffer `b` lives at
  /// arenaOffset + b.offset.
  uint64_t arenaOffset = 0;
  /// Per kernel (index in CudaProgram::kernels) with a workspace, its
  /// offset.
  std::map<size_t, uint64_t> workspaceOffsets;
  /// The size of the allocation.
  uint64_t totalBytes = 0;
};

/// Lays out the weights (in name order), the inputs, the outputs and the
/// arena of `manifest`, then the workspaces of `program`'s kernels, each
/// region aligned to kDeviceAlignment. Requires a manifest that
/// `validateManifest` accepts with `weights`.
DeviceLayout planDeviceLayout(const Manifest &manifest,
                              const TensorMap &weights,
                              const CudaProgram &program);

/// One kernel launch of a model run.
struct KernelLaunch {
  /// The kernel's index in `CudaProgram::kernels`.
  size_t kernel = 0;
  std::array<uint32_t, 3> grid = {1, 1, 1};
  std::array<uint32_t, 3> block = {1, 1, 1};
  uint32_t sharedBytes = 0;
  /// Per parameter, the offset of its tensor in the device allocation
  /// (the kernel's workspace last, if it has one).
  std::vector<uint64_t> argOffsets;
  /// The kernel's tensor maps, passed by value after the pointers; encoded
  /// by `encodeTensorMap` once the allocation's address is known.
  std::vector<CudaTensorMap> tensorMaps;
};

/// The launches of one run, one per step in order. Requires `program` to be
/// valid for `manifest` (`validateCudaProgram`) and `layout` to be its
/// `planDeviceLayout`.
std::vector<KernelLaunch> buildLaunches(const Manifest &manifest,
                                        const CudaProgram &program,
                                        const DeviceLayout &layout);

/// Encodes `spec` for the tensor at device address `address` into `map`
/// with the driver's cuTensorMapEncodeTiled: rank 2, row stride dims[0] * 2
/// bytes, element strides 1, no interleave, 128-byte swizzle (what the
/// wgmma kernels' shared-memory descriptors assume), L2 promotion of 128
/// bytes, zeros out of bounds. Returns the driver's result.
CUresult encodeTensorMap(const CudaDriverApi &api,
                         const CudaTensorMapSpec &spec, CUdeviceptr address,
                         CudaTensorMap &map);

/// The parameters of one launch as cuLaunchKernel takes them: an array of
/// pointers, one per parameter, each to that parameter's value (a device
/// pointer, or one of the launch's tensor maps). The pointer values live in
/// this object and the tensor maps in `launch`, so both must outlive the
/// launch call (not the kernel: the driver copies them).
class LaunchParams {
public:
  LaunchParams(const KernelLaunch &launch, CUdeviceptr base);
  LaunchParams(const LaunchParams &) = delete;
  LaunchParams &operator=(const LaunchParams &) = delete;

  void **get() { return pointers.data(); }
  const std::vector<CUdeviceptr> &getValues() const { return values; }

private:
  std::vector<CUdeviceptr> values;
  std::vector<void *> pointers;
};

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_LAUNCHPLAN_H_
