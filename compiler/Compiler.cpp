//===- Compiler.cpp - A kiln model to a runtime artifact --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The stages run on a clone of the model. The graph stages (graph pipeline,
// output materialization, config selection) see the whole module; the
// manifest is read from the entry function; then only the kernel functions
// go on to the CPU backend and into one shared object.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"

#include "codegen/CPU/Compile.h"
#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "codegen/CPU/Pipelines.h"
#include "codegen/Common/Target.h"
#include "compiler/CudaKernels.h"
#include "compiler/ModelPlan.h"
#include "ir/KilnDialect.h"
#include "models/io/ModelFile.h"
#include "passes/Fusion/Explain.h"
#include "passes/Fusion/KernelGroups.h"
#include "passes/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/Location.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <map>
#include <set>

using namespace mlir;

namespace kiln::compiler {

std::string getCompilerVersion() { return KILN_VERSION; }

bool isCudaTarget(StringRef target) { return isKnownCudaArch(target.str()); }

void registerCompilerDialects(DialectRegistry &registry) {
  cpu::registerCpuCodegenDialects(registry);
}

//===----------------------------------------------------------------------===//
// IR printing
//===----------------------------------------------------------------------===//

namespace {
/// Records the argument of every pass that runs, to tell the user which
/// names `--print-ir-after` could have matched.
class PassNameRecorder : public PassInstrumentation {
public:
  explicit PassNameRecorder(std::set<std::string> &names) : names(names) {}
  void runAfterPass(Pass *pass, Operation *) override {
    // Pass adaptors and the like have no argument to ask for.
    if (!pass->getArgument().empty())
      names.insert(pass->getArgument().str());
  }

private:
  std::set<std::string> &names;
};

/// The IR printing of one compile: configures each stage's pass manager and
/// prints the stages that are not passes in the same format.
class IRPrinter {
public:
  explicit IRPrinter(const IRPrintingOptions &options) : options(options) {}

  /// Prints the module after the passes `options` selects.
  void configure(PassManager &pm) {
    if (!options.isEnabled())
      return;
    pm.addInstrumentation(std::make_unique<PassNameRecorder>(passesRun));
    pm.enableIRPrinting(
        /*shouldPrintBeforePass=*/[](Pass *, Operation *) { return false; },
        /*shouldPrintAfterPass=*/
        [this](Pass *pass, Operation *) {
          return options.afterAll ||
                 llvm::is_contained(options.afterPasses, pass->getArgument());
        },
        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
        /*printAfterOnlyOnFailure=*/false, *options.stream);
  }

  /// Prints `module` after the stage `name`, which is not a pass, as a pass
  /// of that argument would be printed.
  void printStage(StringRef name, ModuleOp module) {
    if (!options.isEnabled())
      return;
    passesRun.insert(name.str());
    if (!options.afterAll && !llvm::is_contained(options.afterPasses, name))
      return;
    *options.stream << "// -----// IR Dump After " << name << " //----- //\n";
    module->print(*options.stream);
    *options.stream << "\n";
  }

  /// Fails, naming the passes that ran, when a pass asked for by name never
  /// ran: a misspelt name would otherwise print nothing, silently.
  LogicalResult checkRequestedPasses(Location loc) {
    if (!options.isEnabled())
      return success();
    for (const std::string &name : options.afterPasses)
      if (!passesRun.count(name))
        return emitError(loc, "no pass '")
               << name << "' ran, so none could be printed (passes that ran: "
               << llvm::join(passesRun, ", ") << ")";
    return success();
  }

private:
  const IRPrintingOptions &options;
  std::set<std::string> passesRun;
};

/// Turns multithreading off for the life of the object when the IR is
/// printed (printing the whole module after a function pass needs it), and
/// back to what it was after.
class SingleThreadedScope {
public:
  SingleThreadedScope(MLIRContext *context, bool enable)
      : context(context),
        restore(enable && context->isMultithreadingEnabled()) {
    if (restore)
      context->disableMultithreading();
  }
  ~SingleThreadedScope() {
    if (restore)
      context->enableMultithreading();
  }

private:
  MLIRContext *context;
  bool restore;
};
} // namespace

//===----------------------------------------------------------------------===//
// Stages
//===----------------------------------------------------------------------===//

/// The target's description for the manifest.
static std::string describeTarget(const codegen::CpuTarget &target) {
  llvm::json::Object object{{"name", target.name},
                            {"triple", target.triple},
                            {"cpu", target.cpu},
                            {"fingerprint", target.getFingerprint()}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(object));
  return text;
}

/// The GPU target's description for the manifest.
static std::string describeCudaTarget(StringRef arch) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(
      llvm::json::Object{{"name", arch}, {"kind", "cuda"}});
  return text;
}

/// The block a location names, "<...>layers.<i>" as the zoo names its
/// transformer blocks; empty when it names none.
static std::string getBlockName(Location loc) {
  std::string block;
  loc->walk([&](Location inner) {
    auto name = dyn_cast<NameLoc>(inner);
    if (!name)
      return WalkResult::advance();
    StringRef text = name.getName().strref();
    size_t at = text.find("layers.");
    if (at == StringRef::npos || (at > 0 && text[at - 1] != '.'))
      return WalkResult::advance();
    size_t end = text.find('.', at + 7);
    StringRef index = text.slice(at + 7, end);
    if (index.empty() ||
        !llvm::all_of(index, [](char c) { return llvm::isDigit(c); }))
      return WalkResult::advance();
    block = text.take_front(end).str();
    return WalkResult::interrupt();
  });
  return block;
}

/// Kernel calls per transformer block of `entry`; unset without blocks.
static std::optional<double> countKernelsPerBlock(func::FuncOp entry) {
  std::map<std::string, int64_t> callsPerBlock;
  entry.walk([&](func::CallOp call) {
    std::string block = getBlockName(call.getLoc());
    if (!block.empty())
      ++callsPerBlock[block];
  });
  if (callsPerBlock.empty())
    return std::nullopt;
  int64_t calls = 0;
  for (const auto &[block, count] : callsPerBlock)
    calls += count;
  return static_cast<double>(calls) / callsPerBlock.size();
}

/// Lowers the kernel functions of `module` (a module that holds nothing
/// else) to the LLVM dialect and links them into a shared object, whose
/// bytes are returned.
static FailureOr<std::vector<uint8_t>>
compileKernels(ModuleOp module, const codegen::CpuTarget &target,
               IRPrinter &printer) {
  PassManager pm(module.getContext());
  printer.configure(pm);
  cpu::CpuLowerKernelPipelineOptions lowerOptions;
  lowerOptions.target = target.name;
  cpu::buildCpuLowerKernelPipeline(pm, lowerOptions);
  if (failed(pm.run(module)))
    return failure();

  SmallString<128> directory;
  if (std::error_code code =
          llvm::sys::fs::createUniqueDirectory("kiln-compile", directory))
    return module.emitError("cannot create a temporary folder: ")
           << code.message();
  SmallString<128> path(directory);
  llvm::sys::path::append(path, "kernels.so");
  FailureOr<std::vector<uint8_t>> code = failure();
  if (succeeded(cpu::compileToSharedObject(module, target, path))) {
    if (auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false))
      code = std::vector<uint8_t>((*buffer)->getBufferStart(),
                                  (*buffer)->getBufferEnd());
    else
      module.emitError("cannot read the linked kernels '")
          << path << "': " << buffer.getError().message();
  }
  llvm::sys::fs::remove_directories(directory);
  return code;
}

/// Sets each step's tile count from the kernel entries of `lowered`, after
/// checking that every kernel was compiled with the arguments its steps
/// pass.
static LogicalResult setTiles(ModuleOp lowered, Manifest &manifest) {
  llvm::StringMap<cpu::KernelEntry> entries;
  for (const cpu::KernelEntry &entry : cpu::getKernelEntries(lowered))
    entries[entry.symbol] = entry;
  for (Step &step : manifest.steps) {
    auto found = entries.find(step.symbol);
    if (found == entries.end())
      return lowered.emitError("the CPU backend produced no entry point for "
                               "kernel '")
             << step.symbol << "'";
    if (found->second.numBuffers != static_cast<int64_t>(step.args.size()))
      return lowered.emitError("kernel '")
             << step.symbol << "' takes " << found->second.numBuffers
             << " buffers, but its call passes " << step.args.size();
    step.tiles = found->second.tileCount;
  }
  return success();
}

/// The original model as MLIR text, without the weights file it named,
/// and the weights it reads added to `weights`.
static std::string describeGraph(ModuleOp module, const TensorMap &modelWeights,
                                 TensorMap &weights) {
  OwningOpRef<ModuleOp> graph = module.clone();
  (*graph)->removeAttr("kiln.weights_file");
  graph->walk([&](WeightOp op) {
    std::string name = op.getName().str();
    weights.try_emplace(name, modelWeights.at(name));
  });
  std::string text;
  llvm::raw_string_ostream os(text);
  graph->print(os);
  return text;
}

/// The graph stages before the configs on `outlined`, a clone of the
/// model: the graph pipeline and copies for the outputs.
static LogicalResult runGraphPipeline(ModuleOp outlined, func::FuncOp entry,
                                      const CompileOptions &options,
                                      IRPrinter &printer) {
  PassManager graphPm(outlined.getContext());
  printer.configure(graphPm);
  graph::GraphPipelineOptions graphOptions;
  graphOptions.fusion = options.fusion;
  graph::buildGraphPipeline(graphPm, graphOptions);
  if (failed(graphPm.run(outlined)))
    return failure();
  materializeOutputs(entry);
  printer.printStage("materialize-outputs", outlined);
  return success();
}

/// Puts the tuned config of `options.configLookup` on each kernel of
/// `outlined` that it knows, and records for every kernel where its config
/// comes from.
static std::vector<KernelConfigChoice>
applyTunedConfigs(ModuleOp outlined, const CompileOptions &options) {
  std::vector<KernelConfigChoice> choices;
  for (auto kernel : outlined.getOps<func::FuncOp>()) {
    if (!kernel->hasAttr(graph::kKernelAttrName))
      continue;
    KernelConfigChoice choice{kernel.getSymName().str(), /*tuned=*/false};
    if (options.configLookup)
      if (Attribute config = options.configLookup(kernel)) {
        kernel->setAttr(isa<CudaConfigAttr>(config)
                            ? CudaConfigAttr::kAttrName
                            : CpuConfigAttr::kAttrName,
                        config);
        choice.tuned = true;
      }
    choices.push_back(std::move(choice));
  }
  return choices;
}

/// The configs on the kernels of `outlined`: the tuned ones, then the
/// default heuristic's for the rest; CUDA configs for a GPU target (no
/// `target`).
static FailureOr<std::vector<KernelConfigChoice>>
selectConfigs(ModuleOp outlined, const std::optional<codegen::CpuTarget> &target,
              const CompileOptions &options, IRPrinter &printer) {
  std::vector<KernelConfigChoice> choices =
      applyTunedConfigs(outlined, options);
  printer.printStage("apply-tuned-configs", outlined);
  if (!target) {
    setDefaultCudaConfigs(outlined, options.target);
    printer.printStage("select-cuda-configs", outlined);
    return choices;
  }
  PassManager configPm(outlined.getContext());
  printer.configure(configPm);
  cpu::SelectKernelConfigPassOptions selectOptions;
  selectOptions.target = target->name;
  configPm.addNestedPass<func::FuncOp>(
      cpu::createSelectKernelConfigPass(selectOptions));
  if (failed(configPm.run(outlined)))
    return failure();
  return choices;
}

namespace {
/// What `compileModel` and `explainModel` share before the graph stages:
/// the CPU target (none for a GPU), and a clone of the model with its entry
/// function.
struct PreparedModel {
  std::optional<codegen::CpuTarget> target;
  OwningOpRef<ModuleOp> graph;
  func::FuncOp entry;
};
} // namespace

/// Registers the dialects, resolves the target and clones the model.
static FailureOr<PreparedModel> prepareModel(ModuleOp module,
                                             const CompileOptions &options) {
  MLIRContext *context = module.getContext();
  DialectRegistry registry;
  registerCompilerDialects(registry);
  context->appendDialectRegistry(registry);
  PreparedModel prepared;
  if (!isCudaTarget(options.target)) {
    llvm::Expected<codegen::CpuTarget> target =
        codegen::getCpuTarget(options.target);
    if (!target)
      return module.emitError()
             << llvm::toString(target.takeError())
             << " (or a GPU architecture: sm_80, sm_90a)";
    prepared.target = std::move(*target);
  }
  prepared.graph = module.clone();
  FailureOr<func::FuncOp> entry = getEntryFunction(*prepared.graph);
  if (failed(entry))
    return failure();
  prepared.entry = *entry;
  return prepared;
}

FailureOr<ModelExplanation> explainModel(ModuleOp module,
                                         const CompileOptions &options) {
  FailureOr<PreparedModel> prepared = prepareModel(module, options);
  if (failed(prepared))
    return failure();
  SingleThreadedScope singleThreaded(module.getContext(),
                                     options.printIR.isEnabled());
  IRPrinter printer(options.printIR);
  if (failed(runGraphPipeline(*prepared->graph, prepared->entry, options,
                              printer)) ||
      failed(selectConfigs(*prepared->graph, prepared->target, options,
                           printer)) ||
      failed(printer.checkRequestedPasses(module.getLoc())))
    return failure();
  ModelExplanation explanation;
  explanation.kernels = graph::explainKernels(*prepared->graph);
  explanation.kernelsPerBlock = countKernelsPerBlock(prepared->entry);
  return explanation;
}

FailureOr<OwningOpRef<ModuleOp>> outlineKernels(ModuleOp module,
                                                const CompileOptions &options) {
  FailureOr<PreparedModel> prepared = prepareModel(module, options);
  if (failed(prepared))
    return failure();
  SingleThreadedScope singleThreaded(module.getContext(),
                                     options.printIR.isEnabled());
  IRPrinter printer(options.printIR);
  if (failed(runGraphPipeline(*prepared->graph, prepared->entry, options,
                              printer)))
    return failure();
  return std::move(prepared->graph);
}

FailureOr<CompiledArtifact> compileModel(ModuleOp module,
                                         const TensorMap &weights,
                                         const CompileOptions &options) {
  // 1. The target, the model's weights and the graph stages.
  if (failed(verifyWeights(module, weights)))
    return failure();
  FailureOr<PreparedModel> prepared = prepareModel(module, options);
  if (failed(prepared))
    return failure();
  ModuleOp outlined = *prepared->graph;
  func::FuncOp entry = prepared->entry;
  const std::optional<codegen::CpuTarget> &target = prepared->target;
  SingleThreadedScope singleThreaded(module.getContext(),
                                     options.printIR.isEnabled());
  IRPrinter printer(options.printIR);
  if (failed(runGraphPipeline(outlined, entry, options, printer)))
    return failure();
  FailureOr<std::vector<KernelConfigChoice>> configs =
      selectConfigs(outlined, target, options, printer);
  if (failed(configs))
    return failure();

  // 2. The manifest, from the entry function.
  std::vector<graph::KernelExplanation> kernels =
      graph::explainKernels(outlined);
  FailureOr<ModelPlan> plan = planModel(entry, weights, kernels);
  if (failed(plan))
    return failure();
  CompiledArtifact result;
  result.numKernels = static_cast<int64_t>(kernels.size());
  result.kernelsPerBlock = countKernelsPerBlock(entry);
  result.configs = std::move(*configs);

  // 3. The kernels alone through the CPU backend, or to CUDA and cubins.
  for (auto function :
       llvm::make_early_inc_range(outlined.getOps<func::FuncOp>()))
    if (!function->hasAttr(graph::kKernelAttrName))
      function.erase();
  Artifact &artifact = result.artifact;
  artifact.manifest = std::move(plan->manifest);
  artifact.manifest.compilerVersion = getCompilerVersion();
  if (target) {
    FailureOr<std::vector<uint8_t>> code =
        compileKernels(outlined, *target, printer);
    if (failed(code) || failed(setTiles(outlined, artifact.manifest)))
      return failure();
    artifact.code = std::move(*code);
    artifact.manifest.target = describeTarget(*target);
  } else {
    FailureOr<CudaProgram> program = compileCudaKernels(
        outlined, options.target, options.nvrtc, result.cudaSources);
    if (failed(program))
      return failure();
    artifact.cuda = std::move(*program);
    artifact.manifest.target = describeCudaTarget(options.target);
  }
  if (failed(printer.checkRequestedPasses(module.getLoc())))
    return failure();

  // 4. The artifact, checked as the runtime will check it.
  artifact.weights = std::move(plan->weights);
  if (options.storeGraph)
    artifact.graph = describeGraph(module, weights, artifact.weights);
  std::string error;
  if (!validateManifest(artifact.manifest, artifact.weights, error) ||
      (artifact.cuda &&
       !validateCudaProgram(*artifact.cuda, artifact.manifest, error)))
    return module.emitError("the compiled model is invalid: ") << error;
  return result;
}

} // namespace kiln::compiler
