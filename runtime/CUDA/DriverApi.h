//===- DriverApi.h - The CUDA driver API as a table of functions -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The runtime reaches the GPU only through `CudaDriverApi`, a table of the
// driver entry points it uses. `loadCudaDriver` fills it from
// libcuda.so.1 with dlopen, so the kiln binary starts on machines without a
// driver and says plainly that there is no device; tests fill it with fakes
// to check the runtime's logic without a GPU.
//
// The types are declared here with the driver's ABI (opaque handles, a
// 64-bit device pointer, int results), so building needs no CUDA headers.
// Each entry point is the versioned symbol that cuda.h (CUDA 12 and 13) maps
// its name to, e.g. cuMemAlloc_v2.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDA_DRIVERAPI_H_
#define KILN_RUNTIME_CUDA_DRIVERAPI_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace kiln::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUevent = struct CUevent_st *;

inline constexpr CUresult kCudaSuccess = 0;
/// CUDA_ERROR_OUT_OF_MEMORY: an allocation the device cannot hold.
inline constexpr CUresult kCudaErrorOutOfMemory = 2;

/// The device attributes the runtime asks for (CUdevice_attribute values).
enum class DeviceAttribute : int {
  MaxThreadsPerBlock = 1,
  MultiprocessorCount = 16,
  ComputeCapabilityMajor = 75,
  ComputeCapabilityMinor = 76,
  MaxRegistersPerMultiprocessor = 82,
  MaxSharedMemoryPerBlockOptin = 97,
};

/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: a kernel may use more
/// than the default 48 KiB of dynamic shared memory only after it is raised.
inline constexpr int kFuncMaxDynamicSharedBytes = 8;
/// The dynamic shared memory every kernel may use without opting in.
inline constexpr uint32_t kDefaultDynamicSharedBytes = 48 * 1024;

/// A CUtensorMap: what cuTensorMapEncodeTiled writes and a TMA kernel takes
/// by value as a parameter. 128 opaque bytes; cuda.h (CUDA 13) aligns it to
/// 128 bytes, more than the 64 the driver requires.
struct alignas(128) CudaTensorMap {
  uint64_t opaque[16] = {};
};

/// The CUtensorMap enumerators the runtime uses.
enum class TensorMapDataType : int { Float16 = 6, BFloat16 = 9 };
inline constexpr int kTensorMapInterleaveNone = 0;
inline constexpr int kTensorMapSwizzle128B = 3;
inline constexpr int kTensorMapL2Promotion128B = 2;
/// Elements outside the tensor load as zeros.
inline constexpr int kTensorMapOobFillNone = 0;

/// CU_STREAM_NON_BLOCKING: no implicit ordering with the legacy stream.
inline constexpr unsigned kStreamNonBlocking = 1;
/// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: only this thread's unsafe calls end
/// the capture.
inline constexpr int kCaptureModeThreadLocal = 1;

/// The driver entry points the runtime uses. Every pointer is set by
/// `loadCudaDriver`; fakes may leave unused ones null.
struct CudaDriverApi {
  CUresult (*init)(unsigned flags) = nullptr;
  CUresult (*getErrorString)(CUresult, const char **) = nullptr;
  CUresult (*deviceGetCount)(int *) = nullptr;
  CUresult (*deviceGet)(CUdevice *, int ordinal) = nullptr;
  CUresult (*deviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*deviceGetAttribute)(int *, int attribute, CUdevice) = nullptr;
  CUresult (*deviceTotalMem)(size_t *, CUdevice) = nullptr;
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*primaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*ctxSetCurrent)(CUcontext) = nullptr;
  CUresult (*moduleLoadData)(CUmodule *, const void *image) = nullptr;
  CUresult (*moduleUnload)(CUmodule) = nullptr;
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule,
                                const char *name) = nullptr;
  CUresult (*funcSetAttribute)(CUfunction, int attribute, int value) = nullptr;
  CUresult (*memAlloc)(CUdeviceptr *, size_t) = nullptr;
  CUresult (*memFree)(CUdeviceptr) = nullptr;
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void *, size_t,
                              CUstream) = nullptr;
  CUresult (*memcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream) = nullptr;
  CUresult (*memsetD8Async)(CUdeviceptr, unsigned char, size_t,
                            CUstream) = nullptr;
  CUresult (*streamCreate)(CUstream *, unsigned flags) = nullptr;
  CUresult (*streamDestroy)(CUstream) = nullptr;
  CUresult (*streamSynchronize)(CUstream) = nullptr;
  CUresult (*launchKernel)(CUfunction, unsigned gridX, unsigned gridY,
                           unsigned gridZ, unsigned blockX, unsigned blockY,
                           unsigned blockZ, unsigned sharedBytes, CUstream,
                           void **params, void **extra) = nullptr;
  CUresult (*streamBeginCapture)(CUstream, int mode) = nullptr;
  CUresult (*streamEndCapture)(CUstream, CUgraph *) = nullptr;
  CUresult (*graphInstantiate)(CUgraphExec *, CUgraph,
                               unsigned long long flags) = nullptr;
  CUresult (*graphLaunch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*graphExecDestroy)(CUgraphExec) = nullptr;
  CUresult (*graphDestroy)(CUgraph) = nullptr;
  CUresult (*eventCreate)(CUevent *, unsigned flags) = nullptr;
  CUresult (*eventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*eventSynchronize)(CUevent) = nullptr;
  CUresult (*eventElapsedTime)(float *milliseconds, CUevent start,
                               CUevent end) = nullptr;
  CUresult (*eventDestroy)(CUevent) = nullptr;
  CUresult (*tensorMapEncodeTiled)(
      CudaTensorMap *, int dataType, unsigned rank, void *globalAddress,
      const uint64_t *globalDim, const uint64_t *globalStrides,
      const unsigned *boxDim, const unsigned *elementStrides, int interleave,
      int swizzle, int l2Promotion, int oobFill) = nullptr;

  /// Keeps the library loaded while a copy of the table lives; null for
  /// fakes.
  std::shared_ptr<void> library;
};

/// Opens the driver library `path` (libcuda.so.1 on Linux) and fills the
/// table. On failure returns std::nullopt and sets `error` to why, e.g.
/// "cannot load libcuda.so.1: ...: cannot open shared object file".
std::optional<CudaDriverApi> loadCudaDriver(const std::string &path,
                                            std::string &error);

/// "<what> failed: <driver's name of the error> (<code>)".
std::string describeCudaError(const CudaDriverApi &api, CUresult result,
                              const std::string &what);

/// Whether `message`, which ends in describeCudaError's text (as the
/// runtime's load and run errors do), reports CUDA_ERROR_OUT_OF_MEMORY: how
/// a caller holding only the message tells a full device from other
/// failures.
bool reportsCudaOutOfMemory(const std::string &message);

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_DRIVERAPI_H_
