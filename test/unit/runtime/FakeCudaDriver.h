//===- FakeCudaDriver.h - A CUDA driver without a GPU ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A fake of the driver table (runtime/CUDA/DriverApi.h) for the tests of the
// CUDA runtime and of the tuner's CUDA trials: "device" memory is host
// memory, each "kernel" is a host function the test gives (so a run computes
// real outputs and a wrong offset or argument shows up as a wrong number),
// every call is logged, and events read a device clock that each kernel run
// advances by its kernel's time. Set `gpu` to the test's FakeGpu.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_UNIT_RUNTIME_FAKECUDADRIVER_H
#define KILN_TEST_UNIT_RUNTIME_FAKECUDADRIVER_H

#include "runtime/CUDA/DriverApi.h"

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace kiln::test {

using namespace kiln::cuda;

/// A launch as the fake records it.
struct FakeLaunch {
  std::string symbol;
  std::vector<CUdeviceptr> params;
  /// The first word of each tensor map passed after the pointers.
  std::vector<uint64_t> tensorMaps;
};

/// A cuTensorMapEncodeTiled call as the fake records it.
struct FakeTensorMapEncode {
  int dataType = 0;
  unsigned rank = 0;
  CUdeviceptr address = 0;
  std::vector<uint64_t> dims, strides;
  std::vector<unsigned> box, elementStrides;
  int interleave = -1, swizzle = -1, l2Promotion = -1, oobFill = -1;
};

/// A kernel as the fake runs it: its parameter count, what it does on the
/// host to the parameters' memory, and the device time one run takes.
struct FakeKernel {
  size_t numParams = 0;
  std::function<void(const std::vector<CUdeviceptr> &)> run;
  double seconds = 1e-6;
};

/// The state behind the fake driver's functions; one per test.
struct FakeGpu {
  // What the device reports.
  CUresult initResult = kCudaSuccess;
  int deviceCount = 1;
  int major = 9, minor = 0;
  /// A symbol whose launches fail with CUDA_ERROR_LAUNCH_FAILED (719).
  std::string failingKernel;

  /// The kernels, run on the host with their parameters.
  std::map<std::string, FakeKernel> kernels;
  /// The result of every cuMemAlloc (CUDA_ERROR_OUT_OF_MEMORY: a full
  /// device).
  CUresult allocResult = kCudaSuccess;
  /// The device's clock, in seconds: each kernel run advances it by its
  /// kernel's `seconds`, and events read it when recorded.
  double clock = 0;
  std::map<CUevent, double> eventTimes;
  int liveEvents = 0;
  std::vector<std::string> modules;
  std::vector<std::string> functions;
  /// Tensor maps each kernel takes after its pointers, by symbol.
  std::map<std::string, size_t> tensorMapParams;
  std::vector<FakeTensorMapEncode> encodes;
  /// The dynamic shared memory each kernel opted into, by symbol.
  std::map<std::string, int> sharedOptIn;
  std::vector<std::vector<uint8_t>> allocations;
  bool capturing = false;
  std::vector<FakeLaunch> captured;
  int graphs = 0;
  /// Every call, in order, by short name.
  std::vector<std::string> calls;
  int liveAllocations = 0, liveModules = 0, liveGraphs = 0;
  bool contextRetained = false;
};

/// The fake driver's functions are plain function pointers: they reach the
/// test's state through this.
inline FakeGpu *gpu = nullptr;

inline float *asFloats(CUdeviceptr pointer) {
  return reinterpret_cast<float *>(static_cast<uintptr_t>(pointer));
}

inline void runLaunch(const FakeLaunch &launch) {
  const FakeKernel &kernel = gpu->kernels.at(launch.symbol);
  kernel.run(launch.params);
  gpu->clock += kernel.seconds;
}

/// The driver table of the fake, every entry point the runtime uses.
inline CudaDriverApi makeFakeApi() {
  CudaDriverApi api;
  api.init = [](unsigned) { return gpu->initResult; };
  api.getErrorString = [](CUresult result, const char **name) {
    *name = result == kCudaErrorOutOfMemory ? "CUDA_ERROR_OUT_OF_MEMORY"
            : result == 100                 ? "CUDA_ERROR_NO_DEVICE"
            : result == 719                 ? "CUDA_ERROR_LAUNCH_FAILED"
                                            : "CUDA_ERROR_UNKNOWN";
    return kCudaSuccess;
  };
  api.deviceGetCount = [](int *count) {
    *count = gpu->deviceCount;
    return kCudaSuccess;
  };
  api.deviceGet = [](CUdevice *device, int ordinal) {
    *device = ordinal;
    return kCudaSuccess;
  };
  api.deviceGetName = [](char *name, int length, CUdevice) {
    std::strncpy(name, "Fake GPU", length);
    return kCudaSuccess;
  };
  api.deviceGetAttribute = [](int *value, int attribute, CUdevice) {
    switch (static_cast<DeviceAttribute>(attribute)) {
    case DeviceAttribute::ComputeCapabilityMajor:
      *value = gpu->major;
      break;
    case DeviceAttribute::ComputeCapabilityMinor:
      *value = gpu->minor;
      break;
    case DeviceAttribute::MultiprocessorCount:
      *value = 132;
      break;
    default:
      *value = 1;
    }
    return kCudaSuccess;
  };
  api.deviceTotalMem = [](size_t *bytes, CUdevice) {
    *bytes = size_t(80) << 30;
    return kCudaSuccess;
  };
  api.primaryCtxRetain = [](CUcontext *context, CUdevice) {
    gpu->contextRetained = true;
    *context = reinterpret_cast<CUcontext>(0x1);
    return kCudaSuccess;
  };
  api.primaryCtxRelease = [](CUdevice) {
    gpu->contextRetained = false;
    return kCudaSuccess;
  };
  api.ctxSetCurrent = [](CUcontext) { return kCudaSuccess; };
  api.moduleLoadData = [](CUmodule *module, const void *image) {
    const auto *bytes = static_cast<const uint8_t *>(image);
    if (bytes[0] != 0x7f)
      return CUresult(200); // CUDA_ERROR_INVALID_IMAGE
    gpu->modules.emplace_back(reinterpret_cast<const char *>(bytes + 4), 3);
    *module = reinterpret_cast<CUmodule>(gpu->modules.size());
    ++gpu->liveModules;
    return kCudaSuccess;
  };
  api.moduleUnload = [](CUmodule) {
    --gpu->liveModules;
    return kCudaSuccess;
  };
  api.moduleGetFunction = [](CUfunction *function, CUmodule, const char *name) {
    if (!gpu->kernels.count(name))
      return CUresult(500); // CUDA_ERROR_NOT_FOUND
    gpu->functions.push_back(name);
    *function = reinterpret_cast<CUfunction>(gpu->functions.size());
    return kCudaSuccess;
  };
  api.funcSetAttribute = [](CUfunction function, int attribute, int value) {
    if (attribute != kFuncMaxDynamicSharedBytes)
      return CUresult(1); // CUDA_ERROR_INVALID_VALUE
    gpu->sharedOptIn[gpu->functions[reinterpret_cast<uintptr_t>(function) -
                                    1]] = value;
    return kCudaSuccess;
  };
  api.memAlloc = [](CUdeviceptr *pointer, size_t bytes) {
    if (gpu->allocResult != kCudaSuccess)
      return gpu->allocResult;
    gpu->allocations.emplace_back(bytes, 0xcd);
    *pointer = reinterpret_cast<uintptr_t>(gpu->allocations.back().data());
    ++gpu->liveAllocations;
    gpu->calls.push_back("alloc");
    return kCudaSuccess;
  };
  api.memFree = [](CUdeviceptr) {
    --gpu->liveAllocations;
    return kCudaSuccess;
  };
  api.memcpyHtoDAsync = [](CUdeviceptr to, const void *from, size_t bytes,
                           CUstream) {
    std::memcpy(reinterpret_cast<void *>(static_cast<uintptr_t>(to)), from,
                bytes);
    gpu->calls.push_back("htod");
    return kCudaSuccess;
  };
  api.memcpyDtoHAsync = [](void *to, CUdeviceptr from, size_t bytes, CUstream) {
    std::memcpy(to, reinterpret_cast<void *>(static_cast<uintptr_t>(from)),
                bytes);
    gpu->calls.push_back("dtoh");
    return kCudaSuccess;
  };
  api.memsetD8Async = [](CUdeviceptr to, unsigned char value, size_t bytes,
                         CUstream) {
    std::memset(reinterpret_cast<void *>(static_cast<uintptr_t>(to)), value,
                bytes);
    return kCudaSuccess;
  };
  api.streamCreate = [](CUstream *stream, unsigned) {
    *stream = reinterpret_cast<CUstream>(0x2);
    return kCudaSuccess;
  };
  api.streamDestroy = [](CUstream) { return kCudaSuccess; };
  api.streamSynchronize = [](CUstream) {
    gpu->calls.push_back("sync");
    return kCudaSuccess;
  };
  api.launchKernel = [](CUfunction function, unsigned, unsigned, unsigned,
                        unsigned, unsigned, unsigned, unsigned, CUstream,
                        void **params, void **) {
    FakeLaunch launch;
    launch.symbol = gpu->functions[reinterpret_cast<uintptr_t>(function) - 1];
    if (launch.symbol == gpu->failingKernel)
      return CUresult(719);
    size_t count = gpu->kernels.at(launch.symbol).numParams;
    for (size_t i = 0; i < count; ++i)
      launch.params.push_back(*static_cast<CUdeviceptr *>(params[i]));
    for (size_t i = 0; i < gpu->tensorMapParams[launch.symbol]; ++i)
      launch.tensorMaps.push_back(
          static_cast<CudaTensorMap *>(params[count + i])->opaque[0]);
    if (gpu->capturing) {
      gpu->captured.push_back(launch);
    } else {
      gpu->calls.push_back("launch " + launch.symbol);
      runLaunch(launch);
    }
    return kCudaSuccess;
  };
  api.streamBeginCapture = [](CUstream, int) {
    gpu->capturing = true;
    gpu->calls.push_back("begin-capture");
    return kCudaSuccess;
  };
  api.streamEndCapture = [](CUstream, CUgraph *graph) {
    gpu->capturing = false;
    gpu->calls.push_back("end-capture");
    *graph = reinterpret_cast<CUgraph>(0x3);
    ++gpu->liveGraphs;
    return kCudaSuccess;
  };
  api.graphInstantiate = [](CUgraphExec *exec, CUgraph, unsigned long long) {
    *exec = reinterpret_cast<CUgraphExec>(0x4);
    ++gpu->liveGraphs;
    gpu->calls.push_back("instantiate");
    return kCudaSuccess;
  };
  api.graphLaunch = [](CUgraphExec, CUstream) {
    gpu->calls.push_back("graph-launch");
    for (const FakeLaunch &launch : gpu->captured)
      runLaunch(launch);
    return kCudaSuccess;
  };
  api.graphExecDestroy = [](CUgraphExec) {
    --gpu->liveGraphs;
    return kCudaSuccess;
  };
  api.graphDestroy = [](CUgraph) {
    --gpu->liveGraphs;
    return kCudaSuccess;
  };
  // Records the call; the "map" is the address it views, so a launch shows
  // which map it got.
  api.tensorMapEncodeTiled = [](CudaTensorMap *map, int dataType, unsigned rank,
                                void *address, const uint64_t *dims,
                                const uint64_t *strides, const unsigned *box,
                                const unsigned *elementStrides, int interleave,
                                int swizzle, int l2Promotion, int oobFill) {
    FakeTensorMapEncode call;
    call.dataType = dataType;
    call.rank = rank;
    call.address = reinterpret_cast<uintptr_t>(address);
    call.dims.assign(dims, dims + rank);
    call.strides.assign(strides, strides + rank - 1);
    call.box.assign(box, box + rank);
    call.elementStrides.assign(elementStrides, elementStrides + rank);
    call.interleave = interleave;
    call.swizzle = swizzle;
    call.l2Promotion = l2Promotion;
    call.oobFill = oobFill;
    gpu->encodes.push_back(call);
    map->opaque[0] = call.address;
    return kCudaSuccess;
  };
  // Events read the device clock; a stream's work runs when issued, so an
  // event is complete as soon as it is recorded.
  api.eventCreate = [](CUevent *event, unsigned) {
    *event = reinterpret_cast<CUevent>(uintptr_t(++gpu->liveEvents) << 4);
    gpu->eventTimes[*event] = 0;
    return kCudaSuccess;
  };
  api.eventRecord = [](CUevent event, CUstream) {
    gpu->eventTimes.at(event) = gpu->clock;
    return kCudaSuccess;
  };
  api.eventSynchronize = [](CUevent) { return kCudaSuccess; };
  api.eventElapsedTime = [](float *milliseconds, CUevent start, CUevent end) {
    *milliseconds = static_cast<float>(
        (gpu->eventTimes.at(end) - gpu->eventTimes.at(start)) * 1e3);
    return kCudaSuccess;
  };
  api.eventDestroy = [](CUevent event) {
    gpu->eventTimes.erase(event);
    --gpu->liveEvents;
    return kCudaSuccess;
  };
  return api;
}
} // namespace kiln::test

#endif // KILN_TEST_UNIT_RUNTIME_FAKECUDADRIVER_H
