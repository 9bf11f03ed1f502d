//===- ZooTest.cpp - Tests of the model zoo ---------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Builds every zoo model and checks the graphs' structure, the knobs'
// effects, the seeded weights and the error messages for bad settings.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Zoo.h"

#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace mlir;
using namespace kiln;
using namespace kiln::zoo;

namespace {

class ZooTest : public ::testing::Test {
protected:
  ZooTest() { context.loadDialect<KilnDialect, func::FuncDialect>(); }

  /// Builds `name` with `settings`; records a test failure and returns a
  /// model without a module when that fails.
  Model build(StringRef name, std::vector<std::string> settings = {}) {
    std::string error;
    FailureOr<Model> model = buildModel(context, name, settings, error);
    if (failed(model)) {
      ADD_FAILURE() << "building " << name.str() << " failed: " << error;
      return Model();
    }
    EXPECT_TRUE(error.empty()) << error;
    return std::move(*model);
  }

  /// The error of building `name` with `settings`, which must fail.
  std::string buildError(StringRef name, std::vector<std::string> settings) {
    std::string error;
    FailureOr<Model> model = buildModel(context, name, settings, error);
    EXPECT_TRUE(failed(model)) << name.str() << " built unexpectedly";
    EXPECT_FALSE(error.empty());
    return error;
  }

  MLIRContext context;
};

func::FuncOp getMain(const Model &model) {
  return model.module.get().lookupSymbol<func::FuncOp>("main");
}

template <typename OpTy> int64_t countOps(const Model &model) {
  int64_t count = 0;
  model.module.get().walk([&](OpTy) { ++count; });
  return count;
}

template <typename OpTy> SmallVector<OpTy> collectOps(const Model &model) {
  SmallVector<OpTy> ops;
  model.module.get().walk([&](OpTy op) { ops.push_back(op); });
  return ops;
}

std::vector<int64_t> shapeOf(Type type) {
  ArrayRef<int64_t> shape = cast<RankedTensorType>(type).getShape();
  return {shape.begin(), shape.end()};
}

std::vector<int64_t> resultShape(const Model &model, unsigned index = 0) {
  return shapeOf(getMain(model).getFunctionType().getResult(index));
}

std::vector<int64_t> inputShape(const Model &model, unsigned index = 0) {
  return shapeOf(getMain(model).getFunctionType().getInput(index));
}

std::vector<int64_t> weightShape(const Model &model, const std::string &name) {
  auto it = model.weights.find(name);
  if (it == model.weights.end()) {
    ADD_FAILURE() << "no weight " << name;
    return {};
  }
  return it->second.getShape();
}

std::map<std::string, uint64_t> checksums(const Model &model) {
  std::map<std::string, uint64_t> sums;
  for (const auto &[name, tensor] : model.weights)
    sums[name] = tensor.checksum();
  return sums;
}

/// Mean and standard deviation of a tensor's elements.
std::pair<double, double> moments(const HostTensor &tensor) {
  double sum = 0, sumSquares = 0;
  int64_t count = tensor.getNumElements();
  for (int64_t i = 0; i < count; ++i) {
    sum += tensor.getFloat(i);
    sumSquares += tensor.getFloat(i) * tensor.getFloat(i);
  }
  double mean = sum / count;
  return {mean, std::sqrt(sumSquares / count - mean * mean)};
}

const std::vector<std::string> kAllModels = {
    "tiny-multimodal", "mlp", "decoder", "moe", "encoder", "vit"};

//===----------------------------------------------------------------------===//
// The registry
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, ListsEveryModelWithTheDefaultFirst) {
  std::vector<std::string> names;
  for (const ModelInfo &info : listModels())
    names.push_back(info.name);
  EXPECT_EQ(names, kAllModels);
  EXPECT_EQ(findModel("decoder"), &listModels()[2]);
  EXPECT_EQ(findModel("gpt"), nullptr);
}

TEST_F(ZooTest, EveryModelHasTheCommonKnobsFirstAndValidDefaults) {
  for (const ModelInfo &info : listModels()) {
    SCOPED_TRACE(info.name);
    EXPECT_FALSE(info.summary.empty());
    ASSERT_GE(info.knobs.size(), 3u);
    EXPECT_EQ(info.knobs[0].name, "seed");
    EXPECT_EQ(info.knobs[0].defaultValue, "0");
    EXPECT_EQ(info.knobs[1].name, "dtype");
    EXPECT_EQ(info.knobs[1].choices,
              (std::vector<std::string>{"f32", "bf16", "f16"}));
    EXPECT_EQ(info.knobs[2].name, "batch");
    std::set<std::string> seen;
    for (const Knob &knob : info.knobs) {
      EXPECT_TRUE(seen.insert(knob.name).second) << "twice: " << knob.name;
      EXPECT_FALSE(knob.help.empty()) << knob.name;
      EXPECT_EQ(info.findKnob(knob.name), &knob);
      if (!knob.isInteger()) {
        EXPECT_NE(std::find(knob.choices.begin(), knob.choices.end(),
                            knob.defaultValue),
                  knob.choices.end())
            << knob.name;
        continue;
      }
      int64_t value = std::stoll(knob.defaultValue);
      EXPECT_GE(value, knob.minValue) << knob.name;
      EXPECT_LE(value, knob.maxValue) << knob.name;
    }
  }
}

//===----------------------------------------------------------------------===//
// Every model at its defaults
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, EveryModelBuildsAVerifiedModuleWithMatchingWeights) {
  for (const std::string &name : kAllModels) {
    SCOPED_TRACE(name);
    Model model = build(name);
    ASSERT_TRUE(model.module);
    EXPECT_TRUE(succeeded(verify(*model.module)));
    auto functions = collectOps<func::FuncOp>(model);
    ASSERT_EQ(functions.size(), 1u);
    func::FuncOp main = getMain(model);
    ASSERT_TRUE(main);
    EXPECT_GE(main.getNumArguments(), 1u);
    EXPECT_GE(main.getNumResults(), 1u);

    // Every kiln.weight has its tensor, with its shape and type, and every
    // tensor is used.
    std::set<std::string> used;
    for (WeightOp op : collectOps<WeightOp>(model)) {
      std::string weightName = op.getName().str();
      used.insert(weightName);
      auto it = model.weights.find(weightName);
      ASSERT_NE(it, model.weights.end()) << weightName;
      RankedTensorType type = op.getResult().getType();
      EXPECT_EQ(it->second.getShape(), shapeOf(type)) << weightName;
      EXPECT_EQ(it->second.getElementType(),
                *toElementType(type.getElementType()))
          << weightName;
    }
    EXPECT_EQ(used.size(), model.weights.size());

    // Inputs are named; integer inputs carry their range.
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      EXPECT_TRUE(main.getArgAttrOfType<StringAttr>(i, "kiln.name"));
      auto type = cast<RankedTensorType>(main.getArgument(i).getType());
      auto range = main.getArgAttrOfType<DenseI64ArrayAttr>(
          i, KilnDialect::kInputRangeAttrName);
      EXPECT_EQ(static_cast<bool>(range), type.getElementType().isInteger(32));
    }
  }
}

TEST_F(ZooTest, DefaultModelsHaveTheDocumentedInputsAndOutputs) {
  struct Expected {
    std::string model;
    std::vector<std::vector<int64_t>> inputs;
    std::vector<int64_t> output;
  };
  std::vector<Expected> table = {
      {"tiny-multimodal", {{1, 3, 32, 32}, {1, 16}}, {1, 16 + 16, 256}},
      {"mlp", {{1, 64}}, {1, 16}},
      {"decoder", {{1, 16}}, {1, 16, 256}},
      {"moe", {{1, 16}}, {1, 16, 256}},
      {"encoder", {{1, 16}}, {1, 16, 64}},
      {"vit", {{1, 3, 32, 32}}, {1, 64}},
  };
  for (const Expected &expected : table) {
    SCOPED_TRACE(expected.model);
    Model model = build(expected.model);
    ASSERT_TRUE(model.module);
    ASSERT_EQ(getMain(model).getNumArguments(), expected.inputs.size());
    for (unsigned i = 0; i < expected.inputs.size(); ++i)
      EXPECT_EQ(inputShape(model, i), expected.inputs[i]);
    ASSERT_EQ(getMain(model).getNumResults(), 1u);
    EXPECT_EQ(resultShape(model), expected.output);
  }
}

TEST_F(ZooTest, TheModuleRoundTripsThroughText) {
  for (const std::string &name : kAllModels) {
    SCOPED_TRACE(name);
    Model model = build(name);
    ASSERT_TRUE(model.module);
    std::string text;
    llvm::raw_string_ostream os(text);
    model.module->print(os);
    OwningOpRef<ModuleOp> parsed =
        parseSourceString<ModuleOp>(text, ParserConfig(&context));
    ASSERT_TRUE(parsed);
    int64_t before = 0, after = 0;
    model.module->walk([&](Operation *) { ++before; });
    parsed->walk([&](Operation *) { ++after; });
    EXPECT_EQ(before, after);
  }
}

//===----------------------------------------------------------------------===//
// Knobs
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, LayersScaleTheBlocks) {
  for (int64_t layers : {1, 3}) {
    std::string setting = "layers=" + std::to_string(layers);
    Model decoder = build("decoder", {setting});
    ASSERT_TRUE(decoder.module);
    EXPECT_EQ(countOps<AttentionOp>(decoder), layers);
    EXPECT_EQ(countOps<RopeOp>(decoder), 2 * layers);
    EXPECT_EQ(countOps<RmsNormOp>(decoder), 2 * layers + 1);
    EXPECT_EQ(countOps<SiluOp>(decoder), layers);

    Model moe = build("moe", {setting});
    ASSERT_TRUE(moe.module);
    EXPECT_EQ(countOps<AttentionOp>(moe), layers);
    EXPECT_EQ(countOps<MoeRouterOp>(moe), layers);
    EXPECT_EQ(countOps<MoeExpertsOp>(moe), layers);
    EXPECT_EQ(countOps<SiluOp>(moe), 0);

    Model encoder = build("encoder", {setting});
    ASSERT_TRUE(encoder.module);
    EXPECT_EQ(countOps<AttentionOp>(encoder), layers);
    EXPECT_EQ(countOps<LayerNormOp>(encoder), 2 * layers + 1);

    Model vit = build("vit", {setting});
    ASSERT_TRUE(vit.module);
    EXPECT_EQ(countOps<AttentionOp>(vit), layers);
    EXPECT_EQ(countOps<LayerNormOp>(vit), 2 * layers + 1);

    Model mlp = build("mlp", {setting});
    ASSERT_TRUE(mlp.module);
    EXPECT_EQ(countOps<MatmulOp>(mlp), layers);
    EXPECT_EQ(countOps<ReluOp>(mlp), layers - 1);
  }
  Model multimodal = build("tiny-multimodal", {"vision_layers=3", "layers=1"});
  ASSERT_TRUE(multimodal.module);
  EXPECT_EQ(countOps<AttentionOp>(multimodal), 4);
  EXPECT_EQ(countOps<MoeExpertsOp>(multimodal), 1);
  EXPECT_EQ(countOps<Conv2DOp>(multimodal), 1);
}

TEST_F(ZooTest, KvHeadsShapeTheKeysAndValues) {
  for (int64_t kvHeads : {1, 2, 4}) {
    SCOPED_TRACE(kvHeads);
    Model model = build("decoder", {"kv_heads=" + std::to_string(kvHeads)});
    ASSERT_TRUE(model.module);
    // hidden 64 over 4 heads: head size 16.
    EXPECT_EQ(weightShape(model, "decoder.layers.0.attn.wq"),
              (std::vector<int64_t>{64, 64}));
    EXPECT_EQ(weightShape(model, "decoder.layers.1.attn.wk"),
              (std::vector<int64_t>{64, kvHeads * 16}));
    EXPECT_EQ(weightShape(model, "decoder.layers.1.attn.wv"),
              (std::vector<int64_t>{64, kvHeads * 16}));
    for (AttentionOp op : collectOps<AttentionOp>(model)) {
      EXPECT_TRUE(op.getCausal());
      EXPECT_EQ(shapeOf(op.getQuery().getType()),
                (std::vector<int64_t>{1, 4, 16, 16}));
      EXPECT_EQ(shapeOf(op.getKey().getType()),
                (std::vector<int64_t>{1, kvHeads, 16, 16}));
    }
  }
}

TEST_F(ZooTest, DecoderSizesFollowTheirKnobs) {
  Model model =
      build("decoder", {"batch=2", "seq=8", "vocab=100", "hidden=32", "heads=2",
                        "kv_heads=1", "ffn=48", "rope_theta=500000"});
  ASSERT_TRUE(model.module);
  EXPECT_EQ(inputShape(model), (std::vector<int64_t>{2, 8}));
  EXPECT_TRUE(cast<RankedTensorType>(getMain(model).getArgumentTypes()[0])
                  .getElementType()
                  .isInteger(32));
  auto range = getMain(model).getArgAttrOfType<DenseI64ArrayAttr>(
      0, KilnDialect::kInputRangeAttrName);
  ASSERT_TRUE(range);
  EXPECT_EQ(range.asArrayRef(), ArrayRef<int64_t>({0, 100}));
  EXPECT_EQ(resultShape(model), (std::vector<int64_t>{2, 8, 100}));
  EXPECT_EQ(weightShape(model, "decoder.embed_tokens"),
            (std::vector<int64_t>{100, 32}));
  EXPECT_EQ(weightShape(model, "decoder.layers.0.ffn.w_gate"),
            (std::vector<int64_t>{32, 48}));
  EXPECT_EQ(weightShape(model, "decoder.layers.0.ffn.w_down"),
            (std::vector<int64_t>{48, 32}));
  EXPECT_EQ(weightShape(model, "decoder.lm_head"),
            (std::vector<int64_t>{32, 100}));
  for (RopeOp op : collectOps<RopeOp>(model))
    EXPECT_EQ(op.getTheta().convertToFloat(), 500000.0f);
}

TEST_F(ZooTest, ExpertsAndTopKShapeTheMixture) {
  Model model = build("moe", {"experts=8", "top_k=3", "ffn=32"});
  ASSERT_TRUE(model.module);
  EXPECT_EQ(weightShape(model, "moe.layers.0.moe.router"),
            (std::vector<int64_t>{64, 8}));
  EXPECT_EQ(weightShape(model, "moe.layers.0.moe.w_gate"),
            (std::vector<int64_t>{8, 64, 32}));
  EXPECT_EQ(weightShape(model, "moe.layers.1.moe.w_down"),
            (std::vector<int64_t>{8, 32, 64}));
  for (MoeRouterOp op : collectOps<MoeRouterOp>(model)) {
    EXPECT_EQ(op.getTopK(), 3);
    // Tokens are flattened to [batch * seq, experts].
    EXPECT_EQ(shapeOf(op.getLogits().getType()), (std::vector<int64_t>{16, 8}));
  }
}

TEST_F(ZooTest, ExpertsSwitchBetweenDenseAndMixtureFeedForward) {
  Model mixture = build("decoder", {"experts=8", "top_k=1"});
  ASSERT_TRUE(mixture.module);
  EXPECT_EQ(countOps<MoeExpertsOp>(mixture), 2);
  EXPECT_EQ(countOps<SiluOp>(mixture), 0);
  EXPECT_EQ(weightShape(mixture, "decoder.layers.0.moe.w_gate"),
            (std::vector<int64_t>{8, 64, 128}));
  for (MoeRouterOp op : collectOps<MoeRouterOp>(mixture))
    EXPECT_EQ(op.getTopK(), 1);

  // A dense decoder has no use for top_k, so any value is accepted.
  Model dense = build("moe", {"experts=0", "top_k=9"});
  ASSERT_TRUE(dense.module);
  EXPECT_EQ(countOps<MoeExpertsOp>(dense), 0);
  EXPECT_EQ(countOps<SiluOp>(dense), 2);
  EXPECT_EQ(weightShape(dense, "moe.layers.1.ffn.w_up"),
            (std::vector<int64_t>{64, 128}));
}

TEST_F(ZooTest, ActChoosesTheMlpActivation) {
  Model gelu = build("mlp", {"act=gelu", "layers=3"});
  ASSERT_TRUE(gelu.module);
  EXPECT_EQ(countOps<GeluOp>(gelu), 2);
  EXPECT_EQ(countOps<ReluOp>(gelu), 0);
  Model silu = build("mlp", {"act=silu", "in=5", "out=7", "hidden=9"});
  ASSERT_TRUE(silu.module);
  EXPECT_EQ(countOps<SiluOp>(silu), 1);
  EXPECT_EQ(inputShape(silu), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(resultShape(silu), (std::vector<int64_t>{1, 7}));
  EXPECT_EQ(weightShape(silu, "mlp.layers.0.weight"),
            (std::vector<int64_t>{5, 9}));
  EXPECT_EQ(weightShape(silu, "mlp.layers.1.bias"), (std::vector<int64_t>{7}));
}

TEST_F(ZooTest, EncoderIsBidirectionalPostNormWithBiases) {
  Model model = build("encoder", {"seq=12", "hidden=48", "heads=3"});
  ASSERT_TRUE(model.module);
  EXPECT_EQ(resultShape(model), (std::vector<int64_t>{1, 12, 48}));
  EXPECT_EQ(countOps<RopeOp>(model), 0);
  for (AttentionOp op : collectOps<AttentionOp>(model))
    EXPECT_FALSE(op.getCausal());
  EXPECT_EQ(weightShape(model, "encoder.positions"),
            (std::vector<int64_t>{12, 48}));
  EXPECT_EQ(weightShape(model, "encoder.layers.0.attn.bq"),
            (std::vector<int64_t>{48}));
  // Post-LN: the output is the last layer norm itself.
  Operation *output = getMain(model)
                          .getBody()
                          .front()
                          .getTerminator()
                          ->getOperand(0)
                          .getDefiningOp();
  EXPECT_TRUE(isa<LayerNormOp>(output));
}

TEST_F(ZooTest, VitPatchesFollowImageAndPatch) {
  Model model = build("vit", {"image=64", "patch=16", "channels=1", "hidden=32",
                              "heads=2", "batch=2"});
  ASSERT_TRUE(model.module);
  EXPECT_EQ(inputShape(model), (std::vector<int64_t>{2, 1, 64, 64}));
  EXPECT_EQ(resultShape(model), (std::vector<int64_t>{2, 32}));
  auto convs = collectOps<Conv2DOp>(model);
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(convs[0].getStrides(), ArrayRef<int64_t>({16, 16}));
  EXPECT_EQ(weightShape(model, "vit.patch_embed.weight"),
            (std::vector<int64_t>{32, 1, 16, 16}));
  // 4 x 4 patches and the class token.
  EXPECT_EQ(weightShape(model, "vit.positions"),
            (std::vector<int64_t>{17, 32}));
  for (AttentionOp op : collectOps<AttentionOp>(model)) {
    EXPECT_FALSE(op.getCausal());
    EXPECT_EQ(shapeOf(op.getQuery().getType()),
              (std::vector<int64_t>{2, 2, 17, 16}));
  }
}

TEST_F(ZooTest, TinyMultimodalAttendsCausallyOverImageAndText) {
  Model model = build("tiny-multimodal", {"image=16", "patch=4", "seq=5",
                                          "vision_hidden=32", "vocab=50"});
  ASSERT_TRUE(model.module);
  EXPECT_EQ(inputShape(model, 0), (std::vector<int64_t>{1, 3, 16, 16}));
  EXPECT_EQ(inputShape(model, 1), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(getMain(model).getArgAttrOfType<StringAttr>(0, "kiln.name"),
            StringAttr::get(&context, "image"));
  EXPECT_EQ(getMain(model).getArgAttrOfType<StringAttr>(1, "kiln.name"),
            StringAttr::get(&context, "tokens"));
  // 16 image tokens before the 5 text tokens.
  EXPECT_EQ(resultShape(model), (std::vector<int64_t>{1, 21, 50}));
  EXPECT_EQ(weightShape(model, "projector.weight"),
            (std::vector<int64_t>{32, 64}));
  int64_t causal = 0, bidirectional = 0;
  for (AttentionOp op : collectOps<AttentionOp>(model)) {
    int64_t seq = shapeOf(op.getQuery().getType())[2];
    if (op.getCausal()) {
      ++causal;
      EXPECT_EQ(seq, 21);
    } else {
      ++bidirectional;
      EXPECT_EQ(seq, 16);
    }
  }
  EXPECT_EQ(causal, 2);
  EXPECT_EQ(bidirectional, 2);
  EXPECT_EQ(model.weights.count("vision.class_token"), 0u);
}

TEST_F(ZooTest, DtypeSetsWeightsAndActivations) {
  for (StringRef dtype : {"bf16", "f16"}) {
    SCOPED_TRACE(dtype.str());
    Model model = build("tiny-multimodal", {"dtype=" + dtype.str()});
    ASSERT_TRUE(model.module);
    ElementType expected =
        dtype == "bf16" ? ElementType::BF16 : ElementType::F16;
    for (const auto &[name, tensor] : model.weights)
      EXPECT_EQ(tensor.getElementType(), expected) << name;
    FunctionType type = getMain(model).getFunctionType();
    EXPECT_EQ(
        *toElementType(cast<RankedTensorType>(type.getInput(0)).getElementType()),
        expected);
    EXPECT_TRUE(cast<RankedTensorType>(type.getInput(1))
                    .getElementType()
                    .isInteger(32));
    EXPECT_EQ(
        *toElementType(cast<RankedTensorType>(type.getResult(0)).getElementType()),
        expected);
  }
}

TEST_F(ZooTest, ALaterSettingOverridesAnEarlierOne) {
  Model model = build("decoder", {"layers=1", " layers = 3 "});
  ASSERT_TRUE(model.module);
  EXPECT_EQ(countOps<AttentionOp>(model), 3);
}

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

TEST_F(ZooTest, TheSeedAloneDecidesTheWeights) {
  for (const std::string &name : kAllModels) {
    SCOPED_TRACE(name);
    Model first = build(name, {"seed=7"});
    Model again = build(name, {"seed=7"});
    Model other = build(name, {"seed=8"});
    ASSERT_TRUE(first.module && again.module && other.module);
    std::map<std::string, uint64_t> sums = checksums(first);
    EXPECT_EQ(sums, checksums(again));
    std::map<std::string, uint64_t> otherSums = checksums(other);
    ASSERT_EQ(sums.size(), otherSums.size());
    for (const auto &[weightName, sum] : sums)
      EXPECT_NE(sum, otherSums[weightName]) << weightName;
  }
}

TEST_F(ZooTest, AWeightDependsOnlyOnSeedAndName) {
  Model two = build("decoder", {"layers=2"});
  Model three = build("decoder", {"layers=3"});
  ASSERT_TRUE(two.module && three.module);
  std::map<std::string, uint64_t> small = checksums(two);
  std::map<std::string, uint64_t> large = checksums(three);
  for (const auto &[name, sum] : small)
    EXPECT_EQ(sum, large[name]) << name;
  // Two weights of the same shape still differ.
  EXPECT_NE(small["decoder.layers.0.attn.wq"],
            small["decoder.layers.1.attn.wq"]);
}

TEST_F(ZooTest, WeightsHaveTheirIntendedScale) {
  Model model = build("encoder", {"hidden=256", "heads=4", "ffn=512"});
  ASSERT_TRUE(model.module);
  auto [linearMean, linearStd] =
      moments(model.weights.at("encoder.layers.0.mlp.w1"));
  EXPECT_NEAR(linearMean, 0.0, 0.01);
  EXPECT_NEAR(linearStd, 1.0 / 16.0, 0.1 / 16.0); // 1/sqrt(fan_in = 256)
  auto [downMean, downStd] =
      moments(model.weights.at("encoder.layers.0.mlp.w2"));
  EXPECT_NEAR(downStd, 1.0 / std::sqrt(512.0), 0.1 / std::sqrt(512.0));
  auto [scaleMean, scaleStd] =
      moments(model.weights.at("encoder.layers.0.attn_norm.scale"));
  EXPECT_NEAR(scaleMean, 1.0, 0.02);
  EXPECT_GT(scaleStd, 0.01);
  EXPECT_LT(scaleStd, 0.2);
  auto [biasMean, biasStd] =
      moments(model.weights.at("encoder.layers.0.mlp.b1"));
  EXPECT_NEAR(biasMean, 0.0, 0.02);
  EXPECT_GT(biasStd, 0.0);
  EXPECT_LT(biasStd, 0.2);
}

TEST_F(ZooTest, ReducedPrecisionWeightsAreTheRoundedF32Weights) {
  Model f32 = build("mlp");
  Model bf16 = build("mlp", {"dtype=bf16"});
  ASSERT_TRUE(f32.module && bf16.module);
  const HostTensor &wide = f32.weights.at("mlp.layers.0.weight");
  const HostTensor &narrow = bf16.weights.at("mlp.layers.0.weight");
  ASSERT_EQ(wide.getNumElements(), narrow.getNumElements());
  for (int64_t i = 0; i < wide.getNumElements(); ++i)
    ASSERT_EQ(narrow.getFloat(i), roundTo(ElementType::BF16, wide.getFloat(i)))
        << i;
}

//===----------------------------------------------------------------------===//
// Bad settings
//===----------------------------------------------------------------------===//

struct BadSetting {
  std::string model;
  std::vector<std::string> settings;
  /// Substrings the error must contain.
  std::vector<std::string> mentions;
};

TEST_F(ZooTest, BadSettingsGiveOneClearError) {
  std::vector<BadSetting> table = {
      {"gpt", {}, {"unknown model 'gpt'", "tiny-multimodal", "decoder"}},
      {"decoder",
       {"foo=1"},
       {"model 'decoder'", "unknown knob 'foo'", "kv_heads"}},
      {"decoder",
       {"layers=abc"},
       {"model 'decoder'", "'layers'", "'abc'", "an integer in [1, 256]"}},
      {"decoder", {"layers=0"}, {"'layers'", "'0'", "[1, 256]"}},
      {"decoder", {"layers=-3"}, {"'layers'", "'-3'"}},
      {"decoder", {"layers=3.5"}, {"'layers'", "'3.5'"}},
      {"decoder", {"layers=99999999999999999999"}, {"'layers'"}},
      {"decoder", {"layers="}, {"'layers'", "''"}},
      {"decoder", {"seed=-1"}, {"'seed'", "'-1'"}},
      {"decoder",
       {"dtype=f64"},
       {"model 'decoder'", "'dtype'", "'f64'", "f32, bf16, f16"}},
      {"mlp", {"act=tanh"}, {"model 'mlp'", "'act'", "'tanh'", "relu"}},
      {"decoder",
       {"novalue"},
       {"model 'decoder'", "malformed", "'novalue'", "knob=value"}},
      {"decoder", {"=3"}, {"malformed", "'=3'"}},
      {"decoder", {"heads=3"}, {"model 'decoder'", "heads (3)", "hidden (64)"}},
      {"encoder", {"heads=5"}, {"model 'encoder'", "heads (5)", "hidden (64)"}},
      {"decoder", {"kv_heads=3"}, {"kv_heads (3)", "heads (4)"}},
      {"decoder", {"kv_heads=8"}, {"kv_heads (8)", "heads (4)"}},
      {"decoder", {"hidden=12"}, {"even", "hidden (12)", "heads (4)"}},
      {"moe", {"top_k=5"}, {"model 'moe'", "top_k (5)", "experts (4)"}},
      {"tiny-multimodal", {"experts=1"}, {"top_k (2)", "experts (1)"}},
      {"decoder",
       {"experts=2", "top_k=3"},
       {"model 'decoder'", "top_k (3)", "experts (2)"}},
      {"moe", {"experts=-1"}, {"'experts'", "'-1'", "[0, 1024]"}},
      {"vit", {"patch=5"}, {"model 'vit'", "patch (5)", "image (32)"}},
      {"vit", {"patch=64"}, {"patch (64)", "image (32)"}},
      {"tiny-multimodal",
       {"vision_heads=3"},
       {"vision_heads (3)", "vision_hidden (64)"}},
      {"decoder", {"layers=1", "layers=x"}, {"'layers'", "'x'"}},
      // Within every knob's range, but 4 * 2^32 weight elements.
      {"mlp",
       {"in=65536", "hidden=65536", "layers=5"},
       {"model 'mlp'", "1073741824"}},
  };
  for (const BadSetting &bad : table) {
    std::string settings;
    for (const std::string &setting : bad.settings)
      settings += " " + setting;
    SCOPED_TRACE(bad.model + settings);
    std::string error = buildError(bad.model, bad.settings);
    for (const std::string &mention : bad.mentions)
      EXPECT_NE(error.find(mention), std::string::npos)
          << "'" << error << "' does not mention '" << mention << "'";
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

} // namespace
