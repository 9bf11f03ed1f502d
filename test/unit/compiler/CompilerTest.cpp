//===- CompilerTest.cpp - Compiled models vs the reference ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The end-to-end correctness harness: every zoo model (with fusion on and
// off, in f32, bf16 and f16, and at awkward sizes) and hand-written models
// with awkward outputs are compiled for the host, loaded by the runtime from
// the in-memory artifact, run on seeded inputs and compared with the
// reference evaluator under the tolerances of reference/Compare.h. Then the
// driver's contracts: determinism, kept configs, the memory plan, errors.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "ir/KilnDialect.h"
#include "models/io/ModelFile.h"
#include "models/zoo/Zoo.h"
#include "reference/Compare.h"
#include "reference/Evaluator.h"
#include "runtime/Executor.h"
#include "runtime/MemoryPlan.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

using namespace mlir;
using namespace kiln;

namespace {


class CompilerTest : public ::testing::Test {
protected:
  CompilerTest() {
    DialectRegistry registry;
    compiler::registerCompilerDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadDialect<KilnDialect, func::FuncDialect>();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          diagnostics += diagnostic.str() + "\n";
          return success();
        });
  }

  LoadedModel buildZooModel(const std::string &name,
                            const std::vector<std::string> &settings) {
    std::string error;
    FailureOr<zoo::Model> built =
        zoo::buildModel(context, name, settings, error);
    EXPECT_TRUE(succeeded(built)) << error;
    LoadedModel model;
    if (succeeded(built)) {
      model.module = std::move(built->module);
      model.weights = std::move(built->weights);
    }
    return model;
  }

  OwningOpRef<ModuleOp> parse(StringRef source) {
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(source, &context);
    EXPECT_TRUE(module) << diagnostics;
    return module;
  }

  /// Compiles `module`, loads the artifact, runs it on seeded inputs and
  /// expects every output within tolerance of the reference. Returns the
  /// artifact's manifest.
  Manifest compileAndCheck(ModuleOp module, const TensorMap &weights,
                           const compiler::CompileOptions &options,
                           uint64_t seed = 1) {
    FailureOr<compiler::CompiledArtifact> compiled =
        compiler::compileModel(module, weights, options);
    if (failed(compiled)) {
      ADD_FAILURE() << "compiling failed:\n" << diagnostics;
      return {};
    }
    Manifest manifest = compiled->artifact.manifest;
    std::string error;
    LoadOptions loadOptions;
    loadOptions.numThreads = 2;
    std::optional<CompiledModel> model = CompiledModel::load(
        std::move(compiled->artifact), "test", loadOptions, error);
    if (!model) {
      ADD_FAILURE() << error;
      return manifest;
    }
    func::FuncOp entry = *getEntryFunction(module);
    FailureOr<std::vector<HostTensor>> inputs =
        reference::makeSeededInputs(entry, seed);
    FailureOr<std::vector<HostTensor>> expected =
        succeeded(inputs) ? reference::evaluate(entry, *inputs, weights)
                          : FailureOr<std::vector<HostTensor>>(failure());
    if (failed(expected)) {
      ADD_FAILURE() << "the reference failed:\n" << diagnostics;
      return manifest;
    }
    for (auto [index, tensor] : llvm::enumerate(*inputs))
      EXPECT_TRUE(model->bindInput(index, tensor, error)) << error;
    // Twice: the second run reuses the arena the first one left dirty.
    for (int run = 0; run < 2; ++run)
      EXPECT_TRUE(model->run(error)) << error;
    EXPECT_EQ(model->outputs().size(), expected->size());
    for (size_t i = 0; i < expected->size(); ++i) {
      reference::Comparison comparison =
          reference::compareWithReference(model->output(i), (*expected)[i],
                                          reference::ToleranceScope::Model);
      EXPECT_TRUE(comparison.passed())
          << "output " << i << ": " << comparison.typeMismatch
          << comparison.mismatches << " elements differ, first at "
          << comparison.firstMismatch << "; max abs error "
          << comparison.maxAbsError << ", max rel error "
          << comparison.maxRelError;
    }
    return manifest;
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
};

//===----------------------------------------------------------------------===//
// Every zoo model against the reference
//===----------------------------------------------------------------------===//

/// A zoo model, its settings and whether to fuse.
struct ZooCase {
  std::string model;
  std::vector<std::string> settings;
  bool fusion;
};

/// Prints a case as "mlp --set dtype=bf16 --no-fusion" in test reports.
void PrintTo(const ZooCase &zooCase, std::ostream *os) {
  *os << zooCase.model;
  for (const std::string &setting : zooCase.settings)
    *os << " --set " << setting;
  if (!zooCase.fusion)
    *os << " --no-fusion";
}

std::string describeCase(const ::testing::TestParamInfo<ZooCase> &info) {
  std::string name = info.param.model;
  for (const std::string &setting : info.param.settings)
    name += "_" + setting;
  name += info.param.fusion ? "_fused" : "_unfused";
  for (char &c : name)
    if (!isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

/// Every zoo model at its defaults in f32 and bf16, fused and not; in f16
/// fused; and awkward sizes: 1, primes and sizes no tile divides.
std::vector<ZooCase> getZooCases() {
  std::vector<ZooCase> cases;
  for (const zoo::ModelInfo &info : zoo::listModels()) {
    for (bool fusion : {true, false}) {
      cases.push_back({info.name, {}, fusion});
      cases.push_back({info.name, {"dtype=bf16"}, fusion});
    }
    cases.push_back({info.name, {"dtype=f16"}, true});
  }
  std::vector<ZooCase> awkward = {
      {"mlp", {"batch=1", "in=1", "hidden=1", "out=1"}, true},
      {"mlp", {"batch=7", "in=13", "hidden=97", "out=3", "act=gelu"}, true},
      {"mlp", {"batch=7", "in=13", "hidden=97", "out=3", "act=gelu"}, false},
      {"mlp",
       {"batch=5", "in=31", "hidden=257", "out=17", "layers=3", "act=silu"},
       true},
      {"mlp", {"dtype=bf16", "batch=3", "in=19", "hidden=61", "out=5"}, true},
      {"decoder", {"seq=1", "layers=1"}, true},
      {"decoder",
       {"seq=7", "hidden=36", "heads=3", "kv_heads=1", "ffn=97", "vocab=101"},
       true},
      {"encoder", {"seq=13", "hidden=20", "heads=5", "ffn=37"}, false},
      {"vit",
       {"image=20", "patch=5", "channels=1", "hidden=24", "heads=3"},
       true},
      {"moe", {"experts=3", "top_k=1", "seq=11"}, true},
  };
  cases.insert(cases.end(), awkward.begin(), awkward.end());
  return cases;
}

class ZooModelTest : public CompilerTest,
                     public ::testing::WithParamInterface<ZooCase> {};

TEST_P(ZooModelTest, MatchesTheReference) {
  const ZooCase &param = GetParam();
  // Built even when skipped, so the settings stay valid.
  LoadedModel model = buildZooModel(param.model, param.settings);
  ASSERT_TRUE(model.module);
  compiler::CompileOptions options;
  options.fusion = param.fusion;
  compileAndCheck(*model.module, model.weights, options);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooModelTest, ::testing::ValuesIn(getZooCases()),
                         describeCase);

//===----------------------------------------------------------------------===//
// Outputs and buffers
//===----------------------------------------------------------------------===//

TEST_F(CompilerTest, CopiesOutputsNoKernelWrites) {
  // %a is an output, read by a later kernel and returned again; %x and %y
  // are inputs, %w a weight and %c a constant.
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @main(%x: tensor<3x5xf32> {kiln.name = "x"}, %y: tensor<5xf32>) -> (tensor<3x5xf32> {kiln.name = "a"}, tensor<3x5xf32>, tensor<3x5xf32>, tensor<5xf32>, tensor<2xf32>, tensor<3x5xf32>, tensor<5xf32>) {
      %c = kiln.constant dense<[1.5, -2.0]> : tensor<2xf32>
      %w = kiln.weight "w" : tensor<5xf32>
      %a = kiln.add %x, %y : (tensor<3x5xf32>, tensor<5xf32>) -> tensor<3x5xf32>
      %b = kiln.exp %a : tensor<3x5xf32>
      %s = kiln.softmax %b {axis = 1 : i64} : tensor<3x5xf32>
      return %a, %s, %x, %y, %c, %a, %w : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<5xf32>, tensor<2xf32>, tensor<3x5xf32>, tensor<5xf32>
    }
  )mlir");
  ASSERT_TRUE(module);
  TensorMap weights;
  HostTensor w(ElementType::F32, {5});
  for (int64_t i = 0; i < 5; ++i)
    w.setFloat(i, 0.25f * i - 1);
  weights.emplace("w", w);
  Manifest manifest =
      compileAndCheck(*module, weights, compiler::CompileOptions());
  ASSERT_EQ(manifest.outputs.size(), 7u);
  EXPECT_EQ(manifest.inputs[0].name, "x");
  EXPECT_EQ(manifest.inputs[1].name, "input1");
  EXPECT_EQ(manifest.outputs[0].name, "a");
  EXPECT_EQ(manifest.outputs[1].name, "output1");
  // add, exp+softmax, and five copies; the softmax reads output 0.
  ASSERT_EQ(manifest.steps.size(), 7u);
  EXPECT_EQ(manifest.steps[1].args[0].kind, StepArgKind::Output);
  EXPECT_EQ(manifest.steps[1].args[0].index, 0);
  EXPECT_TRUE(manifest.buffers.empty());
  // The constant ships as a weight under a generated name.
  std::set<std::string> weightArgs;
  for (const Step &step : manifest.steps)
    for (const StepArg &arg : step.args)
      if (arg.kind == StepArgKind::Weight)
        weightArgs.insert(arg.name);
  EXPECT_EQ(weightArgs, (std::set<std::string>{"kiln.constant.0", "w"}));
}

TEST_F(CompilerTest, UnusedKernelResultsGetABuffer) {
  // A kernel written by hand with two results, one of them unused.
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func private @both(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) attributes {kiln.kernel, kiln.fusion_kind = "exp+neg"} {
      %a = kiln.exp %x : tensor<4x8xf32>
      %b = kiln.neg %x : tensor<4x8xf32>
      return %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
    }
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %a, %b = call @both(%x) : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
      %c = kiln.relu %a : tensor<4x8xf32>
      return %c : tensor<4x8xf32>
    }
  )mlir");
  ASSERT_TRUE(module);
  Manifest manifest = compileAndCheck(*module, {}, compiler::CompileOptions());
  ASSERT_EQ(manifest.steps.size(), 2u);
  EXPECT_EQ(manifest.steps[0].kernel, "both");
  ASSERT_EQ(manifest.buffers.size(), 2u);
  EXPECT_EQ(manifest.steps[0].args[2].kind, StepArgKind::Buffer);
  EXPECT_EQ(manifest.buffers[1].bytes, 4 * 8 * 4);
}

TEST_F(CompilerTest, MemoryPlanReusesButNeverAliasesAStep) {
  LoadedModel model = buildZooModel("mlp", {"layers=6", "batch=3"});
  ASSERT_TRUE(model.module);
  compiler::CompileOptions options;
  options.fusion = false;
  Manifest manifest = compileAndCheck(*model.module, model.weights, options);
  EXPECT_LT(manifest.arenaBytes, manifest.unplannedBytes);
  std::map<int64_t, BufferSpec> buffers;
  for (const BufferSpec &buffer : manifest.buffers)
    buffers[buffer.id] = buffer;
  for (const Step &step : manifest.steps) {
    std::vector<BufferSpec> used;
    for (const StepArg &arg : step.args)
      if (arg.kind == StepArgKind::Buffer)
        used.push_back(buffers.at(arg.index));
    for (size_t i = 0; i < used.size(); ++i)
      for (size_t j = i + 1; j < used.size(); ++j)
        if (used[i].id != used[j].id) {
          EXPECT_TRUE(used[i].offset + used[i].bytes <= used[j].offset ||
                      used[j].offset + used[j].bytes <= used[i].offset)
              << step.kernel << ": buffers " << used[i].id << " and "
              << used[j].id << " overlap";
        }
  }
}

//===----------------------------------------------------------------------===//
// Determinism and configs
//===----------------------------------------------------------------------===//

TEST_F(CompilerTest, CompilingTwiceGivesTheSameArtifact) {
  LoadedModel model = buildZooModel("mlp", {"act=silu"});
  ASSERT_TRUE(model.module);
  FailureOr<compiler::CompiledArtifact> first = compiler::compileModel(
      *model.module, model.weights, compiler::CompileOptions());
  FailureOr<compiler::CompiledArtifact> second = compiler::compileModel(
      *model.module, model.weights, compiler::CompileOptions());
  ASSERT_TRUE(succeeded(first) && succeeded(second)) << diagnostics;
  std::string a, b, error;
  ASSERT_TRUE(formatManifest(first->artifact.manifest, a, error)) << error;
  ASSERT_TRUE(formatManifest(second->artifact.manifest, b, error)) << error;
  EXPECT_EQ(a, b);
  EXPECT_EQ(first->artifact.code, second->artifact.code);
  EXPECT_EQ(first->artifact.graph, second->artifact.graph);
  EXPECT_FALSE(first->artifact.graph.empty());
  ASSERT_EQ(first->artifact.weights.size(), second->artifact.weights.size());
}

TEST_F(CompilerTest, KeepsConfigsOnTheIR) {
  // The default config tiles 37x1000 by 16 rows (3 tiles); the one on the
  // kernel asks for one row per tile.
  const char *source = R"mlir(
    func.func private @k(%x: tensor<37x1000xf32>) -> tensor<37x1000xf32> attributes {kiln.kernel, kiln.fusion_kind = "tanh" CONFIG} {
      %0 = kiln.tanh %x : tensor<37x1000xf32>
      return %0 : tensor<37x1000xf32>
    }
    func.func @main(%x: tensor<37x1000xf32>) -> tensor<37x1000xf32> {
      %0 = call @k(%x) : (tensor<37x1000xf32>) -> tensor<37x1000xf32>
      return %0 : tensor<37x1000xf32>
    }
  )mlir";
  std::string withDefault = source, withConfig = source;
  withDefault.replace(withDefault.find(" CONFIG"), 7, "");
  withConfig.replace(withConfig.find(" CONFIG"), 7,
                     ", kiln.cpu_config = #kiln.cpu_config<tile_sizes = [1, "
                     "1000], vector_width = 8>");
  OwningOpRef<ModuleOp> defaulted = parse(withDefault);
  OwningOpRef<ModuleOp> configured = parse(withConfig);
  ASSERT_TRUE(defaulted && configured);
  Manifest a = compileAndCheck(*defaulted, {}, compiler::CompileOptions());
  Manifest b = compileAndCheck(*configured, {}, compiler::CompileOptions());
  ASSERT_EQ(a.steps.size(), 1u);
  ASSERT_EQ(b.steps.size(), 1u);
  EXPECT_NE(a.steps[0].tiles, 37);
  EXPECT_EQ(b.steps[0].tiles, 37);
}

TEST_F(CompilerTest, TakesTunedConfigsFromTheLookup) {
  // The default config tiles 37x1000 by 16 rows; the "tuned" one asks for
  // one row per tile. The lookup is asked about exactly the kernels that
  // outlineKernels returns.
  OwningOpRef<ModuleOp> model = parse(R"mlir(
    func.func @main(%x: tensor<37x1000xf32>) -> tensor<37x1000xf32> {
      %0 = kiln.tanh %x : tensor<37x1000xf32>
      return %0 : tensor<37x1000xf32>
    }
  )mlir");
  ASSERT_TRUE(model);
  FailureOr<OwningOpRef<ModuleOp>> outlined =
      compiler::outlineKernels(*model, compiler::CompileOptions());
  ASSERT_TRUE(succeeded(outlined)) << diagnostics;
  std::vector<std::string> outlinedKernels;
  for (auto function : (**outlined).getOps<func::FuncOp>())
    if (function->hasAttr("kiln.kernel")) {
      EXPECT_FALSE(function->hasAttr("kiln.cpu_config"));
      outlinedKernels.push_back(function.getSymName().str());
    }
  ASSERT_EQ(outlinedKernels.size(), 1u);

  std::vector<std::string> asked;
  compiler::CompileOptions tuned;
  tuned.configLookup = [&](func::FuncOp kernel) -> Attribute {
    asked.push_back(kernel.getSymName().str());
    return parseAttribute(
        "#kiln.cpu_config<tile_sizes = [1, 1000], vector_width = 8>",
        &context);
  };
  Manifest b = compileAndCheck(*model, {}, tuned);
  EXPECT_EQ(asked, outlinedKernels);
  EXPECT_EQ(b.steps[0].tiles, 37);

  // A lookup that knows nothing gives the defaults, and says so.
  compiler::CompileOptions unknown;
  unknown.configLookup = [](func::FuncOp) { return Attribute(); };
  FailureOr<compiler::CompiledArtifact> defaulted =
      compiler::compileModel(*model, {}, unknown);
  ASSERT_TRUE(succeeded(defaulted)) << diagnostics;
  EXPECT_NE(defaulted->artifact.manifest.steps[0].tiles, 37);
  ASSERT_EQ(defaulted->configs.size(), 1u);
  EXPECT_EQ(defaulted->configs[0].kernel, outlinedKernels[0]);
  EXPECT_FALSE(defaulted->configs[0].tuned);

  // The same lookup gives the same bytes; a hit changes the code.
  FailureOr<compiler::CompiledArtifact> first =
      compiler::compileModel(*model, {}, tuned);
  FailureOr<compiler::CompiledArtifact> second =
      compiler::compileModel(*model, {}, tuned);
  ASSERT_TRUE(succeeded(first) && succeeded(second)) << diagnostics;
  ASSERT_EQ(first->configs.size(), 1u);
  EXPECT_TRUE(first->configs[0].tuned);
  EXPECT_EQ(first->artifact.code, second->artifact.code);
  EXPECT_NE(first->artifact.code, defaulted->artifact.code);
}

TEST_F(CompilerTest, PrintsTheIRAfterAPass) {
  LoadedModel model = buildZooModel("mlp", {});
  ASSERT_TRUE(model.module);
  std::string dump;
  llvm::raw_string_ostream stream(dump);
  compiler::CompileOptions options;
  options.printIR.stream = &stream;
  options.printIR.afterPasses = {"kiln-select-kernel-config"};
  ASSERT_TRUE(
      succeeded(compiler::compileModel(*model.module, model.weights, options)))
      << diagnostics;
  EXPECT_NE(dump.find("IR Dump After"), std::string::npos);
  EXPECT_NE(dump.find("kiln.cpu_config"), std::string::npos);
  EXPECT_EQ(dump.find("llvm.func"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST_F(CompilerTest, UnknownTargetListsTheKnownOnes) {
  LoadedModel model = buildZooModel("mlp", {});
  ASSERT_TRUE(model.module);
  compiler::CompileOptions options;
  options.target = "z80";
  EXPECT_TRUE(
      failed(compiler::compileModel(*model.module, model.weights, options)));
  EXPECT_NE(diagnostics.find("unknown CPU target 'z80' (expected host"),
            std::string::npos)
      << diagnostics;
}

TEST_F(CompilerTest, MissingWeightIsAnError) {
  LoadedModel model = buildZooModel("mlp", {});
  ASSERT_TRUE(model.module);
  TensorMap weights = model.weights;
  weights.erase(weights.begin());
  EXPECT_TRUE(failed(compiler::compileModel(*model.module, weights,
                                            compiler::CompileOptions())));
  EXPECT_NE(diagnostics.find("is not in the weights file"), std::string::npos)
      << diagnostics;
}

TEST_F(CompilerTest, WrongInputsAreRefusedByTheRuntime) {
  LoadedModel model = buildZooModel("mlp", {});
  ASSERT_TRUE(model.module);
  FailureOr<compiler::CompiledArtifact> compiled = compiler::compileModel(
      *model.module, model.weights, compiler::CompileOptions());
  ASSERT_TRUE(succeeded(compiled)) << diagnostics;
  std::string error;
  std::optional<CompiledModel> loaded = CompiledModel::load(
      std::move(compiled->artifact), "mlp", LoadOptions(), error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_FALSE(
      loaded->bindInput(0, HostTensor(ElementType::F32, {1, 63}), error));
  EXPECT_EQ(error,
            "input 'input' of model 'mlp' expects 1x64xf32, got 1x63xf32");
  EXPECT_FALSE(
      loaded->bindInput(0, HostTensor(ElementType::BF16, {1, 64}), error));
  EXPECT_EQ(error,
            "input 'input' of model 'mlp' expects 1x64xf32, got 1x64xbf16");
  EXPECT_FALSE(
      loaded->bindInput(1, HostTensor(ElementType::F32, {1, 64}), error));
  EXPECT_EQ(error, "model 'mlp' has no input 1 (it has 1)");
  EXPECT_FALSE(loaded->run(error));
  EXPECT_EQ(error, "cannot run model 'mlp': input 'input' is not bound");
}

} // namespace
