//===- OnnxImportTest.cpp - Numerics of imported ONNX models ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Imports the models that test/models/onnx/make_models.py generates,
// evaluates them with the reference evaluator on the generated inputs and
// compares with the expected outputs numpy computed independently (f32
// tolerances). Also checks the graph rewrites the importer promises:
// attention and GELU recognized, BatchNormalization folded into Conv, shape
// subgraphs folded away.
//
//===----------------------------------------------------------------------===//

#include "models/io/ModelFile.h"

#include "ir/KilnDialect.h"
#include "reference/Evaluator.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir;
using namespace kiln;

namespace {

class OnnxImportTest : public ::testing::Test {
protected:
  OnnxImportTest() { context.loadDialect<KilnDialect, func::FuncDialect>(); }

  static std::string pathOf(const std::string &file) {
    return std::string(KILN_ONNX_TEST_MODELS) + "/" + file;
  }

  static TensorMap readTensors(const std::string &file) {
    std::string error;
    std::optional<TensorMap> tensors = readSafetensors(pathOf(file), error);
    EXPECT_TRUE(tensors) << error;
    return tensors ? *tensors : TensorMap();
  }

  /// Imports case `name` with input shapes taken from its inputs, evaluates
  /// it and compares every output; returns the imported module.
  OwningOpRef<ModuleOp> importAndCompare(const std::string &name) {
    TensorMap inputs = readTensors(name + ".inputs.safetensors");
    TensorMap expected = readTensors(name + ".expected.safetensors");
    ModelFileOptions options;
    for (const auto &[inputName, tensor] : inputs)
      options.inputShapes[inputName] = tensor.getShape();
    FailureOr<LoadedModel> model =
        loadModelFile(context, pathOf(name + ".onnx"), options);
    if (failed(model)) {
      ADD_FAILURE() << "importing " << name << " failed";
      return nullptr;
    }
    func::FuncOp main = *getEntryFunction(*model->module);
    std::vector<HostTensor> arguments;
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto inputName = main.getArgAttrOfType<StringAttr>(i, "kiln.name");
      arguments.push_back(inputs.at(inputName.str()));
    }
    FailureOr<std::vector<HostTensor>> outputs =
        reference::evaluate(main, arguments, model->weights);
    if (failed(outputs)) {
      ADD_FAILURE() << "evaluating " << name << " failed";
      return nullptr;
    }
    EXPECT_EQ(outputs->size(), expected.size());
    for (size_t i = 0; i < outputs->size() && i < expected.size(); ++i) {
      const HostTensor &got = (*outputs)[i];
      const HostTensor &want = expected.at(std::to_string(i));
      EXPECT_EQ(got.getShape(), want.getShape()) << name << " output " << i;
      if (got.getShape() != want.getShape())
        continue;
      for (int64_t e = 0; e < want.getNumElements(); ++e) {
        double g = got.getFloat(e), w = want.getFloat(e);
        EXPECT_LE(std::fabs(g - w), 1e-5 + 1e-4 * std::fabs(w))
            << name << " output " << i << " element " << e << ": got " << g
            << ", expected " << w;
      }
    }
    return std::move(model->module);
  }

  template <typename OpTy> static int count(ModuleOp module) {
    int n = 0;
    module.walk([&](OpTy) { ++n; });
    return n;
  }

  MLIRContext context;
};

TEST_F(OnnxImportTest, Elementwise) {
  OwningOpRef<ModuleOp> module = importAndCompare("elementwise");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<ErfOp>(*module), 1);
}

TEST_F(OnnxImportTest, Contractions) {
  EXPECT_TRUE(importAndCompare("contractions"));
}

TEST_F(OnnxImportTest, Reductions) {
  OwningOpRef<ModuleOp> module = importAndCompare("reductions");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<LayerNormOp>(*module), 1);
}

TEST_F(OnnxImportTest, DataMovement) {
  OwningOpRef<ModuleOp> module = importAndCompare("data_movement");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<SelectOp>(*module), 1);
}

/// Shape -> Gather -> Concat -> Reshape, Equal/Where, ConstantOfShape and
/// Range fold at import: only the reshape and the additions remain.
TEST_F(OnnxImportTest, ShapeFolding) {
  OwningOpRef<ModuleOp> module = importAndCompare("shape_folding");
  ASSERT_TRUE(module);
  int kilnOps = 0;
  module->walk([&](Operation *op) {
    if (isa<KilnDialect>(op->getDialect()) && !isa<ConstantOp>(op))
      ++kilnOps;
  });
  EXPECT_EQ(kilnOps, 3);
}

/// The attention subgraph becomes one causal kiln.attention and the erf
/// subgraph kiln.gelu; the symbolic dims took the inputs' sizes.
TEST_F(OnnxImportTest, Transformer) {
  OwningOpRef<ModuleOp> module = importAndCompare("transformer");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<SoftmaxOp>(*module), 0);
  EXPECT_EQ(count<GeluOp>(*module), 1);
  EXPECT_EQ(count<ErfOp>(*module), 0);
  ASSERT_EQ(count<AttentionOp>(*module), 1);
  module->walk([](AttentionOp op) { EXPECT_TRUE(op.getCausal()); });
}

/// Both BatchNormalizations fold into their Convs: no per-channel multiply.
TEST_F(OnnxImportTest, Cnn) {
  OwningOpRef<ModuleOp> module = importAndCompare("cnn");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<Conv2DOp>(*module), 2);
  EXPECT_EQ(count<MulOp>(*module), 0);
  EXPECT_EQ(count<MaxPool2DOp>(*module), 1);
  EXPECT_EQ(count<AvgPool2DOp>(*module), 1);
}

TEST_F(OnnxImportTest, ExternalData) {
  EXPECT_TRUE(importAndCompare("external"));
}

/// PyTorch's attention: q and k scaled on their own fold into the attention's
/// scale, k^T as reshape-transpose-reshape reads k itself, the batched mask
/// is causal and the NaN guard is dropped; GELU in the association PyTorch
/// writes; the outputs keep their ONNX names.
TEST_F(OnnxImportTest, TorchAttention) {
  OwningOpRef<ModuleOp> module = importAndCompare("torch_attention");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<SoftmaxOp>(*module), 0);
  EXPECT_EQ(count<MulOp>(*module), 0);
  EXPECT_EQ(count<TransposeOp>(*module), 0);
  EXPECT_EQ(count<SelectOp>(*module), 0);
  EXPECT_EQ(count<GeluOp>(*module), 1);
  ASSERT_EQ(count<AttentionOp>(*module), 1);
  module->walk([](AttentionOp op) {
    EXPECT_TRUE(op.getCausal());
    EXPECT_NEAR(op.getScale()->convertToDouble(), 1 / std::sqrt(8.0), 1e-7);
  });
  func::FuncOp main = *getEntryFunction(*module);
  EXPECT_EQ(main.getResultAttrOfType<StringAttr>(0, "kiln.name"), "context");
  EXPECT_EQ(main.getResultAttrOfType<StringAttr>(1, "kiln.name"), "activated");
}

/// Keys and values repeated for the query heads are read before the repeat:
/// one grouped-query kiln.attention over the 2 key/value heads.
TEST_F(OnnxImportTest, GroupedQueryAttention) {
  OwningOpRef<ModuleOp> module = importAndCompare("gqa_attention");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<BroadcastToOp>(*module), 0);
  EXPECT_EQ(count<TransposeOp>(*module), 0);
  ASSERT_EQ(count<AttentionOp>(*module), 1);
  module->walk([](AttentionOp op) {
    EXPECT_TRUE(op.getCausal());
    EXPECT_EQ(op.getKey().getType().getShape()[1], 2);
    EXPECT_EQ(op.getValue().getType().getShape()[1], 2);
    EXPECT_EQ(op.getQuery().getType().getShape()[1], 4);
  });
}

/// transformers' RMSNorm and SiLU become kiln.rms_norm and kiln.silu.
TEST_F(OnnxImportTest, RmsNormSilu) {
  OwningOpRef<ModuleOp> module = importAndCompare("rms_norm_silu");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<RmsNormOp>(*module), 1);
  EXPECT_EQ(count<SiluOp>(*module), 1);
  EXPECT_EQ(count<PowOp>(*module), 0);
  EXPECT_EQ(count<SqrtOp>(*module), 0);
  EXPECT_EQ(count<MulOp>(*module), 0);
  module->walk([](RmsNormOp op) {
    EXPECT_FLOAT_EQ(op.getEpsilon().convertToFloat(), 1e-5f);
  });
}

/// Softmax then TopK is one kiln.moe_router; GatherND with one index per
/// slice a gather; GatherElements of constants folds away.
TEST_F(OnnxImportTest, Router) {
  OwningOpRef<ModuleOp> module = importAndCompare("router");
  ASSERT_TRUE(module);
  EXPECT_EQ(count<MoeRouterOp>(*module), 1);
  EXPECT_EQ(count<SoftmaxOp>(*module), 0);
  EXPECT_EQ(count<GatherOp>(*module), 1);
}

} // namespace
