//===- KilnDialect.td - The kiln dialect declaration -----*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_KILNDIALECT_TD
#define KILN_IR_KILNDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln";
  let summary = "tensor graph of a neural network model";
  let description = [{
    The `kiln` dialect describes a model as a graph of tensor operations with
    static shapes. A model is a `func.func` whose arguments are the model's
    inputs and whose results are its outputs. Weights are either dense
    constants (`kiln.constant`) or named references into the safetensors file
    that the module attribute `kiln.weights_file` names (`kiln.weight`).

    Element types are f32, bf16 and f16 for values, and i32 or i64 for
    indices. Elementwise ops broadcast as numpy does.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    /// The module attribute naming the weights file, relative to the model.
    static constexpr ::llvm::StringLiteral kWeightsFileAttrName =
        "kiln.weights_file";
    /// The argument attribute giving the [lo, hi) range of an integer input.
    static constexpr ::llvm::StringLiteral kInputRangeAttrName = "kiln.range";
  }];
}

class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, traits>;

#endif // KILN_IR_KILNDIALECT_TD
