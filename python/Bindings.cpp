//===- Bindings.cpp - The _kiln Python extension -----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The C++ half of the `kiln` Python package: thin wrappers over the
// compiler, runtime, reference evaluator, zoo, autotuner and benchmark
// libraries, as the `kiln` tool drives them. Choices a user makes in Python
// (what a source string is, the default tuning database) live in
// python/kiln/__init__.py; everything that compiles, runs or measures is a
// library call here. The GIL is released around every such call.
//
//===----------------------------------------------------------------------===//

#include "autotune/Database.h"
#include "autotune/Tuner.h"
#include "bench/Peers.h"
#include "bench/Report.h"
#include "bench/Suite.h"
#include "codegen/Common/Target.h"
#include "compiler/Compiler.h"
#include "models/io/ModelFile.h"
#include "models/zoo/Zoo.h"
#include "passes/Fusion/KernelGroups.h"
#include "reference/Evaluator.h"
#include "runtime/Executor.h"
#include "runtime/ThreadPool.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace mlir;

namespace {

/// A compiler diagnostic (or any failure to load, compile or evaluate a
/// model), raised in Python as kiln.CompileError with the message.
class CompileError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Keeps the first error a context emits, with its notes, as the `kiln`
/// tool prints it: the errors that follow restate it.
class FirstErrorCollector {
public:
  explicit FirstErrorCollector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diagnostic) {
          if (diagnostic.getSeverity() == DiagnosticSeverity::Error &&
              message.empty())
            message = format(diagnostic);
          return success();
        }) {}

  /// Throws the error collected, or `fallback` when none was emitted.
  [[noreturn]] void raise(const std::string &fallback) const {
    throw CompileError(message.empty() ? fallback : message);
  }

private:
  /// "file:line:col: message", or "at 'NAME': message" for the named
  /// locations of zoo models, then one line per note.
  static std::string format(Diagnostic &diagnostic) {
    std::string text;
    llvm::raw_string_ostream os(text);
    Location loc = diagnostic.getLocation();
    if (auto file = loc->findInstanceOf<FileLineColLoc>())
      os << file.getFilename().strref() << ":" << file.getLine() << ":"
         << file.getColumn() << ": ";
    else if (auto name = loc->findInstanceOf<NameLoc>())
      os << "at '" << name.getName().strref() << "': ";
    os << diagnostic.str();
    for (const Diagnostic &note : diagnostic.getNotes())
      os << "\nnote: " << note.str();
    return text;
  }

  std::string message;
  ScopedDiagnosticHandler handler;
};

/// Where a model comes from, as python/kiln/__init__.py decided.
struct ModelSource {
  /// "file", "text" or "zoo".
  std::string kind;
  /// The path, the MLIR text or the zoo model's name.
  std::string source;
  /// Zoo knobs, "knob=value".
  std::vector<std::string> settings;
  /// Full input shapes by name, fixing an ONNX model's symbolic dims.
  std::map<std::string, std::vector<int64_t>> shapes;
};

/// A model in its own context, which must outlive it.
struct Program {
  std::unique_ptr<MLIRContext> context;
  kiln::LoadedModel model;
};

/// A context with everything compiling needs, reporting errors without
/// dumping the op.
std::unique_ptr<MLIRContext> createContext() {
  DialectRegistry registry;
  kiln::compiler::registerCompilerDialects(registry);
  auto context = std::make_unique<MLIRContext>(registry);
  context->loadAllAvailableDialects();
  context->printOpOnDiagnostic(false);
  return context;
}

/// Loads `source`; throws CompileError naming what is wrong.
Program loadProgram(const ModelSource &source) {
  Program program{createContext(), {}};
  MLIRContext &context = *program.context;
  FirstErrorCollector errors(context);
  if (source.kind == "zoo") {
    std::string error;
    FailureOr<kiln::zoo::Model> built =
        kiln::zoo::buildModel(context, source.source, source.settings, error);
    if (failed(built))
      throw CompileError(error);
    program.model.module = std::move(built->module);
    program.model.weights = std::move(built->weights);
    return program;
  }
  if (!source.settings.empty())
    throw CompileError("knobs apply to zoo models, not to a model file or "
                       "MLIR text");
  if (source.kind == "text") {
    if (!source.shapes.empty())
      throw CompileError("shapes apply to ONNX files, not to MLIR text");
    program.model.module =
        parseSourceString<ModuleOp>(source.source, ParserConfig(&context),
                                   "<mlir text>");
    if (!program.model.module)
      errors.raise("cannot parse the MLIR text");
    // Text has no folder to hold a weights file: its weights are inline.
    if (failed(kiln::verifyWeights(*program.model.module, {})))
      errors.raise("the MLIR text reads weights it does not hold");
    return program;
  }
  kiln::ModelFileOptions options;
  options.inputShapes = source.shapes;
  FailureOr<kiln::LoadedModel> loaded =
      kiln::loadModelFile(context, source.source, options);
  if (failed(loaded))
    errors.raise("cannot load '" + source.source + "'");
  program.model = std::move(*loaded);
  return program;
}

/// The numpy dtype that holds elements of `type`; bf16 travels as float32
/// (numpy has no bf16), rounded on the way in.
py::dtype getNumpyType(kiln::ElementType type) {
  switch (type) {
  case kiln::ElementType::F32:
  case kiln::ElementType::BF16:
    return py::dtype::of<float>();
  case kiln::ElementType::F16:
    return py::dtype("float16");
  case kiln::ElementType::I32:
    return py::dtype::of<int32_t>();
  case kiln::ElementType::I64:
    return py::dtype::of<int64_t>();
  }
  throw std::logic_error("unknown element type");
}

/// `value` as a HostTensor of `spec`'s type and shape; raises TypeError or
/// ValueError naming the input (`what`) when it is not one.
kiln::HostTensor toHostTensor(py::handle value, const kiln::TensorSpec &spec,
                              const std::string &what) {
  if (!py::isinstance<py::array>(value))
    throw py::type_error(what + ": expected a numpy array, got " +
                         std::string(py::str(value.get_type().attr("__name__"))));
  auto array = py::reinterpret_borrow<py::array>(value);
  std::string expected = kiln::formatTensorType(spec.type, spec.shape);
  py::dtype dtype = getNumpyType(spec.type);
  std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
  if (!array.dtype().is(dtype) && !array.dtype().equal(dtype))
    throw py::type_error(what + ": expected " + expected + " (numpy " +
                         std::string(py::str(dtype)) + "), got a " +
                         std::string(py::str(array.dtype())) + " array");
  if (shape != spec.shape)
    throw py::value_error(what + ": expected " + expected + ", got shape " +
                          std::string(py::str(py::tuple(py::cast(shape)))));
  // Row-major bytes whatever the array's strides.
  auto dense = py::array::ensure(array, py::array::c_style);
  kiln::HostTensor tensor(spec.type, spec.shape);
  if (spec.type == kiln::ElementType::BF16) {
    const float *values = static_cast<const float *>(dense.data());
    for (int64_t i = 0, e = tensor.getNumElements(); i < e; ++i)
      tensor.setFloat(i, values[i]);
  } else {
    std::memcpy(tensor.data(), dense.data(), tensor.getByteSize());
  }
  return tensor;
}

/// A copy of `tensor` as a numpy array (bf16 widened to float32).
py::array toArray(const kiln::HostTensor &tensor) {
  py::array array(getNumpyType(tensor.getElementType()), tensor.getShape());
  if (tensor.getElementType() == kiln::ElementType::BF16) {
    float *values = static_cast<float *>(array.mutable_data());
    for (int64_t i = 0, e = tensor.getNumElements(); i < e; ++i)
      values[i] = tensor.getFloat(i);
  } else {
    std::memcpy(array.mutable_data(), tensor.data(), tensor.getByteSize());
  }
  return array;
}

/// The entry function of a loaded program; throws CompileError.
func::FuncOp getEntry(Program &program) {
  FirstErrorCollector errors(*program.context);
  FailureOr<func::FuncOp> function =
      kiln::getEntryFunction(*program.model.module);
  if (failed(function))
    errors.raise("the model has no entry function");
  return *function;
}

/// Opens the tuning database at `path`; throws CompileError.
std::unique_ptr<kiln::autotune::TuningDatabase>
openDatabase(const std::string &path) {
  std::vector<std::string> warnings;
  std::string error;
  auto database =
      kiln::autotune::TuningDatabase::open(path, warnings, error);
  if (!database)
    throw CompileError(error);
  return database;
}

/// The CPU target called `name`; throws CompileError.
kiln::codegen::CpuTarget getTarget(const std::string &name) {
  llvm::Expected<kiln::codegen::CpuTarget> target =
      kiln::codegen::getCpuTarget(name);
  if (!target)
    throw CompileError(llvm::toString(target.takeError()));
  return std::move(*target);
}

/// A compiled model with the program it came from (for the reference
/// evaluator). Runs are serialized: the runtime's model is not safe to use
/// from several threads at once, and runs release the GIL.
class Module {
public:
  Module(Program program, kiln::CompiledModel runtime,
         kiln::compiler::CompiledArtifact facts)
      : program(std::move(program)), runtime(std::move(runtime)),
        numKernels(facts.numKernels) {
    for (const kiln::compiler::KernelConfigChoice &choice : facts.configs)
      tunedKernels += choice.tuned;
  }

  py::list getSpecs(const std::vector<kiln::TensorSpec> &specs) const {
    py::list list;
    for (const kiln::TensorSpec &spec : specs)
      list.append(py::make_tuple(spec.name,
                                 std::string(kiln::elementTypeName(spec.type)),
                                 py::tuple(py::cast(spec.shape))));
    return list;
  }
  py::list inputs() const { return getSpecs(runtime.inputs()); }
  py::list outputs() const { return getSpecs(runtime.outputs()); }

  /// The model's inputs as HostTensors; raises on a count, dtype or shape
  /// that does not match.
  std::vector<kiln::HostTensor> convertInputs(py::sequence values) const {
    const std::vector<kiln::TensorSpec> &specs = runtime.inputs();
    if (values.size() != specs.size())
      throw py::value_error("the model takes " + std::to_string(specs.size()) +
                            " inputs, got " + std::to_string(values.size()));
    std::vector<kiln::HostTensor> tensors;
    for (size_t i = 0; i < specs.size(); ++i)
      tensors.push_back(toHostTensor(values[i], specs[i],
                                     "input " + std::to_string(i) + " '" +
                                         specs[i].name + "'"));
    return tensors;
  }

  /// Runs the compiled model. Inputs are copied into the model's own
  /// buffers (CompiledModel::bindInput): the kernels read the buffers the
  /// runtime handed them at load time, and a copy keeps another Python
  /// thread from changing an array while the model runs without the GIL.
  py::list run(py::sequence values) {
    std::vector<kiln::HostTensor> tensors = convertInputs(values);
    std::vector<kiln::HostTensor> results;
    std::string error;
    bool ok = true;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      for (size_t i = 0; ok && i < tensors.size(); ++i)
        ok = runtime.bindInput(i, tensors[i], error);
      ok = ok && runtime.run(error);
      for (size_t i = 0; ok && i < runtime.outputs().size(); ++i)
        results.push_back(runtime.output(i));
    }
    if (!ok)
      throw std::runtime_error(error);
    py::list list;
    for (const kiln::HostTensor &tensor : results)
      list.append(toArray(tensor));
    return list;
  }

  /// The reference evaluator's outputs on the same inputs: the oracle the
  /// compiled model is checked against.
  py::list reference(py::sequence values) {
    std::vector<kiln::HostTensor> tensors = convertInputs(values);
    FailureOr<std::vector<kiln::HostTensor>> results = failure();
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      FirstErrorCollector errors(*program.context);
      results = kiln::reference::evaluate(getEntry(program), tensors,
                                          program.model.weights);
      if (failed(results))
        errors.raise("the reference evaluator failed");
    }
    py::list list;
    for (const kiln::HostTensor &tensor : *results)
      list.append(toArray(tensor));
    return list;
  }

  /// Deterministic inputs as `kiln eval --seed` draws them.
  py::list exampleInputs(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex);
    FirstErrorCollector errors(*program.context);
    FailureOr<std::vector<kiln::HostTensor>> inputs =
        kiln::reference::makeSeededInputs(getEntry(program), seed);
    if (failed(inputs))
      errors.raise("cannot make inputs for this model");
    py::list list;
    for (const kiln::HostTensor &tensor : *inputs)
      list.append(toArray(tensor));
    return list;
  }

  /// Seconds per kernel call of the last run, in order.
  py::list timings() const {
    py::list list;
    for (const kiln::StepTiming &step : runtime.lastRunTimings())
      list.append(py::make_tuple(step.kernel, step.seconds));
    return list;
  }

  int64_t getNumKernels() const { return numKernels; }
  int64_t getNumTunedKernels() const { return tunedKernels; }
  int getNumThreads() const { return runtime.numThreads(); }

private:
  Program program;
  kiln::CompiledModel runtime;
  int64_t numKernels = 0;
  int64_t tunedKernels = 0;
  std::mutex mutex;
};

/// Compiles `source` (with the tuned configs of the database at `dbPath`,
/// unless it is empty) and loads it to run on `threads` threads.
std::unique_ptr<Module> compile(const ModelSource &source,
                                const std::string &target, bool fusion,
                                const std::string &dbPath, int threads) {
  if (threads < 0)
    throw py::value_error("threads must not be negative");
  py::gil_scoped_release release;
  Program program = loadProgram(source);
  std::unique_ptr<kiln::autotune::TuningDatabase> database;
  kiln::compiler::CompileOptions options;
  options.target = target;
  options.fusion = fusion;
  if (!dbPath.empty()) {
    database = openDatabase(dbPath);
    std::string fingerprint = kiln::codegen::getTuningFingerprint(
        getTarget(target), kiln::codegen::getHostMachine());
    std::string version = kiln::compiler::getCompilerVersion();
    int64_t runThreads = kiln::ThreadPool::resolveNumThreads(threads);
    options.configLookup = [&database, fingerprint, version,
                            runThreads](func::FuncOp kernel) -> Attribute {
      return kiln::autotune::findTunedConfig(kernel, fingerprint, version,
                                             runThreads, *database);
    };
  }
  FirstErrorCollector errors(*program.context);
  FailureOr<kiln::compiler::CompiledArtifact> compiled =
      kiln::compiler::compileModel(*program.model.module,
                                   program.model.weights, options);
  if (failed(compiled))
    errors.raise("compiling failed");
  kiln::LoadOptions loadOptions;
  loadOptions.numThreads = threads;
  std::string error;
  std::optional<kiln::CompiledModel> runtime = kiln::CompiledModel::load(
      std::move(compiled->artifact), source.source, loadOptions, error);
  if (!runtime)
    throw CompileError(error);
  return std::make_unique<Module>(std::move(program), std::move(*runtime),
                                  std::move(*compiled));
}

/// Tunes every kernel of `source` as `kiln tune` does, into the database at
/// `dbPath`; one dict per kernel.
py::list tune(const ModelSource &source, const std::string &target,
              bool fusion, const std::string &dbPath,
              const std::string &workerPath, int64_t budget, int threads,
              double measureSeconds) {
  if (budget < 1)
    throw py::value_error("budget must be at least 1 (candidates per kernel)");
  if (measureSeconds <= 0)
    throw py::value_error("measure_seconds must be positive");
  if (threads < 0)
    throw py::value_error("threads must not be negative");
  std::vector<kiln::autotune::KernelTuning> tunings;
  {
    py::gil_scoped_release release;
    Program program = loadProgram(source);
    FirstErrorCollector errors(*program.context);
    kiln::compiler::CompileOptions compileOptions;
    compileOptions.target = target;
    compileOptions.fusion = fusion;
    FailureOr<OwningOpRef<ModuleOp>> outlined =
        kiln::compiler::outlineKernels(*program.model.module, compileOptions);
    if (failed(outlined))
      errors.raise("outlining the kernels failed");
    std::unique_ptr<kiln::autotune::TuningDatabase> database =
        openDatabase(dbPath);

    kiln::autotune::TunerOptions options =
        kiln::autotune::getHostTunerOptions(getTarget(target), threads);
    options.workerPath = workerPath;
    options.compilerVersion = kiln::compiler::getCompilerVersion();
    options.search.maxTrials = budget;
    options.measureSeconds = measureSeconds;
    for (auto kernel : (**outlined).getOps<func::FuncOp>()) {
      if (!kernel->hasAttr(kiln::graph::kKernelAttrName))
        continue;
      FailureOr<kiln::autotune::KernelTuning> tuning =
          kiln::autotune::tuneKernel(kernel, options, *database);
      if (failed(tuning))
        errors.raise("tuning kernel '" + kernel.getSymName().str() +
                     "' failed");
      tunings.push_back(std::move(*tuning));
    }
  }
  py::list list;
  for (const kiln::autotune::KernelTuning &tuning : tunings) {
    py::dict row;
    row["kernel"] = tuning.kernel;
    row["config"] = tuning.config;
    row["cached"] = tuning.cached;
    row["default_seconds"] = tuning.defaultSeconds;
    row["tuned_seconds"] = tuning.tunedSeconds;
    row["trials"] = tuning.trials;
    row["legal_candidates"] = tuning.legalCandidates;
    row["failures"] = tuning.failures.size();
    row["error"] = tuning.error;
    list.append(row);
  }
  return list;
}

/// Runs the benchmark suites as `kiln bench` does; the report as the JSON
/// of bench/SCHEMA.md.
std::string bench(const std::string &suite, const std::string &target,
                  int threads, const std::string &filter, bool smoke,
                  double budget, bool peers) {
  if (threads < 0)
    throw py::value_error("threads must not be negative");
  if (budget < 0)
    throw py::value_error("budget must not be negative");
  py::gil_scoped_release release;
  kiln::bench::BenchOptions options;
  options.suite = suite;
  options.target = target;
  options.threads = threads;
  options.filter = filter;
  options.smoke = smoke;
  options.measure.maxSeconds = budget > 0 ? budget : (smoke ? 0.05 : 1.0);
  std::vector<std::unique_ptr<kiln::bench::MatmulPeer>> owned;
  if (peers)
    owned = kiln::bench::createMatmulPeers();
  for (auto &peer : owned)
    options.peers.push_back(peer.get());
  std::string error;
  std::optional<kiln::bench::BenchReport> report =
      kiln::bench::runBenchmarks(options, error);
  if (!report)
    throw std::runtime_error(error);
  return kiln::bench::writeReportJson(*report);
}

/// The zoo's models and knobs.
py::list listZooModels() {
  py::list list;
  for (const kiln::zoo::ModelInfo &info : kiln::zoo::listModels()) {
    py::list knobs;
    for (const kiln::zoo::Knob &knob : info.knobs) {
      py::dict entry;
      entry["name"] = knob.name;
      entry["default"] = knob.defaultValue;
      entry["help"] = knob.help;
      if (knob.isInteger()) {
        entry["min"] = knob.minValue;
        entry["max"] = knob.maxValue;
      } else {
        entry["choices"] = knob.choices;
      }
      knobs.append(entry);
    }
    py::dict model;
    model["name"] = info.name;
    model["summary"] = info.summary;
    model["knobs"] = knobs;
    list.append(model);
  }
  return list;
}

} // namespace

PYBIND11_MODULE(_kiln, m) {
  m.doc() = "Kiln's compiler, runtime and autotuner (see the kiln package)";
  py::register_exception<CompileError>(m, "CompileError");

  py::class_<ModelSource>(m, "ModelSource")
      .def(py::init<std::string, std::string, std::vector<std::string>,
                    std::map<std::string, std::vector<int64_t>>>(),
           py::arg("kind"), py::arg("source"), py::arg("settings"),
           py::arg("shapes"));

  py::class_<Module>(m, "Module")
      .def_property_readonly("inputs", &Module::inputs)
      .def_property_readonly("outputs", &Module::outputs)
      .def_property_readonly("num_kernels", &Module::getNumKernels)
      .def_property_readonly("num_tuned_kernels", &Module::getNumTunedKernels)
      .def_property_readonly("num_threads", &Module::getNumThreads)
      .def("run", &Module::run)
      .def("reference", &Module::reference)
      .def("example_inputs", &Module::exampleInputs, py::arg("seed") = 0)
      .def("timings", &Module::timings);

  m.def("compile", &compile, py::arg("source"), py::arg("target"),
        py::arg("fusion"), py::arg("db"), py::arg("threads"));
  m.def("tune", &tune, py::arg("source"), py::arg("target"), py::arg("fusion"),
        py::arg("db"), py::arg("worker"), py::arg("budget"),
        py::arg("threads"), py::arg("measure_seconds"));
  m.def("bench", &bench, py::arg("suite"), py::arg("target"),
        py::arg("threads"), py::arg("filter"), py::arg("smoke"),
        py::arg("budget"), py::arg("peers"));
  m.def("zoo_models", &listZooModels);
  m.def("compiler_version", &kiln::compiler::getCompilerVersion);
}
