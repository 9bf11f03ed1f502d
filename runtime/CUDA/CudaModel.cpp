//===- CudaModel.cpp - Loading and running a model on a GPU ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Every driver call goes through the CudaDriverApi table and is checked; a
// failure becomes one message naming the call, the driver's error and what
// was being done. What was created before a failure is released by State's
// destructor, in reverse order.
//
//===----------------------------------------------------------------------===//

#include "runtime/CUDA/CudaModel.h"

#include "runtime/CUDA/LaunchPlan.h"
#include "runtime/Executor.h"


namespace kiln::cuda {

//===----------------------------------------------------------------------===//
// The device
//===----------------------------------------------------------------------===//

std::string CudaDeviceInfo::getArch() const {
  return "sm_" + std::to_string(major) + std::to_string(minor);
}

bool canRunArch(const CudaDeviceInfo &device, const std::string &arch) {
  if (arch == "sm_80")
    return device.major == 8;
  if (arch == "sm_90a")
    return device.major == 9 && device.minor == 0;
  return false;
}

/// Reads the attributes of `device` into `info`.
static bool queryDevice(const CudaDriverApi &api, CUdevice device,
                        CudaDeviceInfo &info, std::string &error) {
  char name[256] = {};
  if (CUresult result = api.deviceGetName(name, sizeof(name) - 1, device)) {
    error = describeCudaError(api, result, "cuDeviceGetName");
    return false;
  }
  info.name = name;
  size_t memory = 0;
  if (CUresult result = api.deviceTotalMem(&memory, device)) {
    error = describeCudaError(api, result, "cuDeviceTotalMem");
    return false;
  }
  info.memoryBytes = memory;
  std::pair<DeviceAttribute, int *> attributes[] = {
      {DeviceAttribute::ComputeCapabilityMajor, &info.major},
      {DeviceAttribute::ComputeCapabilityMinor, &info.minor},
      {DeviceAttribute::MultiprocessorCount, &info.multiprocessors},
      {DeviceAttribute::MaxSharedMemoryPerBlockOptin,
       &info.sharedBytesPerBlock},
      {DeviceAttribute::MaxRegistersPerMultiprocessor,
       &info.registersPerMultiprocessor}};
  for (auto [attribute, value] : attributes)
    if (CUresult result = api.deviceGetAttribute(
            value, static_cast<int>(attribute), device)) {
      error = describeCudaError(api, result, "cuDeviceGetAttribute");
      return false;
    }
  return true;
}

std::optional<CudaDevice> openCudaDevice(const CudaDriverApi &api, int ordinal,
                                         std::string &error) {
  if (CUresult result = api.init(0)) {
    error = describeCudaError(api, result, "cuInit");
    return std::nullopt;
  }
  int count = 0;
  if (CUresult result = api.deviceGetCount(&count)) {
    error = describeCudaError(api, result, "cuDeviceGetCount");
    return std::nullopt;
  }
  if (ordinal < 0 || ordinal >= count) {
    error = count == 0 ? "the driver reports no devices"
                       : "no device " + std::to_string(ordinal) + " (there " +
                             (count == 1 ? "is 1" : "are " +
                                                        std::to_string(count)) +
                             ")";
    return std::nullopt;
  }
  CUdevice device = 0;
  if (CUresult result = api.deviceGet(&device, ordinal)) {
    error = describeCudaError(api, result, "cuDeviceGet");
    return std::nullopt;
  }
  CudaDevice opened;
  opened.api = api;
  opened.info.ordinal = ordinal;
  if (!queryDevice(api, device, opened.info, error))
    return std::nullopt;
  CUcontext context = nullptr;
  if (CUresult result = api.primaryCtxRetain(&context, device)) {
    error = describeCudaError(api, result, "cuDevicePrimaryCtxRetain");
    return std::nullopt;
  }
  auto release = api.primaryCtxRelease;
  opened.context = std::shared_ptr<void>(
      context, [release, device](void *) { release(device); });
  if (CUresult result = api.ctxSetCurrent(context)) {
    error = describeCudaError(api, result, "cuCtxSetCurrent");
    return std::nullopt;
  }
  return opened;
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

struct CudaModel::State {
  ~State();

  /// Allocates and zero-fills the device memory, uploads the weights.
  bool allocate(const TensorMap &weights, std::string &message);
  /// Loads each kernel's module and function.
  bool loadKernels(const CudaProgram &program, std::string &message);
  /// Encodes every launch's tensor maps over the allocated tensors.
  bool encodeTensorMaps(const CudaProgram &program, std::string &message);
  /// Issues every launch of a run on the stream.
  bool launchAll(std::string &message);
  /// Replays the graph, or issues every launch without one.
  bool issue(std::string &message) {
    return graphExec ? check(device.api.graphLaunch(graphExec, stream),
                             "cuGraphLaunch", message)
                     : launchAll(message);
  }
  /// Captures `launchAll` into `graphExec`.
  bool captureGraph(std::string &message);
  /// Fails with the driver's message for `what` unless `result` is success.
  bool check(CUresult result, const std::string &what, std::string &message) {
    if (result == kCudaSuccess)
      return true;
    message = describeCudaError(device.api, result, what);
    return false;
  }

  CudaDevice device;
  std::string path;
  Manifest manifest;
  std::vector<std::string> symbols;
  DeviceLayout layout;
  std::vector<KernelLaunch> launches;
  ModelInputs inputs;
  std::vector<HostTensor> outputs;
  CUstream stream = nullptr;
  CUdeviceptr memory = 0;
  std::vector<CUmodule> modules;
  std::vector<CUfunction> functions;
  CUgraph graph = nullptr;
  CUgraphExec graphExec = nullptr;
};

CudaModel::State::~State() {
  const CudaDriverApi &api = device.api;
  if (graphExec)
    api.graphExecDestroy(graphExec);
  if (graph)
    api.graphDestroy(graph);
  for (CUmodule module : modules)
    api.moduleUnload(module);
  if (stream)
    api.streamSynchronize(stream);
  if (memory)
    api.memFree(memory);
  if (stream)
    api.streamDestroy(stream);
}

bool CudaModel::State::allocate(const TensorMap &weights,
                                std::string &message) {
  const CudaDriverApi &api = device.api;
  if (!check(api.streamCreate(&stream, kStreamNonBlocking), "cuStreamCreate",
             message))
    return false;
  // One allocation even for a model without tensors, so `memory` is set.
  size_t bytes = std::max<uint64_t>(layout.totalBytes, kDeviceAlignment);
  if (!check(api.memAlloc(&memory, bytes),
             "cuMemAlloc of " + std::to_string(bytes) + " bytes", message) ||
      !check(api.memsetD8Async(memory, 0, bytes, stream), "cuMemsetD8Async",
             message))
    return false;
  for (const auto &[name, tensor] : weights)
    if (tensor.getByteSize() != 0 &&
        !check(api.memcpyHtoDAsync(memory + layout.weightOffsets.at(name),
                                   tensor.data(), tensor.getByteSize(), stream),
               "uploading weight '" + name + "': cuMemcpyHtoDAsync", message))
      return false;
  // The weights' host copies may go once this returns.
  return check(api.streamSynchronize(stream), "cuStreamSynchronize", message);
}

bool CudaModel::State::loadKernels(const CudaProgram &program,
                                   std::string &message) {
  const CudaDriverApi &api = device.api;
  for (const CudaKernelImage &kernel : program.kernels) {
    CUmodule module = nullptr;
    if (!check(api.moduleLoadData(&module, kernel.cubin.data()),
               "loading the cubin of kernel '" + kernel.symbol +
                   "': cuModuleLoadData",
               message))
      return false;
    modules.push_back(module);
    CUfunction function = nullptr;
    if (!check(api.moduleGetFunction(&function, module, kernel.symbol.c_str()),
               "cuModuleGetFunction('" + kernel.symbol + "')", message))
      return false;
    if (kernel.sharedBytes > kDefaultDynamicSharedBytes &&
        !check(api.funcSetAttribute(function, kFuncMaxDynamicSharedBytes,
                                    static_cast<int>(kernel.sharedBytes)),
               "cuFuncSetAttribute('" + kernel.symbol +
                   "', max dynamic shared memory)",
               message))
      return false;
    functions.push_back(function);
    symbols.push_back(kernel.symbol);
  }
  return true;
}

bool CudaModel::State::encodeTensorMaps(const CudaProgram &program,
                                        std::string &message) {
  for (size_t i = 0; i < launches.size(); ++i) {
    KernelLaunch &launch = launches[i];
    const CudaKernelImage &kernel = program.kernels[launch.kernel];
    for (size_t j = 0; j < kernel.tensorMaps.size(); ++j) {
      const CudaTensorMapSpec &spec = kernel.tensorMaps[j];
      if (!check(encodeTensorMap(device.api, spec,
                                 memory + launch.argOffsets[spec.param],
                                 launch.tensorMaps[j]),
                 "encoding tensor map " + std::to_string(j) + " of kernel '" +
                     kernel.symbol + "' (step " + std::to_string(i) +
                     "): cuTensorMapEncodeTiled",
                 message))
        return false;
    }
  }
  return true;
}

bool CudaModel::State::launchAll(std::string &message) {
  const CudaDriverApi &api = device.api;
  for (size_t i = 0; i < launches.size(); ++i) {
    const KernelLaunch &launch = launches[i];
    LaunchParams params(launch, memory);
    if (!check(api.launchKernel(functions[launch.kernel], launch.grid[0],
                                launch.grid[1], launch.grid[2],
                                launch.block[0], launch.block[1],
                                launch.block[2], launch.sharedBytes, stream,
                                params.get(), nullptr),
               "launching kernel '" + symbols[launch.kernel] + "' (step " +
                   std::to_string(i) + "): cuLaunchKernel",
               message))
      return false;
  }
  return true;
}

bool CudaModel::State::captureGraph(std::string &message) {
  const CudaDriverApi &api = device.api;
  if (!check(api.streamBeginCapture(stream, kCaptureModeThreadLocal),
             "cuStreamBeginCapture", message))
    return false;
  std::string launchError;
  bool launched = launchAll(launchError);
  // The capture is ended whatever happened, so the stream is usable again.
  CUresult ended = api.streamEndCapture(stream, &graph);
  if (!launched) {
    message = "capturing the CUDA graph: " + launchError;
    return false;
  }
  return check(ended, "cuStreamEndCapture", message) &&
         check(api.graphInstantiate(&graphExec, graph, 0),
               "cuGraphInstantiate", message);
}

std::optional<CudaModel> CudaModel::load(const CudaDevice &device,
                                         Artifact artifact,
                                         const std::string &name,
                                         const CudaLoadOptions &options,
                                         std::string &error) {
  auto state = std::make_unique<State>();
  state->device = device;
  state->path = name;
  std::string message;
  // 1. What readArtifact checks, for artifacts built in memory.
  if (!artifact.cuda) {
    message = "not compiled for CUDA (it holds CPU code)";
  } else if (!validateManifest(artifact.manifest, artifact.weights, message)) {
    message = "invalid manifest: " + message;
  } else if (!validateCudaProgram(*artifact.cuda, artifact.manifest,
                                  message)) {
    message = "invalid CUDA kernels: " + message;
  } else if (!canRunArch(device.info, artifact.cuda->arch)) {
    message = "compiled for " + artifact.cuda->arch + ", which device " +
              std::to_string(device.info.ordinal) + " (" + device.info.name +
              ", " + device.info.getArch() + ") cannot run";
  } else {
    // 2. The plan, then the device side.
    state->manifest = std::move(artifact.manifest);
    state->layout =
        planDeviceLayout(state->manifest, artifact.weights, *artifact.cuda);
    state->launches =
        buildLaunches(state->manifest, *artifact.cuda, state->layout);
    state->inputs = ModelInputs(state->manifest);
    for (const TensorSpec &spec : state->manifest.outputs)
      state->outputs.emplace_back(spec.type, spec.shape);
    if (state->allocate(artifact.weights, message) &&
        state->loadKernels(*artifact.cuda, message) &&
        state->encodeTensorMaps(*artifact.cuda, message) &&
        (!options.useGraph || state->captureGraph(message)))
      return CudaModel(std::move(state));
  }
  error = "cannot load model '" + name + "' on the GPU: " + message;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

CudaModel::CudaModel(std::unique_ptr<State> state) : state(std::move(state)) {}
CudaModel::CudaModel(CudaModel &&) noexcept = default;
CudaModel &CudaModel::operator=(CudaModel &&) noexcept = default;
CudaModel::~CudaModel() = default;

const std::vector<TensorSpec> &CudaModel::inputs() const {
  return state->manifest.inputs;
}
const std::vector<TensorSpec> &CudaModel::outputs() const {
  return state->manifest.outputs;
}
const Manifest &CudaModel::manifest() const { return state->manifest; }
bool CudaModel::usesGraph() const { return state->graphExec != nullptr; }

bool CudaModel::bindInput(size_t index, const HostTensor &tensor,
                          std::string &error) {
  return state->inputs.bind(state->manifest, index, tensor, state->path,
                            error);
}

bool CudaModel::run(std::string &error) {
  State &s = *state;
  if (!s.inputs.checkAllBound(s.manifest, s.path, error))
    return false;
  const CudaDriverApi &api = s.device.api;
  std::string message;
  bool ok = true;
  // 1. Inputs in.
  for (size_t i = 0; ok && i < s.inputs.size(); ++i)
    if (s.inputs[i].getByteSize() != 0)
      ok = s.check(api.memcpyHtoDAsync(s.memory + s.layout.inputOffsets[i],
                                       s.inputs[i].data(),
                                       s.inputs[i].getByteSize(), s.stream),
                   "copying input '" + s.manifest.inputs[i].name +
                       "' to the device: cuMemcpyHtoDAsync",
                   message);
  // 2. The kernels.
  if (ok)
    ok = s.issue(message);
  // 3. Outputs out, then wait for all of it.
  for (size_t i = 0; ok && i < s.outputs.size(); ++i)
    if (s.outputs[i].getByteSize() != 0)
      ok = s.check(api.memcpyDtoHAsync(s.outputs[i].data(),
                                       s.memory + s.layout.outputOffsets[i],
                                       s.outputs[i].getByteSize(), s.stream),
                   "copying output '" + s.manifest.outputs[i].name +
                       "' to the host: cuMemcpyDtoHAsync",
                   message);
  CUresult synced = api.streamSynchronize(s.stream);
  if (ok)
    ok = s.check(synced, "running the kernels: cuStreamSynchronize", message);
  if (!ok)
    error = "running model '" + s.path + "' failed: " + message;
  return ok;
}

bool CudaModel::launch(std::string &error) {
  std::string message;
  if (state->issue(message))
    return true;
  error = "running model '" + state->path + "' failed: " + message;
  return false;
}

CUstream CudaModel::getStream() const { return state->stream; }

const HostTensor &CudaModel::output(size_t index) const {
  return state->outputs[index];
}

} // namespace kiln::cuda
