//===- EventTimer.h - GPU time on a stream by driver events ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Kernels run asynchronously: the host's clock times their launch, not
// their execution. A CudaEventTimer records driver events on a stream
// between the launches and reads the time the GPU itself stamped on them,
// so a lap is the device time of the work issued since the last lap. No
// MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDA_EVENTTIMER_H_
#define KILN_RUNTIME_CUDA_EVENTTIMER_H_

#include "runtime/CUDA/DriverApi.h"

#include <optional>
#include <string>

namespace kiln::cuda {

/// Laps of device time on one stream. Movable, not copyable; the stream
/// must outlive it.
class CudaEventTimer {
public:
  /// Creates the timer's two events and records the first on `stream`. On
  /// failure returns std::nullopt and sets `error` to the driver's message.
  static std::optional<CudaEventTimer>
  create(const CudaDriverApi &api, CUstream stream, std::string &error);

  CudaEventTimer(CudaEventTimer &&other) noexcept;
  CudaEventTimer &operator=(CudaEventTimer &&) = delete;
  CudaEventTimer(const CudaEventTimer &) = delete;
  ~CudaEventTimer();

  /// Records an event on the stream, waits for it, and sets `seconds` to the
  /// device time since the previous lap's event (the creation's for the
  /// first lap). Fails with the driver's message.
  bool lap(double &seconds, std::string &error);

private:
  CudaEventTimer(const CudaDriverApi &api, CUstream stream)
      : api(api), stream(stream) {}

  CudaDriverApi api;
  CUstream stream = nullptr;
  /// The last recorded event and the one the next lap records, swapped
  /// after each lap.
  CUevent events[2] = {nullptr, nullptr};
  int last = 0;
};

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_EVENTTIMER_H_
