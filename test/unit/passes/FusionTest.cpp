//===- FusionTest.cpp - Tests of fusion into kernels ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Runs the graph pipeline on every zoo model with fusion on and off and
// checks that the reference evaluator gives bit-identical outputs before and
// after, the kernel groups each model forms (and so the kernels per
// transformer block), the plan checker, kiln explain's figures, and the
// evaluator's semantics of kiln.fused and func.call. The rules themselves
// are tested in IR, in test/passes/fusion.
//
//===----------------------------------------------------------------------===//

#include "passes/Fusion/Explain.h"
#include "passes/Fusion/KernelGroups.h"
#include "passes/Fusion/Passes.h"
#include "passes/Pipelines.h"

#include "ir/Cost.h"
#include "ir/KilnDialect.h"
#include "models/zoo/Zoo.h"
#include "reference/Evaluator.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"

#include <gtest/gtest.h>

#include <map>

using namespace mlir;
using namespace kiln;
using namespace kiln::graph;

namespace {

class FusionTest : public ::testing::Test {
protected:
  FusionTest() {
    context.loadDialect<KilnDialect, func::FuncDialect>();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          diagnostics.push_back(diagnostic.str());
          return success();
        });
  }

  /// Builds zoo model `name` with `settings`.
  zoo::Model build(StringRef name, std::vector<std::string> settings = {}) {
    std::string error;
    FailureOr<zoo::Model> model =
        zoo::buildModel(context, name, settings, error);
    if (failed(model)) {
      ADD_FAILURE() << "building " << name.str() << " failed: " << error;
      return zoo::Model();
    }
    return std::move(*model);
  }

  /// A copy of `module` after the graph pipeline, with fusion or without.
  OwningOpRef<ModuleOp> compile(ModuleOp module, bool fusion) {
    OwningOpRef<ModuleOp> copy = module.clone();
    PassManager pm(&context);
    GraphPipelineOptions options;
    options.fusion = fusion;
    buildGraphPipeline(pm, options);
    EXPECT_TRUE(succeeded(pm.run(*copy))) << lastDiagnostic();
    EXPECT_TRUE(succeeded(verify(*copy))) << lastDiagnostic();
    return copy;
  }

  /// The outputs of `@main` on seeded inputs.
  std::vector<HostTensor> evaluate(ModuleOp module, const TensorMap &weights) {
    auto main = module.lookupSymbol<func::FuncOp>("main");
    EXPECT_TRUE(main);
    if (!main)
      return {};
    FailureOr<std::vector<HostTensor>> inputs =
        reference::makeSeededInputs(main, /*seed=*/7);
    EXPECT_TRUE(succeeded(inputs)) << lastDiagnostic();
    if (failed(inputs))
      return {};
    FailureOr<std::vector<HostTensor>> outputs =
        reference::evaluate(main, *inputs, weights);
    EXPECT_TRUE(succeeded(outputs)) << lastDiagnostic();
    return succeeded(outputs) ? std::move(*outputs) : std::vector<HostTensor>();
  }

  /// The fusion kinds of the kernels `@main` calls, in call order.
  static std::vector<std::string> getCalledKinds(ModuleOp module) {
    std::vector<std::string> kinds;
    module.lookupSymbol<func::FuncOp>("main").walk([&](func::CallOp call) {
      auto kernel = module.lookupSymbol<func::FuncOp>(call.getCallee());
      auto kind = kernel->getAttrOfType<StringAttr>(kFusionKindAttrName);
      kinds.push_back(kind ? kind.str() : "?");
    });
    return kinds;
  }

  /// The kernels of `name` with `settings`, fused.
  size_t countKernels(StringRef name, std::vector<std::string> settings) {
    zoo::Model model = build(name, std::move(settings));
    if (!model.module)
      return 0;
    return getCalledKinds(*compile(*model.module, /*fusion=*/true)).size();
  }

  std::string lastDiagnostic() const {
    return diagnostics.empty() ? "" : diagnostics.back();
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::vector<std::string> diagnostics;
};

/// Whether two lists of tensors are equal bit for bit.
static void expectBitIdentical(const std::vector<HostTensor> &expected,
                               const std::vector<HostTensor> &actual,
                               const std::string &what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(expected[i].getShape(), actual[i].getShape()) << what;
    EXPECT_EQ(expected[i].checksum(), actual[i].checksum())
        << what << ": output #" << i << " differs";
  }
}

//===----------------------------------------------------------------------===//
// Semantics
//===----------------------------------------------------------------------===//

TEST_F(FusionTest, EveryZooModelKeepsItsOutputsBitForBit) {
  std::vector<std::pair<std::string, std::vector<std::string>>> cases;
  for (const zoo::ModelInfo &info : zoo::listModels())
    cases.push_back({info.name, {}});
  // Low precision and a second batch take other paths through the kernels.
  cases.push_back({"decoder", {"dtype=bf16"}});
  cases.push_back({"tiny-multimodal", {"dtype=f16", "batch=2"}});
  for (auto &[name, settings] : cases) {
    std::string what = name + " " + llvm::join(settings, ",");
    zoo::Model model = build(name, settings);
    ASSERT_TRUE(model.module) << what;
    std::vector<HostTensor> expected = evaluate(*model.module, model.weights);
    ASSERT_FALSE(expected.empty()) << what;
    for (bool fusion : {true, false}) {
      OwningOpRef<ModuleOp> compiled = compile(*model.module, fusion);
      expectBitIdentical(expected, evaluate(*compiled, model.weights),
                         what + (fusion ? " fused" : " unfused"));
    }
  }
}

TEST_F(FusionTest, WithoutFusionEveryOpIsAKernel) {
  zoo::Model model = build("decoder");
  ASSERT_TRUE(model.module);
  OwningOpRef<ModuleOp> unfused = compile(*model.module, /*fusion=*/false);
  size_t kernels = 0;
  for (auto function : unfused->getOps<func::FuncOp>()) {
    if (!function->hasAttr(kKernelAttrName))
      continue;
    ++kernels;
    // One op and the return.
    EXPECT_EQ(function.getBody().front().getOperations().size(), 2u)
        << function.getSymName().str();
  }
  EXPECT_EQ(kernels, getCalledKinds(*unfused).size());
  EXPECT_GT(kernels, countKernels("decoder", {}));
}

//===----------------------------------------------------------------------===//
// Groups of the zoo models
//===----------------------------------------------------------------------===//

/// The kinds of `kernels` repeated `times`.
static std::vector<std::string> repeat(const std::vector<std::string> &kernels,
                                       int times) {
  std::vector<std::string> result;
  for (int i = 0; i < times; ++i)
    result.insert(result.end(), kernels.begin(), kernels.end());
  return result;
}

static std::vector<std::string>
concat(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> result;
  for (const std::vector<std::string> &part : parts)
    result.insert(result.end(), part.begin(), part.end());
  return result;
}

TEST_F(FusionTest, ZooModelsFormTheExpectedKernels) {
  const std::vector<std::string> llamaBlock = {
      "matmul*3+rms_norm", "attention+rope", "matmul+residual",
      "matmul*2+rms_norm+silu+mul", "matmul+residual"};
  const std::vector<std::string> moeBlock = {
      "matmul*3+rms_norm", "attention+rope", "matmul+residual",
      "moe_experts+rms_norm+matmul+moe_router+residual"};
  const std::vector<std::string> postLnBlock = {
      "matmul*3+bias", "attention",        "matmul+bias+residual",
      "layer_norm",    "matmul+bias+gelu", "matmul+bias+residual",
      "layer_norm"};
  const std::vector<std::string> preLnBlock = {
      "matmul*3+layer_norm+bias", "attention", "matmul+bias+residual",
      "matmul+layer_norm+bias+gelu", "matmul+bias+residual"};
  const std::vector<std::string> preLnFirstBlock = {
      "matmul*3+bias", "attention", "matmul+bias+residual",
      "matmul+layer_norm+bias+gelu", "matmul+bias+residual"};

  std::map<std::string, std::vector<std::string>> expected = {
      {"mlp", {"matmul+bias+relu", "matmul+bias"}},
      {"decoder",
       concat({{"gather"}, repeat(llamaBlock, 2), {"matmul+rms_norm"}})},
      {"moe", concat({{"gather"}, repeat(moeBlock, 2), {"matmul+rms_norm"}})},
      {"encoder", concat({{"layer_norm+gather+bias"}, repeat(postLnBlock, 2)})},
      {"vit", concat({{"conv2d+bias", "layer_norm+concat+bias"},
                      preLnFirstBlock,
                      preLnBlock,
                      {"layer_norm+slice"}})},
      {"tiny-multimodal", concat({{"conv2d+bias"},
                                  repeat(preLnBlock, 2),
                                  {"matmul+layer_norm+bias", "gather+concat"},
                                  repeat(moeBlock, 2),
                                  {"matmul+rms_norm"}})},
  };
  for (const zoo::ModelInfo &info : zoo::listModels()) {
    zoo::Model model = build(info.name);
    ASSERT_TRUE(model.module);
    ASSERT_TRUE(expected.count(info.name))
        << "no expectation for " << info.name;
    EXPECT_EQ(getCalledKinds(*compile(*model.module, /*fusion=*/true)),
              expected[info.name])
        << info.name;
  }
}

TEST_F(FusionTest, KernelsPerTransformerBlock) {
  // One block more adds exactly the kernels of one block.
  auto perBlock = [&](StringRef name, StringRef knob) {
    std::string one = (knob + "=1").str(), two = (knob + "=2").str();
    return countKernels(name, {two}) - countKernels(name, {one});
  };
  // The Llama-style block: at most 6 kernels is the aim.
  EXPECT_EQ(perBlock("decoder", "layers"), 5u);
  EXPECT_EQ(perBlock("moe", "layers"), 4u);
  EXPECT_EQ(perBlock("encoder", "layers"), 7u);
  EXPECT_EQ(perBlock("vit", "layers"), 5u);
  EXPECT_EQ(perBlock("tiny-multimodal", "layers"), 4u);
  EXPECT_EQ(perBlock("tiny-multimodal", "vision_layers"), 5u);
  // Grouped-query attention with another head count fuses the same way.
  EXPECT_EQ(countKernels("decoder", {"layers=4", "heads=8", "kv_heads=4"}),
            2u + 4u * 5u);
}

//===----------------------------------------------------------------------===//
// Plans
//===----------------------------------------------------------------------===//

/// Whether no path of def-use edges leaves `group` and comes back to it,
/// checked op by op, independently of the planner's group graph.
static bool isConvex(const KernelGroup &group) {
  llvm::SmallPtrSet<Operation *, 16> members(group.ops.begin(),
                                             group.ops.end());
  llvm::SmallPtrSet<Operation *, 16> visited;
  SmallVector<Operation *> worklist;
  auto pushOutsideUsers = [&](Operation *op, bool fromInside) {
    for (Operation *user : op->getUsers()) {
      if (members.contains(user)) {
        if (!fromInside)
          return false;
        continue;
      }
      if (visited.insert(user).second)
        worklist.push_back(user);
    }
    return true;
  };
  for (Operation *op : group.ops)
    pushOutsideUsers(op, /*fromInside=*/true);
  while (!worklist.empty())
    if (!pushOutsideUsers(worklist.pop_back_val(), /*fromInside=*/false))
      return false;
  return true;
}

TEST_F(FusionTest, PlansOfZooModelsAreValid) {
  for (const zoo::ModelInfo &info : zoo::listModels()) {
    zoo::Model model = build(info.name);
    ASSERT_TRUE(model.module);
    auto main = model.module->lookupSymbol<func::FuncOp>("main");
    Block &body = main.getBody().front();
    for (bool enable : {true, false}) {
      SmallVector<KernelGroup> groups = planKernelGroups(body, {enable});
      EXPECT_FALSE(groups.empty());
      EXPECT_TRUE(succeeded(verifyKernelGroups(body, groups)))
          << info.name << ": " << lastDiagnostic();
      for (const KernelGroup &group : groups) {
        EXPECT_TRUE(group.isKernel());
        EXPECT_TRUE(llvm::is_contained(group.ops, group.root));
        EXPECT_TRUE(isConvex(group)) << info.name << ": " << group.kind;
        if (!enable) {
          EXPECT_EQ(group.ops.size(), 1u);
        }
      }
    }
  }
}

TEST_F(FusionTest, PlanCheckerRejectsCyclesAndGaps) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %0 = kiln.exp %x : tensor<4xf32>
      %1 = kiln.neg %0 : tensor<4xf32>
      %2 = kiln.add %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
      return %2 : tensor<4xf32>
    })mlir",
                                                             &context);
  ASSERT_TRUE(module);
  Block &body = module->lookupSymbol<func::FuncOp>("main").getBody().front();
  SmallVector<Operation *> ops = llvm::to_vector(llvm::map_range(
      body.without_terminator(), [](Operation &op) { return &op; }));
  auto group = [](ArrayRef<Operation *> members) {
    KernelGroup result;
    result.ops.assign(members.begin(), members.end());
    result.root = members.back();
    result.kind = "test";
    return result;
  };

  // {exp, add} and {neg}: exp -> neg -> add leaves the group and returns.
  EXPECT_FALSE(isConvex(group({ops[0], ops[2]})));
  diagnostics.clear();
  EXPECT_TRUE(failed(
      verifyKernelGroups(body, {group({ops[0], ops[2]}), group({ops[1]})})));
  EXPECT_NE(lastDiagnostic().find("form a cycle"), std::string::npos)
      << lastDiagnostic();

  // neg is in no group.
  EXPECT_TRUE(
      failed(verifyKernelGroups(body, {group({ops[0]}), group({ops[2]})})));
  EXPECT_NE(lastDiagnostic().find("in no kernel group"), std::string::npos);

  // A valid plan.
  EXPECT_TRUE(succeeded(
      verifyKernelGroups(body, {group({ops[0]}), group({ops[1], ops[2]})})));
}

//===----------------------------------------------------------------------===//
// Explain
//===----------------------------------------------------------------------===//

TEST_F(FusionTest, ExplainCountsFlopsAndBytesPerKernel) {
  zoo::Model model = build("decoder");
  ASSERT_TRUE(model.module);
  int64_t modelFlops = 0;
  model.module->walk([&](Operation *op) { modelFlops += countFlops(op); });

  OwningOpRef<ModuleOp> fused = compile(*model.module, /*fusion=*/true);
  OwningOpRef<ModuleOp> unfused = compile(*model.module, /*fusion=*/false);
  std::vector<KernelExplanation> kernels = explainKernels(*fused);
  std::vector<KernelExplanation> singles = explainKernels(*unfused);
  ASSERT_EQ(kernels.size(), 12u);

  // Fusion moves work between kernels but neither adds nor removes any; it
  // does remove the traffic of the intermediates.
  auto total = [](const std::vector<KernelExplanation> &list, auto field) {
    int64_t sum = 0;
    for (const KernelExplanation &kernel : list)
      sum += field(kernel);
    return sum;
  };
  auto flops = [](const KernelExplanation &k) { return k.flops; };
  auto bytes = [](const KernelExplanation &k) { return k.getBytes(); };
  auto weights = [](const KernelExplanation &k) { return k.weightBytes; };
  EXPECT_EQ(total(kernels, flops), modelFlops);
  EXPECT_EQ(total(singles, flops), modelFlops);
  EXPECT_LT(total(kernels, bytes), total(singles, bytes));
  EXPECT_EQ(total(kernels, weights), total(singles, weights));

  // The q/k/v kernel: the rms_norm prologue and three projections of
  // [1, 16, 64] by [64, 64], [64, 32], [64, 32].
  const KernelExplanation &qkv = kernels[1];
  EXPECT_EQ(qkv.name, "main_k1_matmulx3_rms_norm");
  EXPECT_EQ(qkv.kind, "matmul*3+rms_norm");
  EXPECT_EQ(qkv.ops, (std::vector<std::string>{"kiln.rms_norm", "kiln.matmul",
                                               "kiln.matmul", "kiln.matmul"}));
  EXPECT_EQ(qkv.flops, 5 * 16 * 64 + 2 * 16 * 64 * (64 + 32 + 32));
  EXPECT_EQ(qkv.inputBytes, 16 * 64 * 4);
  EXPECT_EQ(qkv.weightBytes, (64 + 64 * 64 + 2 * 64 * 32) * 4);
  EXPECT_EQ(qkv.outputBytes, 16 * (64 + 32 + 32) * 4);
  EXPECT_DOUBLE_EQ(qkv.getIntensity(),
                   static_cast<double>(qkv.flops) / qkv.getBytes());
  EXPECT_EQ(getRooflineBound(qkv, /*ridgeFlopsPerByte=*/1.0),
            RooflineBound::Compute);
  EXPECT_EQ(getRooflineBound(qkv, /*ridgeFlopsPerByte=*/1000.0),
            RooflineBound::Memory);
  // The embedding gather computes nothing.
  EXPECT_EQ(kernels[0].flops, 0);
  EXPECT_EQ(kernels[0].getIntensity(), 0.0);
}

TEST_F(FusionTest, FusedGroupCostsTheSumOfItsOps) {
  zoo::Model model = build("moe");
  ASSERT_TRUE(model.module);
  int64_t modelFlops = 0;
  model.module->walk([&](Operation *op) { modelFlops += countFlops(op); });
  OwningOpRef<ModuleOp> grouped = model.module->clone();
  PassManager pm(&context);
  pm.addNestedPass<func::FuncOp>(createFormKernelGroupsPass());
  ASSERT_TRUE(succeeded(pm.run(*grouped)));
  int64_t groupedFlops = 0;
  for (auto fused :
       grouped->lookupSymbol<func::FuncOp>("main").getOps<FusedOp>())
    groupedFlops += countFlops(fused);
  EXPECT_EQ(groupedFlops, modelFlops);
}

//===----------------------------------------------------------------------===//
// Reference semantics of kiln.fused and func.call
//===----------------------------------------------------------------------===//

TEST_F(FusionTest, EvaluatorRunsFusedBodiesAndCalls) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func private @k(%a: tensor<2xf32>, %b: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
      %0 = kiln.add %a, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
      %1 = kiln.mul %0, %a : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
      return %0, %1 : tensor<2xf32>, tensor<2xf32>
    }
    func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
      %c = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
      %0:2 = call @k(%x, %c) : (tensor<2xf32>, tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>)
      %1 = kiln.fused "residual+relu" (%0#1, %x) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32> {
      ^bb0(%p: tensor<2xf32>, %q: tensor<2xf32>):
        %2 = kiln.sub %p, %q : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
        %3 = kiln.relu %2 : tensor<2xf32>
        kiln.yield %3 : tensor<2xf32>
      }
      return %0#0, %1 : tensor<2xf32>, tensor<2xf32>
    })mlir",
                                                             &context);
  ASSERT_TRUE(module) << lastDiagnostic();
  HostTensor x(ElementType::F32, {2});
  x.setFloat(0, 3.0f);
  x.setFloat(1, -4.0f);
  auto main = module->lookupSymbol<func::FuncOp>("main");
  auto outputs = reference::evaluate(main, {x}, {});
  ASSERT_TRUE(succeeded(outputs)) << lastDiagnostic();
  ASSERT_EQ(outputs->size(), 2u);
  // x + c = [4, -2]; relu((x + c) * x - x) = [9, 12].
  EXPECT_EQ((*outputs)[0].getFloat(0), 4.0f);
  EXPECT_EQ((*outputs)[0].getFloat(1), -2.0f);
  EXPECT_EQ((*outputs)[1].getFloat(0), 9.0f);
  EXPECT_EQ((*outputs)[1].getFloat(1), 12.0f);
}

TEST_F(FusionTest, EvaluatorRejectsRecursiveCalls) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
      %0 = call @main(%x) : (tensor<2xf32>) -> tensor<2xf32>
      return %0 : tensor<2xf32>
    })mlir",
                                                             &context);
  ASSERT_TRUE(module);
  HostTensor x(ElementType::F32, {2});
  auto main = module->lookupSymbol<func::FuncOp>("main");
  diagnostics.clear();
  EXPECT_TRUE(failed(reference::evaluate(main, {x}, {})));
  EXPECT_NE(lastDiagnostic().find("recursive call to 'main'"),
            std::string::npos)
      << lastDiagnostic();
}

} // namespace
