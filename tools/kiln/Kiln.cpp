//===- Kiln.cpp - The kiln command-line tool -------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// kiln models | export | eval | compile | run | explain | tune | db | bench.
// A thin main(): parsing options, printing results; the work is done by the
// libraries.
// Every error is printed once, with its location, and gives exit status 1.
//
//===----------------------------------------------------------------------===//

#include "autotune/Database.h"
#include "autotune/ModelProfile.h"
#include "autotune/Study.h"
#include "autotune/Tuner.h"
#include "bench/Compare.h"
#include "bench/Peers.h"
#include "bench/Report.h"
#include "bench/Suite.h"
#include "codegen/Common/Target.h"
#include "compiler/Compiler.h"
#include "runtime/CUDA/CudaModel.h"
#include "ir/Cost.h"
#include "ir/KilnDialect.h"
#include "models/io/ModelFile.h"
#include "models/zoo/Zoo.h"
#include "passes/Fusion/KernelGroups.h"
#include "reference/Compare.h"
#include "reference/Evaluator.h"
#include "runtime/Artifact.h"
#include "runtime/Executor.h"
#include "runtime/MachinePeaks.h"
#include "runtime/ThreadPool.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>

using namespace mlir;
namespace cl = llvm::cl;
using kiln::autotune::TuningDatabase;

static cl::SubCommand modelsCommand("models",
                                    "List the model zoo and its knobs");
static cl::SubCommand exportCommand("export",
                                    "Write a zoo model as .mlir + weights");
static cl::SubCommand evalCommand(
    "eval", "Evaluate a model with the reference evaluator on seeded inputs");

static cl::SubCommand
    compileCommand("compile",
                   "Compile a model for a CPU into a model.kiln artifact");
static cl::SubCommand
    runCommand("run",
               "Run a compiled model, check it against the reference evaluator "
               "and time each kernel");
static cl::SubCommand explainCommand(
    "explain", "Show the kernels a model fuses into and their roofline bound");
static cl::SubCommand
    tuneCommand("tune", "Tune every kernel of a model on this machine and "
                        "store the best configs in the tuning database");
static cl::SubCommand
    dbCommand("db", "List, show, export, import or prune the tuning database");
static cl::SubCommand benchCommand(
    "bench", "Time kernel and model suites; `bench compare` gives a verdict "
             "on two runs");

static cl::opt<std::string>
    inputFile(cl::Positional,
              cl::desc("<model.mlir | model.onnx | model.kiln>"),
              cl::sub(exportCommand), cl::sub(evalCommand),
              cl::sub(compileCommand), cl::sub(runCommand),
              cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::list<std::string>
    inputShapes("shape", cl::desc("Sizes of an ONNX model's input"),
                cl::value_desc("name=AxB"), cl::sub(exportCommand),
                cl::sub(evalCommand), cl::sub(compileCommand),
                cl::sub(runCommand), cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::opt<std::string>
    modelName("model", cl::desc("A zoo model name"), cl::value_desc("name"),
              cl::sub(exportCommand), cl::sub(evalCommand),
              cl::sub(compileCommand), cl::sub(runCommand),
              cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::list<std::string>
    settings("set", cl::desc("Knob settings of the zoo model"),
             cl::value_desc("knob=value,..."), cl::CommaSeparated,
             cl::sub(exportCommand), cl::sub(evalCommand),
             cl::sub(compileCommand), cl::sub(runCommand),
             cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::opt<std::string>
    weightsFile("weights", cl::desc("Use the weights of this safetensors file"),
                cl::value_desc("file.safetensors"), cl::sub(exportCommand),
                cl::sub(evalCommand), cl::sub(compileCommand),
                cl::sub(runCommand), cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::opt<uint64_t> inputSeed("seed", cl::desc("Seed of the inputs"),
                                   cl::init(0), cl::sub(evalCommand),
                                   cl::sub(runCommand));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("file"),
                                       cl::sub(exportCommand),
                                       cl::sub(compileCommand));
static cl::opt<bool> inlineWeightsFlag(
    "inline-weights",
    cl::desc("Store the weights as constants in the .mlir itself"),
    cl::sub(exportCommand));

// Compiling.
static cl::opt<std::string>
    targetName("target",
               cl::desc("The CPU to compile for: host, x86-64, x86-64-v2, "
                        "x86-64-v3 (avx2) or x86-64-v4 (avx512); or the GPU: "
                        "sm_80 or sm_90a"),
               cl::value_desc("name"), cl::init("host"),
               cl::sub(compileCommand), cl::sub(runCommand),
               cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::opt<bool> noFusion("no-fusion",
                              cl::desc("Make every op its own kernel"),
                              cl::sub(compileCommand), cl::sub(runCommand),
                              cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::opt<bool> printIRAfterAll(
    "print-ir-after-all",
    cl::desc("Print the module to stderr after every pass and stage"),
    cl::sub(compileCommand), cl::sub(runCommand), cl::sub(explainCommand));
static cl::list<std::string> printIRAfter(
    "print-ir-after",
    cl::desc("Print the module to stderr after the passes with these "
             "arguments"),
    cl::value_desc("pass-arg,..."), cl::CommaSeparated, cl::sub(compileCommand),
    cl::sub(runCommand), cl::sub(explainCommand));

// Compiling for a GPU.
static cl::opt<std::string> dumpKernelsDir(
    "dump-kernels",
    cl::desc("GPU targets: write each kernel's CUDA C++ (.cu) and cubin into "
             "this folder"),
    cl::value_desc("dir"), cl::sub(compileCommand));
static cl::opt<std::string>
    cudaPath("cuda-path",
             cl::desc("The CUDA toolkit whose NVRTC and headers compile GPU "
                      "kernels"),
             cl::value_desc("dir"), cl::init(KILN_CUDA_ROOT),
             cl::sub(compileCommand), cl::sub(runCommand));
static cl::opt<std::string> nvrtcCacheOption(
    "nvrtc-cache",
    cl::desc("NVRTC's cubin cache folder (default: $XDG_CACHE_HOME/kiln/nvrtc "
             "or ~/.cache/kiln/nvrtc; 'none': no cache)"),
    cl::value_desc("dir"), cl::sub(compileCommand), cl::sub(runCommand));
static cl::opt<bool>
    noCudaGraph("no-cuda-graph",
                cl::desc("GPU: issue every launch on each run instead of "
                         "replaying a captured CUDA graph"),
                cl::sub(runCommand));

// Running.
static cl::opt<int> numThreads(
    "threads",
    cl::desc("Threads per kernel (0: one per hardware thread); tunings are "
             "stored and looked up for this count"),
    cl::init(0), cl::sub(compileCommand), cl::sub(runCommand),
    cl::sub(explainCommand), cl::sub(tuneCommand));
static cl::opt<int> numRepeats("repeat",
                               cl::desc("Timed runs after one warm-up run"),
                               cl::init(10), cl::sub(runCommand));
static cl::opt<std::string>
    inputsFile("inputs",
               cl::desc("Bind the inputs to the tensors of this safetensors "
                        "file, by name (default: seeded random inputs)"),
               cl::value_desc("file.safetensors"), cl::sub(runCommand));
static cl::opt<bool>
    noCheck("no-check", cl::desc("Do not compare with the reference evaluator"),
            cl::sub(runCommand));
static cl::opt<double> ridgeOption(
    "ridge",
    cl::desc("The machine's ridge point in FLOP/byte (default: measure this "
             "machine)"),
    cl::init(0), cl::sub(explainCommand));

// The tuning database.
static cl::opt<std::string> databaseOption(
    "db",
    cl::desc("The tuning database (default: $XDG_CACHE_HOME/kiln/tuning.db, "
             "or ~/.cache/kiln/tuning.db)"),
    cl::value_desc("file"), cl::sub(compileCommand), cl::sub(runCommand),
    cl::sub(tuneCommand), cl::sub(dbCommand), cl::sub(benchCommand));
static cl::opt<bool>
    noDatabase("no-db",
               cl::desc("Use the default configs, not the tuning database"),
               cl::sub(compileCommand), cl::sub(runCommand));
static cl::opt<int> trialBudget("budget",
                                cl::desc("Candidates measured per kernel at "
                                         "most, the default config included"),
                                cl::init(32), cl::sub(tuneCommand));
static cl::opt<double> timeBudget(
    "time",
    cl::desc("Seconds of search for the whole model at most, shared evenly "
             "by the kernels still to tune (0: no limit)"),
    cl::init(0), cl::sub(tuneCommand));
static cl::opt<double>
    measureSeconds("measure-seconds",
                   cl::desc("Seconds of timing per candidate"), cl::init(0.3),
                   cl::sub(tuneCommand));
static cl::opt<std::string>
    tuneJson("json",
             cl::desc("Also write the per-kernel table (or the study) as "
                      "JSON to this file"),
             cl::value_desc("file"), cl::sub(tuneCommand));
static cl::opt<std::string> trialDataFolder(
    "trial-data",
    cl::desc("Keep each kernel's trial data (inputs and reference results) "
             "in this folder and reuse it in later runs"),
    cl::value_desc("folder"), cl::sub(tuneCommand));
static cl::opt<int64_t> studyCandidates(
    "study",
    cl::desc("Measure up to N legal candidates of each kernel (the cost "
             "model's best quarter and a stratified sample of the rest when "
             "there are more) and report the smallest budget with which "
             "the search comes within 3% of the best of them; stores nothing"),
    cl::value_desc("N"), cl::init(0), cl::sub(tuneCommand));
static cl::opt<std::string> studyData(
    "study-data",
    cl::desc("With --study: take the results of candidates recorded in this "
             "earlier --study --json file, and its roofline for the cost "
             "model, instead of measuring them again"),
    cl::value_desc("file"), cl::sub(tuneCommand));
static cl::list<std::string> injectFaults(
    "inject-fault",
    cl::desc("KERNEL=crash|hang|wrong-result|out-of-memory: every candidate "
             "of that kernel fails so (tests the tuner)"),
    cl::Hidden, cl::sub(tuneCommand));
static cl::list<std::string>
    databaseArguments(cl::Positional,
                      cl::desc("list | show KEY | export FILE | import FILE | "
                               "prune"),
                      cl::sub(dbCommand));
static cl::opt<std::string> olderThan(
    "older-than",
    cl::desc("kiln db prune: delete the tunings stored before this UTC date"),
    cl::value_desc("YYYY-MM-DD[THH:MM:SSZ]"), cl::sub(dbCommand));
static cl::opt<bool> otherVersions(
    "other-versions",
    cl::desc("kiln db prune: delete the tunings of other compiler versions"),
    cl::sub(dbCommand));

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

namespace {
/// Prints the first error (with its notes) and drops the errors that follow
/// it: they restate the first one ("failed to infer returned types").
class FirstErrorHandler {
public:
  explicit FirstErrorHandler(MLIRContext &context)
      : printer(sourceMgr, &context),
        filter(&context, [this](Diagnostic &diagnostic) {
          if (diagnostic.getSeverity() != DiagnosticSeverity::Error)
            return failure();
          if (std::exchange(sawError, true))
            return success();
          return printWithoutFile(diagnostic);
        }) {}

private:
  /// Prints an error whose location has no file, such as the named scopes
  /// of zoo models ("decoder.layers.0.attn"), as "error: at 'NAME': ...";
  /// the source manager's handler would print "<unknown>:0: error:
  /// loc(...)". Leaves errors with a file to it.
  static LogicalResult printWithoutFile(Diagnostic &diagnostic) {
    Location loc = diagnostic.getLocation();
    if (loc->findInstanceOf<FileLineColLoc>())
      return failure();
    llvm::errs() << "error: ";
    if (auto name = loc->findInstanceOf<NameLoc>())
      llvm::errs() << "at '" << name.getName().strref() << "': ";
    llvm::errs() << diagnostic.str() << "\n";
    for (const Diagnostic &note : diagnostic.getNotes())
      llvm::errs() << "note: " << note.str() << "\n";
    return success();
  }

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler printer;
  ScopedDiagnosticHandler filter;
  bool sawError = false;
};
} // namespace

static int fail(const Twine &message) {
  llvm::errs() << "kiln: error: " << message << "\n";
  return 1;
}

//===----------------------------------------------------------------------===//
// Getting a model
//===----------------------------------------------------------------------===//

/// The model named by `--model`/`--set` or by the positional file, with
/// `--weights` applied. Errors are already reported when this fails.
static FailureOr<kiln::LoadedModel> loadModel(MLIRContext &context,
                                              StringRef file) {
  if (file.empty() == modelName.empty()) {
    (void)fail("give exactly one of a model file or --model NAME");
    return failure();
  }
  kiln::LoadedModel model;
  if (!modelName.empty()) {
    std::string error;
    std::vector<std::string> knobs(settings.begin(), settings.end());
    FailureOr<kiln::zoo::Model> built =
        kiln::zoo::buildModel(context, modelName, knobs, error);
    if (failed(built)) {
      (void)fail(error);
      return failure();
    }
    model.module = std::move(built->module);
    model.weights = std::move(built->weights);
  } else {
    if (!settings.empty()) {
      (void)fail("--set applies to zoo models (--model), not to a .mlir file");
      return failure();
    }
    kiln::ModelFileOptions options;
    std::string error;
    for (const std::string &setting : inputShapes)
      if (!kiln::addInputShape(options, setting, error)) {
        (void)fail(error);
        return failure();
      }
    FailureOr<kiln::LoadedModel> loaded =
        kiln::loadModelFile(context, file, options);
    if (failed(loaded))
      return failure();
    model = std::move(*loaded);
  }
  if (!weightsFile.empty() &&
      failed(kiln::loadWeightsOverride(*model.module, model.weights,
                                       weightsFile)))
    return failure();
  return model;
}

//===----------------------------------------------------------------------===//
// kiln models
//===----------------------------------------------------------------------===//

static int listModels() {
  llvm::outs() << "Kiln model zoo (kiln eval --model NAME --set knob=value,...)"
               << "\n";
  for (const kiln::zoo::ModelInfo &info : kiln::zoo::listModels()) {
    llvm::outs() << "\n" << info.name;
    if (&info == &kiln::zoo::listModels().front())
      llvm::outs() << " (default)";
    llvm::outs() << ": " << info.summary << "\n";
    for (const kiln::zoo::Knob &knob : info.knobs) {
      std::string values =
          knob.choices.empty() ? "int" : llvm::join(knob.choices, "|");
      llvm::outs() << llvm::format("  %-14s %-16s default %-8s ",
                                   knob.name.c_str(), values.c_str(),
                                   knob.defaultValue.c_str())
                   << knob.help << "\n";
    }
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// kiln export
//===----------------------------------------------------------------------===//

static int exportModel(MLIRContext &context) {
  FailureOr<kiln::LoadedModel> model = loadModel(context, inputFile);
  if (failed(model))
    return 1;
  std::string path = outputFile;
  if (path.empty())
    path = modelName.empty() ? llvm::sys::path::stem(inputFile).str() + ".mlir"
                             : modelName.getValue() + ".mlir";
  if (inlineWeightsFlag &&
      failed(kiln::inlineWeights(*model->module, model->weights)))
    return 1;
  if (failed(kiln::exportModel(*model->module, model->weights, path)))
    return 1;
  llvm::outs() << "wrote " << path << "\n";
  return 0;
}

//===----------------------------------------------------------------------===//
// kiln eval
//===----------------------------------------------------------------------===//

/// One line describing `tensor`: type, checksum and value statistics.
static void printTensorSummary(raw_ostream &os, const kiln::HostTensor &tensor) {
  double sum = 0, sumSquares = 0;
  double lo = INFINITY, hi = -INFINITY;
  int64_t count = tensor.getNumElements();
  for (int64_t i = 0; i < count; ++i) {
    double value = tensor.getFloat(i);
    sum += value;
    sumSquares += value * value;
    lo = std::min(lo, value);
    hi = std::max(hi, value);
  }
  double mean = count ? sum / count : 0;
  double stddev = count ? std::sqrt(std::max(0.0, sumSquares / count - mean * mean)) : 0;
  os << llvm::format("tensor<%s>  checksum %016llx  mean %.6g  std %.6g  "
                     "min %.6g  max %.6g",
                     kiln::formatTensorType(tensor.getElementType(),
                                            tensor.getShape())
                         .c_str(),
                     static_cast<unsigned long long>(tensor.checksum()), mean,
                     stddev, lo, hi);
}

static std::string formatFlops(double flops) {
  const char *units[] = {"FLOP", "KFLOP", "MFLOP", "GFLOP", "TFLOP"};
  int unit = 0;
  while (flops >= 1000 && unit < 4) {
    flops /= 1000;
    ++unit;
  }
  return llvm::formatv("{0:F2} {1}", flops, units[unit]).str();
}

static int evalModel(MLIRContext &context) {
  FailureOr<kiln::LoadedModel> model = loadModel(context, inputFile);
  if (failed(model))
    return 1;
  FailureOr<func::FuncOp> function = kiln::getEntryFunction(*model->module);
  if (failed(function))
    return 1;
  FailureOr<std::vector<kiln::HostTensor>> inputs =
      kiln::reference::makeSeededInputs(*function, inputSeed);
  if (failed(inputs))
    return 1;

  auto start = std::chrono::steady_clock::now();
  FailureOr<std::vector<kiln::HostTensor>> outputs =
      kiln::reference::evaluate(*function, *inputs, model->weights);
  if (failed(outputs))
    return 1;
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();

  // FLOPs per op kind, in order of first appearance.
  llvm::MapVector<StringRef, int64_t> flopsByOp;
  int64_t totalFlops = 0, opCount = 0;
  function->walk([&](Operation *op) {
    if (!isa<kiln::KilnDialect>(op->getDialect()))
      return;
    ++opCount;
    int64_t flops = kiln::countFlops(op);
    totalFlops += flops;
    if (flops)
      flopsByOp[op->getName().stripDialect()] += flops;
  });

  raw_ostream &os = llvm::outs();
  os << "model: "
     << (modelName.empty() ? inputFile.getValue() : modelName.getValue())
     << " (" << opCount << " kiln ops, " << model->weights.size()
     << " weight tensors)\n";
  os << "inputs (seed " << inputSeed << "):\n";
  for (auto [index, tensor] : llvm::enumerate(*inputs)) {
    os << "  #" << index << " ";
    printTensorSummary(os, tensor);
    os << "\n";
  }
  os << "outputs:\n";
  for (auto [index, tensor] : llvm::enumerate(*outputs)) {
    os << "  #" << index << " ";
    printTensorSummary(os, tensor);
    os << "\n";
  }
  os << "FLOPs: " << formatFlops(totalFlops) << "\n";
  for (auto [name, flops] : flopsByOp)
    os << llvm::format("  %-12s %12s  %5.1f%%\n", name.str().c_str(),
                       formatFlops(flops).c_str(),
                       100.0 * flops / std::max<int64_t>(totalFlops, 1));
  os << llvm::format("reference evaluation: %.3f s\n", seconds);
  return 0;
}

//===----------------------------------------------------------------------===//
// Formatting
//===----------------------------------------------------------------------===//

/// `value` with a decimal SI prefix: "12.3 G" + unit.
static std::string formatScaled(double value, StringRef unit) {
  const char *prefixes[] = {"", "K", "M", "G", "T", "P"};
  int prefix = 0;
  while (std::fabs(value) >= 1000 && prefix < 5) {
    value /= 1000;
    ++prefix;
  }
  return llvm::formatv("{0:F1} {1}{2}", value, prefixes[prefix], unit).str();
}

/// A byte count in binary units: "12.0 KiB".
static std::string formatBytes(int64_t bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? llvm::formatv("{0} B", bytes).str()
                   : llvm::formatv("{0:F1} {1}", value, units[unit]).str();
}

static std::string formatSeconds(double seconds) {
  if (seconds < 1e-3)
    return llvm::formatv("{0:F1} us", seconds * 1e6).str();
  if (seconds < 1)
    return llvm::formatv("{0:F3} ms", seconds * 1e3).str();
  return llvm::formatv("{0:F3} s", seconds).str();
}

/// The fused ops of a kernel without the dialect prefix: "matmul add relu".
static std::string formatOps(const std::vector<std::string> &ops) {
  std::string text;
  for (const std::string &op : ops) {
    if (!text.empty())
      text += " ";
    text += StringRef(op).starts_with("kiln.") ? op.substr(5) : op;
  }
  return text.empty() ? "-" : text;
}

/// "arena 12.0 KiB peak vs 20.0 KiB sum of buffers (60%)".
static std::string formatMemoryPlan(const kiln::Manifest &manifest) {
  std::string text = "arena " + formatBytes(manifest.arenaBytes) + " peak vs " +
                     formatBytes(manifest.unplannedBytes) + " sum of buffers";
  if (manifest.unplannedBytes > 0)
    text += llvm::formatv(" ({0:F0}%)",
                          100.0 * manifest.arenaBytes / manifest.unplannedBytes)
                .str();
  return text;
}

//===----------------------------------------------------------------------===//
// The tuning database
//===----------------------------------------------------------------------===//

/// The tuning database's path: --db, or the per-user default; empty when
/// there is neither (no XDG_CACHE_HOME and no HOME).
/// `name` in the user's kiln cache folder ($XDG_CACHE_HOME/kiln, or
/// ~/.cache/kiln); empty when neither variable is set.
static std::string getUserCachePath(StringRef name) {
  SmallString<128> path;
  if (const char *cache = std::getenv("XDG_CACHE_HOME"); cache && *cache) {
    path = cache;
  } else if (const char *home = std::getenv("HOME"); home && *home) {
    path = home;
    llvm::sys::path::append(path, ".cache");
  } else {
    return "";
  }
  llvm::sys::path::append(path, "kiln", name);
  return path.str().str();
}

static std::string getDatabasePath() {
  if (!databaseOption.empty())
    return databaseOption;
  return getUserCachePath("tuning.db");
}

/// Opens (or creates) the tuning database and prints its warnings. Errors
/// are already reported when this returns null.
static std::unique_ptr<TuningDatabase> openDatabase() {
  std::string path = getDatabasePath();
  if (path.empty()) {
    (void)fail("no tuning database: give --db FILE (neither XDG_CACHE_HOME "
               "nor HOME is set)");
    return nullptr;
  }
  std::vector<std::string> warnings;
  std::string error;
  std::unique_ptr<TuningDatabase> database =
      TuningDatabase::open(path, warnings, error);
  for (const std::string &warning : warnings)
    llvm::errs() << "kiln: warning: " << warning << "\n";
  if (!database)
    (void)fail(error);
  return database;
}

/// The database `kiln compile`, `kiln run` and `kiln bench` take their
/// configs from: null with --no-db, and when the default one was never
/// created (nothing was tuned yet). A --db file must exist: a mistyped name
/// would otherwise give untuned code silently; the error ends with
/// `untunedHint`, how the command goes without one. Errors are already
/// reported when this fails.
static FailureOr<std::unique_ptr<TuningDatabase>>
openCompileDatabase(StringRef untunedHint = "--no-db compiles without") {
  if (noDatabase)
    return std::unique_ptr<TuningDatabase>();
  std::string path = getDatabasePath();
  if (!databaseOption.empty() && !llvm::sys::fs::exists(path)) {
    (void)fail("no tuning database '" + path + "' (kiln tune --db " + path +
               " creates one; " + untunedHint.str() + ")");
    return failure();
  }
  if (path.empty() || !llvm::sys::fs::exists(path))
    return std::unique_ptr<TuningDatabase>();
  std::unique_ptr<TuningDatabase> database = openDatabase();
  if (!database)
    return failure();
  return database;
}

/// CUDA device 0 through the system's driver; std::nullopt with `error`
/// set to why there is none.
static std::optional<kiln::cuda::CudaDevice>
openFirstCudaDevice(std::string &error) {
  std::optional<kiln::cuda::CudaDriverApi> api =
      kiln::cuda::loadCudaDriver("libcuda.so.1", error);
  return api ? kiln::cuda::openCudaDevice(*api, /*ordinal=*/0, error)
             : std::nullopt;
}

/// The GPU fingerprint GPU tunings for `arch` are looked up under: device
/// 0's when it runs `arch`, otherwise the architecture's alone (tunings
/// made without that device do not apply).
static std::string getCudaLookupFingerprint(StringRef arch) {
  std::string error;
  std::optional<kiln::cuda::CudaDevice> device = openFirstCudaDevice(error);
  if (device && kiln::cuda::canRunArch(device->info, arch.str()))
    return kiln::autotune::getCudaFingerprint(arch, device->info);
  return kiln::autotune::getCudaArchFingerprint(arch);
}

/// The tuned configs of `database` for `target` run on `threads` threads
/// (0: one per hardware thread), or for the GPU architecture `target`.
/// Empty when the target is unknown: compiling reports that.
static kiln::compiler::KernelConfigLookup
makeConfigLookup(TuningDatabase &database, StringRef targetName,
                 int numThreads) {
  std::string version = kiln::compiler::getCompilerVersion();
  if (kiln::compiler::isCudaTarget(targetName))
    return [&database, fingerprint = getCudaLookupFingerprint(targetName),
            version](func::FuncOp kernel) -> Attribute {
      return kiln::autotune::findTunedCudaConfig(kernel, fingerprint, version,
                                                 database);
    };
  llvm::Expected<kiln::codegen::CpuTarget> target =
      kiln::codegen::getCpuTarget(targetName);
  if (!target) {
    llvm::consumeError(target.takeError());
    return {};
  }
  std::string fingerprint = kiln::codegen::getTuningFingerprint(
      *target, kiln::codegen::getHostMachine());
  int64_t threads = kiln::ThreadPool::resolveNumThreads(numThreads);
  return [&database, fingerprint, version,
          threads](func::FuncOp kernel) -> Attribute {
    return kiln::autotune::findTunedConfig(kernel, fingerprint, version,
                                           threads, database);
  };
}

/// Where each kernel's config came from.
static void
printConfigChoices(const std::vector<kiln::compiler::KernelConfigChoice> &configs,
                   const TuningDatabase *database) {
  raw_ostream &os = llvm::outs();
  if (!database) {
    os << "configs: default heuristic for every kernel ("
       << (noDatabase ? "--no-db" : "no tuning database yet") << ")\n";
    return;
  }
  os << "configs (tuning database " << database->getPath() << ", "
     << (kiln::compiler::isCudaTarget(targetName)
             ? targetName.getValue()
             : std::to_string(
                   kiln::ThreadPool::resolveNumThreads(numThreads)) +
                   " threads")
     << "):\n";
  for (const kiln::compiler::KernelConfigChoice &choice : configs)
    os << "  " << choice.kernel << ": "
       << (choice.tuned ? "tuned (db)"
                        : "default (no tuning for this kernel on this target "
                          "and thread count)")
       << "\n";
}

//===----------------------------------------------------------------------===//
// kiln compile
//===----------------------------------------------------------------------===//

/// How NVRTC is found and cached, from --cuda-path and --nvrtc-cache: the
/// toolkit's library after the system's, its headers, and the user's cache
/// folder unless 'none' (no cache either when no folder can be found).
static kiln::codegen::NvrtcOptions getNvrtcOptions() {
  kiln::codegen::NvrtcOptions options;
  SmallString<128> library(cudaPath);
  llvm::sys::path::append(library, "lib64", "libnvrtc.so");
  options.libraries.push_back(library.str().str());
  SmallString<128> include(cudaPath);
  llvm::sys::path::append(include, "include");
  options.includeDirs = {include.str().str()};
  if (nvrtcCacheOption != "none")
    options.cacheDir = nvrtcCacheOption.empty() ? getUserCachePath("nvrtc")
                                                : nvrtcCacheOption.getValue();
  return options;
}

/// The compile options of the command line.
static kiln::compiler::CompileOptions getCompileOptions() {
  kiln::compiler::CompileOptions options;
  options.target = targetName;
  if (kiln::compiler::isCudaTarget(targetName))
    options.nvrtc = getNvrtcOptions();
  options.fusion = !noFusion;
  options.printIR.stream = &llvm::errs();
  options.printIR.afterAll = printIRAfterAll;
  options.printIR.afterPasses.assign(printIRAfter.begin(), printIRAfter.end());
  return options;
}

/// The model of the command line, compiled. Errors are already reported
/// when this fails.
static FailureOr<kiln::compiler::CompiledArtifact>
compileFromCommandLine(MLIRContext &context, kiln::LoadedModel &model) {
  FailureOr<kiln::LoadedModel> loaded = loadModel(context, inputFile);
  if (failed(loaded))
    return failure();
  model = std::move(*loaded);
  FailureOr<std::unique_ptr<TuningDatabase>> database = openCompileDatabase();
  if (failed(database))
    return failure();
  kiln::compiler::CompileOptions options = getCompileOptions();
  if (*database)
    options.configLookup =
        makeConfigLookup(**database, targetName, numThreads);
  FailureOr<kiln::compiler::CompiledArtifact> compiled =
      kiln::compiler::compileModel(*model.module, model.weights, options);
  if (succeeded(compiled))
    printConfigChoices(compiled->configs, database->get());
  return compiled;
}

/// Writes each CUDA kernel's source and cubin into --dump-kernels, as
/// <kernel>.cu and <kernel>.cubin. Returns false, with the error reported,
/// when a file cannot be written.
static bool dumpCudaKernels(const kiln::compiler::CompiledArtifact &compiled) {
  if (std::error_code code = llvm::sys::fs::create_directories(dumpKernelsDir))
    return !fail("cannot create --dump-kernels folder '" + dumpKernelsDir +
                 "': " + code.message());
  for (auto [kernel, source] :
       llvm::zip_equal(compiled.artifact.cuda->kernels, compiled.cudaSources)) {
    for (auto [extension, bytes] :
         {std::pair<StringRef, StringRef>{".cu", source},
          {".cubin", llvm::toStringRef(kernel.cubin)}}) {
      SmallString<128> path(dumpKernelsDir);
      llvm::sys::path::append(path, kernel.symbol + extension);
      std::error_code code;
      llvm::raw_fd_ostream file(path, code);
      if (!code) {
        file << bytes;
        file.close();
        code = file.error();
      }
      if (code)
        return !fail("cannot write '" + path + "': " + code.message());
    }
  }
  return true;
}

/// The size of the compiled code: the shared object, or the cubins.
static std::string describeCode(const kiln::Artifact &artifact) {
  if (!artifact.cuda)
    return "code " + formatBytes(artifact.code.size());
  size_t bytes = 0;
  for (const kiln::CudaKernelImage &kernel : artifact.cuda->kernels)
    bytes += kernel.cubin.size();
  return std::to_string(artifact.cuda->kernels.size()) + " cubins " +
         formatBytes(bytes);
}

static int compileModel(MLIRContext &context) {
  if (outputFile.empty())
    return fail("kiln compile needs -o FILE.kiln");
  if (!dumpKernelsDir.empty() && !kiln::compiler::isCudaTarget(targetName))
    return fail("--dump-kernels writes CUDA kernels; it needs --target sm_80 "
                "or sm_90a");
  if (numThreads < 0)
    return fail("--threads must not be negative");
  kiln::LoadedModel model;
  FailureOr<kiln::compiler::CompiledArtifact> compiled =
      compileFromCommandLine(context, model);
  if (failed(compiled))
    return 1;
  if (!dumpKernelsDir.empty() && !dumpCudaKernels(*compiled))
    return 1;
  std::string error;
  if (!kiln::writeArtifact(outputFile, compiled->artifact, error))
    return fail(error);
  const kiln::Manifest &manifest = compiled->artifact.manifest;
  raw_ostream &os = llvm::outs();
  os << "compiled for " << targetName << ": " << compiled->numKernels
     << " kernels, " << manifest.steps.size() << " kernel calls";
  if (compiled->kernelsPerBlock)
    os << llvm::formatv(" ({0:F1} per block)", *compiled->kernelsPerBlock);
  os << "\n" << describeCode(compiled->artifact) << ", weights "
     << compiled->artifact.weights.size() << " tensors\n";
  os << "memory plan: " << formatMemoryPlan(manifest) << "\n";
  os << "wrote " << outputFile << "\n";
  return 0;
}

//===----------------------------------------------------------------------===//
// kiln run
//===----------------------------------------------------------------------===//

namespace {
/// A model to run: the artifact, and the graph and weights to check it
/// against.
struct RunnableModel {
  kiln::Artifact artifact;
  std::string name;
  /// The reference graph; null when the artifact carries none.
  OwningOpRef<ModuleOp> graph;
  std::optional<double> kernelsPerBlock;
};
} // namespace

/// The artifact file, or the model compiled in memory. Errors are already
/// reported when this fails.
static FailureOr<RunnableModel> getRunnableModel(MLIRContext &context) {
  RunnableModel runnable;
  if (modelName.empty() && StringRef(inputFile).ends_with(".kiln")) {
    std::string error;
    std::optional<kiln::Artifact> artifact =
        kiln::readArtifact(inputFile, error);
    if (!artifact) {
      (void)fail(error);
      return failure();
    }
    runnable.artifact = std::move(*artifact);
    runnable.name = inputFile;
    if (!runnable.artifact.graph.empty()) {
      runnable.graph = parseSourceString<ModuleOp>(
          runnable.artifact.graph, &context, inputFile + ":graph");
      if (!runnable.graph)
        return failure();
    }
    return runnable;
  }
  kiln::LoadedModel model;
  FailureOr<kiln::compiler::CompiledArtifact> compiled =
      compileFromCommandLine(context, model);
  if (failed(compiled))
    return failure();
  runnable.artifact = std::move(compiled->artifact);
  runnable.name =
      modelName.empty() ? inputFile.getValue() : modelName.getValue();
  runnable.graph = std::move(model.module);
  runnable.kernelsPerBlock = compiled->kernelsPerBlock;
  return runnable;
}

/// The inputs to bind: the tensors of `--inputs` by name, or seeded ones
/// from the graph. Errors are already reported when this fails.
static FailureOr<std::vector<kiln::HostTensor>>
getInputs(const RunnableModel &runnable) {
  const std::vector<kiln::TensorSpec> &specs =
      runnable.artifact.manifest.inputs;
  if (inputsFile.empty()) {
    if (!runnable.graph) {
      (void)fail("'" + runnable.name +
                 "' holds no graph to make seeded inputs from; give --inputs "
                 "FILE.safetensors");
      return failure();
    }
    FailureOr<func::FuncOp> entry = kiln::getEntryFunction(*runnable.graph);
    if (failed(entry))
      return failure();
    return kiln::reference::makeSeededInputs(*entry, inputSeed);
  }
  std::string error;
  std::optional<kiln::TensorMap> tensors =
      kiln::readSafetensors(inputsFile, error);
  if (!tensors) {
    (void)fail(error);
    return failure();
  }
  std::vector<kiln::HostTensor> inputs;
  for (const kiln::TensorSpec &spec : specs) {
    auto found = tensors->find(spec.name);
    if (found == tensors->end()) {
      (void)fail("'" + inputsFile + "' has no tensor '" + spec.name +
                 "' for input '" + spec.name + "' (" +
                 kiln::formatTensorType(spec.type, spec.shape) + ")");
      return failure();
    }
    inputs.push_back(std::move(found->second));
    tensors->erase(found);
  }
  if (!tensors->empty()) {
    (void)fail("'" + inputsFile + "' has tensor '" + tensors->begin()->first +
               "', which is not an input of '" + runnable.name + "'");
    return failure();
  }
  return inputs;
}

/// Compares the outputs of `model` (a CompiledModel or a CudaModel) with the
/// reference evaluator's and prints the errors. Returns whether all matched;
/// errors are already reported when this fails.
template <typename Model>
static FailureOr<bool> checkOutputs(const RunnableModel &runnable,
                                    const Model &model,
                                    ArrayRef<kiln::HostTensor> inputs) {
  raw_ostream &os = llvm::outs();
  if (!runnable.graph) {
    os << "check: skipped ('" << runnable.name << "' holds no graph)\n";
    return true;
  }
  FailureOr<func::FuncOp> entry = kiln::getEntryFunction(*runnable.graph);
  if (failed(entry))
    return failure();
  FailureOr<std::vector<kiln::HostTensor>> expected =
      kiln::reference::evaluate(*entry, inputs, runnable.artifact.weights);
  if (failed(expected))
    return failure();
  bool passed = true;
  os << "check against the reference evaluator:\n";
  for (auto [index, spec] : llvm::enumerate(model.outputs())) {
    const kiln::HostTensor &reference = (*expected)[index];
    kiln::reference::Comparison comparison =
        kiln::reference::compareWithReference(
            model.output(index), reference,
            kiln::reference::ToleranceScope::Model);
    kiln::reference::Tolerance tolerance = kiln::reference::getTolerance(
        reference.getElementType(), kiln::reference::ToleranceScope::Model);
    os << llvm::formatv("  {0,-16} {1,-18} max abs error {2:E2}  max rel "
                        "error {3:E2}  (rtol {4:E0}, atol {5:E0})  ",
                        spec.name,
                        kiln::formatTensorType(spec.type, spec.shape),
                        comparison.maxAbsError, comparison.maxRelError,
                        tolerance.rtol, tolerance.atol);
    if (!comparison.typeMismatch.empty())
      os << "FAIL: " << comparison.typeMismatch << "\n";
    else if (comparison.passed())
      os << "PASS\n";
    else
      os << "FAIL: " << comparison.mismatches << " of "
         << reference.getNumElements() << " elements differ, first at "
         << comparison.firstMismatch << " ("
         << model.output(index).getFloat(comparison.firstMismatch)
         << ", expected " << reference.getFloat(comparison.firstMismatch)
         << ")\n";
    passed &= comparison.passed();
  }
  return passed;
}

/// The per-kernel table and the totals.
static void printProfile(const RunnableModel &runnable,
                         const kiln::CompiledModel &model,
                         const kiln::autotune::ModelProfile &profile,
                         const kiln::MachinePeaks &peaks) {
  raw_ostream &os = llvm::outs();
  // Columns as wide as their longest entry, so long fused kernels stay
  // aligned.
  size_t kernelWidth = StringRef("kernel").size();
  size_t opsWidth = StringRef("fused ops").size();
  std::vector<std::string> ops;
  for (const auto &kernel : profile.kernels) {
    ops.push_back(formatOps(kernel.fusedOps));
    kernelWidth = std::max(kernelWidth, kernel.kernel.size());
    opsWidth = std::max(opsWidth, ops.back().size());
  }
  os << "\n"
     << llvm::formatv("{0,3}  {1}  {2}  {3,10}  {4,16}  {5,8}\n", "#",
                      llvm::left_justify("kernel", kernelWidth),
                      llvm::left_justify("fused ops", opsWidth), "median",
                      "rate", "roofline");
  for (auto [index, kernel] : llvm::enumerate(profile.kernels)) {
    std::string rate = kernel.computeBound ? formatScaled(kernel.rate, "FLOP/s")
                                           : formatScaled(kernel.rate, "B/s");
    os << llvm::formatv("{0,3}  {1}  {2}  {3,10}  {4,16}  {5,7:F1}%\n", index,
                        llvm::left_justify(kernel.kernel, kernelWidth),
                        llvm::left_justify(ops[index], opsWidth),
                        formatSeconds(kernel.seconds.median), rate,
                        100 * kernel.rooflineFraction);
  }
  const kiln::Manifest &manifest = model.manifest();
  os << "\ntotal latency: " << formatSeconds(profile.latency.median)
     << " median of " << profile.latency.count << " runs (min "
     << formatSeconds(profile.latency.min) << "), " << manifest.steps.size()
     << " kernel calls";
  if (runnable.kernelsPerBlock)
    os << llvm::formatv(", {0:F1} per block", *runnable.kernelsPerBlock);
  os << "\nmemory plan: " << formatMemoryPlan(manifest) << "\n";
  os << "roofline (" << peaks.numThreads
     << " threads): " << formatScaled(peaks.flopsPerSecond, "FLOP/s")
     << " f32 FMA peak, " << formatScaled(peaks.bytesPerSecond, "B/s")
     << " STREAM bandwidth\n";
}

/// `kiln run` for a CUDA artifact: runs it on device 0 (a warm-up run, then
/// --repeat timed ones), checks it and prints the latency. Without a usable
/// device it says so and fails.
static int runCudaModel(const RunnableModel &runnable,
                        ArrayRef<kiln::HostTensor> inputs) {
  namespace cuda = kiln::cuda;
  std::string error;
  std::optional<cuda::CudaDevice> device = openFirstCudaDevice(error);
  if (!device)
    return fail("no CUDA device: " + error);
  cuda::CudaLoadOptions options;
  options.useGraph = !noCudaGraph;
  std::optional<cuda::CudaModel> model = cuda::CudaModel::load(
      *device, runnable.artifact, runnable.name, options, error);
  if (!model)
    return fail(error);
  for (auto [index, tensor] : llvm::enumerate(inputs))
    if (!model->bindInput(index, tensor, error))
      return fail(error);
  std::vector<double> seconds;
  for (int run = 0; run <= numRepeats; ++run) {
    auto start = std::chrono::steady_clock::now();
    if (!model->run(error))
      return fail(error);
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    if (run > 0)
      seconds.push_back(elapsed.count());
  }
  llvm::outs() << "model: " << runnable.name << " ("
               << model->manifest().steps.size() << " kernel calls) on "
               << device->info.name << " (" << device->info.getArch() << ", "
               << (model->usesGraph() ? "CUDA graph" : "stream launches")
               << ")\n";
  bool passed = true;
  if (!noCheck) {
    FailureOr<bool> checked = checkOutputs(runnable, *model, inputs);
    if (failed(checked))
      return 1;
    passed = *checked;
    llvm::outs() << (passed ? "PASS" : "FAIL") << "\n";
  }
  std::sort(seconds.begin(), seconds.end());
  llvm::outs() << "total latency: " << formatSeconds(seconds[seconds.size() / 2])
               << " median of " << seconds.size() << " runs (min "
               << formatSeconds(seconds.front()) << ")\n";
  return passed ? 0 : 1;
}

static int runModel(MLIRContext &context) {
  if (numRepeats < 1)
    return fail("--repeat must be at least 1");
  if (numThreads < 0)
    return fail("--threads must not be negative");
  FailureOr<RunnableModel> runnable = getRunnableModel(context);
  if (failed(runnable))
    return 1;
  FailureOr<std::vector<kiln::HostTensor>> inputs = getInputs(*runnable);
  if (failed(inputs))
    return 1;
  if (runnable->artifact.cuda)
    return runCudaModel(*runnable, *inputs);

  // 1. Load, bind and run.
  std::string error;
  kiln::LoadOptions loadOptions;
  loadOptions.numThreads = numThreads;
  std::optional<kiln::CompiledModel> model = kiln::CompiledModel::load(
      runnable->artifact, runnable->name, loadOptions, error);
  if (!model)
    return fail(error);
  for (auto [index, tensor] : llvm::enumerate(*inputs))
    if (!model->bindInput(index, tensor, error))
      return fail(error);
  kiln::ThreadPool pool(model->numThreads());
  kiln::MachinePeaks peaks = kiln::measureMachinePeaks(pool);
  std::optional<kiln::autotune::ModelProfile> profile =
      kiln::autotune::profileModel(*model, /*warmupRuns=*/1, numRepeats, peaks,
                                   error);
  if (!profile)
    return fail(error);
  llvm::outs() << "model: " << runnable->name << " ("
               << model->manifest().steps.size() << " kernel calls, "
               << model->numThreads() << " threads)\n";

  // 2. The check, then the table.
  bool passed = true;
  if (!noCheck) {
    FailureOr<bool> checked = checkOutputs(*runnable, *model, *inputs);
    if (failed(checked))
      return 1;
    passed = *checked;
    llvm::outs() << (passed ? "PASS" : "FAIL") << "\n";
  }
  printProfile(*runnable, *model, *profile, peaks);
  return passed ? 0 : 1;
}

//===----------------------------------------------------------------------===//
// kiln explain
//===----------------------------------------------------------------------===//

static int explainModel(MLIRContext &context) {
  if (numThreads < 0)
    return fail("--threads must not be negative");
  if (ridgeOption < 0)
    return fail("--ridge must not be negative");
  FailureOr<kiln::LoadedModel> model = loadModel(context, inputFile);
  if (failed(model))
    return 1;
  FailureOr<kiln::compiler::ModelExplanation> explanation =
      kiln::compiler::explainModel(*model->module, getCompileOptions());
  if (failed(explanation))
    return 1;
  double ridge = ridgeOption;
  std::string ridgeSource = "given";
  if (ridge == 0) {
    kiln::ThreadPool pool(numThreads);
    ridge = kiln::measureMachinePeaks(pool).getRidge();
    ridgeSource = "measured on this machine, " +
                  std::to_string(pool.getNumThreads()) + " threads";
  }

  raw_ostream &os = llvm::outs();
  int64_t flops = 0, bytes = 0;
  for (const kiln::graph::KernelExplanation &kernel : explanation->kernels) {
    flops += kernel.flops;
    bytes += kernel.getBytes();
  }
  os << "model: "
     << (modelName.empty() ? inputFile.getValue() : modelName.getValue())
     << ", fusion " << (noFusion ? "off" : "on") << ": "
     << explanation->kernels.size() << " kernels";
  if (explanation->kernelsPerBlock)
    os << llvm::formatv(" ({0:F1} per block)", *explanation->kernelsPerBlock);
  os << ", " << formatScaled(flops, "FLOP") << ", " << formatBytes(bytes)
     << " moved\n";
  os << llvm::formatv("ridge point: {0:F2} FLOP/byte ({1})\n\n", ridge,
                      ridgeSource);
  for (const kiln::graph::KernelExplanation &kernel : explanation->kernels) {
    bool compute = kiln::graph::getRooflineBound(kernel, ridge) ==
                   kiln::graph::RooflineBound::Compute;
    os << kernel.name << "  [" << kernel.kind << "]\n";
    os << "  ops (" << kernel.ops.size() << "): " << formatOps(kernel.ops)
       << "\n";
    os << llvm::formatv(
        "  {0}, {1} (in {2}, weights {3}, out {4}), "
        "{5:F2} FLOP/byte: {6}-bound\n",
        formatScaled(kernel.flops, "FLOP"), formatBytes(kernel.getBytes()),
        formatBytes(kernel.inputBytes), formatBytes(kernel.weightBytes),
        formatBytes(kernel.outputBytes), kernel.getIntensity(),
        compute ? "compute" : "memory");
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// kiln tune
//===----------------------------------------------------------------------===//

/// The worker executable, installed next to this one. Empty (with the
/// error reported) when it is not there.
static std::string findTuneWorker(const char *argv0) {
  std::string self =
      llvm::sys::fs::getMainExecutable(argv0, (void *)&findTuneWorker);
  SmallString<128> path(llvm::sys::path::parent_path(self));
  llvm::sys::path::append(path, "kiln-tune-worker");
  if (!llvm::sys::fs::can_execute(path)) {
    (void)fail("cannot find the tuning worker '" + path.str() +
               "' (it is built and installed next to kiln)");
    return "";
  }
  return path.str().str();
}

/// `kiln tune --target sm_80|sm_90a`: CUDA candidates are measured on the
/// device the target runs on, so tuning needs one: the options for device
/// 0, or the error saying plainly why it cannot tune here (reported when
/// this fails).
static FailureOr<kiln::autotune::TunerOptions> tuneForCuda() {
  std::string error;
  std::optional<kiln::cuda::CudaDevice> device = openFirstCudaDevice(error);
  if (!device) {
    (void)fail("cannot tune for " + targetName + ": no CUDA device: " + error);
    return failure();
  }
  if (!kiln::cuda::canRunArch(device->info, targetName)) {
    (void)fail("cannot tune for " + targetName + ": device 0 (" +
               device->info.name + ", " + device->info.getArch() +
               ") cannot run it");
    return failure();
  }
  std::optional<kiln::autotune::TunerOptions> options =
      kiln::autotune::getCudaTunerOptions(targetName, device->info);
  options->nvrtc = getNvrtcOptions();
  return std::move(*options);
}

/// The tuner's options from the command line: for a CPU target with the
/// machine's roofline measured on `threads` threads, for a GPU target on
/// device 0. Errors are already reported when this fails.
static FailureOr<kiln::autotune::TunerOptions>
getTunerOptions(const char *argv0) {
  FailureOr<kiln::autotune::TunerOptions> options = failure();
  if (kiln::compiler::isCudaTarget(targetName)) {
    options = tuneForCuda();
  } else {
    llvm::Expected<kiln::codegen::CpuTarget> target =
        kiln::codegen::getCpuTarget(targetName);
    if (!target) {
      (void)fail(llvm::toString(target.takeError()));
      return failure();
    }
    options =
        kiln::autotune::getHostTunerOptions(std::move(*target), numThreads);
  }
  if (failed(options))
    return failure();
  options->workerPath = findTuneWorker(argv0);
  if (options->workerPath.empty())
    return failure();
  options->compilerVersion = kiln::compiler::getCompilerVersion();
  options->search.maxTrials = trialBudget;
  options->measureSeconds = measureSeconds;
  options->trialDataFolder = trialDataFolder;
  return options;
}

/// Where `options` measures, for the progress lines.
static std::string describeTuningTarget(
    const kiln::autotune::TunerOptions &options) {
  if (options.cuda)
    return "for " + options.cuda->arch + " on CUDA device 0";
  return "on " + std::to_string(options.threads) + " threads";
}

namespace {
/// One kernel's row of the tuning table: its tuning and its roofline bound.
struct TunedKernel {
  kiln::autotune::KernelTuning tuning;
  double minSeconds = 0;
};
} // namespace

/// The per-kernel table: default and tuned time, speedup, trials and how
/// close the tuned kernel comes to its roofline bound (as `kiln run`
/// reports it).
static void printTuningTable(const std::vector<TunedKernel> &kernels) {
  raw_ostream &os = llvm::outs();
  size_t kernelWidth = StringRef("kernel").size();
  for (const TunedKernel &kernel : kernels)
    kernelWidth = std::max(kernelWidth, kernel.tuning.kernel.size());
  os << "\n"
     << llvm::formatv("{0}  {1,10}  {2,10}  {3,8}  {4,6}   {5,8}\n",
                      llvm::left_justify("kernel", kernelWidth), "default",
                      "tuned", "speedup", "trials", "roofline");
  for (const TunedKernel &kernel : kernels) {
    const kiln::autotune::KernelTuning &tuning = kernel.tuning;
    if (!tuning.error.empty()) {
      os << llvm::formatv("{0}  {1,10}  {2,10}  {3,8}  {4,6}   {5,8}\n",
                          llvm::left_justify(tuning.kernel, kernelWidth), "-",
                          "failed", "-", tuning.trials, "-");
      continue;
    }
    bool known = tuning.defaultSeconds > 0;
    std::string speedup =
        known ? llvm::formatv("{0:F2}x", tuning.defaultSeconds /
                                             tuning.tunedSeconds)
                    .str()
              : "-";
    std::string roofline =
        kernel.minSeconds > 0
            ? llvm::formatv("{0:F1}%",
                            100 * kernel.minSeconds / tuning.tunedSeconds)
                  .str()
            : "-";
    os << llvm::formatv(
        "{0}  {1,10}  {2,10}  {3,8}  {4,6}{5}  {6,8}\n",
        llvm::left_justify(tuning.kernel, kernelWidth),
        known ? formatSeconds(tuning.defaultSeconds) : "-",
        formatSeconds(tuning.tunedSeconds), speedup, tuning.trials,
        tuning.cached ? "*" : " ", roofline);
  }
  os << "(* cached: found in the tuning database; roofline: the roofline's "
        "bound over the tuned time, the gap left to close; over 100% when "
        "the data stays in cache)\n";
  for (const TunedKernel &kernel : kernels)
    if (!kernel.tuning.error.empty())
      os << kernel.tuning.kernel << ": not tuned: " << kernel.tuning.error
         << "\n";
}

/// The per-kernel table as JSON, with the model's tuning wall time.
static bool writeTuningJson(const std::vector<TunedKernel> &kernels,
                            int threads, double wallSeconds,
                            std::string &error) {
  std::error_code code;
  llvm::raw_fd_ostream file(tuneJson, code);
  if (code) {
    error = "cannot write '" + tuneJson + "': " + code.message();
    return false;
  }
  llvm::json::OStream json(file, /*IndentSize=*/2);
  json.object([&] {
    json.attribute("model", modelName.empty() ? inputFile : modelName);
    json.attribute("threads", threads);
    json.attribute("wall_seconds", wallSeconds);
    json.attributeArray("kernels", [&] {
      for (const TunedKernel &kernel : kernels) {
        const kiln::autotune::KernelTuning &tuning = kernel.tuning;
        json.object([&] {
          json.attribute("kernel", tuning.kernel);
          json.attribute("cached", tuning.cached);
          json.attribute("default_seconds", tuning.defaultSeconds);
          json.attribute("tuned_seconds", tuning.tunedSeconds);
          json.attribute("roofline_seconds", kernel.minSeconds);
          json.attribute("trials", tuning.trials);
          json.attribute("legal_candidates", tuning.legalCandidates);
          json.attribute("failed_candidates",
                         static_cast<int64_t>(tuning.failures.size()));
          json.attribute("remeasured", tuning.remeasured);
          json.attribute("confirmation_trials", tuning.confirmationTrials);
          json.attribute("wall_seconds", tuning.wallSeconds);
          json.attribute("config", tuning.config);
          json.attribute("error", tuning.error);
        });
      }
    });
  });
  file << "\n";
  return true;
}

/// The worker arguments --inject-fault gives `kernel`.
static std::vector<std::string> getInjectedFault(StringRef kernel) {
  for (StringRef fault : injectFaults) {
    auto [name, kind] = fault.split('=');
    if (name == kernel)
      return {"--inject-fault", kind.str()};
  }
  return {};
}

/// What an earlier `kiln tune --study --json` recorded (--study-data): the
/// results per kernel and config, and the roofline its cost model used, so
/// that the replay ranks as it did.
struct StudyData {
  std::map<std::string, std::map<std::string, kiln::autotune::TrialResult>>
      recorded;
  std::optional<double> flopsPerSecond, bytesPerSecond;
};

/// The --study-data file; empty without the option.
static FailureOr<StudyData> readStudyData() {
  StudyData data;
  if (studyData.empty())
    return data;
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(studyData, /*IsText=*/true);
  if (!buffer) {
    fail("cannot read '" + studyData + "': " + buffer.getError().message());
    return failure();
  }
  llvm::Expected<llvm::json::Value> value =
      llvm::json::parse((*buffer)->getBuffer());
  const llvm::json::Array *kernels =
      value && value->getAsObject()
          ? value->getAsObject()->getArray("kernels")
          : nullptr;
  if (!kernels) {
    if (!value)
      llvm::consumeError(value.takeError());
    fail("'" + studyData + "' is not the JSON of a kiln tune --study");
    return failure();
  }
  data.flopsPerSecond = value->getAsObject()->getNumber("flops_per_second");
  data.bytesPerSecond = value->getAsObject()->getNumber("bytes_per_second");
  for (const llvm::json::Value &kernel : *kernels) {
    const llvm::json::Object *object = kernel.getAsObject();
    std::optional<llvm::StringRef> name =
        object ? object->getString("kernel") : std::nullopt;
    const llvm::json::Array *candidates =
        object ? object->getArray("candidates") : nullptr;
    if (!name || !candidates)
      continue;
    for (const llvm::json::Value &candidate : *candidates) {
      const llvm::json::Object *entry = candidate.getAsObject();
      std::optional<llvm::StringRef> config =
          entry ? entry->getString("config") : std::nullopt;
      const llvm::json::Value *result = entry ? entry->get("result") : nullptr;
      if (config && result)
        data.recorded[name->str()][config->str()] =
            kiln::autotune::parseTrialAnswer(llvm::formatv("{0}", *result));
    }
  }
  return data;
}

/// `kiln tune --study N`: per kernel, how many trials the search needs to
/// come within 3% of the best of the candidates measured
/// (autotune/Study.h), printed and, with --json, written.
static int studyKernels(std::vector<func::FuncOp> &kernels,
                        const char *argv0) {
  FailureOr<StudyData> data = readStudyData();
  if (failed(data))
    return 1;
  FailureOr<kiln::autotune::TunerOptions> options = getTunerOptions(argv0);
  if (failed(options))
    return 1;
  if (data->flopsPerSecond && data->bytesPerSecond) {
    options->peaks.flopsPerSecond = *data->flopsPerSecond;
    options->peaks.bytesPerSecond = *data->bytesPerSecond;
  }
  kiln::autotune::StudyOptions study;
  study.maxCandidates = studyCandidates;
  raw_ostream &os = llvm::outs();
  os << "studying " << kernels.size() << " kernels "
     << describeTuningTarget(*options) << " (up to " << study.maxCandidates
     << " candidates each, budget " << options->search.maxTrials << ")\n";
  std::vector<kiln::autotune::KernelStudy> studies;
  for (auto [index, kernel] : llvm::enumerate(kernels)) {
    os << llvm::formatv("[{0}/{1}] {2}: ", index + 1, kernels.size(),
                        kernel.getSymName());
    os.flush();
    study.recorded = data->recorded[kernel.getSymName().str()];
    FailureOr<kiln::autotune::KernelStudy> result =
        kiln::autotune::studyKernel(kernel, *options, study);
    if (failed(result))
      return 1;
    std::string how =
        result->subspace
            ? llvm::formatv(" (the model's best {0}, {1} stratified)",
                            result->modelTop, result->stratified)
                  .str()
            : std::string();
    if (result->reused)
      how += llvm::formatv(", {0} recorded", result->reused).str();
    os << llvm::formatv(
        "{0} of {1} legal candidates measured{2} in {3:F1} s, {4} failed; "
        "best {5}, default {6}; within 3% after {7} trials; budget {8}: "
        "{9}\n",
        result->measured, result->legalCandidates, how, result->wallSeconds,
        result->failed, formatSeconds(result->bestSeconds),
        result->defaultSeconds > 0 ? formatSeconds(result->defaultSeconds)
                                   : std::string("failed"),
        result->trialsToWithin, result->searchBudget,
        formatSeconds(result->searchSeconds));
    studies.push_back(std::move(*result));
  }
  if (tuneJson.empty())
    return 0;
  std::error_code code;
  llvm::raw_fd_ostream file(tuneJson, code);
  if (code)
    return fail("cannot write '" + tuneJson + "': " + code.message());
  llvm::json::OStream json(file, /*IndentSize=*/2);
  json.object([&] {
    json.attribute("model", modelName.empty() ? inputFile : modelName);
    json.attribute("threads", options->threads);
    json.attribute("tolerance", study.tolerance);
    json.attribute("max_candidates", study.maxCandidates);
    json.attribute("model_top_fraction", study.modelTopFraction);
    json.attribute("flops_per_second", options->peaks.flopsPerSecond);
    json.attribute("bytes_per_second", options->peaks.bytesPerSecond);
    json.attributeArray("kernels", [&] {
      for (const kiln::autotune::KernelStudy &result : studies)
        json.object([&] {
          json.attribute("kernel", result.kernel);
          json.attribute("space_size", result.spaceSize);
          json.attribute("legal_candidates", result.legalCandidates);
          json.attribute("measured", result.measured);
          json.attribute("subspace", result.subspace);
          json.attribute("model_top", result.modelTop);
          json.attribute("stratified", result.stratified);
          json.attribute("reused", result.reused);
          json.attribute("failed", result.failed);
          json.attribute("default_seconds", result.defaultSeconds);
          json.attribute("best_seconds", result.bestSeconds);
          json.attribute("best_config", result.bestConfig);
          json.attribute("trials_to_within", result.trialsToWithin);
          json.attribute("search_budget", result.searchBudget);
          json.attribute("search_seconds", result.searchSeconds);
          json.attributeArray("search_order", [&] {
            for (size_t index : result.searchOrder)
              json.value(static_cast<int64_t>(index));
          });
          json.attribute("wall_seconds", result.wallSeconds);
          json.attributeArray("candidates", [&] {
            for (const kiln::autotune::StudiedCandidate &entry :
                 result.candidates)
              json.object([&] {
                json.attributeArray("indices", [&] {
                  for (int64_t index : entry.candidate)
                    json.value(index);
                });
                json.attribute("config", entry.config);
                json.attribute("predicted_seconds", entry.predictedSeconds);
                json.attribute("result",
                               cantFail(llvm::json::parse(
                                   kiln::autotune::formatTrialAnswer(
                                       entry.result))));
              });
          });
        });
    });
  });
  file << "\n";
  return 0;
}

/// The exit status of `kiln tune` once the kernels are done: 0 when every
/// kernel was tuned or found cached, and also when some could not be tuned
/// but the model still compiles with the default configs for them (a
/// warning says so); 1 when it does not.
static int checkUntunedKernels(const std::vector<TunedKernel> &kernels,
                               kiln::LoadedModel &model,
                               TuningDatabase &database) {
  int64_t untuned = llvm::count_if(kernels, [](const TunedKernel &kernel) {
    return !kernel.tuning.error.empty();
  });
  if (untuned == 0)
    return 0;
  kiln::compiler::CompileOptions compileOptions = getCompileOptions();
  compileOptions.configLookup =
      makeConfigLookup(database, targetName, numThreads);
  if (failed(kiln::compiler::compileModel(*model.module, model.weights,
                                          compileOptions)))
    return fail(llvm::formatv("{0} kernels could not be tuned, and the model "
                              "does not compile with their default configs",
                              untuned)
                    .str());
  llvm::errs() << llvm::formatv(
      "kiln: warning: {0} kernels could not be tuned; the model compiles "
      "with their default configs\n",
      untuned);
  return 0;
}

static int tuneModel(MLIRContext &context, const char *argv0) {
  if (trialBudget < 1)
    return fail("--budget must be at least 1 (candidates per kernel)");
  if (timeBudget < 0)
    return fail("--time must not be negative");
  if (measureSeconds <= 0)
    return fail("--measure-seconds must be positive");
  if (numThreads < 0)
    return fail("--threads must not be negative");
  if (studyCandidates < 0)
    return fail("--study must not be negative");
  if (!studyData.empty() && studyCandidates == 0)
    return fail("--study-data needs --study");
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  };

  // 1. The kernels exactly as `kiln compile` outlines them.
  FailureOr<kiln::LoadedModel> model = loadModel(context, inputFile);
  if (failed(model))
    return 1;
  FailureOr<OwningOpRef<ModuleOp>> outlined =
      kiln::compiler::outlineKernels(*model->module, getCompileOptions());
  if (failed(outlined))
    return 1;
  std::vector<func::FuncOp> kernels;
  for (auto function : (**outlined).getOps<func::FuncOp>())
    if (function->hasAttr(kiln::graph::kKernelAttrName))
      kernels.push_back(function);
  llvm::StringMap<kiln::graph::KernelExplanation> explanations;
  for (kiln::graph::KernelExplanation &kernel :
       kiln::graph::explainKernels(**outlined))
    explanations[kernel.name] = std::move(kernel);

  if (studyCandidates > 0)
    return studyKernels(kernels, argv0);

  // 2. The tuner (a GPU target needs its device), then the database.
  FailureOr<kiln::autotune::TunerOptions> options = getTunerOptions(argv0);
  if (failed(options))
    return 1;
  std::unique_ptr<TuningDatabase> database = openDatabase();
  if (!database)
    return 1;
  raw_ostream &os = llvm::outs();
  os << "tuning " << kernels.size() << " kernels "
     << describeTuningTarget(*options) << " into " << database->getPath()
     << "\n";

  // 3. Each kernel, with a progress line.
  std::vector<TunedKernel> tuned;
  for (auto [index, kernel] : llvm::enumerate(kernels)) {
    os << llvm::formatv("[{0}/{1}] {2}: ", index + 1, kernels.size(),
                        kernel.getSymName());
    os.flush();
    if (timeBudget > 0) {
      double left = timeBudget - elapsed();
      if (left <= 0) {
        os << "not tuned (--time spent)\n";
        continue;
      }
      options->search.maxSeconds =
          left / static_cast<double>(kernels.size() - index);
    }
    options->workerArguments = getInjectedFault(kernel.getSymName());
    FailureOr<kiln::autotune::KernelTuning> tuning =
        kiln::autotune::tuneKernel(kernel, *options, *database);
    if (failed(tuning)) {
      // Reported above; the other kernels are still worth tuning.
      kiln::autotune::KernelTuning untuned;
      untuned.kernel = kernel.getSymName().str();
      untuned.error = "see the error above";
      tuning = FailureOr<kiln::autotune::KernelTuning>(std::move(untuned));
    }
    if (!tuning->error.empty())
      os << "failed: " << tuning->error << "\n";
    else if (tuning->cached)
      os << "cached\n";
    else
      os << llvm::formatv("{0} of {1} legal candidates measured in {2:F1} s, "
                          "{3} failed\n",
                          tuning->trials, tuning->legalCandidates,
                          tuning->wallSeconds, tuning->failures.size());
    TunedKernel row{std::move(*tuning), 0};
    auto explanation = explanations.find(row.tuning.kernel);
    if (explanation != explanations.end())
      row.minSeconds = options->peaks.getMinSeconds(
          explanation->second.flops, explanation->second.getBytes());
    tuned.push_back(std::move(row));
  }
  printTuningTable(tuned);
  double wallSeconds = elapsed();
  os << llvm::formatv("tuned in {0:F1} s\n", wallSeconds);
  std::string error;
  if (!tuneJson.empty() &&
      !writeTuningJson(tuned, options->threads, wallSeconds, error))
    return fail(error);
  return checkUntunedKernels(tuned, *model, *database);
}

//===----------------------------------------------------------------------===//
// kiln db
//===----------------------------------------------------------------------===//

/// `kiln db show KEY`: the records whose signature starts with KEY.
static int showTunings(TuningDatabase &database, StringRef key) {
  raw_ostream &os = llvm::outs();
  int64_t shown = 0;
  for (const kiln::autotune::TuningRecord &record : database.list()) {
    if (!StringRef(record.key.signature).starts_with(key))
      continue;
    if (shown++)
      os << "\n";
    os << "signature:        " << record.key.signature << "\n"
       << "kernel:           " << record.kernel << "\n"
       << "target:           " << record.key.target << "\n"
       << "compiler version: " << record.key.compilerVersion << "\n"
       << "threads:          " << record.key.threads << "\n"
       << "config:           " << record.config << "\n"
       << "median:           " << formatSeconds(record.medianSeconds)
       << " (interquartile range " << formatSeconds(record.iqrSeconds) << ", "
       << record.samples << " samples)\n"
       << "default:          "
       << (record.defaultSeconds > 0 ? formatSeconds(record.defaultSeconds)
                                     : std::string("unknown"))
       << "\n"
       << "trials:           " << record.trials << "\n"
       << "date:             " << record.date << "\n";
  }
  if (!shown)
    return fail("no tuning with a signature starting with '" + key + "' in '" +
                database.getPath() + "' (kiln db list shows them)");
  return 0;
}

/// `kiln db list`: one line per record.
static int listTunings(TuningDatabase &database) {
  raw_ostream &os = llvm::outs();
  std::vector<kiln::autotune::TuningRecord> records = database.list();
  os << records.size() << " tunings in " << database.getPath() << "\n";
  for (const kiln::autotune::TuningRecord &record : records)
    os << llvm::formatv("{0}  {1,10}  {2,3} threads  {3,-8}  {4}  {5}\n",
                        record.key.signature,
                        formatSeconds(record.medianSeconds), record.key.threads,
                        record.key.compilerVersion, record.date,
                        record.kernel);
  return 0;
}

/// The UTC date of --older-than, completed to TuningRecord::date's format;
/// empty (with the error reported) when it is not a date.
static std::string getPruneDate() {
  StringRef date = olderThan;
  std::string full = date.size() == 10 ? (date + "T00:00:00Z").str()
                                       : date.str();
  auto isDigitAt = [&](size_t at) { return llvm::isDigit(full[at]); };
  bool valid = full.size() == 20 && full[4] == '-' && full[7] == '-' &&
               full[10] == 'T' && full[13] == ':' && full[16] == ':' &&
               full[19] == 'Z';
  for (size_t at : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})
    valid = valid && isDigitAt(at);
  if (!valid) {
    (void)fail("--older-than expects a UTC date YYYY-MM-DD or "
               "YYYY-MM-DDTHH:MM:SSZ, not '" +
               date + "'");
    return "";
  }
  return full;
}

static int pruneTunings(TuningDatabase &database) {
  if (olderThan.empty() && !otherVersions)
    return fail("kiln db prune needs --older-than DATE, --other-versions or "
                "both");
  std::string date;
  if (!olderThan.empty() && (date = getPruneDate()).empty())
    return 1;
  std::string error;
  int64_t deleted = database.prune(
      otherVersions ? kiln::compiler::getCompilerVersion() : "", date, error);
  if (deleted < 0)
    return fail(error);
  llvm::outs() << "deleted " << deleted << " tunings from "
               << database.getPath() << "\n";
  return 0;
}

static int exportTunings(TuningDatabase &database, StringRef file) {
  std::error_code code;
  llvm::raw_fd_ostream os(file, code);
  if (code)
    return fail("cannot write '" + file + "': " + code.message());
  os << database.exportJson();
  os.close();
  if (os.has_error())
    return fail("cannot write '" + file + "': " + os.error().message());
  llvm::outs() << "exported " << database.list().size() << " tunings to "
               << file << "\n";
  return 0;
}

static int importTunings(TuningDatabase &database, StringRef file) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(file, /*IsText=*/true);
  if (!buffer)
    return fail("cannot read '" + file + "': " + buffer.getError().message());
  std::string error;
  int64_t stored = database.importJson((*buffer)->getBuffer().str(), error);
  if (stored < 0)
    return fail("cannot import '" + file + "': " + error);
  llvm::outs() << "imported " << stored << " tunings from " << file
               << " (records no faster than the stored ones are kept out)\n";
  return 0;
}

static int runDatabaseCommand() {
  std::vector<std::string> arguments(databaseArguments.begin(),
                                     databaseArguments.end());
  static const std::map<std::string, size_t> kArity = {
      {"list", 1}, {"show", 2}, {"export", 2}, {"import", 2}, {"prune", 1}};
  auto arity = arguments.empty() ? kArity.end() : kArity.find(arguments[0]);
  if (arity == kArity.end())
    return fail("expected kiln db list | show KEY | export FILE | import FILE "
                "| prune [--older-than DATE] [--other-versions]");
  if (arguments.size() != arity->second)
    return fail("kiln db " + arguments[0] +
                (arity->second == 1 ? " takes no argument"
                                    : " takes one argument"));
  if (arguments[0] != "prune" && (!olderThan.empty() || otherVersions))
    return fail("--older-than and --other-versions apply to kiln db prune");
  std::unique_ptr<TuningDatabase> database = openDatabase();
  if (!database)
    return 1;
  const std::string &command = arguments[0];
  if (command == "list")
    return listTunings(*database);
  if (command == "show")
    return showTunings(*database, arguments[1]);
  if (command == "export")
    return exportTunings(*database, arguments[1]);
  if (command == "import")
    return importTunings(*database, arguments[1]);
  return pruneTunings(*database);
}

//===----------------------------------------------------------------------===//
// kiln bench
//===----------------------------------------------------------------------===//

static cl::list<std::string>
    benchArguments(cl::Positional,
                   cl::desc("[compare BASE.json NEW.json]"),
                   cl::sub(benchCommand));
static cl::opt<std::string>
    benchSuite("suite", cl::desc("The suite: kernels, models or all"),
               cl::value_desc("name"), cl::init("kernels"),
               cl::sub(benchCommand));
static cl::opt<std::string> benchTarget("target",
                                        cl::desc("The CPU to compile for"),
                                        cl::value_desc("name"),
                                        cl::init("host"),
                                        cl::sub(benchCommand));
static cl::opt<int>
    benchThreads("threads",
                 cl::desc("Threads per kernel (0: one per hardware thread)"),
                 cl::init(0), cl::sub(benchCommand));
static cl::opt<std::string> benchJson("json",
                                      cl::desc("Write the results as JSON "
                                               "(bench/SCHEMA.md)"),
                                      cl::value_desc("file"),
                                      cl::sub(benchCommand));
static cl::opt<std::string>
    benchFilter("filter",
                cl::desc("Only benchmarks whose name matches this regular "
                         "expression"),
                cl::value_desc("regex"), cl::sub(benchCommand));
static cl::opt<double>
    benchBudget("budget",
                cl::desc("Seconds of sampling per benchmark at most "
                         "(default 1, 0.05 with --smoke)"),
                cl::value_desc("seconds"), cl::init(0), cl::sub(benchCommand));
static cl::opt<bool> benchSmoke("smoke",
                                cl::desc("Tiny sizes, for the test suite"),
                                cl::sub(benchCommand));
static cl::opt<bool>
    benchCounts("counts",
                cl::desc("Count instructions per call: perf, or callgrind "
                         "where the machine has no counter"),
                cl::sub(benchCommand));
static cl::opt<bool>
    benchNoPeers("no-peers", cl::desc("Leave out OpenBLAS and oneDNN"),
                 cl::sub(benchCommand));
static cl::opt<double> compareThreshold(
    "threshold", cl::desc("bench compare: the smallest time change that counts"),
    cl::init(0.05), cl::sub(benchCommand));
static cl::opt<double>
    compareAlpha("alpha", cl::desc("bench compare: the significance level"),
                 cl::init(0.01), cl::sub(benchCommand));
static cl::opt<double> compareCountThreshold(
    "count-threshold",
    cl::desc("bench compare: the smallest instruction-count change that "
             "counts"),
    cl::init(0.01), cl::sub(benchCommand));
static cl::opt<bool>
    compareMarkdown("markdown",
                    cl::desc("bench compare: print a markdown table"),
                    cl::sub(benchCommand));
static cl::opt<double> benchInjectSlowdown(
    "inject-slowdown",
    cl::desc("Make every timed call this fraction slower (tests the gate)"),
    cl::init(0), cl::Hidden, cl::sub(benchCommand));
static cl::opt<bool> benchCountedCall(
    "counted-call",
    cl::desc("Run each benchmark once in the counted region (callgrind)"),
    cl::Hidden, cl::sub(benchCommand));

/// Reports a `kiln bench compare` input error: exit status 2, so that CI
/// tells it from a regression (1).
static int failCompare(const Twine &message) {
  (void)fail(message);
  return 2;
}

/// `kiln bench compare BASE NEW`: 0 when nothing regressed, 1 on a
/// regression, 2 on bad input.
static int compareBenchReports() {
  if (benchArguments.size() != 3)
    return failCompare("kiln bench compare needs two files: BASE.json "
                       "NEW.json");
  if (compareThreshold < 0 || compareCountThreshold < 0 ||
      !(compareAlpha > 0 && compareAlpha < 1))
    return failCompare("--threshold and --count-threshold must not be "
                       "negative, --alpha must be in (0, 1)");
  std::string error;
  std::optional<kiln::bench::BenchReport> base =
      kiln::bench::readReportFile(benchArguments[1], error);
  if (!base)
    return failCompare(error);
  std::optional<kiln::bench::BenchReport> candidate =
      kiln::bench::readReportFile(benchArguments[2], error);
  if (!candidate)
    return failCompare(error);
  kiln::bench::CompareOptions options;
  options.threshold = compareThreshold;
  options.alpha = compareAlpha;
  options.countThreshold = compareCountThreshold;
  kiln::bench::ReportComparison comparison =
      kiln::bench::compareReports(*base, *candidate, options);
  llvm::outs() << (compareMarkdown
                       ? kiln::bench::renderMarkdown(comparison, options)
                       : kiln::bench::renderText(comparison, options));
  return comparison.hasRegression() ? 1 : 0;
}

static int runBench(const char *argv0) {
  if (!benchArguments.empty()) {
    if (benchArguments[0] == "compare")
      return compareBenchReports();
    return fail("unexpected argument '" + benchArguments[0] +
                "' (expected 'kiln bench [options]' or 'kiln bench compare "
                "BASE.json NEW.json')");
  }
  if (benchThreads < 0)
    return fail("--threads must not be negative");
  if (benchBudget < 0)
    return fail("--budget must not be negative");
  kiln::bench::BenchOptions options;
  options.suite = benchSuite;
  options.target = benchTarget;
  options.threads = benchThreads;
  options.filter = benchFilter;
  options.smoke = benchSmoke;
  options.injectedSlowdown = benchInjectSlowdown;
  options.countedCallOnly = benchCountedCall;
  options.measure.maxSeconds =
      benchBudget > 0 ? benchBudget : (benchSmoke ? 0.05 : 1.0);
  // Mann-Whitney U cannot reach p < 0.01 with fewer than about ten samples
  // a side: `bench compare` needs more than a stable median does.
  options.measure.minSamples = 20;
  // Only an explicit --db: the suites measure the defaults unless asked.
  std::unique_ptr<TuningDatabase> database;
  int64_t lookups = 0, tunedKernels = 0;
  if (!databaseOption.empty()) {
    FailureOr<std::unique_ptr<TuningDatabase>> opened = openCompileDatabase(
        "without --db the suites measure the default configs");
    if (failed(opened))
      return 1;
    database = std::move(*opened);
    kiln::compiler::KernelConfigLookup lookup =
        makeConfigLookup(*database, benchTarget, benchThreads);
    options.configLookup = [lookup, &lookups,
                            &tunedKernels](func::FuncOp kernel) {
      Attribute config = lookup ? lookup(kernel) : Attribute();
      ++lookups;
      tunedKernels += config != nullptr;
      return config;
    };
  }
  std::vector<std::unique_ptr<kiln::bench::MatmulPeer>> peers;
  if (!benchNoPeers)
    peers = kiln::bench::createMatmulPeers();
  for (auto &peer : peers)
    options.peers.push_back(peer.get());
  if (benchCounts) {
    options.counts = kiln::bench::CountMode::Auto;
    // The callgrind child: this program, the same suite, one benchmark.
    std::string self = llvm::sys::fs::getMainExecutable(
        argv0, reinterpret_cast<void *>(&runBench));
    options.countedCallCommand = [self](const std::string &name) {
      std::vector<std::string> command = {
          self, "bench", "--suite", benchSuite, "--target", benchTarget,
          "--filter", "^" + llvm::Regex::escape(name) + "$", "--counted-call"};
      if (benchSmoke)
        command.push_back("--smoke");
      if (benchNoPeers)
        command.push_back("--no-peers");
      return command;
    };
  }
  // A progress line on a terminal; nothing in CI logs.
  if (llvm::errs().is_displayed())
    options.progress = [](size_t index, size_t total, const std::string &name) {
      llvm::errs() << llvm::formatv("\r\x1b[K[{0}/{1}] {2}", index + 1, total,
                                    name);
      llvm::errs().flush();
    };

  std::string error;
  std::optional<kiln::bench::BenchReport> report =
      kiln::bench::runBenchmarks(options, error);
  if (options.progress)
    llvm::errs() << "\r\x1b[K";
  if (!report)
    return fail(error);
  if (benchCountedCall)
    return 0;
  if (database)
    llvm::outs() << "tuned configs from " << database->getPath() << ": "
                 << tunedKernels << " of " << lookups << " kernels\n";
  if (!benchJson.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream file(benchJson, ec);
    if (ec)
      return fail("cannot write '" + benchJson + "': " + ec.message());
    file << kiln::bench::writeReportJson(*report);
  }
  llvm::outs() << kiln::bench::renderReportText(*report);
  return 0;
}

/// Hides the options the LLVM libraries register at the top level (hundreds,
/// from the code generators), so that `kiln --help` shows kiln's own.
static void hideLibraryOptions() {
  for (auto &[name, option] :
       cl::getRegisteredOptions(cl::SubCommand::getTopLevel()))
    if (!llvm::is_contained({"help", "help-list", "version"}, name))
      option->setHiddenFlag(cl::ReallyHidden);
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  hideLibraryOptions();
  cl::ParseCommandLineOptions(
      argc, argv,
      "Kiln: a model compiler and kernel autotuner\n\n"
      "  kiln models\n"
      "  kiln export (FILE.onnx [--shape name=AxB] | --model NAME "
      "[--set knob=value,...]) [-o FILE.mlir]\n"
      "  kiln eval (FILE.mlir | FILE.onnx [--shape name=AxB] | --model NAME "
      "[--set knob=value,...])\n"
      "  kiln compile (FILE.mlir | FILE.onnx | --model NAME [--set ...]) "
      "[--target host]\n"
      "      [--no-fusion] [--threads N] [--print-ir-after-all] -o "
      "FILE.kiln\n"
      "  kiln run (FILE.kiln | FILE.mlir | FILE.onnx | --model NAME "
      "[--set ...])\n"
      "      [--threads N] [--repeat N] [--inputs FILE.safetensors] "
      "[--no-check]\n"
      "  kiln explain (FILE.mlir | FILE.onnx | --model NAME [--set ...]) "
      "[--no-fusion]\n"
      "      [--ridge FLOP/BYTE]\n"
      "  kiln tune (FILE.mlir | FILE.onnx | --model NAME [--set ...]) "
      "[--budget N] [--time S]\n"
      "      [--db FILE] [--threads N] [--measure-seconds S] [--json FILE] "
      "[--study N]\n"
      "      [--trial-data FOLDER]\n"
      "      (exit 0 also when a kernel cannot be tuned but the model "
      "compiles with its\n"
      "      default config; 1 when it does not)\n"
      "  kiln db (list | show KEY | export FILE | import FILE | prune "
      "[--older-than DATE]\n"
      "      [--other-versions]) [--db FILE]\n"
      "  kiln bench [--suite kernels|models|all] [--target host] "
      "[--threads N] [--json FILE]\n"
      "      [--filter REGEX] [--budget SECONDS] [--counts] [--smoke]\n"
      "  kiln bench compare BASE.json NEW.json [--threshold 0.05] "
      "[--alpha 0.01] [--markdown]\n"
      "  (compile and run take their configs from the tuning database; "
      "--db FILE, --no-db)\n");

  MLIRContext context;
  context.loadDialect<kiln::KilnDialect, func::FuncDialect>();
  // The error names the op and its location; a dump of the op adds noise.
  context.printOpOnDiagnostic(false);
  FirstErrorHandler diagnostics(context);

  if (modelsCommand)
    return listModels();
  if (exportCommand)
    return exportModel(context);
  if (evalCommand)
    return evalModel(context);
  if (compileCommand)
    return compileModel(context);
  if (runCommand)
    return runModel(context);
  if (explainCommand)
    return explainModel(context);
  if (tuneCommand)
    return tuneModel(context, argv[0]);
  if (dbCommand)
    return runDatabaseCommand();
  if (benchCommand)
    return runBench(argv[0]);
  return fail("expected a command: models, export, eval, compile, run, "
              "explain, tune, db or bench (see kiln --help)");
}
