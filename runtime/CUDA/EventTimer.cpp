//===- EventTimer.cpp - GPU time on a stream by driver events --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Each lap reads the time between two consecutive events, not since the
// first: cuEventElapsedTime gives a float of milliseconds, whose resolution
// would shrink as a long measurement goes on.
//
//===----------------------------------------------------------------------===//

#include "runtime/CUDA/EventTimer.h"

namespace kiln::cuda {

std::optional<CudaEventTimer> CudaEventTimer::create(const CudaDriverApi &api,
                                                     CUstream stream,
                                                     std::string &error) {
  CudaEventTimer timer(api, stream);
  for (CUevent &event : timer.events)
    if (CUresult result = api.eventCreate(&event, /*flags=*/0)) {
      event = nullptr;
      error = describeCudaError(api, result, "cuEventCreate");
      return std::nullopt;
    }
  if (CUresult result = api.eventRecord(timer.events[0], stream)) {
    error = describeCudaError(api, result, "cuEventRecord");
    return std::nullopt;
  }
  return timer;
}

CudaEventTimer::CudaEventTimer(CudaEventTimer &&other) noexcept
    : api(other.api), stream(other.stream), last(other.last) {
  for (int i = 0; i < 2; ++i) {
    events[i] = other.events[i];
    other.events[i] = nullptr;
  }
}

CudaEventTimer::~CudaEventTimer() {
  for (CUevent event : events)
    if (event)
      api.eventDestroy(event);
}

bool CudaEventTimer::lap(double &seconds, std::string &error) {
  CUevent start = events[last], end = events[1 - last];
  float milliseconds = 0;
  if (CUresult result = api.eventRecord(end, stream)) {
    error = describeCudaError(api, result, "cuEventRecord");
    return false;
  }
  if (CUresult result = api.eventSynchronize(end)) {
    error = describeCudaError(api, result, "cuEventSynchronize");
    return false;
  }
  if (CUresult result = api.eventElapsedTime(&milliseconds, start, end)) {
    error = describeCudaError(api, result, "cuEventElapsedTime");
    return false;
  }
  last = 1 - last;
  seconds = static_cast<double>(milliseconds) * 1e-3;
  return true;
}

} // namespace kiln::cuda
