//===- EvaluatorTest.cpp - Tests of the reference evaluator ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The evaluator as a whole: kiln IR in, host tensors out, errors as
// diagnostics. The kernels' numerics are tested in KernelsTest.cpp; here the
// identities are stated in IR.
//
//===----------------------------------------------------------------------===//

#include "reference/Evaluator.h"

#include "ir/KilnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace mlir;
using namespace kiln;

namespace {

class EvaluatorTest : public ::testing::Test {
protected:
  EvaluatorTest() {
    context.loadDialect<KilnDialect, func::FuncDialect>();
    // Collect diagnostics instead of printing them.
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &diagnostic) {
          diagnostics.push_back(diagnostic.str());
          return success();
        });
  }

  func::FuncOp parse(StringRef source) {
    module = parseSourceString<ModuleOp>(source, &context);
    EXPECT_TRUE(module) << (diagnostics.empty() ? "" : diagnostics.front());
    return module ? *module->getOps<func::FuncOp>().begin() : nullptr;
  }

  static HostTensor tensor(ElementType type, std::vector<int64_t> shape,
                           const std::vector<float> &values) {
    HostTensor result(type, std::move(shape));
    for (size_t i = 0; i < values.size(); ++i)
      result.setFloat(static_cast<int64_t>(i), values[i]);
    return result;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::vector<std::string> diagnostics;
};

TEST_F(EvaluatorTest, ElementwiseChainMatchesHandComputedValues) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
      %b = kiln.constant dense<[1.0, -3.0]> : tensor<2xf32>
      %0 = kiln.add %x, %b : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
      %1 = kiln.relu %0 : tensor<2x2xf32>
      return %1 : tensor<2x2xf32>
    })mlir");
  HostTensor x = tensor(ElementType::F32, {2, 2}, {1, 2, -4, 5});
  auto outputs = reference::evaluate(fn, {x}, {});
  ASSERT_TRUE(succeeded(outputs));
  ASSERT_EQ(outputs->size(), 1u);
  const HostTensor &out = outputs->front();
  EXPECT_EQ(out.getShape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(out.getFloat(0), 2.0f);
  EXPECT_EQ(out.getFloat(1), 0.0f);
  EXPECT_EQ(out.getFloat(2), 0.0f);
  EXPECT_EQ(out.getFloat(3), 2.0f);
}

TEST_F(EvaluatorTest, WeightsAreReadByName) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
      %w = kiln.weight "w" : tensor<2x2xf32>
      %0 = kiln.matmul %x, %w : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
      return %0 : tensor<1x2xf32>
    })mlir");
  TensorMap weights;
  weights["w"] = tensor(ElementType::F32, {2, 2}, {1, 2, 3, 4});
  auto outputs = reference::evaluate(
      fn, {tensor(ElementType::F32, {1, 2}, {1, 1})}, weights);
  ASSERT_TRUE(succeeded(outputs));
  EXPECT_EQ(outputs->front().getFloat(0), 4.0f);
  EXPECT_EQ(outputs->front().getFloat(1), 6.0f);

  // A missing weight and a weight of the wrong shape are errors at the op.
  EXPECT_TRUE(failed(reference::evaluate(
      fn, {tensor(ElementType::F32, {1, 2}, {1, 1})}, {})));
  ASSERT_FALSE(diagnostics.empty());
  EXPECT_NE(diagnostics.back().find("weight 'w'"), std::string::npos);
  weights["w"] = tensor(ElementType::F32, {2, 3}, {});
  EXPECT_TRUE(failed(reference::evaluate(
      fn, {tensor(ElementType::F32, {1, 2}, {1, 1})}, weights)));
  EXPECT_NE(diagnostics.back().find("2x3xf32"), std::string::npos);
}

TEST_F(EvaluatorTest, WrongInputsAreReported) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
      return %x : tensor<3xf32>
    })mlir");
  EXPECT_TRUE(failed(reference::evaluate(fn, {}, {})));
  EXPECT_NE(diagnostics.back().find("expected 1 inputs, got 0"),
            std::string::npos);
  EXPECT_TRUE(failed(
      reference::evaluate(fn, {HostTensor(ElementType::F32, {4})}, {})));
  EXPECT_NE(diagnostics.back().find("tensor<4xf32>"), std::string::npos);
  EXPECT_TRUE(failed(
      reference::evaluate(fn, {HostTensor(ElementType::BF16, {3})}, {})));
  EXPECT_NE(diagnostics.back().find("tensor<3xbf16>"), std::string::npos);
}

TEST_F(EvaluatorTest, Bf16ResultsAreRoundedOnce) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<2xbf16>) -> tensor<2xbf16> {
      %0 = kiln.exp %x : tensor<2xbf16>
      return %0 : tensor<2xbf16>
    })mlir");
  auto outputs = reference::evaluate(
      fn, {tensor(ElementType::BF16, {2}, {0.0f, 1.0f})}, {});
  ASSERT_TRUE(succeeded(outputs));
  EXPECT_EQ(outputs->front().getElementType(), ElementType::BF16);
  EXPECT_EQ(outputs->front().getFloat(0), 1.0f);
  EXPECT_EQ(outputs->front().getFloat(1), roundTo(ElementType::BF16,
                                                  static_cast<float>(M_E)));
}

// Attention over a single key returns that key's value, whatever the query.
TEST_F(EvaluatorTest, AttentionOverOneKeyReturnsItsValue) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%q: tensor<1x2x3x4xf32>, %k: tensor<1x1x1x4xf32>,
                    %v: tensor<1x1x1x4xf32>) -> tensor<1x2x3x4xf32> {
      %0 = kiln.attention %q, %k, %v : (tensor<1x2x3x4xf32>, tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x3x4xf32>
      return %0 : tensor<1x2x3x4xf32>
    })mlir");
  auto inputs = reference::makeSeededInputs(fn, 3);
  ASSERT_TRUE(succeeded(inputs));
  auto outputs = reference::evaluate(fn, *inputs, {});
  ASSERT_TRUE(succeeded(outputs));
  const HostTensor &value = (*inputs)[2];
  for (int64_t i = 0; i < outputs->front().getNumElements(); ++i)
    EXPECT_FLOAT_EQ(outputs->front().getFloat(i), value.getFloat(i % 4));
}

// A mixture with one expert and top-1 routing is the dense SwiGLU
// feed-forward of that expert.
TEST_F(EvaluatorTest, OneExpertMoeEqualsDenseFeedForward) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<5x8xf32>, %logits: tensor<5x1xf32>,
                    %gate: tensor<1x8x16xf32>, %up: tensor<1x8x16xf32>,
                    %down: tensor<1x16x8xf32>) -> (tensor<5x8xf32>, tensor<5x8xf32>) {
      %w, %i = kiln.moe_router %logits {top_k = 1 : i64} : (tensor<5x1xf32>) -> (tensor<5x1xf32>, tensor<5x1xi32>)
      %moe = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<5x8xf32>, tensor<5x1xf32>, tensor<5x1xi32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x16x8xf32>) -> tensor<5x8xf32>
      %g = kiln.reshape %gate : tensor<1x8x16xf32> to tensor<8x16xf32>
      %u = kiln.reshape %up : tensor<1x8x16xf32> to tensor<8x16xf32>
      %d = kiln.reshape %down : tensor<1x16x8xf32> to tensor<16x8xf32>
      %xg = kiln.matmul %x, %g : (tensor<5x8xf32>, tensor<8x16xf32>) -> tensor<5x16xf32>
      %xu = kiln.matmul %x, %u : (tensor<5x8xf32>, tensor<8x16xf32>) -> tensor<5x16xf32>
      %a = kiln.silu %xg : tensor<5x16xf32>
      %h = kiln.mul %a, %xu : (tensor<5x16xf32>, tensor<5x16xf32>) -> tensor<5x16xf32>
      %dense = kiln.matmul %h, %d : (tensor<5x16xf32>, tensor<16x8xf32>) -> tensor<5x8xf32>
      return %moe, %dense : tensor<5x8xf32>, tensor<5x8xf32>
    })mlir");
  auto inputs = reference::makeSeededInputs(fn, 11);
  ASSERT_TRUE(succeeded(inputs));
  auto outputs = reference::evaluate(fn, *inputs, {});
  ASSERT_TRUE(succeeded(outputs));
  const HostTensor &moe = (*outputs)[0], &dense = (*outputs)[1];
  for (int64_t i = 0; i < moe.getNumElements(); ++i)
    EXPECT_NEAR(moe.getFloat(i), dense.getFloat(i),
                1e-5 * (1 + std::fabs(dense.getFloat(i))));
}

TEST_F(EvaluatorTest, SeededInputsAreDeterministicAndInRange) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<64xf32>, %ids: tensor<256xi32> {kiln.range = array<i64: 5, 9>}) -> tensor<64xf32> {
      return %x : tensor<64xf32>
    })mlir");
  auto first = reference::makeSeededInputs(fn, 1);
  auto again = reference::makeSeededInputs(fn, 1);
  auto other = reference::makeSeededInputs(fn, 2);
  ASSERT_TRUE(succeeded(first) && succeeded(again) && succeeded(other));
  EXPECT_EQ((*first)[0].checksum(), (*again)[0].checksum());
  EXPECT_NE((*first)[0].checksum(), (*other)[0].checksum());
  std::set<int64_t> seen;
  for (int64_t i = 0; i < 256; ++i)
    seen.insert((*first)[1].getInt(i));
  EXPECT_EQ(seen, (std::set<int64_t>{5, 6, 7, 8}));
}

TEST_F(EvaluatorTest, ElementsAttrRoundTrip) {
  auto type = RankedTensorType::get({3}, BFloat16Type::get(&context));
  HostTensor tensor = this->tensor(ElementType::BF16, {3}, {1.5f, -2.0f, 3.25f});
  DenseElementsAttr attr = reference::toElementsAttr(tensor, type);
  auto back = reference::toHostTensor(attr);
  ASSERT_TRUE(succeeded(back));
  EXPECT_EQ(back->checksum(), tensor.checksum());
}

TEST_F(EvaluatorTest, OpsWithoutSemanticsAreReported) {
  func::FuncOp fn = parse(R"mlir(
    func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
      %0 = func.call @main(%x) : (tensor<3xf32>) -> tensor<3xf32>
      return %0 : tensor<3xf32>
    })mlir");
  EXPECT_TRUE(failed(
      reference::evaluate(fn, {HostTensor(ElementType::F32, {3})}, {})));
  EXPECT_NE(diagnostics.back().find("'func.call' has no reference semantics"),
            std::string::npos);
}

} // namespace
