//===- CudaModel.h - Loading and running a model on a GPU ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The GPU counterpart of CompiledModel (runtime/Executor.h), for artifacts
// with a "cuda" section:
//
//   std::string error;
//   auto api = cuda::loadCudaDriver("libcuda.so.1", error);
//   auto device = api ? cuda::openCudaDevice(*api, 0, error) : std::nullopt;
//   if (!device) report("no CUDA device: " + error);
//   auto model = cuda::CudaModel::load(*device, std::move(artifact), "m.kiln",
//                                      {}, error);
//   model->bindInput(0, image, error) && model->run(error);
//
// Loading makes one device allocation (planDeviceLayout), zero-fills it,
// uploads the weights, loads each kernel's cubin as a module and, with
// `useGraph`, captures the launches of a whole run into a CUDA graph. A run
// then copies the inputs in, replays the graph (or issues the launches) on
// the model's stream and copies the outputs out: the only host/device
// copies after loading. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDA_CUDAMODEL_H_
#define KILN_RUNTIME_CUDA_CUDAMODEL_H_

#include "runtime/Artifact.h"
#include "runtime/CUDA/DriverApi.h"
#include "runtime/HostTensor.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln::cuda {

/// What the driver says about a device.
struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;
  int multiprocessors = 0;
  uint64_t memoryBytes = 0;
  int sharedBytesPerBlock = 0;
  int registersPerMultiprocessor = 0;

  /// "sm_<major><minor>", e.g. "sm_90".
  std::string getArch() const;
};

/// An initialized driver and one device with its primary context retained
/// and current on the calling thread. Shared by the models loaded on it.
struct CudaDevice {
  CudaDriverApi api;
  CudaDeviceInfo info;
  /// Releases the primary context when the last model and handle are gone.
  std::shared_ptr<void> context;
};

/// Initializes the driver and opens device `ordinal`. On failure returns
/// std::nullopt and sets `error` to why there is no usable device (the
/// caller says "no CUDA device: <error>").
std::optional<CudaDevice> openCudaDevice(const CudaDriverApi &api, int ordinal,
                                         std::string &error);

/// Whether a cubin for `arch` ("sm_80" or "sm_90a") runs on `device`: sm_80
/// on any 8.x device, sm_90a on 9.0 only.
bool canRunArch(const CudaDeviceInfo &device, const std::string &arch);

struct CudaLoadOptions {
  /// Capture a run's launches into a CUDA graph at load and replay it;
  /// otherwise issue the launches on every run.
  bool useGraph = true;
};

/// A model loaded on a device. Movable, not copyable. Not safe to use from
/// several threads at once.
class CudaModel {
public:
  /// Loads `artifact` (a CUDA artifact; checked as readArtifact checks a
  /// file) on `device`; `name` stands for the file in messages. On failure
  /// returns std::nullopt and sets `error` to one message naming the file.
  static std::optional<CudaModel> load(const CudaDevice &device,
                                       Artifact artifact,
                                       const std::string &name,
                                       const CudaLoadOptions &options,
                                       std::string &error);

  CudaModel(CudaModel &&) noexcept;
  CudaModel &operator=(CudaModel &&) noexcept;
  ~CudaModel();

  const std::vector<TensorSpec> &inputs() const;
  const std::vector<TensorSpec> &outputs() const;
  const Manifest &manifest() const;
  /// Whether runs replay a captured CUDA graph.
  bool usesGraph() const;

  /// As CompiledModel::bindInput: copies `tensor` to the host side of input
  /// `index` after checking it (`ModelInputs::bind`).
  bool bindInput(size_t index, const HostTensor &tensor, std::string &error);

  /// Copies the inputs to the device, runs every kernel in order and copies
  /// the outputs back; returns once they are on the host. Fails, running
  /// nothing, while an input is unbound, and with the driver's error (and
  /// the kernel) when a call fails.
  bool run(std::string &error);

  /// Issues the kernels of one run on the model's stream (replays the graph
  /// or launches them) and returns without copying or waiting: for timing
  /// the kernels alone on the last inputs `run` copied in. Fails with the
  /// driver's error (and the kernel) when a call fails.
  bool launch(std::string &error);

  /// The stream the model's kernels run on, in order.
  CUstream getStream() const;

  /// Output `index` as the last successful run left it (zeros before one).
  const HostTensor &output(size_t index) const;

private:
  struct State;
  explicit CudaModel(std::unique_ptr<State> state);
  std::unique_ptr<State> state;
};

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_CUDAMODEL_H_
