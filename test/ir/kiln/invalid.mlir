// RUN: kiln-opt %s --split-input-file --verify-diagnostics

// Ops with inferred result types report the inference error, then MLIR's
// "failed to infer returned types" at the same location.

//===----------------------------------------------------------------------===//
// ODS constraints
//===----------------------------------------------------------------------===//

// Every op works on statically shaped tensors.
func.func @add_dynamic_shape(%a: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor}}
  %0 = kiln.add %a, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Dynamic shapes are rejected on unary ops too.
func.func @exp_dynamic_shape(%x: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor}}
  %0 = kiln.exp %x : tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// A weight has a static shape so it can be checked against the file.
func.func @weight_dynamic_shape() -> tensor<?x4xf32> {
  // expected-error @+1 {{result #0 must be statically shaped tensor}}
  %0 = kiln.weight "w" : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Arithmetic ops take float tensors only.
func.func @add_integer_operands(%a: tensor<4xi32>, %b: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<4xi32>'}}
  %0 = kiln.add %a, %b : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// Unary math ops take float tensors only.
func.func @relu_integer_operand(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float}}
  %0 = kiln.relu %x : tensor<4xi64>
  return %0 : tensor<4xi64>
}

// -----

// f64 is not a kiln element type.
func.func @constant_f64() -> tensor<2xf64> {
  // expected-error @+1 {{result #0 must be statically shaped tensor of 32-bit float or bfloat16 type or 16-bit float or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<2xf64>'}}
  %0 = kiln.constant dense<1.0> : tensor<2xf64>
  return %0 : tensor<2xf64>
}

// -----

// A constant's result type is its value's type.
func.func @constant_type_mismatch() -> tensor<2xf32> {
  // expected-error @+1 {{all of {value, result} have same type}}
  %0 = "kiln.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// Binary ops do not convert: both operands share one element type.
func.func @add_mixed_element_types(%a: tensor<4xf32>, %b: tensor<4xf16>) -> tensor<4xf32> {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = kiln.add %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// matmul accumulates in f32 but its operands share one element type.
func.func @matmul_mixed_element_types(%a: tensor<8x16xbf16>, %b: tensor<16x4xf32>) -> tensor<8x4xbf16> {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = kiln.matmul %a, %b : (tensor<8x16xbf16>, tensor<16x4xf32>) -> tensor<8x4xbf16>
  return %0 : tensor<8x4xbf16>
}

// -----

// A unary op's result has its input's type; element conversion is kiln.cast.
func.func @exp_result_type_mismatch(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "kiln.exp"(%x) : (tensor<4xf32>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

// A written result type must equal the inferred one.
func.func @add_wrong_result_shape(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<3x3xf32> {
  // expected-error @+2 {{inferred type(s) 'tensor<2x3xf32>' are incompatible with return type(s) of operation 'tensor<3x3xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// -----

// gather keeps the data element type.
func.func @gather_wrong_result_type(%x: tensor<4x8xf32>, %i: tensor<2xi32>) -> tensor<2x8xbf16> {
  // expected-error @+2 {{inferred type(s) 'tensor<2x8xf32>' are incompatible}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.gather %x, %i : (tensor<4x8xf32>, tensor<2xi32>) -> tensor<2x8xbf16>
  return %0 : tensor<2x8xbf16>
}

// -----

// gather indices are integers.
func.func @gather_float_indices(%x: tensor<4x8xf32>, %i: tensor<2xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{operand #1 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = kiln.gather %x, %i : (tensor<4x8xf32>, tensor<2xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// The router's indices are i32.
func.func @moe_router_i64_indices(%x: tensor<16x4xf32>) -> tensor<16x2xi64> {
  // expected-error @+1 {{result #1 must be statically shaped tensor of 32-bit signless integer values}}
  %w, %i = kiln.moe_router %x {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi64>)
  return %i : tensor<16x2xi64>
}

// -----

// cast changes the element type, never the shape.
func.func @cast_shape_change(%x: tensor<4xf32>) -> tensor<2x2xbf16> {
  // expected-error @+1 {{requires the same shape for all operands and results}}
  %0 = kiln.cast %x : tensor<4xf32> to tensor<2x2xbf16>
  return %0 : tensor<2x2xbf16>
}

// -----

// gelu knows two approximations: erf and tanh.
func.func @gelu_unknown_approximation(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{expected ::kiln::GeluApproximation to be one of: erf, tanh}}
  // expected-error @+1 {{failed to parse Kiln_GeluApproximationAttr parameter 'value'}}
  %0 = kiln.gelu %x {approximation = #kiln.gelu_approximation<sigmoid>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// concat's operand list is variadic but must not be empty.
func.func @concat_no_inputs() -> tensor<4xf32> {
  // expected-error @+1 {{expected 1 or more operands, but found 0}}
  %0 = kiln.concat {axis = 0 : i64} : () -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Constants, weights and casts
//===----------------------------------------------------------------------===//

// A weight is looked up by name; an empty name cannot match a tensor.
func.func @weight_empty_name() -> tensor<4xf32> {
  // expected-error @+1 {{expected a non-empty weight name}}
  %0 = kiln.weight "" : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Float to integer conversion would need a rounding mode kiln does not define.
func.func @cast_float_to_int(%x: tensor<4xf32>) -> tensor<4xi32> {
  // expected-error @+1 {{expected no cast from a float ('f32') to an integer ('i32') element type}}
  %0 = kiln.cast %x : tensor<4xf32> to tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// The rule holds for the half types too.
func.func @cast_bf16_to_i64(%x: tensor<4xbf16>) -> tensor<4xi64> {
  // expected-error @+1 {{expected no cast from a float ('bf16') to an integer ('i64') element type}}
  %0 = kiln.cast %x : tensor<4xbf16> to tensor<4xi64>
  return %0 : tensor<4xi64>
}

// -----

//===----------------------------------------------------------------------===//
// Broadcasting
//===----------------------------------------------------------------------===//

// Trailing sizes 3 and 4 are neither equal nor 1.
func.func @add_not_broadcastable(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+2 {{'kiln.add' op expected operand shapes [2, 3] and [4] to broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// The generic form goes through the same check in the verifier.
func.func @pow_not_broadcastable_generic(%a: tensor<2x3xbf16>, %b: tensor<3x3xbf16>) -> tensor<2x3xbf16> {
  // expected-error @+2 {{'kiln.pow' op expected operand shapes [2, 3] and [3, 3] to broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = "kiln.pow"(%a, %b) : (tensor<2x3xbf16>, tensor<3x3xbf16>) -> tensor<2x3xbf16>
  return %0 : tensor<2x3xbf16>
}

// -----

// broadcast_to only grows size-1 or missing leading dimensions.
func.func @broadcast_to_incompatible(%x: tensor<2x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{expected the input ('tensor<2x3xf32>') to broadcast to the result ('tensor<4x3xf32>')}}
  %0 = kiln.broadcast_to %x : tensor<2x3xf32> to tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// broadcast_to never drops dimensions, even size-1 ones.
func.func @broadcast_to_lower_rank(%x: tensor<1x3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{expected the input ('tensor<1x3xf32>') to broadcast to the result ('tensor<3xf32>')}}
  %0 = kiln.broadcast_to %x : tensor<1x3xf32> to tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

// A matrix-vector product needs the vector reshaped to [K, 1].
func.func @matmul_rank_1(%a: tensor<16xf32>, %b: tensor<16x4xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{expected operands of rank >= 2 (got 1 and 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.matmul %a, %b : (tensor<16xf32>, tensor<16x4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// lhs [8, 16] against rhs [8, 4]: K is 16 on one side and 8 on the other.
func.func @matmul_contraction_mismatch(%a: tensor<8x16xf32>, %b: tensor<8x4xf32>) -> tensor<8x4xf32> {
  // expected-error @+2 {{expected contraction sizes to match (lhs 16, rhs 8)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.matmul %a, %b : (tensor<8x16xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

// transpose_rhs reads [32, 16] as [16, 32]; written [16, 32] it mismatches.
func.func @matmul_transpose_rhs_mismatch(%a: tensor<8x16xf32>, %b: tensor<16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+2 {{expected contraction sizes to match (lhs 16, rhs 32)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.matmul %a, %b {transpose_rhs = true} : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// Batch dimensions broadcast like elementwise shapes; 2 and 3 do not.
func.func @matmul_batch_mismatch(%a: tensor<2x8x16xf32>, %b: tensor<3x16x4xf32>) -> tensor<2x8x4xf32> {
  // expected-error @+2 {{expected batch dimensions [2] and [3] to broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.matmul %a, %b : (tensor<2x8x16xf32>, tensor<3x16x4xf32>) -> tensor<2x8x4xf32>
  return %0 : tensor<2x8x4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// conv2d
//===----------------------------------------------------------------------===//

// conv2d is NCHW only; a 3-D input is not an image batch.
func.func @conv2d_rank(%x: tensor<3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<4x6x6xf32> {
  // expected-error @+2 {{expected rank-4 input [N, C, H, W] and filter [O, C/groups, KH, KW] (got ranks 3 and 4)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w : (tensor<3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<4x6x6xf32>
  return %0 : tensor<4x6x6xf32>
}

// -----

// Padding is [top, left, bottom, right]: two values are not enough.
func.func @conv2d_padding_size(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error @+2 {{expected 2 strides, 2 dilations and 4 paddings}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// Strides are [h, w]; a single value is ambiguous.
func.func @conv2d_strides_size(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+2 {{expected 2 strides, 2 dilations and 4 paddings}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {strides = array<i64: 2>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32>
  return %0 : tensor<1x4x3x3xf32>
}

// -----

// A stride of 0 never advances.
func.func @conv2d_zero_stride(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected strides and dilations in [1, 2^31] and paddings in [0, 2^31]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {strides = array<i64: 0, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// A dilation of 0 collapses the kernel onto one tap.
func.func @conv2d_zero_dilation(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected strides and dilations in [1, 2^31] and paddings in [0, 2^31]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {dilations = array<i64: 1, 0>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// Negative padding would crop; that is a slice, not a convolution.
func.func @conv2d_negative_padding(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected strides and dilations in [1, 2^31] and paddings in [0, 2^31]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {padding = array<i64: 0, 0, -1, 0>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// groups must be positive.
func.func @conv2d_zero_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected groups (0) to be >= 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {groups = 0 : i64} : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// 3 input channels do not split into 2 groups.
func.func @conv2d_groups_input_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected groups (2) to divide input channels (3) and output channels (4)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {groups = 2 : i64} : (tensor<1x3x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// 6 output channels do not split into 4 groups.
func.func @conv2d_groups_output_channels(%x: tensor<1x4x8x8xf32>, %w: tensor<6x1x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+2 {{expected groups (4) to divide input channels (4) and output channels (6)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {groups = 4 : i64} : (tensor<1x4x8x8xf32>, tensor<6x1x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

// With 2 groups each filter sees 4 / 2 = 2 input channels, not 4.
func.func @conv2d_filter_channels(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected filter channels (4) to be input channels / groups (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {groups = 2 : i64} : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// Filter channels must match the input even without groups.
func.func @conv2d_filter_channels_ungrouped(%x: tensor<1x3x8x8xf32>, %w: tensor<4x8x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{expected filter channels (8) to be input channels / groups (3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<4x8x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// A 3x3 kernel dilated by 4 spans 9 rows, more than the 8 of the input.
func.func @conv2d_kernel_too_large(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x1x6xf32> {
  // expected-error @+2 {{expected the dilated kernel (9) to fit the padded input (8)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {dilations = array<i64: 4, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x1x6xf32>
  return %0 : tensor<1x4x1x6xf32>
}

// -----

// Padding counts toward the fit: 2 + 1 + 0 is still less than the 5-wide kernel.
func.func @conv2d_kernel_too_large_padded(%x: tensor<1x3x8x2xf32>, %w: tensor<4x3x3x5xf32>) -> tensor<1x4x6x1xf32> {
  // expected-error @+2 {{expected the dilated kernel (5) to fit the padded input (3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {padding = array<i64: 0, 1, 0, 0>} : (tensor<1x3x8x2xf32>, tensor<4x3x3x5xf32>) -> tensor<1x4x6x1xf32>
  return %0 : tensor<1x4x6x1xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

// An empty axis list would make the reduction an identity in disguise.
func.func @reduce_sum_no_axes(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{expected at least one axis}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.reduce_sum %x {axes = array<i64>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Axis 2 does not exist in a rank-2 tensor.
func.func @reduce_mean_axis_out_of_range(%x: tensor<4x8xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{'kiln.reduce_mean' op expected axis (2) to be in [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.reduce_mean %x {axes = array<i64: 2>} : (tensor<4x8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Axes count from 0; python-style negative axes are not accepted.
func.func @reduce_max_negative_axis(%x: tensor<4x8xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{'kiln.reduce_max' op expected axis (-1) to be in [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.reduce_max %x {axes = array<i64: -1>} : (tensor<4x8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Reducing one axis twice is a typo, not a double reduction.
func.func @reduce_sum_repeated_axis(%x: tensor<2x4x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+2 {{expected axis (2) to appear once}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.reduce_sum %x {axes = array<i64: 2, 2>} : (tensor<2x4x8xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// softmax over a missing axis.
func.func @softmax_axis_out_of_range(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'kiln.softmax' op expected axis (2) to be in [0, 2)}}
  %0 = kiln.softmax %x {axis = 2 : i64} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// softmax axes count from 0 too.
func.func @softmax_negative_axis(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{to be in [0, 2)}}
  %0 = kiln.softmax %x {axis = -1 : i64} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// The scale is per feature of the last axis (8), not of the first.
func.func @layer_norm_scale_shape(%x: tensor<4x8xf32>, %g: tensor<4xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{expected scale of shape [8] (the last axis of the input), got [4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<4xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// The bias is rank 1, not broadcast from a matrix.
func.func @layer_norm_bias_shape(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<1x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{expected bias of shape [8] (the last axis of the input), got [1, 8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Norm parameters share the input's element type (the trait checks it first).
func.func @layer_norm_parameter_element_type(%x: tensor<4x8xbf16>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xbf16> {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = kiln.layer_norm %x, %g, %b : (tensor<4x8xbf16>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}

// -----

// rms_norm's scale matches the last axis.
func.func @rms_norm_scale_shape(%x: tensor<2x16xf16>, %g: tensor<8xf16>) -> tensor<2x16xf16> {
  // expected-error @+2 {{'kiln.rms_norm' op expected scale of shape [16] (the last axis of the input), got [8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.rms_norm %x, %g : (tensor<2x16xf16>, tensor<8xf16>) -> tensor<2x16xf16>
  return %0 : tensor<2x16xf16>
}

// -----

// rms_norm's scale shares the input's element type.
func.func @rms_norm_scale_element_type(%x: tensor<2x16xf16>, %g: tensor<16xbf16>) -> tensor<2x16xf16> {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = kiln.rms_norm %x, %g : (tensor<2x16xf16>, tensor<16xbf16>) -> tensor<2x16xf16>
  return %0 : tensor<2x16xf16>
}

// -----

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

// One permutation entry per dimension.
func.func @transpose_permutation_size(%x: tensor<2x3x4xf32>) -> tensor<3x2xf32> {
  // expected-error @+2 {{expected permutation size (2) to equal the input rank (3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<2x3x4xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// A repeated entry is not a permutation.
func.func @transpose_repeated_entry(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  // expected-error @+2 {{expected permutation [0, 0] to be a permutation of [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.transpose %x {permutation = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// An entry outside [0, rank) is not a permutation.
func.func @transpose_entry_out_of_range(%x: tensor<2x3xi32>) -> tensor<3x2xi32> {
  // expected-error @+2 {{expected permutation [2, 0] to be a permutation of [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.transpose %x {permutation = array<i64: 2, 0>} : (tensor<2x3xi32>) -> tensor<3x2xi32>
  return %0 : tensor<3x2xi32>
}

// -----

// reshape keeps every element: 6 cannot become 8.
func.func @reshape_element_count(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expected the result to hold as many elements (8) as the input (6)}}
  %0 = kiln.reshape %x : tensor<2x3xf32> to tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// concat along an axis the inputs do not have.
func.func @concat_axis_out_of_range(%a: tensor<2x4xf32>, %b: tensor<2x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+2 {{'kiln.concat' op expected axis (2) to be in [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 2 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// Concatenating along axis 0 needs equal sizes along axis 1.
func.func @concat_shape_mismatch(%a: tensor<2x4xf32>, %b: tensor<3x5xf32>) -> tensor<5x4xf32> {
  // expected-error @+2 {{expected input shapes [2, 4] and [3, 5] to differ only along axis 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x4xf32>, tensor<3x5xf32>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

// All concat inputs have the same rank.
func.func @concat_rank_mismatch(%a: tensor<2x4xf32>, %b: tensor<4xf32>) -> tensor<3x4xf32> {
  // expected-error @+2 {{expected input shapes [2, 4] and [4] to differ only along axis 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// All concat inputs share one element type.
func.func @concat_element_type_mismatch(%a: tensor<2x4xf32>, %b: tensor<2x4xbf16>) -> tensor<4x4xf32> {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x4xf32>, tensor<2x4xbf16>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// starts and limits need one entry per dimension.
func.func @slice_entry_count(%x: tensor<9x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{expected starts, limits and strides to have one entry per dimension (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.slice %x {starts = array<i64: 1>, limits = array<i64: 5, 8>} : (tensor<9x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// strides, when given, need one entry per dimension too.
func.func @slice_strides_count(%x: tensor<9x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+2 {{expected starts, limits and strides to have one entry per dimension (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.slice %x {starts = array<i64: 1, 0>, limits = array<i64: 5, 8>, strides = array<i64: 2>} : (tensor<9x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// A limit past the end reads out of bounds.
func.func @slice_limit_past_end(%x: tensor<9x8xf32>) -> tensor<9x8xf32> {
  // expected-error @+2 {{expected 0 <= start (1) <= limit (10) <= size (9) and stride (1) >= 1 in dimension 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.slice %x {starts = array<i64: 1, 0>, limits = array<i64: 10, 8>} : (tensor<9x8xf32>) -> tensor<9x8xf32>
  return %0 : tensor<9x8xf32>
}

// -----

// A start after the limit would be a negative size.
func.func @slice_start_after_limit(%x: tensor<9x8xf32>) -> tensor<9x1xf32> {
  // expected-error @+2 {{expected 0 <= start (5) <= limit (4) <= size (8) and stride (1) >= 1 in dimension 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.slice %x {starts = array<i64: 0, 5>, limits = array<i64: 9, 4>} : (tensor<9x8xf32>) -> tensor<9x1xf32>
  return %0 : tensor<9x1xf32>
}

// -----

// Starts count from 0; no python-style negative starts.
func.func @slice_negative_start(%x: tensor<9xi64>) -> tensor<2xi64> {
  // expected-error @+2 {{expected 0 <= start (-1) <= limit (1) <= size (9) and stride (1) >= 1 in dimension 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.slice %x {starts = array<i64: -1>, limits = array<i64: 1>} : (tensor<9xi64>) -> tensor<2xi64>
  return %0 : tensor<2xi64>
}

// -----

// A stride of 0 never advances; slices do not reverse.
func.func @slice_zero_stride(%x: tensor<9x8xf32>) -> tensor<9x8xf32> {
  // expected-error @+2 {{expected 0 <= start (0) <= limit (9) <= size (9) and stride (0) >= 1 in dimension 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.slice %x {starts = array<i64: 0, 0>, limits = array<i64: 9, 8>, strides = array<i64: 0, 1>} : (tensor<9x8xf32>) -> tensor<9x8xf32>
  return %0 : tensor<9x8xf32>
}

// -----

// gather along an axis the data does not have.
func.func @gather_axis_out_of_range(%x: tensor<4x8xf32>, %i: tensor<2xi32>) -> tensor<4x8x2xf32> {
  // expected-error @+2 {{'kiln.gather' op expected axis (2) to be in [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.gather %x, %i {axis = 2 : i64} : (tensor<4x8xf32>, tensor<2xi32>) -> tensor<4x8x2xf32>
  return %0 : tensor<4x8x2xf32>
}

// -----

// gather axes count from 0.
func.func @gather_negative_axis(%x: tensor<4x8xf32>, %i: tensor<2xi32>) -> tensor<4x2xf32> {
  // expected-error @+2 {{'kiln.gather' op expected axis (-1) to be in [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.gather %x, %i {axis = -1 : i64} : (tensor<4x8xf32>, tensor<2xi32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

//===----------------------------------------------------------------------===//
// rope and attention
//===----------------------------------------------------------------------===//

// rope needs a sequence axis before the head dim.
func.func @rope_rank_1(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{expected an input of rank >= 2 [..., sequence, head_dim] (got rank 1)}}
  %0 = kiln.rope %x : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

// rope rotates pairs (x[i], x[i + D/2]), so D is even.
func.func @rope_odd_head_dim(%x: tensor<1x4x16x7xbf16>) -> tensor<1x4x16x7xbf16> {
  // expected-error @+1 {{expected an even head dim (7)}}
  %0 = kiln.rope %x : tensor<1x4x16x7xbf16>
  return %0 : tensor<1x4x16x7xbf16>
}

// -----

// theta^(-2i/D) needs a positive base.
func.func @rope_zero_theta(%x: tensor<16x8xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{expected theta (0.000000e+00) to be > 0}}
  %0 = kiln.rope %x {theta = 0.0 : f32} : tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

// Positions start at position_offset, which cannot be negative.
func.func @rope_negative_offset(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{expected position_offset (-5) to be >= 0}}
  %0 = kiln.rope %x {position_offset = -5 : i64} : tensor<1x4x8xf32>
  return %0 : tensor<1x4x8xf32>
}

// -----

// A huge dilation would overflow the output size computation.
func.func @conv2d_huge_dilation(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error @+2 {{expected strides and dilations in [1, 2^31] and paddings in [0, 2^31]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.conv2d %x, %w {dilations = array<i64: 4611686018427387904, 1>} : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// NaN is not > 0 either.
func.func @rope_nan_theta(%x: tensor<16x8xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{expected theta (nan) to be > 0}}
  %0 = kiln.rope %x {theta = 0x7FC00000 : f32} : tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

// attention works on [batch, heads, sequence, head_dim].
func.func @attention_rank(%q: tensor<8x16x32xf32>, %k: tensor<8x16x32xf32>, %v: tensor<8x16x32xf32>) -> tensor<8x16x32xf32> {
  // expected-error @+2 {{expected rank-4 query, key and value [batch, heads, sequence, head_dim]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<8x16x32xf32>, tensor<8x16x32xf32>, tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  return %0 : tensor<8x16x32xf32>
}

// -----

// Batches are not broadcast in attention.
func.func @attention_batch_mismatch(%q: tensor<2x8x16x32xf32>, %k: tensor<1x8x16x32xf32>, %v: tensor<1x8x16x32xf32>) -> tensor<2x8x16x32xf32> {
  // expected-error @+2 {{expected query, key and value to have the same batch size}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<2x8x16x32xf32>, tensor<1x8x16x32xf32>, tensor<1x8x16x32xf32>) -> tensor<2x8x16x32xf32>
  return %0 : tensor<2x8x16x32xf32>
}

// -----

// Every key needs a value: key and value sequences are equal.
func.func @attention_kv_sequence_mismatch(%q: tensor<1x8x16x32xf32>, %k: tensor<1x8x16x32xf32>, %v: tensor<1x8x12x32xf32>) -> tensor<1x8x16x32xf32> {
  // expected-error @+2 {{expected key [1, 8, 16, 32] and value [1, 8, 12, 32] to have the same heads and sequence}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<1x8x16x32xf32>, tensor<1x8x16x32xf32>, tensor<1x8x12x32xf32>) -> tensor<1x8x16x32xf32>
  return %0 : tensor<1x8x16x32xf32>
}

// -----

// Key and value heads pair up one to one.
func.func @attention_kv_heads_mismatch(%q: tensor<1x8x16x32xf32>, %k: tensor<1x2x16x32xf32>, %v: tensor<1x4x16x32xf32>) -> tensor<1x8x16x32xf32> {
  // expected-error @+2 {{expected key [1, 2, 16, 32] and value [1, 4, 16, 32] to have the same heads and sequence}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<1x8x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x4x16x32xf32>) -> tensor<1x8x16x32xf32>
  return %0 : tensor<1x8x16x32xf32>
}

// -----

// q k^T contracts the head dim, so query and key agree on it.
func.func @attention_head_dim_mismatch(%q: tensor<1x8x16x64xbf16>, %k: tensor<1x8x16x32xbf16>, %v: tensor<1x8x16x32xbf16>) -> tensor<1x8x16x32xbf16> {
  // expected-error @+2 {{expected query head dim (64) to equal key head dim (32)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<1x8x16x64xbf16>, tensor<1x8x16x32xbf16>, tensor<1x8x16x32xbf16>) -> tensor<1x8x16x32xbf16>
  return %0 : tensor<1x8x16x32xbf16>
}

// -----

// GQA: 8 query heads cannot be shared evenly by 3 key/value heads.
func.func @attention_gqa_not_divisible(%q: tensor<1x8x16x32xf32>, %k: tensor<1x3x16x32xf32>, %v: tensor<1x3x16x32xf32>) -> tensor<1x8x16x32xf32> {
  // expected-error @+2 {{expected query heads (8) to be a multiple of key/value heads (3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<1x8x16x32xf32>, tensor<1x3x16x32xf32>, tensor<1x3x16x32xf32>) -> tensor<1x8x16x32xf32>
  return %0 : tensor<1x8x16x32xf32>
}

// -----

// Zero key/value heads cannot serve any query head (and must not divide by 0).
func.func @attention_zero_kv_heads(%q: tensor<1x8x16x32xf32>, %k: tensor<1x0x16x32xf32>, %v: tensor<1x0x16x32xf32>) -> tensor<1x8x16x32xf32> {
  // expected-error @+2 {{expected query heads (8) to be a multiple of key/value heads (0)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v : (tensor<1x8x16x32xf32>, tensor<1x0x16x32xf32>, tensor<1x0x16x32xf32>) -> tensor<1x8x16x32xf32>
  return %0 : tensor<1x8x16x32xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

// Router logits are [tokens, experts]; batch dims are flattened first.
func.func @moe_router_rank(%x: tensor<2x16x4xf32>) -> tensor<2x16x2xf32> {
  // expected-error @+2 {{expected logits of rank 2 [tokens, experts] (got rank 3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %w, %i = kiln.moe_router %x {top_k = 2 : i64} : (tensor<2x16x4xf32>) -> (tensor<2x16x2xf32>, tensor<2x16x2xi32>)
  return %w : tensor<2x16x2xf32>
}

// -----

// Each token picks at least one expert.
func.func @moe_router_top_k_zero(%x: tensor<16x4xf32>) -> tensor<16x0xf32> {
  // expected-error @+2 {{expected top_k (0) to be in [1, 4] (the expert count)}}
  // expected-error @+1 {{failed to infer returned types}}
  %w, %i = kiln.moe_router %x {top_k = 0 : i64} : (tensor<16x4xf32>) -> (tensor<16x0xf32>, tensor<16x0xi32>)
  return %w : tensor<16x0xf32>
}

// -----

// A token cannot pick more experts than there are.
func.func @moe_router_top_k_too_large(%x: tensor<16x4xf32>) -> tensor<16x5xf32> {
  // expected-error @+2 {{expected top_k (5) to be in [1, 4] (the expert count)}}
  // expected-error @+1 {{failed to infer returned types}}
  %w, %i = kiln.moe_router %x {top_k = 5 : i64} : (tensor<16x4xf32>) -> (tensor<16x5xf32>, tensor<16x5xi32>)
  return %w : tensor<16x5xf32>
}

// -----

// Expert weights are stacked as rank-3 [E, H, F]; a single expert's [H, F] is not.
func.func @moe_experts_rank(%x: tensor<16x64xf32>, %w: tensor<16x2xf32>, %i: tensor<16x2xi32>, %gate: tensor<64x128xf32>, %up: tensor<4x64x128xf32>, %down: tensor<4x128x64xf32>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected input [T, H], weights and indices [T, k], gate and up [E, H, F], down [E, F, H]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// Routing weights and indices come from one router: same [T, k] shape.
func.func @moe_experts_weights_indices_mismatch(%x: tensor<16x64xf32>, %w: tensor<16x2xf32>, %i: tensor<16x3xi32>, %gate: tensor<4x64x128xf32>, %up: tensor<4x64x128xf32>, %down: tensor<4x128x64xf32>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected weights [16, 2] and indices [16, 3] to be [16, k]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x3xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// The routing covers every token of the input.
func.func @moe_experts_token_count(%x: tensor<16x64xf32>, %w: tensor<8x2xf32>, %i: tensor<8x2xi32>, %gate: tensor<4x64x128xf32>, %up: tensor<4x64x128xf32>, %down: tensor<4x128x64xf32>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected weights [8, 2] and indices [8, 2] to be [16, k]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<8x2xf32>, tensor<8x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// down projects F back to H, so it is [E, F, H], not a copy of gate's [E, H, F].
func.func @moe_experts_down_shape(%x: tensor<16x64xf32>, %w: tensor<16x2xf32>, %i: tensor<16x2xi32>, %gate: tensor<4x64x128xf32>, %up: tensor<4x64x128xf32>, %down: tensor<4x64x128xf32>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected gate and up [4, 64, 128] and down [4, 128, 64], got [4, 64, 128], [4, 64, 128], [4, 64, 128]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// gate's hidden size (32) does not match the input's (64).
func.func @moe_experts_gate_hidden(%x: tensor<16x64xf32>, %w: tensor<16x2xf32>, %i: tensor<16x2xi32>, %gate: tensor<4x32x128xf32>, %up: tensor<4x64x128xf32>, %down: tensor<4x128x64xf32>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected gate and up [4, 64, 128] and down [4, 128, 64], got [4, 32, 128], [4, 64, 128], [4, 128, 64]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x32x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// up has a different expert count from gate.
func.func @moe_experts_up_experts(%x: tensor<16x64xf32>, %w: tensor<16x2xf32>, %i: tensor<16x2xi32>, %gate: tensor<4x64x128xf32>, %up: tensor<8x64x128xf32>, %down: tensor<4x128x64xf32>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected gate and up [4, 64, 128] and down [4, 128, 64], got [4, 64, 128], [8, 64, 128], [4, 128, 64]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xf32>, tensor<8x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// The experts run in the input's precision; bf16 experts on f32 tokens do not.
func.func @moe_experts_element_types(%x: tensor<16x64xf32>, %w: tensor<16x2xf32>, %i: tensor<16x2xi32>, %gate: tensor<4x64x128xbf16>, %up: tensor<4x64x128xbf16>, %down: tensor<4x128x64xbf16>) -> tensor<16x64xf32> {
  // expected-error @+2 {{expected input, weights and expert tensors to share one element type}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// Routing weights share the input's element type too.
func.func @moe_experts_weights_element_type(%x: tensor<16x64xbf16>, %w: tensor<16x2xf32>, %i: tensor<16x2xi32>, %gate: tensor<4x64x128xbf16>, %up: tensor<4x64x128xbf16>, %down: tensor<4x128x64xbf16>) -> tensor<16x64xbf16> {
  // expected-error @+2 {{expected input, weights and expert tensors to share one element type}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xbf16>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xbf16>
  return %0 : tensor<16x64xbf16>
}

//===----------------------------------------------------------------------===//
// Kernel groups
//===----------------------------------------------------------------------===//

// -----

// The kind names the fusion rule; it cannot be empty.
func.func @fused_empty_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.fused' op expected a non-empty kind}}
  %0 = kiln.fused "" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    kiln.yield %a : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// A group that produces nothing is dead code, not a kernel.
func.func @fused_no_results(%x: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.fused' op expected at least one result}}
  kiln.fused "exp" (%x) : (tensor<4xf32>) -> () {
  ^bb0(%a: tensor<4xf32>):
    kiln.yield
  }
  return
}

// -----

// Each input is bound to one body argument.
func.func @fused_argument_count(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.fused' op expected as many body arguments (1) as inputs (2)}}
  %0 = kiln.fused "exp" (%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %1 = kiln.exp %a : tensor<4xf32>
    kiln.yield %1 : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// A body argument has its input's type.
func.func @fused_argument_type(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{'kiln.fused' op expected body argument #0 ('tensor<4xf16>') to have the type of input #0 ('tensor<4xf32>')}}
  %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<4xf16> {
  ^bb0(%a: tensor<4xf16>):
    %1 = kiln.exp %a : tensor<4xf16>
    kiln.yield %1 : tensor<4xf16>
  }
  return %0 : tensor<4xf16>
}

// -----

// The yielded values are the results, type for type.
func.func @fused_yield_types(%x: tensor<4xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{'kiln.fused' op expected kiln.yield operand types ('tensor<4xf32>') to match the result types ('tensor<2x2xf32>')}}
  %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<2x2xf32> {
  ^bb0(%a: tensor<4xf32>):
    %1 = kiln.exp %a : tensor<4xf32>
    kiln.yield %1 : tensor<4xf32>
  }
  return %0 : tensor<2x2xf32>
}

// -----

// The body is isolated: outside values come in as inputs.
func.func @fused_captures_value(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-note @+1 {{required by region isolation constraints}}
  %0 = kiln.fused "exp" () : () -> tensor<4xf32> {
    // expected-error @+1 {{using value defined outside the region}}
    %1 = kiln.exp %x : tensor<4xf32>
    kiln.yield %1 : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// Groups do not nest: a kernel is one level of fusion.
func.func @fused_nested(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.fused' op expected no kiln.fused nested in the body}}
  %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %1 = kiln.fused "neg" (%a) : (tensor<4xf32>) -> tensor<4xf32> {
    ^bb0(%b: tensor<4xf32>):
      %2 = kiln.neg %b : tensor<4xf32>
      kiln.yield %2 : tensor<4xf32>
    }
    kiln.yield %1 : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// kiln.yield only ends a kiln.fused body.
func.func @yield_outside_fused(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.yield' op expects parent op 'kiln.fused'}}
  kiln.yield %x : tensor<4xf32>
}

// -----

// The body must end in kiln.yield, not another terminator.
func.func @fused_return_terminator(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    // expected-error @+1 {{'func.return' op expects parent op 'func.func'}}
    func.return %a : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// select
//===----------------------------------------------------------------------===//

// The condition must broadcast against the values.
func.func @select_shapes(%c: tensor<3xi32>, %a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{expected operand shapes [3], [4, 8] and [4, 8] to broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.select %c, %a, %b : (tensor<3xi32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Both values have the result's element type.
func.func @select_element_types(%c: tensor<4xi32>, %a: tensor<4xf32>, %b: tensor<4xf16>) -> tensor<4xf32> {
  // expected-error @+2 {{expected true_value and false_value to have the same element type}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.select %c, %a, %b : (tensor<4xi32>, tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// max_pool2d and avg_pool2d
//===----------------------------------------------------------------------===//

// Pooling is NCHW only.
func.func @pool_rank(%x: tensor<8x16x16xf32>) -> tensor<8x8x8xf32> {
  // expected-error @+2 {{expected a rank-4 input [N, C, H, W] (got rank 3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.max_pool2d %x {kernel = array<i64: 2, 2>} : (tensor<8x16x16xf32>) -> tensor<8x8x8xf32>
  return %0 : tensor<8x8x8xf32>
}

// -----

// A window of padding alone has no maximum.
func.func @pool_padding(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x6x6xf32> {
  // expected-error @+2 {{expected paddings to be smaller than the kernel (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.max_pool2d %x {kernel = array<i64: 2, 2>, padding = array<i64: 2, 2, 2, 2>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x6x6xf32>
  return %0 : tensor<1x1x6x6xf32>
}

// -----

// The kernel must fit the (padded) input.
func.func @pool_kernel_too_large(%x: tensor<1x1x2x2xf32>) -> tensor<1x1x1x1xf32> {
  // expected-error @+2 {{expected the kernel (3) to fit the padded input (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.avg_pool2d %x {kernel = array<i64: 3, 3>} : (tensor<1x1x2x2xf32>) -> tensor<1x1x1x1xf32>
  return %0 : tensor<1x1x1x1xf32>
}

// -----

// Kernel sizes, strides and paddings are 2, 2 and 4 values.
func.func @pool_attribute_sizes(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32> {
  // expected-error @+2 {{expected 2 kernel sizes, 2 strides and 4 paddings}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = kiln.avg_pool2d %x {kernel = array<i64: 2>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
  return %0 : tensor<1x1x2x2xf32>
}
