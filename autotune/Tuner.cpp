//===- Tuner.cpp - Tuning one kernel end to end ----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Tuner.h"

#include "autotune/CostModel.h"
#include "autotune/KernelSignature.h"
#include "autotune/Trial.h"
#include "runtime/ThreadPool.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kiln::autotune {

TuningKey getTuningKey(func::FuncOp kernel, const TunerOptions &options) {
  return {getKernelSignature(kernel), options.fingerprint,
          options.compilerVersion, options.threads};
}

/// The config of kind `Config` stored for `kernel`, parsed in its context;
/// null when none is stored, and with a warning when the stored text is not
/// a `kind` config.
template <typename Config>
static Config findStoredConfig(func::FuncOp kernel, const TuningKey &key,
                               TuningDatabase &database, StringRef kind) {
  std::optional<TuningRecord> record = database.lookup(key);
  if (!record)
    return {};
  Attribute parsed;
  {
    // The parser's own diagnostics would read as errors of the model.
    ScopedDiagnosticHandler silence(kernel.getContext(),
                                    [](Diagnostic &) { return success(); });
    parsed = parseAttribute(record->config, kernel.getContext());
  }
  if (auto config = dyn_cast_or_null<Config>(parsed))
    return config;
  kernel.emitWarning("ignoring the tuned config of kernel '")
      << kernel.getSymName() << "' in '" << database.getPath() << "': not a "
      << kind << " config ('" << record->config << "')";
  return {};
}

CpuConfigAttr findTunedConfig(func::FuncOp kernel,
                              const std::string &fingerprint,
                              const std::string &compilerVersion,
                              int64_t threads, TuningDatabase &database) {
  return findStoredConfig<CpuConfigAttr>(
      kernel,
      {getKernelSignature(kernel), fingerprint, compilerVersion, threads},
      database, "CPU");
}

CudaConfigAttr findTunedCudaConfig(func::FuncOp kernel,
                                   const std::string &fingerprint,
                                   const std::string &compilerVersion,
                                   TuningDatabase &database) {
  return findStoredConfig<CudaConfigAttr>(kernel,
                                          {getKernelSignature(kernel),
                                           fingerprint, compilerVersion,
                                           kCudaTuningThreads},
                                          database, "CUDA");
}

/// The attribute's text, as the database stores it.
static std::string printConfig(Attribute config) {
  std::string text;
  llvm::raw_string_ostream os(text);
  config.print(os);
  return text;
}

/// Writes a module holding a copy of `kernel` with `config` (a CPU or a
/// CUDA config) to `path`.
static LogicalResult writeCandidate(func::FuncOp kernel, Attribute config,
                                    const std::string &path) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(kernel.getLoc());
  OpBuilder builder(module->getBodyRegion());
  auto copy = cast<func::FuncOp>(builder.clone(*kernel));
  copy->setAttr(isa<CudaConfigAttr>(config) ? CudaConfigAttr::kAttrName
                                            : CpuConfigAttr::kAttrName,
                config);
  std::error_code code;
  llvm::raw_fd_ostream os(path, code);
  if (code)
    return kernel.emitError("cannot write '")
           << path << "': " << code.message();
  module->print(os);
  return success();
}

//===----------------------------------------------------------------------===//
// KernelTrials
//===----------------------------------------------------------------------===//

FailureOr<std::unique_ptr<KernelTrials>>
KernelTrials::create(func::FuncOp kernel, const TunerOptions &options) {
  std::unique_ptr<KernelTrials> trials(new KernelTrials(kernel, options));
  // 1. The space, its legal candidates and the default among them.
  if (options.cuda) {
    trials->cudaSpace = buildCudaSearchSpace(kernel, *options.cuda);
    trials->legal =
        enumerateCudaCandidates(*trials->cudaSpace, /*limit=*/1 << 20);
    trials->base = getCudaBaseCandidate(*trials->cudaSpace);
  } else {
    trials->space =
        buildSearchSpace(kernel, options.target,
                         getSpaceLimits(options.target, options.l2Bytes));
    trials->legal =
        enumerateCandidates(trials->space, kernel, /*limit=*/1 << 20);
    trials->base = getBaseCandidate(trials->space);
  }
  if (trials->base)
    trials->seeds.push_back(*trials->base);
  if (!options.cuda)
    for (Candidate &blocked :
         getBlockedCandidates(trials->space, kernel, options.threads))
      if (blocked != trials->base)
        trials->seeds.push_back(std::move(blocked));

  // 2. A scratch folder for the candidates.
  llvm::SmallString<128> created;
  if (llvm::sys::fs::createUniqueDirectory("kiln-tune", created))
    return kernel.emitError("cannot create a folder for the tuning trials");
  trials->folder = created.str().str();

  // 3. The trial data: kept from an earlier run, or written once.
  if (options.trialDataFolder.empty()) {
    trials->dataPath = trials->folder + "/data.safetensors";
    if (failed(writeTrialData(kernel, trials->dataPath, options.seed)))
      return failure();
    return std::move(trials);
  }
  trials->dataPath = options.trialDataFolder + "/" +
                     getKernelSignature(kernel) + "-" +
                     std::to_string(options.seed) + ".safetensors";
  if (llvm::sys::fs::exists(trials->dataPath))
    return std::move(trials);
  if (std::error_code code =
          llvm::sys::fs::create_directories(options.trialDataFolder))
    return kernel.emitError("cannot create the trial data folder '")
           << options.trialDataFolder << "': " << code.message();
  // Written aside and renamed: a run killed mid-write leaves no half file
  // for the next one to trust, and concurrent tuners no mixed one.
  std::string partial = trials->dataPath + ".partial-" +
                        std::to_string(llvm::sys::Process::getProcessId());
  if (failed(writeTrialData(kernel, partial, options.seed))) {
    llvm::sys::fs::remove(partial);
    return failure();
  }
  if (std::error_code code = llvm::sys::fs::rename(partial, trials->dataPath))
    return kernel.emitError("cannot keep the trial data in '")
           << trials->dataPath << "': " << code.message();
  return std::move(trials);
}

KernelTrials::~KernelTrials() {
  if (!folder.empty())
    llvm::sys::fs::remove_directories(folder);
}

std::vector<TrialResult>
KernelTrials::runWorkerOn(const std::vector<Candidate> &candidates) {
  WorkerOptions worker;
  worker.command = {options.workerPath};
  for (const Candidate &candidate : candidates) {
    std::string kernelPath =
        folder + "/candidate" + std::to_string(written++) + ".mlir";
    if (failed(writeCandidate(kernel, getConfig(candidate), kernelPath)))
      return std::vector<TrialResult>(
          candidates.size(),
          TrialResult{TrialStatus::Failed, "cannot write the candidate"});
    worker.command.insert(worker.command.end(), {"--kernel", kernelPath});
  }
  worker.command.insert(
      worker.command.end(),
      {"--data", dataPath, "--work-dir", folder, "--target",
       getTargetName(options), "--threads", std::to_string(options.threads),
       "--max-seconds", std::to_string(options.measureSeconds),
       "--remeasure-spread", std::to_string(options.remeasureSpread)});
  if (options.cuda) {
    for (const std::string &library : options.nvrtc.libraries)
      worker.command.insert(worker.command.end(), {"--nvrtc-library", library});
    for (const std::string &folder : options.nvrtc.includeDirs)
      worker.command.insert(worker.command.end(), {"--cuda-include", folder});
    if (!options.nvrtc.cacheDir.empty())
      worker.command.insert(worker.command.end(),
                            {"--nvrtc-cache", options.nvrtc.cacheDir});
  }
  worker.command.insert(worker.command.end(), options.workerArguments.begin(),
                        options.workerArguments.end());
  worker.timeoutSeconds =
      options.trialTimeoutSeconds * static_cast<double>(candidates.size());
  worker.memoryLimitBytes = options.workerMemoryBytes;
  return runWorker(worker, candidates.size());
}

TrialResult KernelTrials::measure(const Candidate &candidate) {
  return runWorkerOn({candidate}).front();
}

std::vector<TrialResult>
KernelTrials::measureTogether(const std::vector<Candidate> &candidates) {
  std::vector<TrialResult> results;
  if (!options.cuda && candidates.size() > 1) {
    results = runWorkerOn(candidates);
    if (llvm::any_of(results, [](const TrialResult &r) { return r.ok(); }))
      return results;
  }
  results.clear();
  for (const Candidate &candidate : candidates)
    results.push_back(measure(candidate));
  return results;
}

int64_t KernelTrials::getSpaceSize() const {
  return cudaSpace ? cudaSpace->getSize() : space.getSize();
}

double KernelTrials::predict(const Candidate &candidate) const {
  // No GPU cost model yet: equal predictions (see Tuner.h).
  return cudaSpace ? 1.0 : predictSeconds(space, candidate, options.peaks);
}

Attribute KernelTrials::getConfig(const Candidate &candidate) const {
  if (cudaSpace)
    return toCudaConfigAttr(func::FuncOp(kernel).getContext(),
                            applyCudaCandidate(*cudaSpace, candidate));
  return applyCandidate(space, candidate);
}

std::string KernelTrials::getConfigText(const Candidate &candidate) const {
  return printConfig(getConfig(candidate));
}

//===----------------------------------------------------------------------===//
// Tuning
//===----------------------------------------------------------------------===//

/// The status and reason of `failure`.
static std::string describeFailure(const FailedCandidate &failure) {
  return std::string(getTrialStatusName(failure.result.status)) + ": " +
         failure.result.reason;
}

/// Why every trial of `tuning` failed, naming the first failure.
static std::string describeFailures(const KernelTuning &tuning) {
  std::string text = "no candidate config compiled and computed the right "
                     "result (" +
                     std::to_string(tuning.trials) + " tried";
  if (!tuning.failures.empty())
    text += "; the first " + describeFailure(tuning.failures.front());
  return text + ")";
}

TunerOptions getHostTunerOptions(codegen::CpuTarget target, int threads) {
  TunerOptions options;
  codegen::HostMachine machine = codegen::getHostMachine();
  options.fingerprint = codegen::getTuningFingerprint(target, machine);
  options.l2Bytes = machine.l2Bytes;
  options.target = std::move(target);
  ThreadPool pool(threads);
  options.threads = pool.getNumThreads();
  options.peaks = measureMachinePeaks(pool);
  return options;
}

std::optional<TunerOptions>
getCudaTunerOptions(StringRef arch, const cuda::CudaDeviceInfo &device) {
  std::optional<CudaSpaceLimits> limits = getCudaSpaceLimits(arch, device);
  if (!limits)
    return std::nullopt;
  TunerOptions options;
  options.fingerprint = getCudaFingerprint(arch, device);
  options.cuda = std::move(limits);
  options.threads = kCudaTuningThreads;
  return options;
}

std::string getTargetName(const TunerOptions &options) {
  return options.cuda ? options.cuda->arch : options.target.name;
}

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

  // 2. The space and the trial data.
  FailureOr<std::unique_ptr<KernelTrials>> trials =
      KernelTrials::create(kernel, options);
  if (failed(trials))
    return failure();
  const std::optional<Candidate> &base = (*trials)->getBase();
  tuning.spaceSize = (*trials)->getSpaceSize();
  tuning.legalCandidates = static_cast<int64_t>((*trials)->getLegal().size());

  // 3. Search, the seeds (the default's first) first, each candidate in a
  //    worker.
  SearchResult result = search(
      (*trials)->getLegal(), (*trials)->getSeeds(),
      [&](const Candidate &candidate) { return (*trials)->predict(candidate); },
      [&](const Candidate &candidate) { return (*trials)->measure(candidate); },
      options.search, clock);
  tuning.trials = static_cast<int64_t>(result.trials.size());
  auto addFailure = [&](const Candidate &candidate, const TrialResult &trial) {
    if (!trial.ok())
      tuning.failures.push_back({(*trials)->getConfigText(candidate), trial});
  };
  for (const SearchTrial &trial : result.trials) {
    tuning.remeasured += trial.result.remeasured;
    addFailure(trial.candidate, trial.result);
  }

  // 4. The final round: the fastest few and the default timed again,
  //    side by side, within what is left of the time budget.
  ConfirmOptions confirm;
  confirm.maxSeconds = options.search.maxSeconds - (clock.now() - start);
  Confirmation confirmation = confirmBest(
      result,
      [&](const std::vector<Candidate> &finalists) {
        return (*trials)->measureTogether(finalists);
      },
      confirm, clock);
  tuning.confirmationTrials = confirmation.trials;
  for (auto [finalist, trial] :
       llvm::zip_equal(confirmation.finalists, confirmation.results))
    addFailure(result.trials[finalist].candidate, trial);
  tuning.wallSeconds = clock.now() - start;
  if (!confirmation.best) {
    tuning.error = result.best ? "every finalist failed when timed again "
                                 "(the last " +
                                     describeFailure(tuning.failures.back()) +
                                     ")"
                               : describeFailures(tuning);
    return tuning;
  }

  // 5. The best, stored with its baseline.
  const TrialResult &best = confirmation.results[*confirmation.best];
  tuning.config = (*trials)->getConfigText(
      result.trials[confirmation.finalists[*confirmation.best]].candidate);
  tuning.tunedSeconds = best.seconds.median;
  // The default's time is the best's scaled by their ratio in the final
  // round, the comparison that chose the best: each one's own median round
  // can fall in a slower or faster moment of the machine, and would then
  // show a default faster than the config picked over it.
  if (base)
    for (auto [index, finalist] : llvm::enumerate(confirmation.finalists))
      if (finalist == 0 && confirmation.results[index].ok())
        tuning.defaultSeconds = tuning.tunedSeconds *
                                confirmation.scores[index] /
                                confirmation.scores[*confirmation.best];
  TuningRecord record;
  record.key = key;
  record.kernel = tuning.kernel;
  record.config = tuning.config;
  record.medianSeconds = tuning.tunedSeconds;
  record.iqrSeconds = best.seconds.q3 - best.seconds.q1;
  record.samples = best.seconds.count;
  record.defaultSeconds = tuning.defaultSeconds;
  record.trials = tuning.trials;
  std::string error;
  database.put(record, error);
  if (!error.empty())
    return kernel.emitError(error);
  return tuning;
}

} // namespace kiln::autotune
