//===- LaunchPlan.cpp - A CUDA model's device memory and launches -*- C++ -*-//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "runtime/CUDA/LaunchPlan.h"

namespace kiln::cuda {

static uint64_t alignUp(uint64_t value) {
  return (value + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

static uint64_t getByteSize(const TensorSpec &spec) {
  uint64_t bytes = elementSize(spec.type);
  for (int64_t dim : spec.shape)
    bytes *= static_cast<uint64_t>(dim);
  return bytes;
}

DeviceLayout planDeviceLayout(const Manifest &manifest,
                              const TensorMap &weights,
                              const CudaProgram &program) {
  DeviceLayout layout;
  uint64_t cursor = 0;
  auto place = [&](uint64_t bytes) {
    uint64_t offset = cursor;
    cursor = alignUp(cursor + bytes);
    return offset;
  };
  for (const auto &[name, tensor] : weights)
    layout.weightOffsets[name] = place(tensor.getByteSize());
  for (const TensorSpec &input : manifest.inputs)
    layout.inputOffsets.push_back(place(getByteSize(input)));
  for (const TensorSpec &output : manifest.outputs)
    layout.outputOffsets.push_back(place(getByteSize(output)));
  layout.arenaOffset = place(static_cast<uint64_t>(manifest.arenaBytes));
  for (size_t i = 0; i < program.kernels.size(); ++i)
    if (program.kernels[i].workspaceBytes > 0)
      layout.workspaceOffsets[i] = place(program.kernels[i].workspaceBytes);
  layout.totalBytes = cursor;
  return layout;
}

/// The offset of `arg`'s tensor.
static uint64_t getArgOffset(const StepArg &arg, const Manifest &manifest,
                             const DeviceLayout &layout) {
  switch (arg.kind) {
  case StepArgKind::Input:
    return layout.inputOffsets[arg.index];
  case StepArgKind::Output:
    return layout.outputOffsets[arg.index];
  case StepArgKind::Weight:
    return layout.weightOffsets.at(arg.name);
  case StepArgKind::Buffer:
    break;
  }
  for (const BufferSpec &buffer : manifest.buffers)
    if (buffer.id == arg.index)
      return layout.arenaOffset + static_cast<uint64_t>(buffer.offset);
  // validateManifest guarantees every buffer argument names a buffer.
  return layout.arenaOffset;
}

std::vector<KernelLaunch> buildLaunches(const Manifest &manifest,
                                        const CudaProgram &program,
                                        const DeviceLayout &layout) {
  std::map<std::string, size_t> kernels;
  for (size_t i = 0; i < program.kernels.size(); ++i)
    kernels[program.kernels[i].symbol] = i;
  std::vector<KernelLaunch> launches;
  for (const Step &step : manifest.steps) {
    KernelLaunch launch;
    launch.kernel = kernels.at(step.symbol);
    const CudaKernelImage &image = program.kernels[launch.kernel];
    launch.grid = image.grid;
    launch.block = image.block;
    launch.sharedBytes = image.sharedBytes;
    for (const StepArg &arg : step.args)
      launch.argOffsets.push_back(getArgOffset(arg, manifest, layout));
    if (image.workspaceBytes > 0)
      launch.argOffsets.push_back(layout.workspaceOffsets.at(launch.kernel));
    launch.tensorMaps.resize(image.tensorMaps.size());
    launches.push_back(std::move(launch));
  }
  return launches;
}

CUresult encodeTensorMap(const CudaDriverApi &api,
                         const CudaTensorMapSpec &spec, CUdeviceptr address,
                         CudaTensorMap &map) {
  const uint64_t dims[2] = {spec.dims[0], spec.dims[1]};
  const uint64_t rowStride[1] = {spec.dims[0] * 2};
  const unsigned box[2] = {spec.box[0], spec.box[1]};
  const unsigned elementStrides[2] = {1, 1};
  TensorMapDataType type = spec.type == "bf16" ? TensorMapDataType::BFloat16
                                               : TensorMapDataType::Float16;
  return api.tensorMapEncodeTiled(
      &map, static_cast<int>(type), /*rank=*/2,
      reinterpret_cast<void *>(static_cast<uintptr_t>(address)), dims,
      rowStride, box, elementStrides, kTensorMapInterleaveNone,
      kTensorMapSwizzle128B, kTensorMapL2Promotion128B, kTensorMapOobFillNone);
}

LaunchParams::LaunchParams(const KernelLaunch &launch, CUdeviceptr base) {
  for (uint64_t offset : launch.argOffsets)
    values.push_back(base + offset);
  // Taken after `values` is complete, so no reallocation moves them.
  for (CUdeviceptr &value : values)
    pointers.push_back(&value);
  for (const CudaTensorMap &map : launch.tensorMaps)
    pointers.push_back(const_cast<CudaTensorMap *>(&map));
}

} // namespace kiln::cuda
