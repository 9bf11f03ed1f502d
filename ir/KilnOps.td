//===- KilnOps.td - Operations of the kiln dialect -------*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Every op works on statically shaped tensors. Ops whose result type follows
// from their operands and attributes implement InferTypeOpInterface; the
// inference lives in ShapeInference.cpp, the remaining verifiers in Ops.cpp
// and the folders in Folders.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_KILNOPS_TD
#define KILN_IR_KILNOPS_TD

include "ir/KilnDialect.td"
include "ir/KilnAttrs.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Kiln_FloatTensor : StaticShapeTensorOf<[F32, BF16, F16]>;
def Kiln_IndexTensor : StaticShapeTensorOf<[I32, I64]>;
def Kiln_AnyTensor : StaticShapeTensorOf<[F32, BF16, F16, I32, I64]>;

//===----------------------------------------------------------------------===//
// Constants and weights
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_Op<"constant",
    [ConstantLike, Pure, AllTypesMatch<["value", "result"]>]> {
  let summary = "a tensor whose elements are stored in the IR";
  let description = [{
    Produces the dense tensor held by its `value` attribute.

    ```mlir
    %0 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

def Kiln_WeightOp : Kiln_Op<"weight", [Pure]> {
  let summary = "a tensor loaded by name from the model's weights file";
  let description = [{
    Refers to the tensor called `name` in the safetensors file that the
    enclosing module's `kiln.weights_file` attribute names. The file must hold
    a tensor of exactly the result's shape and element type.

    ```mlir
    %w = kiln.weight "decoder.layers.0.attn.wq" : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise binary ops (numpy broadcasting)
//===----------------------------------------------------------------------===//

class Kiln_BinaryOp<string mnemonic, string what, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat(traits, [Pure, InferTypeOpAdaptor,
                                             SameOperandsAndResultElementType])> {
  let summary = "elementwise " # what # " with numpy broadcasting";
  let description = [{
    Applies the operation elementwise. The operand shapes are broadcast as
    numpy does: aligned at the trailing dimension, each pair of sizes equal
    or one of them 1.

    ```mlir
    %0 = kiln.}] # mnemonic # [{ %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &results) {
      return inferBroadcastResult(location, getOperationName(),
                                  adaptor.getLhs().getType(),
                                  adaptor.getRhs().getType(), results);
    }
  }];
}

def Kiln_AddOp : Kiln_BinaryOp<"add", "addition", [Commutative]>;
def Kiln_SubOp : Kiln_BinaryOp<"sub", "subtraction"> { let hasFolder = 1; }
def Kiln_MulOp : Kiln_BinaryOp<"mul", "multiplication", [Commutative]> {
  let hasFolder = 1;
}
def Kiln_DivOp : Kiln_BinaryOp<"div", "division"> { let hasFolder = 1; }
def Kiln_MaxOp : Kiln_BinaryOp<"max", "maximum", [Commutative]>;
def Kiln_MinOp : Kiln_BinaryOp<"min", "minimum", [Commutative]>;
def Kiln_PowOp : Kiln_BinaryOp<"pow", "power">;

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

class Kiln_UnaryOp<string mnemonic, string what, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType,
        DeclareOpInterfaceMethods<InferTypeOpInterface>])> {
  let summary = "elementwise " # what;
  let description = [{
    Applies the function to every element; the result has the input's type.

    ```mlir
    %0 = kiln.}] # mnemonic # [{ %x : tensor<2x3xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Kiln_NegOp : Kiln_UnaryOp<"neg", "negation"> { let hasFolder = 1; }
def Kiln_AbsOp : Kiln_UnaryOp<"abs", "absolute value">;
def Kiln_ExpOp : Kiln_UnaryOp<"exp", "exponential">;
def Kiln_LogOp : Kiln_UnaryOp<"log", "natural logarithm">;
def Kiln_SqrtOp : Kiln_UnaryOp<"sqrt", "square root">;
def Kiln_RsqrtOp : Kiln_UnaryOp<"rsqrt", "reciprocal square root">;
def Kiln_TanhOp : Kiln_UnaryOp<"tanh", "hyperbolic tangent">;
def Kiln_SigmoidOp : Kiln_UnaryOp<"sigmoid", "logistic sigmoid">;
def Kiln_ReluOp : Kiln_UnaryOp<"relu", "rectified linear unit">;
def Kiln_SiluOp : Kiln_UnaryOp<"silu", "sigmoid linear unit x * sigmoid(x)">;
def Kiln_ErfOp : Kiln_UnaryOp<"erf", "gauss error function">;

def Kiln_GeluOp : Kiln_UnaryOp<"gelu", "gaussian error linear unit"> {
  let description = [{
    `x * Phi(x)` where `Phi` is the normal CDF, evaluated exactly through erf
    (the default) or by the tanh approximation.

    ```mlir
    %0 = kiln.gelu %x {approximation = #kiln.gelu_approximation<tanh>} : tensor<8xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input,
      DefaultValuedAttr<Kiln_GeluApproximationAttr,
                        "::kiln::GeluApproximation::Erf">:$approximation);
}

def Kiln_CastOp : Kiln_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "converts elements to another element type";
  let description = [{
    Converts between f32, bf16 and f16 (rounding to nearest even), from
    integers to floats, and between i32 and i64.

    ```mlir
    %0 = kiln.cast %x : tensor<4xf32> to tensor<4xbf16>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_SelectOp : Kiln_Op<"select", [Pure, InferTypeOpAdaptor]> {
  let summary = "elementwise choice between two tensors by a condition";
  let description = [{
    Takes `true_value` where `condition` is non-zero and `false_value`
    elsewhere. The three shapes broadcast as numpy does; the values share
    their element type, which the result has.

    ```mlir
    %0 = kiln.select %c, %a, %b : (tensor<4x1xi32>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins Kiln_IndexTensor:$condition, Kiln_AnyTensor:$true_value,
      Kiln_AnyTensor:$false_value);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = [{
    $condition `,` $true_value `,` $false_value attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

def Kiln_MatmulOp : Kiln_Op<"matmul", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "batched matrix multiplication";
  let description = [{
    Multiplies the trailing two dimensions: `[..., M, K] x [..., K, N]`, with
    `transpose_lhs` / `transpose_rhs` reading an operand as its transpose
    (`[..., K, M]` / `[..., N, K]`). Leading batch dimensions broadcast as
    numpy does. Accumulation is in f32.

    ```mlir
    %0 = kiln.matmul %a, %b {transpose_rhs = true} : (tensor<2x8x16xf32>, tensor<32x16xf32>) -> tensor<2x8x32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs,
      DefaultValuedAttr<BoolAttr, "false">:$transpose_lhs,
      DefaultValuedAttr<BoolAttr, "false">:$transpose_rhs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_Conv2DOp : Kiln_Op<"conv2d", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "2-D convolution in NCHW layout";
  let description = [{
    Convolves an `[N, C, H, W]` input with an `[O, C / groups, KH, KW]`
    filter. `padding` is `[top, left, bottom, right]` zeros; `strides` and
    `dilations` are `[h, w]`. `C` and `O` must be multiples of `groups`.

    ```mlir
    %0 = kiln.conv2d %x, %w {strides = array<i64: 4, 4>} : (tensor<1x3x32x32xf32>, tensor<64x3x4x4xf32>) -> tensor<1x64x8x8xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$filter,
      DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
      DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$padding,
      DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
      DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $filter attr-dict `:` functional-type(operands, results)";
}

class Kiln_Pool2DOp<string mnemonic, string what, dag extraArguments = (ins)>
    : Kiln_Op<mnemonic, [Pure, InferTypeOpAdaptor,
                         SameOperandsAndResultElementType]> {
  let summary = "2-D " # what # " pooling in NCHW layout";
  let arguments = !con((ins Kiln_FloatTensor:$input,
      DenseI64ArrayAttr:$kernel,
      DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
      DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$padding),
      extraArguments);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &results) {
      return inferPool2DResult(location, getOperationName(),
                               adaptor.getInput().getType(),
                               adaptor.getKernel(), adaptor.getStrides(),
                               adaptor.getPadding(), results);
    }
  }];
}

def Kiln_MaxPool2DOp : Kiln_Pool2DOp<"max_pool2d", "max"> {
  let description = [{
    The maximum of each `kernel = [KH, KW]` window of an `[N, C, H, W]`
    input, moved by `strides = [h, w]`. `padding` is
    `[top, left, bottom, right]`; padded positions take no part. Every window
    must overlap the input. Result `[N, C, OH, OW]` with
    `OH = (H + top + bottom - KH) / sh + 1` (likewise OW).

    ```mlir
    %0 = kiln.max_pool2d %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
    ```
  }];
}

def Kiln_AvgPool2DOp : Kiln_Pool2DOp<"avg_pool2d", "average",
    (ins DefaultValuedAttr<BoolAttr, "false">:$count_include_pad)> {
  let description = [{
    The mean of each `kernel = [KH, KW]` window of an `[N, C, H, W]` input,
    moved by `strides = [h, w]`, with `padding` `[top, left, bottom, right]`
    as for `kiln.max_pool2d`. The mean divides by the window's positions
    inside the input, or by `KH * KW` with `count_include_pad` (padded
    positions count as zeros).

    ```mlir
    %0 = kiln.avg_pool2d %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

class Kiln_ReduceOp<string mnemonic, string what>
    : Kiln_Op<mnemonic, [Pure, InferTypeOpAdaptor,
                         SameOperandsAndResultElementType]> {
  let summary = what # " over the given axes";
  let description = [{
    Reduces the listed axes (each in `[0, rank)`, no repeats). With
    `keep_dims` the reduced axes stay as size 1. Accumulation is in f32.

    ```mlir
    %0 = kiln.}] # mnemonic # [{ %x {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, DenseI64ArrayAttr:$axes,
      DefaultValuedAttr<BoolAttr, "false">:$keep_dims);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &results) {
      return inferReductionResult(location, getOperationName(),
                                  adaptor.getInput().getType(),
                                  adaptor.getAxes(), adaptor.getKeepDims(),
                                  results);
    }
  }];
}

def Kiln_ReduceSumOp : Kiln_ReduceOp<"reduce_sum", "sum">;
def Kiln_ReduceMeanOp : Kiln_ReduceOp<"reduce_mean", "mean">;
def Kiln_ReduceMaxOp : Kiln_ReduceOp<"reduce_max", "maximum">;

def Kiln_SoftmaxOp : Kiln_Op<"softmax", [Pure, SameOperandsAndResultType,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "softmax along one axis";
  let description = [{
    `exp(x - max) / sum(exp(x - max))` along `axis` (in `[0, rank)`).

    ```mlir
    %0 = kiln.softmax %x {axis = 1 : i64} : tensor<4x8xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, I64Attr:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Kiln_LayerNormOp : Kiln_Op<"layer_norm", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "layer normalization over the last axis";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * scale + bias` over the last axis,
    with the biased variance. `scale` and `bias` are `[D]` for a last axis
    of size `D`.

    ```mlir
    %0 = kiln.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f32} : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
      Kiln_FloatTensor:$bias, DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $scale `,` $bias attr-dict `:` functional-type(operands, results)";
}

def Kiln_RmsNormOp : Kiln_Op<"rms_norm", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "root-mean-square normalization over the last axis";
  let description = [{
    `x / sqrt(mean(x^2) + epsilon) * scale` over the last axis; `scale` is
    `[D]` for a last axis of size `D`.

    ```mlir
    %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
      DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $scale attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Kiln_TransposeOp : Kiln_Op<"transpose", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "permutes the dimensions";
  let description = [{
    Result dimension `i` is input dimension `permutation[i]`.

    ```mlir
    %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Kiln_ReshapeOp : Kiln_Op<"reshape", [Pure,
    SameOperandsAndResultElementType]> {
  let summary = "reinterprets the elements in row-major order with a new shape";
  let description = [{
    The result type gives the new shape; it must hold as many elements as the
    input.

    ```mlir
    %0 = kiln.reshape %x : tensor<2x3xf32> to tensor<6xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_BroadcastToOp : Kiln_Op<"broadcast_to", [Pure,
    SameOperandsAndResultElementType]> {
  let summary = "broadcasts to a larger shape as numpy does";
  let description = [{
    The result type gives the shape; the input must broadcast to it.

    ```mlir
    %0 = kiln.broadcast_to %x : tensor<1x3xf32> to tensor<4x3xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_ConcatOp : Kiln_Op<"concat", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "joins tensors along one axis";
  let description = [{
    All inputs have the same rank and the same sizes except along `axis`.

    ```mlir
    %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<1x4xf32>, tensor<3x4xf32>) -> tensor<4x4xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_AnyTensor>:$inputs, I64Attr:$axis);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Kiln_SliceOp : Kiln_Op<"slice", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "takes a strided box of elements";
  let description = [{
    Along each dimension takes `start, start + stride, ...` while below
    `limit`, with `0 <= start <= limit <= size` and `stride >= 1`. `strides`
    may be omitted for all ones.

    ```mlir
    %0 = kiln.slice %x {starts = array<i64: 1, 0>, limits = array<i64: 5, 8>} : (tensor<9x8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input, DenseI64ArrayAttr:$starts,
      DenseI64ArrayAttr:$limits,
      DefaultValuedOptionalAttr<DenseI64ArrayAttr, "{}">:$strides);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Kiln_GatherOp : Kiln_Op<"gather", [Pure, InferTypeOpAdaptor]> {
  let summary = "selects slices of data by integer indices (embedding lookup)";
  let description = [{
    Takes `data` slices along `axis` at each index; the result shape is
    `data.shape[:axis] + indices.shape + data.shape[axis+1:]`. An index
    outside `[0, data.shape[axis])` is an error at evaluation.

    ```mlir
    %0 = kiln.gather %table, %ids {axis = 0 : i64} : (tensor<512x64xf32>, tensor<1x16xi32>) -> tensor<1x16x64xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$data, Kiln_IndexTensor:$indices,
      DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

def Kiln_RopeOp : Kiln_Op<"rope", [Pure, SameOperandsAndResultType,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "rotary position embedding";
  let description = [{
    Rotates pairs `(x[i], x[i + D/2])` of the last axis (size `D`, even) by
    the angle `p * theta^(-2i/D)`, where the position `p` is
    `position_offset` plus the index along the second-to-last axis
    (the sequence axis of `[..., S, D]`).

    ```mlir
    %0 = kiln.rope %q {theta = 1.0e+04 : f32} : tensor<1x4x16x32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input,
      DefaultValuedAttr<F32Attr, "10000.0">:$theta,
      DefaultValuedAttr<I64Attr, "0">:$position_offset);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Kiln_AttentionOp : Kiln_Op<"attention", [Pure, InferTypeOpAdaptor,
    SameOperandsAndResultElementType]> {
  let summary = "scaled dot-product attention with grouped-query heads";
  let description = [{
    `softmax(q k^T * scale) v` per batch and head, for `q: [B, Hq, Sq, D]`,
    `k: [B, Hkv, Sk, D]`, `v: [B, Hkv, Sk, Dv]`. Query head `h` reads key and
    value head `h / (Hq / Hkv)`. `scale` defaults to `1/sqrt(D)`. With
    `causal`, query `i` sees keys `j <= i + Sk - Sq`.

    ```mlir
    %0 = kiln.attention %q, %k, %v {causal = true} : (tensor<1x8x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>) -> tensor<1x8x16x32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$query, Kiln_FloatTensor:$key,
      Kiln_FloatTensor:$value, DefaultValuedAttr<BoolAttr, "false">:$causal,
      OptionalAttr<F32Attr>:$scale);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

def Kiln_MoeRouterOp : Kiln_Op<"moe_router", [Pure, InferTypeOpAdaptor]> {
  let summary = "softmax router that picks the top-k experts per token";
  let description = [{
    For router logits `[T, E]`, takes `softmax` over experts and returns the
    `top_k` largest probabilities per token with their expert indices (i32),
    highest first, the lower index first among equals. With `normalize` the
    chosen weights are rescaled to sum to one.

    ```mlir
    %w, %i = kiln.moe_router %logits {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$logits, I64Attr:$top_k,
      DefaultValuedAttr<BoolAttr, "true">:$normalize);
  let results = (outs Kiln_FloatTensor:$weights,
                     StaticShapeTensorOf<[I32]>:$indices);
  let assemblyFormat = "$logits attr-dict `:` functional-type(operands, results)";
}

def Kiln_MoeExpertsOp : Kiln_Op<"moe_experts", [Pure, InferTypeOpAdaptor]> {
  let summary = "dispatches tokens to SwiGLU experts and combines their outputs";
  let description = [{
    For tokens `x: [T, H]` routed by `weights: [T, k]` and `indices: [T, k]`
    over `E` experts with `gate, up: [E, H, F]` and `down: [E, F, H]`:
    `out[t] = sum_j weights[t, j] * ffn_e(x[t])` with `e = indices[t, j]` and
    `ffn_e(x) = (silu(x gate[e]) * (x up[e])) down[e]`. An index outside
    `[0, E)` is an error at evaluation.

    ```mlir
    %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$weights,
      Kiln_IndexTensor:$indices, Kiln_FloatTensor:$gate, Kiln_FloatTensor:$up,
      Kiln_FloatTensor:$down);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weights `,` $indices `,` $gate `,` $up `,` $down attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Kernel groups
//===----------------------------------------------------------------------===//

def Kiln_FusedOp : Kiln_Op<"fused", [IsolatedFromAbove, SingleBlock,
    RecursiveMemoryEffects]> {
  let summary = "a group of ops fused into one kernel, before outlining";
  let description = [{
    Holds the ops that fusion put into one kernel. The body sees only its
    block arguments, one per input (the group's activations and the weights
    it reads), and ends in `kiln.yield` with one value per result. `kind`
    names the fusion rule that formed the group: the anchor first, then the
    fused ops, joined by `+` (`matmul+bias+gelu`, `rms_norm+residual`,
    `attention+rope`; `matmul*3` for three matmuls sharing their lhs).
    Outlining turns each one into a private `func.func` and a `func.call`.

    ```mlir
    %0 = kiln.fused "matmul+bias+gelu" (%x, %w, %b) : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<4x16xf32> {
    ^bb0(%a: tensor<4x8xf32>, %c: tensor<8x16xf32>, %d: tensor<16xf32>):
      %1 = kiln.matmul %a, %c : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
      %2 = kiln.add %1, %d : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
      %3 = kiln.gelu %2 : tensor<4x16xf32>
      kiln.yield %3 : tensor<4x16xf32>
    }
    ```
  }];
  let arguments = (ins StrAttr:$kind, Variadic<Kiln_AnyTensor>:$inputs);
  let results = (outs Variadic<Kiln_AnyTensor>:$outputs);
  let regions = (region SizedRegion<1>:$region);
  let assemblyFormat = [{
    $kind ` ` `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs)
    $region
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def Kiln_YieldOp : Kiln_Op<"yield", [Pure, Terminator,
    HasParent<"FusedOp">]> {
  let summary = "returns the results of a kiln.fused body";
  let description = [{
    Ends the body of `kiln.fused`; its operands become the fused op's
    results, in order.

    ```mlir
    kiln.yield %0, %1 : tensor<4x16xf32>, tensor<4x16xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_AnyTensor>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // KILN_IR_KILNOPS_TD
