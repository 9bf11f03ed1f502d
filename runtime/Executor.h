//===- Executor.h - Loading and running a compiled model --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The runtime's C++ API:
//
//   std::string error;
//   auto model = CompiledModel::load("model.kiln", LoadOptions(), error);
//   if (!model || !model->bindInput(0, image, error) || !model->run(error))
//     report(error);
//   const HostTensor &logits = model->output(0);
//
// A model's code is trusted: loading an artifact runs its shared object's
// initializers, and its kernels run in this process. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_EXECUTOR_H_
#define KILN_RUNTIME_EXECUTOR_H_

#include "runtime/Artifact.h"
#include "runtime/HostTensor.h"
#include "runtime/Manifest.h"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

struct LoadOptions {
  /// Threads that share each kernel, the calling thread included; 0 means
  /// one per hardware thread.
  int numThreads = 0;
};

/// How long one step of the last run took.
struct StepTiming {
  /// The kernel's display name.
  std::string kernel;
  double seconds = 0;
};

/// A loaded model's inputs on the host: a tensor per manifest input, and
/// which have been bound. Shared by the CPU and GPU models.
class ModelInputs {
public:
  ModelInputs() = default;
  /// Zero-filled tensors of the inputs of `manifest`, none bound.
  explicit ModelInputs(const Manifest &manifest);

  /// Copies `tensor` in as input `index` of `manifest`, the model named
  /// `name`, after checking that the input exists and that its element type
  /// and shape are the tensor's. On failure returns false and sets `error`
  /// naming the input and the expected and actual types.
  bool bind(const Manifest &manifest, size_t index, const HostTensor &tensor,
            const std::string &name, std::string &error);
  /// True when every input is bound; else sets `error` naming the first
  /// unbound one.
  bool checkAllBound(const Manifest &manifest, const std::string &name,
                     std::string &error) const;

  size_t size() const { return tensors.size(); }
  HostTensor &operator[](size_t index) { return tensors[index]; }
  const HostTensor &operator[](size_t index) const { return tensors[index]; }

private:
  std::vector<HostTensor> tensors;
  std::vector<bool> bound;
};

/// A loaded model: its kernels, weights, arena and thread pool. Movable, not
/// copyable. Not safe to use from several threads at once.
class CompiledModel {
public:
  /// Loads the artifact at `path` (see `readArtifact`), loads its code and
  /// looks up every step's kernel. On failure returns std::nullopt and sets
  /// `error` to one message naming the file and what is wrong. Never throws.
  static std::optional<CompiledModel>
  load(const std::string &path, const LoadOptions &options, std::string &error);

  /// Loads `artifact`, held in memory (a model compiled in this process),
  /// after checking it as `readArtifact` checks a file; `name` stands for
  /// the file in messages. On failure returns std::nullopt and sets `error`.
  /// Never throws.
  static std::optional<CompiledModel> load(Artifact artifact,
                                           const std::string &name,
                                           const LoadOptions &options,
                                           std::string &error);

  CompiledModel(CompiledModel &&) noexcept;
  CompiledModel &operator=(CompiledModel &&) noexcept;
  ~CompiledModel();

  const std::vector<TensorSpec> &inputs() const;
  const std::vector<TensorSpec> &outputs() const;
  /// The whole manifest, for reports: kernels, fused ops, FLOPs, bytes and
  /// the memory plan.
  const Manifest &manifest() const;
  /// The threads that share each kernel, the calling thread included.
  int numThreads() const;

  /// Copies `tensor` in as input `index`. Fails, leaving the input as it
  /// was, unless the index exists and the tensor's element type and shape
  /// match the input's exactly; `error` then names the input and the
  /// expected and actual types.
  bool bindInput(size_t index, const HostTensor &tensor, std::string &error);

  /// Runs the steps in order, each kernel's tiles split across the threads.
  /// Fails, running nothing, while an input is unbound.
  bool run(std::string &error);

  /// Output `index` as the last successful run left it (zeros before one).
  /// Requires index < outputs().size().
  const HostTensor &output(size_t index) const;

  /// One entry per step of the last successful run, in order; empty before
  /// one.
  std::vector<StepTiming> lastRunTimings() const;

private:
  struct State;

  explicit CompiledModel(std::unique_ptr<State> state);

  /// Behind a pointer so that moving a model never moves the buffers its
  /// kernels are handed, and the header needs no system headers.
  std::unique_ptr<State> state;
};

} // namespace kiln

#endif // KILN_RUNTIME_EXECUTOR_H_
