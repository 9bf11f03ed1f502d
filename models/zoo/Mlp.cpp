//===- Mlp.cpp - The mlp model ----------------------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A stack of biased linear layers with an activation between them: the
// smallest model, for matmul + epilogue fusion.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Models.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace kiln::zoo {

/// input [batch, in] -> [batch, out] through `layers` linear layers.
static void buildMlp(GraphBuilder &graph, const Config &config) {
  int64_t layers = config.getInt("layers");
  auto activation = llvm::StringSwitch<Activation>(config.getString("act"))
                        .Case("gelu", Activation::Gelu)
                        .Case("silu", Activation::Silu)
                        .Default(Activation::Relu);
  Value x = graph.addInput("input", graph.getTensorType({config.getInt("batch"),
                                                         config.getInt("in")}));
  for (int64_t i = 0; i < layers; ++i) {
    std::string layer = ("mlp.layers." + Twine(i)).str();
    GraphBuilder::Scope scope(graph, layer);
    bool last = i == layers - 1;
    x = graph.linear(x, layer + ".weight",
                     config.getInt(last ? "out" : "hidden"), layer + ".bias");
    if (!last)
      x = graph.activation(x, activation);
  }
  graph.setOutputs(x);
}

ModelDef getMlpModel() {
  Knob act{
      "act", "relu", "activation between the layers", {"relu", "gelu", "silu"}};
  return {{"mlp",
           "multilayer perceptron: biased linear layers with an activation "
           "between them; input [batch, in] -> [batch, out]",
           {
               intKnob("layers", 2, "linear layers", /*maxValue=*/256),
               intKnob("in", 64, "input features"),
               intKnob("hidden", 128, "hidden features"),
               intKnob("out", 16, "output features"),
               act,
           }},
          [](const Config &) { return std::string(); },
          buildMlp};
}

} // namespace kiln::zoo
