//===- Executor.cpp - Loading and running a compiled model ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Loading reads and checks the artifact, places the code's shared object in
// an anonymous memory file (or, where there is none, a private temporary
// file) for dlopen(), and resolves every kernel. After that, every pointer a
// kernel is handed is fixed, so a run only splits tiles across the pool.
//
//===----------------------------------------------------------------------===//

#include "runtime/Executor.h"

#include "runtime/Artifact.h"
#include "runtime/KernelAbi.h"
#include "runtime/MemoryPlan.h"
#include "runtime/ThreadPool.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

namespace kiln {

namespace {
/// A dlopen()ed library, the path it was opened by and the descriptor of
/// its file.
///
/// dlopen() treats a path it has loaded before as the same library, and a
/// library linked with -z nodelete (as LLVM's build flags do by default)
/// stays loaded after dlclose(). Were the "/proc/self/fd/N" name of such a
/// library freed, the next model loaded under the same N would silently get
/// the old model's code. So the descriptor is closed only once the library
/// is really gone; otherwise it stays open and N is never reused.
class LoadedLibrary {
public:
  LoadedLibrary() = default;
  LoadedLibrary(void *handle, std::string path, int fd)
      : handle(handle), path(std::move(path)), fd(fd) {}
  LoadedLibrary(LoadedLibrary &&other) noexcept
      : handle(std::exchange(other.handle, nullptr)),
        path(std::move(other.path)), fd(std::exchange(other.fd, -1)) {}
  LoadedLibrary &operator=(LoadedLibrary &&other) noexcept {
    std::swap(handle, other.handle);
    std::swap(path, other.path);
    std::swap(fd, other.fd);
    return *this;
  }
  ~LoadedLibrary() {
    if (handle)
      dlclose(handle);
    if (fd >= 0 && !isStillLoaded())
      close(fd);
  }

  void *getHandle() const { return handle; }

private:
  bool isStillLoaded() const {
    void *probe = dlopen(path.c_str(), RTLD_NOLOAD | RTLD_LAZY);
    if (probe)
      dlclose(probe);
    return probe != nullptr;
  }

  void *handle = nullptr;
  std::string path;
  int fd = -1;
};

/// Frees memory from std::aligned_alloc.
struct FreeDeleter {
  void operator()(uint8_t *memory) const { std::free(memory); }
};
} // namespace

struct CompiledModel::State {
  /// Takes over the checked `artifact`, allocates the tensors, loads the code
  /// and starts the threads.
  bool initialize(Artifact artifact, const LoadOptions &options,
                  std::string &message);
  /// Allocates the zero-filled inputs, outputs and arena.
  bool allocateTensors(std::string &message);
  /// Fills `stepBuffers`, once every tensor is in place.
  void collectStepBuffers();

  std::string path;
  Manifest manifest;
  TensorMap weights;
  ModelInputs inputs;
  std::vector<HostTensor> outputs;
  std::unique_ptr<uint8_t, FreeDeleter> arena;
  LoadedLibrary library;
  std::vector<KilnKernelFn> kernels;
  /// Per step, the pointers its kernel is handed.
  std::vector<std::vector<void *>> stepBuffers;
  /// Per step, the seconds it took in the last run; empty before one.
  std::vector<double> stepSeconds;
  /// Declared last so that it is destroyed first: no worker outlives the
  /// code or the buffers.
  std::unique_ptr<ThreadPool> pool;
};

//===----------------------------------------------------------------------===//
// Loading the code
//===----------------------------------------------------------------------===//

static bool writeAll(int fd, const std::vector<uint8_t> &bytes,
                     std::string &message) {
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t count = write(fd, bytes.data() + written, bytes.size() - written);
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0) {
      message = std::string("cannot write the kernel code to a file (") +
                std::strerror(errno) + ")";
      return false;
    }
    written += static_cast<size_t>(count);
  }
  return true;
}

/// dlopen()s `path`, whose contents are open as `fd`; takes ownership of
/// `fd` either way.
static std::optional<LoadedLibrary> openLibrary(const std::string &path, int fd,
                                                std::string &message) {
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *reason = dlerror();
    message = std::string("cannot load the kernel code: ") +
              (reason ? reason : "unknown dlopen error");
    close(fd);
    return std::nullopt;
  }
  return LoadedLibrary(handle, path, fd);
}

/// A fresh anonymous memory file, or -1 where the system has none.
static int createMemoryFile() {
#ifdef MFD_CLOEXEC
  return memfd_create("kiln-kernels", MFD_CLOEXEC);
#else
  return -1;
#endif
}

/// Loads `code` from a private temporary file, unlinked once loaded. The
/// process id and a counter make each name new to dlopen() (see
/// LoadedLibrary).
static std::optional<LoadedLibrary>
loadFromTemporaryFile(const std::vector<uint8_t> &code, std::string &message) {
  static std::atomic<uint64_t> counter{0};
  std::string name = "kiln-kernels-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++) + "-XXXXXX";
  std::string pattern =
      (std::filesystem::temp_directory_path() / name).string();
  int fd = mkstemp(pattern.data());
  if (fd < 0) {
    message = "cannot create a temporary file for the kernel code in '" +
              pattern + "' (" + std::strerror(errno) + ")";
    return std::nullopt;
  }
  std::optional<LoadedLibrary> library;
  if (writeAll(fd, code, message))
    library = openLibrary(pattern, fd, message);
  else
    close(fd);
  unlink(pattern.c_str());
  return library;
}

/// Loads the shared object `code` without leaving it on disk.
static std::optional<LoadedLibrary>
loadLibrary(const std::vector<uint8_t> &code, std::string &message) {
  int fd = createMemoryFile();
  if (fd < 0)
    return loadFromTemporaryFile(code, message);
  if (!writeAll(fd, code, message)) {
    close(fd);
    return std::nullopt;
  }
  return openLibrary("/proc/self/fd/" + std::to_string(fd), fd, message);
}

/// Looks up every step's kernel in `library`.
static bool resolveKernels(const Manifest &manifest,
                           const LoadedLibrary &library,
                           std::vector<KilnKernelFn> &kernels,
                           std::string &message) {
  for (size_t i = 0; i < manifest.steps.size(); ++i) {
    const Step &step = manifest.steps[i];
    void *symbol = dlsym(library.getHandle(), step.symbol.c_str());
    if (!symbol) {
      message = "step " + std::to_string(i) + " ('" + step.kernel +
                "'): the kernel code has no symbol '" + step.symbol + "'";
      return false;
    }
    kernels.push_back(reinterpret_cast<KilnKernelFn>(symbol));
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

std::optional<CompiledModel> CompiledModel::load(const std::string &path,
                                                 const LoadOptions &options,
                                                 std::string &error) {
  std::optional<Artifact> artifact = readArtifact(path, error);
  if (!artifact)
    return std::nullopt;
  return load(std::move(*artifact), path, options, error);
}

std::optional<CompiledModel> CompiledModel::load(Artifact artifact,
                                                 const std::string &name,
                                                 const LoadOptions &options,
                                                 std::string &error) {
  std::string message;
  if (options.numThreads < 0) {
    message = "the thread count " + std::to_string(options.numThreads) +
              " is negative";
  } else if (!validateManifest(artifact.manifest, artifact.weights, message)) {
    message = "invalid manifest: " + message;
  } else if (artifact.cuda) {
    message = "it is compiled for CUDA (" + artifact.cuda->arch +
              "), not for the CPU";
  } else if (artifact.code.empty()) {
    message = "the code section is empty";
  } else {
    try {
      auto state = std::make_unique<State>();
      state->path = name;
      if (state->initialize(std::move(artifact), options, message))
        return CompiledModel(std::move(state));
    } catch (const std::exception &e) {
      // Allocation failures, and a system that cannot start a thread.
      message = std::string("unexpected error: ") + e.what();
    }
  }
  error = "failed to load model '" + name + "': " + message;
  return std::nullopt;
}

bool CompiledModel::State::initialize(Artifact artifact,
                                      const LoadOptions &options,
                                      std::string &message) {
  manifest = std::move(artifact.manifest);
  weights = std::move(artifact.weights);
  if (!allocateTensors(message))
    return false;
  std::optional<LoadedLibrary> loaded = loadLibrary(artifact.code, message);
  if (!loaded)
    return false;
  library = std::move(*loaded);
  if (!resolveKernels(manifest, library, kernels, message))
    return false;
  collectStepBuffers();
  stepSeconds.reserve(manifest.steps.size());
  pool = std::make_unique<ThreadPool>(options.numThreads);
  return true;
}

bool CompiledModel::State::allocateTensors(std::string &message) {
  inputs = ModelInputs(manifest);
  for (const TensorSpec &spec : manifest.outputs)
    outputs.emplace_back(spec.type, spec.shape);
  if (manifest.arenaBytes == 0)
    return true;
  // aligned_alloc needs a multiple of the alignment.
  size_t size =
      static_cast<size_t>((manifest.arenaBytes + kArenaAlignment - 1) /
                          kArenaAlignment * kArenaAlignment);
  arena.reset(
      static_cast<uint8_t *>(std::aligned_alloc(kArenaAlignment, size)));
  if (!arena) {
    message = "cannot allocate the " + std::to_string(size) + "-byte arena";
    return false;
  }
  return true;
}

void CompiledModel::State::collectStepBuffers() {
  std::map<int64_t, int64_t> offsets;
  for (const BufferSpec &buffer : manifest.buffers)
    offsets[buffer.id] = buffer.offset;
  for (const Step &step : manifest.steps) {
    std::vector<void *> pointers;
    for (const StepArg &arg : step.args) {
      switch (arg.kind) {
      case StepArgKind::Input:
        pointers.push_back(inputs[arg.index].data());
        break;
      case StepArgKind::Output:
        pointers.push_back(outputs[arg.index].data());
        break;
      case StepArgKind::Weight:
        // Kernels take every argument as void *; they never write weights.
        pointers.push_back(weights.at(arg.name).data());
        break;
      case StepArgKind::Buffer:
        pointers.push_back(arena.get() + offsets.at(arg.index));
        break;
      }
    }
    stepBuffers.push_back(std::move(pointers));
  }
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

CompiledModel::CompiledModel(std::unique_ptr<State> state)
    : state(std::move(state)) {}
CompiledModel::CompiledModel(CompiledModel &&) noexcept = default;
CompiledModel &CompiledModel::operator=(CompiledModel &&) noexcept = default;
CompiledModel::~CompiledModel() = default;

const std::vector<TensorSpec> &CompiledModel::inputs() const {
  return state->manifest.inputs;
}

const std::vector<TensorSpec> &CompiledModel::outputs() const {
  return state->manifest.outputs;
}

const Manifest &CompiledModel::manifest() const { return state->manifest; }

int CompiledModel::numThreads() const { return state->pool->getNumThreads(); }

ModelInputs::ModelInputs(const Manifest &manifest) {
  for (const TensorSpec &spec : manifest.inputs)
    tensors.emplace_back(spec.type, spec.shape);
  bound.assign(tensors.size(), false);
}

bool ModelInputs::bind(const Manifest &manifest, size_t index,
                       const HostTensor &tensor, const std::string &name,
                       std::string &error) {
  const std::vector<TensorSpec> &specs = manifest.inputs;
  if (index >= specs.size()) {
    error = "model '" + name + "' has no input " + std::to_string(index) +
            " (it has " + std::to_string(specs.size()) + ")";
    return false;
  }
  const TensorSpec &spec = specs[index];
  if (tensor.getElementType() != spec.type || tensor.getShape() != spec.shape) {
    error = "input '" + spec.name + "' of model '" + name + "' expects " +
            formatTensorType(spec.type, spec.shape) + ", got " +
            formatTensorType(tensor.getElementType(), tensor.getShape());
    return false;
  }
  if (tensor.getByteSize() != 0)
    std::memcpy(tensors[index].data(), tensor.data(), tensor.getByteSize());
  bound[index] = true;
  return true;
}

bool ModelInputs::checkAllBound(const Manifest &manifest,
                                const std::string &name,
                                std::string &error) const {
  for (size_t i = 0; i < bound.size(); ++i)
    if (!bound[i]) {
      error = "cannot run model '" + name + "': input '" +
              manifest.inputs[i].name + "' is not bound";
      return false;
    }
  return true;
}

bool CompiledModel::bindInput(size_t index, const HostTensor &tensor,
                              std::string &error) {
  return state->inputs.bind(state->manifest, index, tensor, state->path,
                            error);
}

bool CompiledModel::run(std::string &error) {
  if (!state->inputs.checkAllBound(state->manifest, state->path, error))
    return false;
  using Clock = std::chrono::steady_clock;
  state->stepSeconds.clear();
  for (size_t i = 0; i < state->manifest.steps.size(); ++i) {
    const Step &step = state->manifest.steps[i];
    KilnKernelFn kernel = state->kernels[i];
    void *const *buffers = state->stepBuffers[i].data();
    Clock::time_point start = Clock::now();
    state->pool->parallelFor(step.tiles, [=](int64_t begin, int64_t end) {
      kernel(buffers, begin, end);
    });
    std::chrono::duration<double> elapsed = Clock::now() - start;
    state->stepSeconds.push_back(elapsed.count());
  }
  return true;
}

const HostTensor &CompiledModel::output(size_t index) const {
  assert(index < state->outputs.size() && "output index out of range");
  return state->outputs[index];
}

std::vector<StepTiming> CompiledModel::lastRunTimings() const {
  std::vector<StepTiming> timings;
  for (size_t i = 0; i < state->stepSeconds.size(); ++i)
    timings.push_back({state->manifest.steps[i].kernel, state->stepSeconds[i]});
  return timings;
}

} // namespace kiln
