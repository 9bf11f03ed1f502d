//===- GraphBuilder.h - A zoo model's function and weights ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The one place where zoo models create IR: the inputs and outputs of
// @main, seeded `kiln.weight`s together with their host tensors, and thin
// wrappers over the kiln ops the models use. Model and block code above it
// only composes these calls.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_ZOO_GRAPHBUILDER_H_
#define KILN_MODELS_ZOO_GRAPHBUILDER_H_

#include "models/zoo/Zoo.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <optional>
#include <string>
#include <utility>

namespace kiln::zoo {

/// How a weight's elements are drawn: `mean + stddev * N(0, 1)`, each weight
/// from its own stream seeded by (model seed, weight name).
struct WeightInit {
  double mean = 0.0;
  double stddev = 1.0;

  /// A linear or convolution weight with `fanIn` inputs per output: keeps
  /// activations near unit variance.
  static WeightInit fanIn(int64_t fanIn);
  /// A normalization scale: near one, with a little noise so a wrong
  /// broadcast of it changes the result.
  static WeightInit scale() { return {1.0, 0.05}; }
  /// A bias: small, but not zero for the same reason.
  static WeightInit bias() { return {0.0, 0.05}; }
  static WeightInit normal(double stddev) { return {0.0, stddev}; }
};

/// The elementwise activations the zoo offers.
enum class Activation { Relu, Gelu, Silu };

class GraphBuilder {
public:
  /// Builds into a new `func.func @main` at the end of `module`. Weights are
  /// in `dtype` and stored into `weights`.
  GraphBuilder(mlir::ModuleOp module, ElementType dtype, uint64_t seed,
               TensorMap &weights);

  /// Names the location of the ops built while it lives (e.g.
  /// "decoder.layers.0.attn"), so diagnostics and kernel reports can say
  /// which block an op came from.
  class Scope {
  public:
    Scope(GraphBuilder &graph, llvm::StringRef name);
    ~Scope();
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;

  private:
    GraphBuilder &graph;
    mlir::Location saved;
  };

  mlir::MLIRContext *getContext() { return builder.getContext(); }
  /// The model's float element type.
  mlir::Type getElementType() const { return elementType; }
  /// A tensor type of `shape` in the model's float element type.
  mlir::RankedTensorType getTensorType(llvm::ArrayRef<int64_t> shape) const;

  //===--------------------------------------------------------------------===//
  // Inputs, outputs and weights
  //===--------------------------------------------------------------------===//

  /// Appends an argument `name` of `type` to @main. An integer input gets
  /// `range`, the [lo, hi) of its values, as its `kiln.range`.
  mlir::Value addInput(llvm::StringRef name, mlir::RankedTensorType type,
                       std::optional<std::pair<int64_t, int64_t>> range = {});
  /// Returns `outputs` from @main and fixes its function type.
  void setOutputs(mlir::ValueRange outputs);

  /// A `kiln.weight` called `name` of `shape` in the model's element type,
  /// and its seeded host tensor.
  mlir::Value weight(llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                     WeightInit init);
  /// Whether the weights requested so far hold more than
  /// `kMaxWeightElements` elements; from then on weights are declared in the
  /// IR but not allocated.
  bool isOverBudget() const { return weightElements > kMaxWeightElements; }

  //===--------------------------------------------------------------------===//
  // Ops
  //===--------------------------------------------------------------------===//

  /// `x [..., in] x W [in, out] (+ b [out])` with the weight `weightName`
  /// and, when `biasName` is not empty, the bias `biasName`.
  mlir::Value linear(mlir::Value x, llvm::StringRef weightName, int64_t out,
                     llvm::StringRef biasName = {});

  // Thin wrappers creating the kiln op of the same name with its inferred
  // result type: matmul without transposes, reshape to `shape`, broadcastTo
  // `shape` (`x` itself when it has that shape) and slice with unit strides.
  mlir::Value matmul(mlir::Value lhs, mlir::Value rhs);
  mlir::Value add(mlir::Value lhs, mlir::Value rhs);
  mlir::Value mul(mlir::Value lhs, mlir::Value rhs);
  mlir::Value activation(mlir::Value x, Activation kind);
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape);
  mlir::Value transpose(mlir::Value x, llvm::ArrayRef<int64_t> permutation);
  mlir::Value broadcastTo(mlir::Value x, llvm::ArrayRef<int64_t> shape);
  mlir::Value concat(mlir::ValueRange inputs, int64_t axis);
  mlir::Value slice(mlir::Value x, llvm::ArrayRef<int64_t> starts,
                    llvm::ArrayRef<int64_t> limits);

  /// The underlying builder and current location, for ops without a wrapper.
  mlir::OpBuilder &getBuilder() { return builder; }
  mlir::Location getLoc() const { return loc; }

private:
  mlir::OpBuilder builder;
  mlir::Location loc;
  mlir::func::FuncOp function;
  mlir::Type elementType;
  ElementType dtype;
  uint64_t seed;
  TensorMap &weights;
  int64_t weightElements = 0;
};

/// The static shape of `value`'s tensor type.
llvm::ArrayRef<int64_t> getShape(mlir::Value value);

} // namespace kiln::zoo

#endif // KILN_MODELS_ZOO_GRAPHBUILDER_H_
