//===- Tuner.cpp - Tuning one kernel end to end ----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Tuner.h"

#include "autotune/CostModel.h"
#include "autotune/KernelSignature.h"
#include "autotune/Trial.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;

namespace kiln::autotune {

TuningKey getTuningKey(func::FuncOp kernel, const TunerOptions &options) {
  return {getKernelSignature(kernel), options.fingerprint,
          options.compilerVersion};
}

CpuConfigAttr findTunedConfig(func::FuncOp kernel,
                              const std::string &fingerprint,
                              const std::string &compilerVersion,
                              TuningDatabase &database) {
  std::optional<TuningRecord> record = database.lookup(
      {getKernelSignature(kernel), fingerprint, compilerVersion});
  if (!record)
    return {};
  Attribute parsed;
  {
    // The parser's own diagnostics would read as errors of the model.
    ScopedDiagnosticHandler silence(kernel.getContext(),
                                    [](Diagnostic &) { return success(); });
    parsed = parseAttribute(record->config, kernel.getContext());
  }
  if (auto config = dyn_cast_or_null<CpuConfigAttr>(parsed))
    return config;
  kernel.emitWarning("ignoring the tuned config of kernel '")
      << kernel.getSymName() << "' in '" << database.getPath()
      << "': not a CPU config ('" << record->config << "')";
  return {};
}

/// The attribute's text, as the database stores it.
static std::string printConfig(CpuConfigAttr config) {
  std::string text;
  llvm::raw_string_ostream os(text);
  Attribute(config).print(os);
  return text;
}

/// Writes a module holding a copy of `kernel` with `config` to `path`.
static LogicalResult writeCandidate(func::FuncOp kernel, CpuConfigAttr config,
                                    const std::string &path) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(kernel.getLoc());
  OpBuilder builder(module->getBodyRegion());
  auto copy = cast<func::FuncOp>(builder.clone(*kernel));
  copy->setAttr(CpuConfigAttr::kAttrName, config);
  std::error_code code;
  llvm::raw_fd_ostream os(path, code);
  if (code)
    return kernel.emitError("cannot write '")
           << path << "': " << code.message();
  module->print(os);
  return success();
}

namespace {
/// A scratch folder, removed with everything in it at the end of scope.
class ScratchFolder {
public:
  ScratchFolder() {
    llvm::SmallString<128> created;
    if (!llvm::sys::fs::createUniqueDirectory("kiln-tune", created))
      path = created.str().str();
  }
  ~ScratchFolder() {
    if (!path.empty())
      llvm::sys::fs::remove_directories(path);
  }
  std::string path;
};
} // namespace

FailureOr<KernelTuning> tuneKernel(func::FuncOp kernel,
                                   const TunerOptions &options,
                                   TuningDatabase &database) {
  SteadyClock clock;
  double start = clock.now();
  KernelTuning tuning;
  tuning.kernel = kernel.getSymName().str();
  TuningKey key = getTuningKey(kernel, options);
  tuning.signature = key.signature;

  // 1. A cached tuning.
  if (std::optional<TuningRecord> record = database.lookup(key)) {
    tuning.cached = true;
    tuning.config = record->config;
    tuning.defaultSeconds = record->defaultSeconds;
    tuning.tunedSeconds = record->medianSeconds;
    tuning.trials = record->trials;
    return tuning;
  }

  // 2. The space, its legal candidates and the default among them.
  SearchSpace space = buildSearchSpace(
      kernel, options.target, getSpaceLimits(options.target, options.l2Bytes));
  std::vector<Candidate> legal =
      enumerateCandidates(space, kernel, /*limit=*/1 << 20);
  tuning.spaceSize = space.getSize();
  tuning.legalCandidates = static_cast<int64_t>(legal.size());
  std::optional<Candidate> base = getBaseCandidate(space);

  // 3. The trial data, once.
  ScratchFolder scratch;
  if (scratch.path.empty())
    return kernel.emitError("cannot create a folder for the tuning trials");
  std::string dataPath = scratch.path + "/data.safetensors";
  if (failed(writeTrialData(kernel, dataPath, options.seed)))
    return failure();

  // 4. Search, each candidate in a worker.
  int64_t written = 0;
  auto measure = [&](const Candidate &candidate) {
    std::string kernelPath =
        scratch.path + "/candidate" + std::to_string(written++) + ".mlir";
    if (failed(writeCandidate(kernel, applyCandidate(space, candidate),
                              kernelPath)))
      return TrialResult{TrialStatus::Failed, "cannot write the candidate"};
    WorkerOptions worker;
    worker.command = {options.workerPath,
                      "--kernel",
                      kernelPath,
                      "--data",
                      dataPath,
                      "--work-dir",
                      scratch.path,
                      "--target",
                      options.target.name,
                      "--threads",
                      std::to_string(options.threads),
                      "--max-seconds",
                      std::to_string(options.measureSeconds)};
    worker.command.insert(worker.command.end(), options.workerArguments.begin(),
                          options.workerArguments.end());
    worker.timeoutSeconds = options.trialTimeoutSeconds;
    worker.memoryLimitBytes = options.workerMemoryBytes;
    return runWorker(worker);
  };
  auto predict = [&](const Candidate &candidate) {
    return predictSeconds(space, candidate, options.peaks);
  };
  std::vector<Candidate> first;
  if (base)
    first.push_back(*base);
  SearchResult result =
      search(legal, first, predict, measure, options.search, clock);
  tuning.trials = static_cast<int64_t>(result.trials.size());
  for (const SearchTrial &trial : result.trials)
    if (!trial.result.ok())
      tuning.failures.push_back(
          {printConfig(applyCandidate(space, trial.candidate)), trial.result});
  tuning.wallSeconds = clock.now() - start;
  if (!result.best) {
    InFlightDiagnostic error =
        kernel.emitError("no candidate config of kernel '")
        << tuning.kernel << "' compiled and computed the right result ("
        << tuning.trials << " tried";
    if (!tuning.failures.empty())
      error << "; the first "
            << getTrialStatusName(tuning.failures[0].result.status) << ": "
            << tuning.failures[0].result.reason;
    return error << ")";
  }

  // 5. The best, stored with its baseline.
  const SearchTrial &best = result.trials[*result.best];
  tuning.config = printConfig(applyCandidate(space, best.candidate));
  tuning.tunedSeconds = best.result.seconds.median;
  if (!result.trials.empty() && base && result.trials[0].result.ok())
    tuning.defaultSeconds = result.trials[0].result.seconds.median;
  TuningRecord record;
  record.key = key;
  record.kernel = tuning.kernel;
  record.config = tuning.config;
  record.medianSeconds = tuning.tunedSeconds;
  record.iqrSeconds = best.result.seconds.q3 - best.result.seconds.q1;
  record.samples = best.result.seconds.count;
  record.defaultSeconds = tuning.defaultSeconds;
  record.trials = tuning.trials;
  std::string error;
  database.put(record, error);
  if (!error.empty())
    return kernel.emitError(error);
  return tuning;
}

} // namespace kiln::autotune
