//===- Kiln.cpp - The kiln command-line tool -------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// kiln models | export | eval. A thin main(): parsing options, printing
// results; the work is done by the libraries. Every error is printed once,
// with its location, and gives exit status 1.
//
//===----------------------------------------------------------------------===//

#include "ir/Cost.h"
#include "ir/KilnDialect.h"
#include "models/io/ModelFile.h"
#include "models/zoo/Zoo.h"
#include "reference/Evaluator.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <chrono>
#include <cmath>

using namespace mlir;
namespace cl = llvm::cl;

static cl::SubCommand modelsCommand("models",
                                    "List the model zoo and its knobs");
static cl::SubCommand exportCommand("export",
                                    "Write a zoo model as .mlir + weights");
static cl::SubCommand evalCommand(
    "eval", "Evaluate a model with the reference evaluator on seeded inputs");

static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("<model.mlir|model.onnx>"),
                                      cl::sub(exportCommand),
                                      cl::sub(evalCommand));
static cl::list<std::string>
    inputShapes("shape", cl::desc("Sizes of an ONNX model's input"),
                cl::value_desc("name=AxB"), cl::sub(exportCommand),
                cl::sub(evalCommand));
static cl::opt<std::string> modelName("model", cl::desc("A zoo model name"),
                                      cl::value_desc("name"),
                                      cl::sub(exportCommand),
                                      cl::sub(evalCommand));
static cl::list<std::string>
    settings("set", cl::desc("Knob settings of the zoo model"),
             cl::value_desc("knob=value,..."), cl::CommaSeparated,
             cl::sub(exportCommand), cl::sub(evalCommand));
static cl::opt<std::string>
    weightsFile("weights",
                cl::desc("Use the weights of this safetensors file"),
                cl::value_desc("file.safetensors"), cl::sub(exportCommand),
                cl::sub(evalCommand));
static cl::opt<uint64_t> inputSeed("seed", cl::desc("Seed of the inputs"),
                                   cl::init(0), cl::sub(evalCommand));
static cl::opt<std::string> outputFile("o", cl::desc("Output .mlir file"),
                                       cl::value_desc("file.mlir"),
                                       cl::sub(exportCommand));
static cl::opt<bool> inlineWeightsFlag(
    "inline-weights",
    cl::desc("Store the weights as constants in the .mlir itself"),
    cl::sub(exportCommand));

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
          return success(std::exchange(sawError, true));
        }) {}

private:
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
    kiln::LoadOptions options;
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

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "Kiln: a model compiler and kernel autotuner\n\n"
      "  kiln models\n"
      "  kiln export (FILE.onnx [--shape name=AxB] | --model NAME "
      "[--set knob=value,...]) [-o FILE.mlir]\n"
      "  kiln eval (FILE.mlir | FILE.onnx [--shape name=AxB] | --model NAME "
      "[--set knob=value,...])\n");

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
  return fail("expected a command: models, export or eval (see kiln --help)");
}
