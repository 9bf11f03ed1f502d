//===- Trial.cpp - One candidate compiled, checked and timed ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Trial.h"

#include "autotune/Worker.h"
#include "codegen/CPU/LoadKernel.h"
#include "codegen/CPU/Patterns.h"
#include "compiler/Compiler.h"
#include "compiler/CudaKernels.h"
#include "reference/Compare.h"
#include "reference/Evaluator.h"
#include "runtime/CUDA/CudaModel.h"
#include "runtime/CUDA/EventTimer.h"
#include "runtime/Safetensors.h"
#include "runtime/ThreadPool.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>

using namespace mlir;

namespace kiln::autotune {

LogicalResult writeTrialData(func::FuncOp kernel, const std::string &path,
                             uint64_t seed) {
  FailureOr<std::vector<HostTensor>> inputs =
      reference::makeSeededInputs(kernel, seed);
  if (failed(inputs))
    return failure();
  FailureOr<std::vector<HostTensor>> expected =
      reference::evaluate(kernel, *inputs, /*weights=*/{});
  if (failed(expected))
    return failure();
  TensorMap tensors;
  for (auto [i, input] : llvm::enumerate(*inputs))
    tensors["in" + std::to_string(i)] = std::move(input);
  for (auto [i, result] : llvm::enumerate(*expected))
    tensors["out" + std::to_string(i)] = std::move(result);
  std::string error;
  if (!writeSafetensors(path, tensors, error))
    return kernel.emitError("cannot write the trial data: ") << error;
  return success();
}

/// The answer of a trial that did not get to timing.
static std::string failAnswer(TrialStatus status, const std::string &reason) {
  return nlohmann::json{{"status", getTrialStatusName(status)},
                        {"reason", reason}}
      .dump();
}

/// Does what `fault` asks for; WrongResult perturbs `result` instead.
static void injectFault(InjectedFault fault, HostTensor &result) {
  switch (fault) {
  case InjectedFault::None:
    return;
  case InjectedFault::Crash:
    std::raise(SIGSEGV);
    return;
  case InjectedFault::Hang:
    for (volatile bool forever = true; forever;)
      ;
    return;
  case InjectedFault::WrongResult:
    result.setFloat(0, result.getFloat(0) + 1.0f);
    return;
  case InjectedFault::OutOfMemory: {
    // Touch every page, as a kernel writing out of bounds of a huge
    // allocation would, until the limit stops it.
    std::vector<std::unique_ptr<char[]>> hoard;
    for (;;) {
      hoard.emplace_back(new char[64 << 20]);
      std::fill_n(hoard.back().get(), 64 << 20, 1);
    }
  }
  }
}

//===----------------------------------------------------------------------===//
// What every trial shares
//===----------------------------------------------------------------------===//

namespace {
/// The kernel modules, parsed in one context of their own whose
/// diagnostics are collected, and the trial data.
struct TrialInputs {
  TrialInputs() {
    DialectRegistry registry;
    cpu::registerCpuCodegenDialects(registry);
    context.appendDialectRegistry(registry);
  }

  MLIRContext context;
  std::string diagnostics;
  ScopedDiagnosticHandler handler{&context, [this](Diagnostic &diagnostic) {
                                    if (!diagnostics.empty())
                                      diagnostics += "; ";
                                    diagnostics += diagnostic.str();
                                    return success();
                                  }};
  std::vector<OwningOpRef<ModuleOp>> modules;
  TensorMap data;
};
} // namespace

/// Reads the kernel modules and the trial data of `options` into `inputs`;
/// the failure answer when it cannot.
static std::optional<std::string> readTrialInputs(const TrialOptions &options,
                                                  TrialInputs &inputs) {
  for (const std::string &path : options.kernelPaths) {
    inputs.modules.push_back(parseSourceFile<ModuleOp>(path, &inputs.context));
    if (!inputs.modules.back())
      return failAnswer(TrialStatus::Failed,
                        "cannot parse '" + path + "': " + inputs.diagnostics);
  }
  std::string error;
  std::optional<TensorMap> data = readSafetensors(options.dataPath, error);
  if (!data)
    return failAnswer(TrialStatus::Failed, error);
  inputs.data = std::move(*data);
  return std::nullopt;
}

/// The trial data's tensors named `prefix`<i>, i = 0, 1, ... in order.
static std::vector<HostTensor *> getTensors(TensorMap &data,
                                            const std::string &prefix) {
  std::vector<HostTensor *> tensors;
  for (int i = 0; data.count(prefix + std::to_string(i)); ++i)
    tensors.push_back(&data.at(prefix + std::to_string(i)));
  return tensors;
}

/// The failure answer when the kernel takes `params` tensors and the trial
/// data holds another number.
static std::optional<std::string> checkTensorCount(size_t tensors,
                                                   int64_t params) {
  if (static_cast<int64_t>(tensors) == params)
    return std::nullopt;
  return failAnswer(TrialStatus::Failed,
                    "the trial data has " + std::to_string(tensors) +
                        " tensors, the kernel takes " + std::to_string(params));
}

/// Injects the fault `options` asks for, then compares `results` with the
/// trial data's expected outputs; the wrong-result answer when one differs.
static std::optional<std::string> checkResults(const TrialOptions &options,
                                               std::vector<HostTensor> &results,
                                               TensorMap &data) {
  if (!results.empty())
    injectFault(options.fault, results[0]);
  std::vector<HostTensor *> expected = getTensors(data, "out");
  for (auto [i, result] : llvm::enumerate(results)) {
    reference::Comparison comparison = reference::compareTensors(
        result, *expected[i],
        reference::getCancellationTolerance(*expected[i]));
    if (!comparison.passed())
      return failAnswer(
          TrialStatus::WrongResult,
          "result " + std::to_string(i) + ": " +
              (comparison.typeMismatch.empty()
                   ? std::to_string(comparison.mismatches) +
                         " elements differ, first at " +
                         std::to_string(comparison.firstMismatch) +
                         ", max abs error " +
                         std::to_string(comparison.maxAbsError)
                   : comparison.typeMismatch));
  }
  return std::nullopt;
}

/// The answer of a candidate timed as `measured`.
static std::string timedAnswer(const Measurement &measured) {
  nlohmann::json answer = summaryToJson(measured.summary);
  answer["status"] = "ok";
  answer["stable"] = measured.stable;
  answer["remeasured"] = measured.remeasured;
  if (measured.remeasured)
    answer["discarded"] = summaryToJson(measured.discarded);
  return answer.dump();
}

//===----------------------------------------------------------------------===//
// The CPU trial
//===----------------------------------------------------------------------===//

namespace {
/// A candidate of a CPU trial, loaded, with the buffers it is called on
/// (the trial data's inputs, then its own results).
struct CpuCandidate {
  cpu::LoadedKernel kernel;
  std::vector<HostTensor> results;
  std::vector<void *> buffers;
};
} // namespace

/// Runs `candidate` once over its tiles on `pool`.
static void runCpuCandidate(const CpuCandidate &candidate, ThreadPool &pool) {
  pool.parallelFor(candidate.kernel.getInfo().tileCount,
                   [&](int64_t begin, int64_t end) {
                     candidate.kernel(candidate.buffers.data(), begin, end);
                   });
}

/// Compiles `module` into `path`, loads it into `candidate` and checks its
/// results on the trial data; its failure answer when it may not be timed.
static std::optional<std::string>
prepareCpuCandidate(const TrialOptions &options, TrialInputs &inputs,
                    ModuleOp module, const std::string &path, ThreadPool &pool,
                    CpuCandidate &candidate) {
  // 1. Compile and load.
  inputs.diagnostics.clear();
  FailureOr<cpu::LoadedKernel> kernel =
      cpu::compileAndLoadKernel(module, options.target, path);
  if (failed(kernel))
    return failAnswer(TrialStatus::CompileError, inputs.diagnostics);
  candidate.kernel = std::move(*kernel);
  for (HostTensor *input : getTensors(inputs.data, "in"))
    candidate.buffers.push_back(input->data());
  for (HostTensor *expected : getTensors(inputs.data, "out"))
    candidate.results.emplace_back(expected->getElementType(),
                                   expected->getShape());
  for (HostTensor &result : candidate.results)
    candidate.buffers.push_back(result.data());
  if (std::optional<std::string> answer = checkTensorCount(
          candidate.buffers.size(), candidate.kernel.getInfo().numBuffers))
    return answer;

  // 2. Correct first.
  runCpuCandidate(candidate, pool);
  return checkResults(options, candidate.results, inputs.data);
}

/// Compiles and checks each kernel of `inputs`, then times those that
/// compute the right result on a thread pool: one alone, several side by
/// side, so that this process's own speed, which differs by a few percent
/// from one process to the next, weighs on all of them alike.
static std::vector<std::string> runCpuTrial(const TrialOptions &options,
                                            TrialInputs &inputs) {
  ThreadPool pool(options.threads);
  std::vector<std::string> answers(inputs.modules.size());
  std::vector<CpuCandidate> candidates(inputs.modules.size());
  std::vector<size_t> timed;
  for (auto [i, module] : llvm::enumerate(inputs.modules)) {
    std::string path =
        options.workDirectory + "/candidate" + std::to_string(i) + ".so";
    if (std::optional<std::string> answer = prepareCpuCandidate(
            options, inputs, *module, path, pool, candidates[i]))
      answers[i] = *answer;
    else
      timed.push_back(i);
  }
  if (timed.empty())
    return answers;

  // 3. Then timed, each call meeting its inputs cold, as a model's kernel
  // meets its weights. Back to back, 128x768x3072's 9 MiB rhs stayed in
  // the L3, and a config that rereads it unpacked won at 2.53 ms, then took
  // 3.0-3.1 ms beside the peers, 5-8% slower than the default.
  std::vector<HostTensor *> in = getTensors(inputs.data, "in");
  MeasureOptions measureOptions = options.measure;
  measureOptions.beforeEachCall = [&] {
    for (HostTensor *input : in)
      evictFromCaches(input->data(), input->getByteSize());
  };
  std::vector<std::function<void()>> works;
  for (size_t i : timed)
    works.push_back([&, i] { runCpuCandidate(candidates[i], pool); });
  SteadyClock clock;
  std::vector<Measurement> measured =
      works.size() == 1 ? std::vector<Measurement>{measure(
                              works.front(), measureOptions, clock)}
                        : measureSideBySide(works, measureOptions, clock);
  for (auto [i, measurement] : llvm::zip_equal(timed, measured))
    answers[i] = timedAnswer(measurement);
  return answers;
}

//===----------------------------------------------------------------------===//
// The CUDA trial
//===----------------------------------------------------------------------===//

namespace {
/// The timing loop's clock on the GPU: the device time of the stream's work,
/// summed over the timer's laps. A driver error stops the clock (the loop
/// then ends at its sample limit) and is kept for the caller.
class DeviceClock : public Clock {
public:
  explicit DeviceClock(cuda::CudaEventTimer &timer) : timer(timer) {}

  double now() override {
    double seconds = 0;
    if (error.empty() && timer.lap(seconds, error))
      elapsed += seconds;
    return elapsed;
  }

  std::string error;

private:
  cuda::CudaEventTimer &timer;
  double elapsed = 0;
};
} // namespace

/// The answer of a CUDA trial whose runtime call failed with `error`: out
/// of memory when the device could not hold it, otherwise `status`.
static std::string deviceFailAnswer(TrialStatus status,
                                    const std::string &error) {
  return failAnswer(
      cuda::reportsCudaOutOfMemory(error) ? TrialStatus::OutOfMemory : status,
      error);
}

/// A model of the one kernel of `program` over the trial data's tensors:
/// inputs "in<i>" and outputs "out<j>", passed in that order in one step.
static Artifact makeKernelModel(CudaProgram program, TensorMap &data) {
  Artifact artifact;
  Manifest &manifest = artifact.manifest;
  Step step;
  step.kernel = step.symbol = program.kernels.front().symbol;
  for (auto [kind, prefix, specs] :
       {std::tuple{StepArgKind::Input, "in", &manifest.inputs},
        std::tuple{StepArgKind::Output, "out", &manifest.outputs}})
    for (HostTensor *tensor : getTensors(data, prefix)) {
      step.args.push_back({kind, static_cast<int64_t>(specs->size()), ""});
      specs->push_back({prefix + std::to_string(specs->size()),
                        tensor->getElementType(), tensor->getShape()});
    }
  manifest.steps.push_back(std::move(step));
  artifact.cuda = std::move(program);
  return artifact;
}

std::string runCudaTrial(const TrialOptions &options,
                         const cuda::CudaDevice &device) {
  if (options.kernelPaths.size() != 1)
    return failAnswer(TrialStatus::Failed,
                      "a GPU trial times one kernel module, not " +
                          std::to_string(options.kernelPaths.size()));
  TrialInputs inputs;
  if (std::optional<std::string> answer = readTrialInputs(options, inputs))
    return *answer;
  ModuleOp module = *inputs.modules.front();

  // 1. Generate, compile with NVRTC and load as a one-kernel model.
  compiler::setDefaultCudaConfigs(module, options.target);
  std::vector<std::string> sources;
  FailureOr<CudaProgram> program = compiler::compileCudaKernels(
      module, options.target, options.nvrtc, sources);
  if (failed(program))
    return failAnswer(TrialStatus::CompileError, inputs.diagnostics);
  if (program->kernels.size() != 1)
    return failAnswer(TrialStatus::Failed,
                      "expected one kernel in '" + options.kernelPaths[0] +
                          "', found " +
                          std::to_string(program->kernels.size()));
  std::vector<HostTensor *> in = getTensors(inputs.data, "in");
  if (std::optional<std::string> answer =
          checkTensorCount(in.size() + getTensors(inputs.data, "out").size(),
                           program->kernels.front().numParams))
    return *answer;
  std::string error;
  std::optional<cuda::CudaModel> model = cuda::CudaModel::load(
      device, makeKernelModel(std::move(*program), inputs.data),
      options.kernelPaths[0], cuda::CudaLoadOptions(), error);
  if (!model)
    return deviceFailAnswer(TrialStatus::CompileError, error);

  // 2. Correct first: the inputs in, one run, the outputs back.
  for (auto [i, input] : llvm::enumerate(in))
    if (!model->bindInput(i, *input, error))
      return failAnswer(TrialStatus::Failed, error);
  if (!model->run(error))
    return deviceFailAnswer(TrialStatus::Crashed, error);
  std::vector<HostTensor> results;
  for (size_t i = 0; i < model->outputs().size(); ++i)
    results.push_back(model->output(i));
  if (std::optional<std::string> answer =
          checkResults(options, results, inputs.data))
    return *answer;

  // 3. Then timed by the device's clock, the kernel alone.
  std::optional<cuda::CudaEventTimer> timer =
      cuda::CudaEventTimer::create(device.api, model->getStream(), error);
  if (!timer)
    return failAnswer(TrialStatus::Failed, error);
  DeviceClock clock(*timer);
  std::string launchError;
  Measurement measured = measure(
      [&] {
        if (launchError.empty())
          model->launch(launchError);
      },
      options.measure, clock);
  if (!launchError.empty() || !clock.error.empty())
    return deviceFailAnswer(TrialStatus::Crashed,
                            launchError.empty() ? clock.error : launchError);
  return timedAnswer(measured);
}

//===----------------------------------------------------------------------===//
// The worker's entry
//===----------------------------------------------------------------------===//

std::vector<std::string> runTrial(const TrialOptions &options) {
  if (compiler::isCudaTarget(options.target)) {
    std::string error;
    std::optional<cuda::CudaDriverApi> api =
        cuda::loadCudaDriver(options.cudaDriver, error);
    std::optional<cuda::CudaDevice> device =
        api ? cuda::openCudaDevice(*api, /*ordinal=*/0, error) : std::nullopt;
    if (!device)
      return {failAnswer(TrialStatus::Failed, "no CUDA device: " + error)};
    return {runCudaTrial(options, *device)};
  }
  TrialInputs inputs;
  if (std::optional<std::string> answer = readTrialInputs(options, inputs))
    return std::vector<std::string>(options.kernelPaths.size(), *answer);
  return runCpuTrial(options, inputs);
}

} // namespace kiln::autotune
