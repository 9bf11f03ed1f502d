//===- Suite.cpp - The benchmark suites of `kiln bench` ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "bench/Suite.h"

#include "bench/Counters.h"
#include "codegen/CPU/LoadKernel.h"
#include "codegen/Common/Target.h"
#include "compiler/Compiler.h"
#include "ir/Cost.h"
#include "ir/KilnDialect.h"
#include "models/zoo/Zoo.h"
#include "reference/Compare.h"
#include "reference/Evaluator.h"
#include "runtime/Executor.h"
#include "runtime/FileBytes.h"
#include "runtime/HostTensor.h"
#include "runtime/MachinePeaks.h"
#include "runtime/ThreadPool.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

using namespace mlir;

namespace kiln::bench {

MatmulPeer::~MatmulPeer() = default;

const std::vector<std::string> &getSuiteNames() {
  static const std::vector<std::string> names = {"kernels", "models", "all"};
  return names;
}

//===----------------------------------------------------------------------===//
// The kernels
//===----------------------------------------------------------------------===//

namespace {
/// One kernel of the kernels suite, in kiln IR.
struct KernelSpec {
  /// "matmul", "softmax", ...
  std::string kernel;
  /// "1024x1024x1024" (MxKxN for a matmul, the first input's shape else).
  std::string shape;
  /// A module with one function marked `kiln.kernel`.
  std::string source;
  /// Set for a matmul: its sizes, for the peers.
  std::optional<std::array<int64_t, 3>> matmulSizes;
  /// The length of its longest sum of products (K of a matmul); 0 for a
  /// kernel without one.
  int64_t contraction = 0;
};
} // namespace

static KernelSpec getMatmul(int64_t m, int64_t k, int64_t n) {
  return {"matmul", llvm::formatv("{0}x{1}x{2}", m, k, n).str(),
          llvm::formatv(R"mlir(
func.func @matmul(%a: tensor<{0}x{1}xf32>, %b: tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32> attributes {{kiln.kernel} {{
  %0 = kiln.matmul %a, %b : (tensor<{0}x{1}xf32>, tensor<{1}x{2}xf32>) -> tensor<{0}x{2}xf32>
  return %0 : tensor<{0}x{2}xf32>
})mlir",
                        m, k, n)
              .str(),
          std::array<int64_t, 3>{m, k, n}, k};
}

/// The row-wise kernels over `rows` x `cols` f32.
static std::vector<KernelSpec> getRowKernels(int64_t rows, int64_t cols) {
  std::string shape = llvm::formatv("{0}x{1}", rows, cols).str();
  std::string t = "tensor<" + shape + "xf32>";
  std::string w = llvm::formatv("tensor<{0}xf32>", cols).str();
  auto make = [&](StringRef kernel, StringRef body) {
    return KernelSpec{kernel.str(), shape,
                      llvm::formatv(body.data(), t, w).str(), std::nullopt,
                      /*contraction=*/0};
  };
  return {
      make("softmax", R"mlir(
func.func @softmax(%x: {0}) -> {0} attributes {{kiln.kernel} {{
  %0 = kiln.softmax %x {{axis = 1 : i64} : {0}
  return %0 : {0}
})mlir"),
      make("rms_norm", R"mlir(
func.func @rms_norm(%x: {0}, %g: {1}) -> {0} attributes {{kiln.kernel} {{
  %0 = kiln.rms_norm %x, %g {{epsilon = 1.0e-06 : f32} : ({0}, {1}) -> {0}
  return %0 : {0}
})mlir"),
      make("layer_norm", R"mlir(
func.func @layer_norm(%x: {0}, %g: {1}, %b: {1}) -> {0} attributes {{kiln.kernel} {{
  %0 = kiln.layer_norm %x, %g, %b {{epsilon = 1.0e-05 : f32} : ({0}, {1}, {1}) -> {0}
  return %0 : {0}
})mlir"),
      // x * sigmoid(x) + y: a SiLU with a residual, one fused kernel.
      make("silu_add", R"mlir(
func.func @silu_add(%x: {0}, %y: {0}) -> {0} attributes {{kiln.kernel} {{
  %0 = kiln.sigmoid %x : {0}
  %1 = kiln.mul %x, %0 : ({0}, {0}) -> {0}
  %2 = kiln.add %1, %y : ({0}, {0}) -> {0}
  return %2 : {0}
})mlir"),
  };
}

/// Grouped-query attention: `heads` query heads over `kvHeads` key/value
/// heads, `seq` tokens of `dim`.
static KernelSpec getAttention(int64_t heads, int64_t kvHeads, int64_t seq,
                               int64_t dim) {
  std::string q = llvm::formatv("tensor<1x{0}x{1}x{2}xf32>", heads, seq, dim);
  std::string kv =
      llvm::formatv("tensor<1x{0}x{1}x{2}xf32>", kvHeads, seq, dim);
  return {"attention", llvm::formatv("1x{0}x{1}x{2}", heads, seq, dim).str(),
          llvm::formatv(R"mlir(
func.func @attention(%q: {0}, %k: {1}, %v: {1}) -> {0} attributes {{kiln.kernel} {{
  %0 = kiln.attention %q, %k, %v {{causal = true} : ({0}, {1}, {1}) -> {0}
  return %0 : {0}
})mlir",
                        q, kv)
              .str(),
          std::nullopt, /*contraction=*/std::max(seq, dim)};
}

/// A 3x3 convolution with padding 1 over `channels` channels of `size` x
/// `size` pixels.
static KernelSpec getConv(int64_t channels, int64_t size) {
  std::string x =
      llvm::formatv("tensor<1x{0}x{1}x{1}xf32>", channels, size).str();
  std::string f = llvm::formatv("tensor<{0}x{0}x3x3xf32>", channels).str();
  return {"conv2d", llvm::formatv("1x{0}x{1}x{1}", channels, size).str(),
          llvm::formatv(R"mlir(
func.func @conv2d(%x: {0}, %f: {1}) -> {0} attributes {{kiln.kernel} {{
  %0 = kiln.conv2d %x, %f {{padding = array<i64: 1, 1, 1, 1>} : ({0}, {1}) -> {0}
  return %0 : {0}
})mlir",
                        x, f)
              .str(),
          std::nullopt, /*contraction=*/channels * 9};
}

/// The kernels suite at full or smoke sizes.
static std::vector<KernelSpec> getKernelSpecs(bool smoke) {
  std::vector<KernelSpec> specs;
  if (smoke) {
    specs = {getMatmul(7, 13, 33), getMatmul(64, 48, 96)};
    for (KernelSpec &spec : getRowKernels(8, 100))
      specs.push_back(std::move(spec));
    specs.push_back(getAttention(4, 2, 16, 8));
    specs.push_back(getConv(4, 8));
    return specs;
  }
  specs = {getMatmul(1024, 1024, 1024), getMatmul(2048, 2048, 2048),
           getMatmul(128, 768, 3072), getMatmul(512, 384, 1536)};
  // Well past the last-level cache of most machines: 128 MiB per tensor.
  for (KernelSpec &spec : getRowKernels(32768, 1024))
    specs.push_back(std::move(spec));
  specs.push_back(getAttention(8, 2, 1024, 64));
  specs.push_back(getConv(64, 56));
  return specs;
}

//===----------------------------------------------------------------------===//
// The runner
//===----------------------------------------------------------------------===//

namespace {
/// One benchmark, prepared and checked, ready to time.
struct Runnable {
  BenchResult result;
  /// One call on the benchmark's threads.
  std::function<void()> run;
  /// One call on the calling thread alone: what instruction counts see.
  std::function<void()> runOneThread;
  /// Evicts the call's inputs from the caches before each timed call (a
  /// kernel's: it then meets them as a model's kernel meets its weights);
  /// empty for a model, whose own kernels set up each other's caches.
  std::function<void()> evictInputs;
  /// Set when a timed call failed.
  std::shared_ptr<std::string> failure;
};

/// A group of benchmarks prepared together (a kernel and its peers, or a
/// model), by the names they will have.
struct Group {
  std::vector<std::string> names;
  std::function<std::optional<std::vector<Runnable>>()> prepare;
};

/// The work of one kernel or model: all its state lives behind the
/// runnables' shared pointers.
struct KernelState {
  cpu::LoadedKernel kernel;
  std::vector<HostTensor> tensors;
  std::vector<void *> buffers;
};

class Runner {
public:
  Runner(const BenchOptions &options, std::string &error)
      : options(options), error(error),
        pool(options.countedCallOnly ? 1 : options.threads) {
    DialectRegistry registry;
    compiler::registerCompilerDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    context.printOpOnDiagnostic(false);
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          if (diagnostic.getSeverity() == DiagnosticSeverity::Error)
            diagnostics += diagnostic.str() + "\n";
          return success();
        });
  }
  ~Runner() {
    if (!directory.empty())
      llvm::sys::fs::remove_directories(directory);
  }

  std::optional<BenchReport> run();

private:
  bool fail(const Twine &message) {
    error = message.str();
    if (!diagnostics.empty())
      error += ": " + StringRef(diagnostics).rtrim().str();
    return false;
  }
  std::vector<Group> getGroups();
  std::optional<std::vector<Runnable>> prepareKernel(const KernelSpec &spec,
                                                     const std::string &base);
  std::optional<std::vector<Runnable>> prepareModel(const std::string &name);
  bool measureGroup(ArrayRef<Runnable *> group, BenchReport &report);
  bool measureCountedCall(Runnable &runnable, BenchReport &report);
  std::function<void()> getTimedWork(Runnable &runnable);
  bool record(Runnable &runnable, autotune::Measurement measured,
              BenchReport &report);
  bool countWithCallgrind(Runnable &runnable);
  std::string getKernelPath();

  const BenchOptions &options;
  std::string &error;
  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  std::string directory;
  int compiled = 0;
  ThreadPool pool;
  std::optional<InstructionCounter> counter;
  /// The valgrind program found on the PATH, when counting with callgrind.
  std::string valgrindPath;
};
} // namespace

std::string Runner::getKernelPath() {
  if (directory.empty()) {
    SmallString<128> path;
    if (llvm::sys::fs::createUniqueDirectory("kiln-bench", path))
      return "";
    directory = path.str().str();
  }
  return directory + "/kernel" + std::to_string(compiled++) + ".so";
}

std::optional<std::vector<Runnable>>
Runner::prepareKernel(const KernelSpec &spec, const std::string &base) {
  diagnostics.clear();
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(spec.source, &context);
  if (!module) {
    fail("cannot parse the kernel of '" + base + "'");
    return std::nullopt;
  }
  auto function = *module->getOps<func::FuncOp>().begin();

  // 1. Its work: the FLOPs of its ops, every argument read and every result
  //    written once.
  int64_t flops = 0, bytes = 0;
  function.walk([&](Operation *op) { flops += countFlops(op); });
  for (Type type : function.getFunctionType().getInputs())
    bytes += countBytes(type);
  for (Type type : function.getFunctionType().getResults())
    bytes += countBytes(type);

  // 2. Seeded inputs and, unless a peer will check a matmul, the expected
  //    results.
  auto state = std::make_shared<KernelState>();
  FailureOr<std::vector<HostTensor>> inputs =
      reference::makeSeededInputs(function, /*seed=*/3);
  if (failed(inputs)) {
    fail("cannot make inputs for '" + base + "'");
    return std::nullopt;
  }
  std::vector<HostTensor> expected;
  bool checkWithPeer = spec.matmulSizes && !options.peers.empty();
  if (!checkWithPeer) {
    FailureOr<std::vector<HostTensor>> evaluated =
        reference::evaluate(function, *inputs, /*weights=*/{});
    if (failed(evaluated)) {
      fail("cannot evaluate '" + base + "' with the reference evaluator");
      return std::nullopt;
    }
    expected = std::move(*evaluated);
  }
  size_t numInputs = inputs->size();
  state->tensors = std::move(*inputs);
  for (Type type : function.getFunctionType().getResults()) {
    auto tensor = cast<RankedTensorType>(type);
    std::vector<int64_t> shape(tensor.getShape().begin(),
                               tensor.getShape().end());
    state->tensors.emplace_back(ElementType::F32, shape);
  }
  for (HostTensor &tensor : state->tensors)
    state->buffers.push_back(tensor.data());

  // 3. Compile (with the tuned config, if any), run once and check.
  if (options.configLookup)
    if (Attribute config = options.configLookup(function))
      function->setAttr(CpuConfigAttr::kAttrName, config);
  std::string path = getKernelPath();
  FailureOr<cpu::LoadedKernel> kernel =
      cpu::compileAndLoadKernel(*module, options.target, path);
  if (path.empty() || failed(kernel)) {
    fail("cannot compile '" + base + "'");
    return std::nullopt;
  }
  state->kernel = std::move(*kernel);
  int64_t tiles = state->kernel.getInfo().tileCount;
  ThreadPool &threads = pool;
  auto runKiln = [state, tiles, &threads] {
    threads.parallelFor(tiles, [&](int64_t begin, int64_t end) {
      state->kernel(state->buffers.data(), begin, end);
    });
  };
  runKiln();
  // A long sum of products can cancel to near zero, keeping roundings of
  // its largest terms: such kernels are checked with the cancellation
  // tolerance, the others with the reference tolerance of one kernel.
  if (!checkWithPeer)
    for (size_t r = 0; r < expected.size(); ++r) {
      const HostTensor &actual = state->tensors[numInputs + r];
      reference::Tolerance tolerance =
          spec.contraction > 0
              ? reference::getCancellationTolerance(expected[r])
              : reference::getTolerance(expected[r].getElementType());
      reference::Comparison comparison =
          reference::compareTensors(actual, expected[r], tolerance);
      if (!comparison.passed()) {
        fail(llvm::formatv("'{0}' computes a wrong result: {1} elements "
                           "differ from the reference evaluator",
                           base, comparison.mismatches));
        return std::nullopt;
      }
    }

  std::vector<Runnable> runnables;
  auto add = [&](const std::string &implementation) -> Runnable & {
    Runnable &runnable = runnables.emplace_back();
    runnable.result.name = base + "/" + implementation;
    runnable.result.suite = "kernels";
    runnable.result.kernel = spec.kernel;
    runnable.result.shape = spec.shape;
    runnable.result.implementation = implementation;
    runnable.result.flops = flops;
    runnable.result.bytes = bytes;
    runnable.failure = std::make_shared<std::string>();
    return runnable;
  };
  // A kernel and its peers read the same inputs, evicted alike.
  auto evictInputs = [state, numInputs] {
    for (size_t i = 0; i < numInputs; ++i)
      autotune::evictFromCaches(state->tensors[i].data(),
                                state->tensors[i].getByteSize());
  };
  Runnable &kiln = add("kiln");
  kiln.evictInputs = evictInputs;
  kiln.run = runKiln;
  kiln.runOneThread = [state, tiles] {
    state->kernel(state->buffers.data(), 0, tiles);
  };
  if (!spec.matmulSizes)
    return runnables;

  // 4. A matmul's peers: each checked against Kiln, Kiln against the first.
  auto [m, k, n] = *spec.matmulSizes;
  for (MatmulPeer *peer : options.peers) {
    auto result = std::make_shared<std::vector<float>>(m * n);
    Runnable &runnable = add(peer->getName());
    runnable.evictInputs = evictInputs;
    std::shared_ptr<std::string> failure = runnable.failure;
    int numThreads = pool.getNumThreads();
    auto multiply = [state, result, peer, failure, m = m, k = k, n = n] {
      if (!peer->multiply(m, k, n, state->tensors[0].dataAs<float>(),
                          state->tensors[1].dataAs<float>(), result->data()))
        *failure = peer->getName() + " reported a failure";
    };
    runnable.run = multiply;
    runnable.runOneThread = [peer, multiply, numThreads] {
      peer->setNumThreads(1);
      multiply();
      peer->setNumThreads(numThreads);
    };
    multiply();
    if (!failure->empty()) {
      fail("'" + runnable.result.name + "': " + *failure);
      return std::nullopt;
    }
    HostTensor peerResult(ElementType::F32, {m, n});
    std::memcpy(peerResult.data(), result->data(), m * n * sizeof(float));
    reference::Comparison comparison = reference::compareTensors(
        state->tensors[2], peerResult,
        reference::getCancellationTolerance(peerResult));
    if (!comparison.passed()) {
      fail(llvm::formatv("'{0}' and {1} differ in {2} elements (max abs "
                         "error {3})",
                         base + "/kiln", peer->getName(),
                         comparison.mismatches, comparison.maxAbsError));
      return std::nullopt;
    }
  }
  return runnables;
}

//===----------------------------------------------------------------------===//
// The models
//===----------------------------------------------------------------------===//

namespace {
struct ModelState {
  std::optional<CompiledModel> model;
  /// The same artifact on one thread, loaded for instruction counts.
  std::optional<CompiledModel> oneThread;
  Artifact artifact;
  std::vector<HostTensor> inputs;
};
} // namespace

/// Loads `artifact` on `threads` threads and binds `inputs`.
static std::optional<CompiledModel>
loadAndBind(const Artifact &artifact, const std::string &name, int threads,
            const std::vector<HostTensor> &inputs, std::string &error) {
  LoadOptions loadOptions;
  loadOptions.numThreads = threads;
  std::optional<CompiledModel> model =
      CompiledModel::load(artifact, name, loadOptions, error);
  if (!model)
    return std::nullopt;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!model->bindInput(i, inputs[i], error))
      return std::nullopt;
  return model;
}

std::optional<std::vector<Runnable>>
Runner::prepareModel(const std::string &name) {
  diagnostics.clear();
  std::string base = name + "/default";
  std::string message;
  FailureOr<zoo::Model> built = zoo::buildModel(context, name, {}, message);
  if (failed(built)) {
    fail("cannot build '" + base + "': " + message);
    return std::nullopt;
  }
  compiler::CompileOptions compileOptions;
  compileOptions.target = options.target;
  compileOptions.configLookup = options.configLookup;
  FailureOr<compiler::CompiledArtifact> compiled = compiler::compileModel(
      *built->module, built->weights, compileOptions);
  if (failed(compiled)) {
    fail("cannot compile '" + base + "'");
    return std::nullopt;
  }
  auto entry = built->module->lookupSymbol<func::FuncOp>("main");
  FailureOr<std::vector<HostTensor>> inputs =
      reference::makeSeededInputs(entry, /*seed=*/0);
  if (failed(inputs)) {
    fail("cannot make inputs for '" + base + "'");
    return std::nullopt;
  }

  // 1. Load, run once and check against the reference evaluator.
  auto state = std::make_shared<ModelState>();
  state->artifact = std::move(compiled->artifact);
  state->inputs = std::move(*inputs);
  state->model = loadAndBind(state->artifact, base, pool.getNumThreads(),
                             state->inputs, message);
  if (!state->model || !state->model->run(message)) {
    fail("cannot run '" + base + "': " + message);
    return std::nullopt;
  }
  FailureOr<std::vector<HostTensor>> expected =
      reference::evaluate(entry, state->inputs, built->weights);
  if (failed(expected)) {
    fail("cannot evaluate '" + base + "' with the reference evaluator");
    return std::nullopt;
  }
  for (size_t i = 0; i < expected->size(); ++i)
    if (!reference::compareWithReference(state->model->output(i),
                                         (*expected)[i],
                                         reference::ToleranceScope::Model)
             .passed()) {
      fail("'" + base + "' computes a wrong output " + std::to_string(i));
      return std::nullopt;
    }

  // 2. The benchmark: whole runs.
  Runnable runnable;
  runnable.result.name = base + "/kiln";
  runnable.result.suite = "models";
  runnable.result.kernel = name;
  runnable.result.shape = "default";
  const Manifest &manifest = state->artifact.manifest;
  for (const Step &step : manifest.steps) {
    runnable.result.flops += step.flops;
    runnable.result.bytes += step.bytes;
  }
  BenchResult::ModelFacts facts;
  facts.kernelCalls = static_cast<int64_t>(manifest.steps.size());
  facts.kernelsPerBlock = compiled->kernelsPerBlock;
  facts.arenaBytes = manifest.arenaBytes;
  facts.unplannedBytes = manifest.unplannedBytes;
  runnable.result.model = facts;
  runnable.failure = std::make_shared<std::string>();
  std::shared_ptr<std::string> failure = runnable.failure;
  runnable.run = [state, failure] {
    std::string message;
    if (!state->model->run(message))
      *failure = message;
  };
  runnable.runOneThread = [state, failure, base] {
    std::string message;
    if (!state->oneThread)
      state->oneThread =
          loadAndBind(state->artifact, base, 1, state->inputs, message);
    if (!state->oneThread || !state->oneThread->run(message))
      *failure = message;
  };
  std::vector<Runnable> runnables;
  runnables.push_back(std::move(runnable));
  return runnables;
}

//===----------------------------------------------------------------------===//
// Measuring
//===----------------------------------------------------------------------===//

std::vector<Group> Runner::getGroups() {
  std::vector<Group> groups;
  bool all = options.suite == "all";
  if (all || options.suite == "kernels")
    for (KernelSpec &spec : getKernelSpecs(options.smoke)) {
      std::string base = spec.kernel + "/" + spec.shape;
      Group group;
      group.names.push_back(base + "/kiln");
      if (spec.matmulSizes)
        for (MatmulPeer *peer : options.peers)
          group.names.push_back(base + "/" + peer->getName());
      group.prepare = [this, spec = std::move(spec), base] {
        return prepareKernel(spec, base);
      };
      groups.push_back(std::move(group));
    }
  if (all || options.suite == "models")
    for (const zoo::ModelInfo &info : zoo::listModels()) {
      Group group;
      group.names.push_back(info.name + "/default/kiln");
      group.prepare = [this, name = info.name] { return prepareModel(name); };
      groups.push_back(std::move(group));
    }
  return groups;
}

bool Runner::countWithCallgrind(Runnable &runnable) {
  std::string countsFile = getKernelPath() + ".callgrind";
  std::string logFile = countsFile + ".log";
  std::vector<std::string> arguments = {valgrindPath};
  for (std::string &argument : getCallgrindArguments(countsFile))
    arguments.push_back(std::move(argument));
  for (std::string &argument :
       options.countedCallCommand(runnable.result.name))
    arguments.push_back(std::move(argument));
  std::vector<StringRef> argumentRefs(arguments.begin(), arguments.end());
  std::optional<StringRef> redirects[] = {StringRef(""), StringRef(logFile),
                                          StringRef(logFile)};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(valgrindPath, argumentRefs,
                                         std::nullopt, redirects,
                                         /*SecondsToWait=*/0,
                                         /*MemoryLimit=*/0, &message);
  if (status != 0) {
    std::vector<uint8_t> log;
    std::string unused;
    readFileBytes(logFile, log, unused);
    return fail("counting '" + runnable.result.name +
                "' under callgrind failed" +
                (message.empty() ? "" : " (" + message + ")") + ":\n" +
                std::string(log.begin(), log.end()));
  }
  std::optional<int64_t> total = readCallgrindTotal(countsFile, message);
  if (!total)
    return fail("counting '" + runnable.result.name + "': " + message);
  runnable.result.instructions = *total;
  return true;
}

bool Runner::measureCountedCall(Runnable &runnable, BenchReport &report) {
  // The child of a callgrind count: one untimed call to warm up, one
  // counted.
  runnable.runOneThread();
  runCountedRegion(runnable.runOneThread);
  report.benchmarks.push_back(runnable.result);
  return runnable.failure->empty() ||
         fail("'" + runnable.result.name + "': " + *runnable.failure);
}

std::function<void()> Runner::getTimedWork(Runnable &runnable) {
  if (options.injectedSlowdown <= 0)
    return runnable.run;
  // After each call, wait the slowdown's fraction of that call's own time:
  // a repeated call would find its inputs warm where the timed one met them
  // cold, and slow a call by less than asked.
  return [run = runnable.run, slowdown = options.injectedSlowdown] {
    auto start = std::chrono::steady_clock::now();
    run();
    auto end = std::chrono::steady_clock::now();
    auto until = end + (end - start) * slowdown;
    while (std::chrono::steady_clock::now() < until) {
    }
  };
}

bool Runner::measureGroup(ArrayRef<Runnable *> group, BenchReport &report) {
  if (options.countedCallOnly) {
    for (Runnable *runnable : group)
      if (!measureCountedCall(*runnable, report))
        return false;
    return true;
  }
  autotune::SteadyClock clock;
  autotune::MeasureOptions measureOptions = options.measure;
  // A group shares its inputs (a kernel and its peers).
  measureOptions.beforeEachCall = group.front()->evictInputs;
  if (group.size() == 1)
    return record(*group.front(),
                  autotune::measure(getTimedWork(*group.front()),
                                    measureOptions, clock),
                  report);
  // A kernel and its peers are timed side by side, so that this machine's
  // drift during the run slows them alike and their ratios hold.
  std::vector<std::function<void()>> works;
  for (Runnable *runnable : group)
    works.push_back(getTimedWork(*runnable));
  autotune::MeasureOptions turns = measureOptions;
  if (pool.getNumThreads() > 1 && !options.smoke) {
    // OpenBLAS's worker threads keep polling a core for about 2^28 cycles
    // (0.1 s here) after a call: a turn taken right after one ran Kiln's
    // 2-thread 1024^3 matmul at half its speed. Each turn first runs its
    // own work untimed until they have gone to sleep.
    turns.settleSeconds = 0.2;
    turns.samplesPerTurn = 5;
  }
  std::vector<autotune::Measurement> measured =
      autotune::measureSideBySide(works, turns, clock);
  for (auto [runnable, measurement] : llvm::zip_equal(group, measured))
    if (!record(*runnable, std::move(measurement), report))
      return false;
  return true;
}

bool Runner::record(Runnable &runnable, autotune::Measurement measured,
                    BenchReport &report) {
  BenchResult &result = runnable.result;
  result.samples = std::move(measured.samples);
  result.callsPerSample = measured.callsPerSample;
  result.stable = measured.stable;
  if (counter) {
    // The least of three: a page fault or an interrupt's return adds a few.
    int64_t least = counter->count(runnable.runOneThread);
    for (int i = 0; i < 2; ++i)
      least = std::min(least, counter->count(runnable.runOneThread));
    result.instructions = least;
  } else if (!valgrindPath.empty() && !countWithCallgrind(runnable)) {
    return false;
  }
  if (!runnable.failure->empty())
    return fail("'" + result.name + "': " + *runnable.failure);
  report.benchmarks.push_back(result);
  return true;
}

/// The CPU's model name as the OS reports it, or "".
static std::string getCpuModelName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (StringRef(line).starts_with("model name"))
      return StringRef(line).split(':').second.trim().str();
  return "";
}

std::optional<BenchReport> Runner::run() {
  // 1. Check the options.
  const std::vector<std::string> &suites = getSuiteNames();
  if (std::find(suites.begin(), suites.end(), options.suite) == suites.end()) {
    fail("unknown suite '" + options.suite +
         "' (expected kernels, models or all)");
    return std::nullopt;
  }
  // An empty filter selects everything.
  llvm::Regex filter(options.filter.empty() ? "." : options.filter);
  std::string regexError;
  if (!filter.isValid(regexError)) {
    fail("the filter '" + options.filter +
         "' is not a regular expression: " + regexError);
    return std::nullopt;
  }
  llvm::Expected<codegen::CpuTarget> target =
      codegen::getCpuTarget(options.target);
  if (!target) {
    fail(llvm::toString(target.takeError()));
    return std::nullopt;
  }
  // A filter that selects nothing is a mistake (a name misremembered), not
  // an empty report: say so before the roofline takes its seconds.
  std::vector<Group> groups = getGroups();
  size_t total = 0;
  for (const Group &group : groups)
    total += llvm::count_if(group.names, [&](const std::string &name) {
      return filter.match(name);
    });
  if (total == 0) {
    fail("the filter '" + options.filter + "' selects no benchmark of suite '" +
         options.suite + "' (names look like '" + groups.front().names.front() +
         "')");
    return std::nullopt;
  }

  // 2. The machine, its roofline and the counter.
  BenchReport report;
  report.compilerVersion = KILN_VERSION;
  report.date = getCurrentDate();
  report.suite = options.suite;
  report.machine.fingerprint = target->getFingerprint();
  report.machine.cpu = getCpuModelName();
  report.machine.threads = pool.getNumThreads();
  if (!options.countedCallOnly) {
    report.machine.peakFlopsPerSecond =
        measureFmaPeak(pool, options.smoke ? 1 : 5);
    report.machine.streamBytesPerSecond =
        measureStreamBandwidth(pool, options.smoke ? 1 << 16 : 0,
                               options.smoke ? 1 : 3)
            .getBest();
  }
  // 3. The instruction counter, or why there is none.
  CountMode counts = options.counts;
  if (counts == CountMode::Perf || counts == CountMode::Auto) {
    std::string whyNot;
    counter = InstructionCounter::open(whyNot);
    report.counts = counter ? "perf" : "unavailable: " + whyNot;
    if (!counter && counts == CountMode::Auto)
      counts = CountMode::Callgrind;
  }
  if (counts == CountMode::Callgrind) {
    llvm::ErrorOr<std::string> found =
        llvm::sys::findProgramByName("valgrind");
    if (found && options.countedCallCommand)
      valgrindPath = *found;
    report.counts = !valgrindPath.empty()
                        ? "callgrind"
                        : "unavailable: no valgrind program found";
  }
  for (MatmulPeer *peer : options.peers)
    peer->setNumThreads(pool.getNumThreads());

  // 4. Prepare and measure the selected benchmarks, group by group, the
  //    members of a group side by side.
  size_t index = 0;
  for (Group &group : groups) {
    if (llvm::none_of(group.names, [&](const std::string &name) {
          return filter.match(name);
        }))
      continue;
    std::optional<std::vector<Runnable>> runnables = group.prepare();
    if (!runnables)
      return std::nullopt;
    std::vector<Runnable *> selected;
    for (Runnable &runnable : *runnables) {
      if (!filter.match(runnable.result.name))
        continue;
      if (options.progress)
        options.progress(index++, total, runnable.result.name);
      selected.push_back(&runnable);
    }
    if (!selected.empty() && !measureGroup(selected, report))
      return std::nullopt;
  }
  return report;
}

std::optional<BenchReport> runBenchmarks(const BenchOptions &options,
                                         std::string &error) {
  Runner runner(options, error);
  return runner.run();
}

} // namespace kiln::bench
