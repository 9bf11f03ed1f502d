//===- DriverApi.cpp - The CUDA driver API as a table of functions -*- C++ -*-//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "runtime/CUDA/DriverApi.h"

#include <dlfcn.h>

namespace kiln::cuda {

/// Looks up `name` into `entry`; false, with `missing` set, when absent.
template <typename Fn>
static bool bindSymbol(void *handle, const char *name, Fn &entry,
                       std::string &missing) {
  entry = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!entry)
    missing = name;
  return entry != nullptr;
}

std::optional<CudaDriverApi> loadCudaDriver(const std::string &path,
                                            std::string &error) {
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *reason = dlerror();
    error = "cannot load " + path + (reason ? std::string(": ") + reason : "");
    return std::nullopt;
  }
  CudaDriverApi api;
  api.library = std::shared_ptr<void>(handle, [](void *h) { dlclose(h); });
  std::string missing;
  if (!bindSymbol(handle, "cuInit", api.init, missing) ||
      !bindSymbol(handle, "cuGetErrorString", api.getErrorString, missing) ||
      !bindSymbol(handle, "cuDeviceGetCount", api.deviceGetCount, missing) ||
      !bindSymbol(handle, "cuDeviceGet", api.deviceGet, missing) ||
      !bindSymbol(handle, "cuDeviceGetName", api.deviceGetName, missing) ||
      !bindSymbol(handle, "cuDeviceGetAttribute", api.deviceGetAttribute,
                  missing) ||
      !bindSymbol(handle, "cuDeviceTotalMem_v2", api.deviceTotalMem,
                  missing) ||
      !bindSymbol(handle, "cuDevicePrimaryCtxRetain", api.primaryCtxRetain,
                  missing) ||
      !bindSymbol(handle, "cuDevicePrimaryCtxRelease_v2",
                  api.primaryCtxRelease, missing) ||
      !bindSymbol(handle, "cuCtxSetCurrent", api.ctxSetCurrent, missing) ||
      !bindSymbol(handle, "cuModuleLoadData", api.moduleLoadData, missing) ||
      !bindSymbol(handle, "cuModuleUnload", api.moduleUnload, missing) ||
      !bindSymbol(handle, "cuModuleGetFunction", api.moduleGetFunction,
                  missing) ||
      !bindSymbol(handle, "cuFuncSetAttribute", api.funcSetAttribute,
                  missing) ||
      !bindSymbol(handle, "cuMemAlloc_v2", api.memAlloc, missing) ||
      !bindSymbol(handle, "cuMemFree_v2", api.memFree, missing) ||
      !bindSymbol(handle, "cuMemcpyHtoDAsync_v2", api.memcpyHtoDAsync,
                  missing) ||
      !bindSymbol(handle, "cuMemcpyDtoHAsync_v2", api.memcpyDtoHAsync,
                  missing) ||
      !bindSymbol(handle, "cuMemsetD8Async", api.memsetD8Async, missing) ||
      !bindSymbol(handle, "cuStreamCreate", api.streamCreate, missing) ||
      !bindSymbol(handle, "cuStreamDestroy_v2", api.streamDestroy, missing) ||
      !bindSymbol(handle, "cuStreamSynchronize", api.streamSynchronize,
                  missing) ||
      !bindSymbol(handle, "cuLaunchKernel", api.launchKernel, missing) ||
      !bindSymbol(handle, "cuStreamBeginCapture_v2", api.streamBeginCapture,
                  missing) ||
      !bindSymbol(handle, "cuStreamEndCapture", api.streamEndCapture,
                  missing) ||
      !bindSymbol(handle, "cuGraphInstantiateWithFlags", api.graphInstantiate,
                  missing) ||
      !bindSymbol(handle, "cuGraphLaunch", api.graphLaunch, missing) ||
      !bindSymbol(handle, "cuGraphExecDestroy", api.graphExecDestroy,
                  missing) ||
      !bindSymbol(handle, "cuGraphDestroy", api.graphDestroy, missing) ||
      !bindSymbol(handle, "cuTensorMapEncodeTiled", api.tensorMapEncodeTiled,
                  missing) ||
      !bindSymbol(handle, "cuEventCreate", api.eventCreate, missing) ||
      !bindSymbol(handle, "cuEventRecord", api.eventRecord, missing) ||
      !bindSymbol(handle, "cuEventSynchronize", api.eventSynchronize,
                  missing) ||
      // cuda.h maps the name to _v2 from CUDA 12.8 on; earlier CUDA 12
      // drivers have only the first version, with the same signature.
      (!bindSymbol(handle, "cuEventElapsedTime_v2", api.eventElapsedTime,
                   missing) &&
       !bindSymbol(handle, "cuEventElapsedTime", api.eventElapsedTime,
                   missing)) ||
      !bindSymbol(handle, "cuEventDestroy_v2", api.eventDestroy, missing)) {
    error = path + " has no '" + missing +
            "' (the driver is older than CUDA 12)";
    return std::nullopt;
  }
  return api;
}

std::string describeCudaError(const CudaDriverApi &api, CUresult result,
                              const std::string &what) {
  const char *name = nullptr;
  if (api.getErrorString)
    api.getErrorString(result, &name);
  return what + " failed: " + (name ? name : "unknown CUDA error") + " (" +
         std::to_string(result) + ")";
}

bool reportsCudaOutOfMemory(const std::string &message) {
  std::string suffix = " (" + std::to_string(kCudaErrorOutOfMemory) + ")";
  return message.size() >= suffix.size() &&
         message.compare(message.size() - suffix.size(), suffix.size(),
                         suffix) == 0;
}

} // namespace kiln::cuda
