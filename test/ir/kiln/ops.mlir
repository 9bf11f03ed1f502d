// RUN: kiln-opt %s | kiln-opt | FileCheck %s

// Round trip of every kiln op: parse, print, parse again, print again.

// CHECK-LABEL: func.func @constant_float
func.func @constant_float() -> (tensor<2xf32>, tensor<2xbf16>, tensor<2x2xf16>) {
  // CHECK: kiln.constant dense<[1.000000e+00, -2.500000e+00]> : tensor<2xf32>
  %0 = kiln.constant dense<[1.0, -2.5]> : tensor<2xf32>
  // CHECK: kiln.constant dense<[1.500000e+00, 2.000000e+00]> : tensor<2xbf16>
  %1 = kiln.constant dense<[1.5, 2.0]> : tensor<2xbf16>
  // CHECK: kiln.constant dense<5.000000e-01> : tensor<2x2xf16>
  %2 = kiln.constant dense<0.5> : tensor<2x2xf16>
  return %0, %1, %2 : tensor<2xf32>, tensor<2xbf16>, tensor<2x2xf16>
}

// CHECK-LABEL: func.func @constant_integer
func.func @constant_integer() -> (tensor<4xi32>, tensor<2x2xi64>) {
  // CHECK: kiln.constant dense<[1, 2, 3, -4]> : tensor<4xi32>
  %0 = kiln.constant dense<[1, 2, 3, -4]> : tensor<4xi32>
  // CHECK: kiln.constant dense<7> : tensor<2x2xi64>
  %1 = kiln.constant dense<7> : tensor<2x2xi64>
  return %0, %1 : tensor<4xi32>, tensor<2x2xi64>
}

// CHECK-LABEL: func.func @weight_types
func.func @weight_types() -> (tensor<64x64xf32>, tensor<8xbf16>, tensor<512x16xf16>, tensor<4xi64>) {
  // CHECK: kiln.weight "decoder.layers.0.attn.wq" : tensor<64x64xf32>
  %0 = kiln.weight "decoder.layers.0.attn.wq" : tensor<64x64xf32>
  // CHECK: kiln.weight "norm.scale" : tensor<8xbf16>
  %1 = kiln.weight "norm.scale" : tensor<8xbf16>
  // CHECK: kiln.weight "embed" : tensor<512x16xf16>
  %2 = kiln.weight "embed" : tensor<512x16xf16>
  // CHECK: kiln.weight "ids" : tensor<4xi64>
  %3 = kiln.weight "ids" : tensor<4xi64>
  return %0, %1, %2, %3 : tensor<64x64xf32>, tensor<8xbf16>, tensor<512x16xf16>, tensor<4xi64>
}

// Every binary op, broadcasting a row vector against a matrix.
// CHECK-LABEL: func.func @binary_broadcast
// CHECK-SAME: (%[[A:.+]]: tensor<2x3xf32>, %[[B:.+]]: tensor<3xf32>)
func.func @binary_broadcast(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  // CHECK: kiln.add %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.sub %[[B]], %[[A]] : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = kiln.sub %b, %a : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.mul %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = kiln.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.div %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %3 = kiln.div %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.max %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %4 = kiln.max %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.min %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %5 = kiln.min %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.pow %[[A]], %[[B]] : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %6 = kiln.pow %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// Both operands broadcast (4x1 against 1x5), a rank-0 operand, and the
// half-precision element types.
// CHECK-LABEL: func.func @binary_broadcast_both
// CHECK-SAME: (%[[A:.+]]: tensor<4x1xbf16>, %[[B:.+]]: tensor<1x5xbf16>, %[[S:.+]]: tensor<f16>, %[[H:.+]]: tensor<2x3xf16>)
func.func @binary_broadcast_both(%a: tensor<4x1xbf16>, %b: tensor<1x5xbf16>, %s: tensor<f16>, %h: tensor<2x3xf16>) -> (tensor<4x5xbf16>, tensor<2x3xf16>) {
  // CHECK: kiln.mul %[[A]], %[[B]] : (tensor<4x1xbf16>, tensor<1x5xbf16>) -> tensor<4x5xbf16>
  %0 = kiln.mul %a, %b : (tensor<4x1xbf16>, tensor<1x5xbf16>) -> tensor<4x5xbf16>
  // CHECK: kiln.pow %[[H]], %[[S]] : (tensor<2x3xf16>, tensor<f16>) -> tensor<2x3xf16>
  %1 = kiln.pow %h, %s : (tensor<2x3xf16>, tensor<f16>) -> tensor<2x3xf16>
  return %0, %1 : tensor<4x5xbf16>, tensor<2x3xf16>
}

// CHECK-LABEL: func.func @unary_f32
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
func.func @unary_f32(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: %[[NEG:.+]] = kiln.neg %[[X]] : tensor<2x3xf32>
  // CHECK: %[[ABS:.+]] = kiln.abs %[[NEG]] : tensor<2x3xf32>
  // CHECK: %[[EXP:.+]] = kiln.exp %[[ABS]] : tensor<2x3xf32>
  // CHECK: %[[LOG:.+]] = kiln.log %[[EXP]] : tensor<2x3xf32>
  // CHECK: %[[SQRT:.+]] = kiln.sqrt %[[LOG]] : tensor<2x3xf32>
  // CHECK: %[[RSQRT:.+]] = kiln.rsqrt %[[SQRT]] : tensor<2x3xf32>
  // CHECK: %[[TANH:.+]] = kiln.tanh %[[RSQRT]] : tensor<2x3xf32>
  // CHECK: %[[SIG:.+]] = kiln.sigmoid %[[TANH]] : tensor<2x3xf32>
  // CHECK: %[[RELU:.+]] = kiln.relu %[[SIG]] : tensor<2x3xf32>
  // CHECK: %[[SILU:.+]] = kiln.silu %[[RELU]] : tensor<2x3xf32>
  // CHECK: return %[[SILU]]
  %0 = kiln.neg %x : tensor<2x3xf32>
  %1 = kiln.abs %0 : tensor<2x3xf32>
  %2 = kiln.exp %1 : tensor<2x3xf32>
  %3 = kiln.log %2 : tensor<2x3xf32>
  %4 = kiln.sqrt %3 : tensor<2x3xf32>
  %5 = kiln.rsqrt %4 : tensor<2x3xf32>
  %6 = kiln.tanh %5 : tensor<2x3xf32>
  %7 = kiln.sigmoid %6 : tensor<2x3xf32>
  %8 = kiln.relu %7 : tensor<2x3xf32>
  %9 = kiln.silu %8 : tensor<2x3xf32>
  return %9 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @unary_half
// CHECK-SAME: (%[[X:.+]]: tensor<8xbf16>, %[[Y:.+]]: tensor<8xf16>)
func.func @unary_half(%x: tensor<8xbf16>, %y: tensor<8xf16>) -> (tensor<8xbf16>, tensor<8xf16>) {
  // CHECK: %[[E:.+]] = kiln.exp %[[X]] : tensor<8xbf16>
  // CHECK: kiln.silu %[[E]] : tensor<8xbf16>
  %0 = kiln.exp %x : tensor<8xbf16>
  %1 = kiln.silu %0 : tensor<8xbf16>
  // CHECK: %[[R:.+]] = kiln.rsqrt %[[Y]] : tensor<8xf16>
  // CHECK: kiln.tanh %[[R]] : tensor<8xf16>
  %2 = kiln.rsqrt %y : tensor<8xf16>
  %3 = kiln.tanh %2 : tensor<8xf16>
  return %1, %3 : tensor<8xbf16>, tensor<8xf16>
}

// erf is the default and is elided when printed; tanh is kept.
// CHECK-LABEL: func.func @gelu_approximations
// CHECK-SAME: (%[[X:.+]]: tensor<8xf32>, %[[Y:.+]]: tensor<8xbf16>)
func.func @gelu_approximations(%x: tensor<8xf32>, %y: tensor<8xbf16>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xbf16>) {
  // CHECK: kiln.gelu %[[X]] : tensor<8xf32>
  %0 = kiln.gelu %x : tensor<8xf32>
  // CHECK: kiln.gelu %[[X]] : tensor<8xf32>
  %1 = kiln.gelu %x {approximation = #kiln.gelu_approximation<erf>} : tensor<8xf32>
  // CHECK: kiln.gelu %[[Y]] {approximation = #kiln.gelu_approximation<tanh>} : tensor<8xbf16>
  %2 = kiln.gelu %y {approximation = #kiln.gelu_approximation<tanh>} : tensor<8xbf16>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xf32>, tensor<8xbf16>
}

// CHECK-LABEL: func.func @cast_types
// CHECK-SAME: (%[[F:.+]]: tensor<4xf32>, %[[B:.+]]: tensor<4xbf16>, %[[I:.+]]: tensor<4xi32>)
func.func @cast_types(%f: tensor<4xf32>, %b: tensor<4xbf16>, %i: tensor<4xi32>) -> (tensor<4xbf16>, tensor<4xf16>, tensor<4xf32>, tensor<4xi64>) {
  // CHECK: kiln.cast %[[F]] : tensor<4xf32> to tensor<4xbf16>
  %0 = kiln.cast %f : tensor<4xf32> to tensor<4xbf16>
  // CHECK: kiln.cast %[[B]] : tensor<4xbf16> to tensor<4xf16>
  %1 = kiln.cast %b : tensor<4xbf16> to tensor<4xf16>
  // CHECK: kiln.cast %[[I]] : tensor<4xi32> to tensor<4xf32>
  %2 = kiln.cast %i : tensor<4xi32> to tensor<4xf32>
  // CHECK: kiln.cast %[[I]] : tensor<4xi32> to tensor<4xi64>
  %3 = kiln.cast %i : tensor<4xi32> to tensor<4xi64>
  return %0, %1, %2, %3 : tensor<4xbf16>, tensor<4xf16>, tensor<4xf32>, tensor<4xi64>
}

// CHECK-LABEL: func.func @matmul_plain
// CHECK-SAME: (%[[A:.+]]: tensor<8x16xf32>, %[[B:.+]]: tensor<16x32xf32>)
func.func @matmul_plain(%a: tensor<8x16xf32>, %b: tensor<16x32xf32>) -> tensor<8x32xf32> {
  // CHECK: kiln.matmul %[[A]], %[[B]] : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  %0 = kiln.matmul %a, %b : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// Batch dimensions broadcast: [2, 1] against [3] gives [2, 3].
// CHECK-LABEL: func.func @matmul_batch_broadcast
// CHECK-SAME: (%[[A:.+]]: tensor<2x1x8x16xbf16>, %[[B:.+]]: tensor<3x16x4xbf16>, %[[C:.+]]: tensor<16x4xbf16>)
func.func @matmul_batch_broadcast(%a: tensor<2x1x8x16xbf16>, %b: tensor<3x16x4xbf16>, %c: tensor<16x4xbf16>) -> (tensor<2x3x8x4xbf16>, tensor<2x1x8x4xbf16>) {
  // CHECK: kiln.matmul %[[A]], %[[B]] : (tensor<2x1x8x16xbf16>, tensor<3x16x4xbf16>) -> tensor<2x3x8x4xbf16>
  %0 = kiln.matmul %a, %b : (tensor<2x1x8x16xbf16>, tensor<3x16x4xbf16>) -> tensor<2x3x8x4xbf16>
  // CHECK: kiln.matmul %[[A]], %[[C]] : (tensor<2x1x8x16xbf16>, tensor<16x4xbf16>) -> tensor<2x1x8x4xbf16>
  %1 = kiln.matmul %a, %c : (tensor<2x1x8x16xbf16>, tensor<16x4xbf16>) -> tensor<2x1x8x4xbf16>
  return %0, %1 : tensor<2x3x8x4xbf16>, tensor<2x1x8x4xbf16>
}

// transpose_lhs reads lhs as [K, M], transpose_rhs reads rhs as [N, K];
// false is the default and is elided when printed.
// CHECK-LABEL: func.func @matmul_transposed
// CHECK-SAME: (%[[A:.+]]: tensor<16x8xf16>, %[[B:.+]]: tensor<32x16xf16>, %[[C:.+]]: tensor<8x16xf16>)
func.func @matmul_transposed(%a: tensor<16x8xf16>, %b: tensor<32x16xf16>, %c: tensor<8x16xf16>) -> (tensor<8x32xf16>, tensor<8x32xf16>, tensor<8x32xf16>) {
  // CHECK: kiln.matmul %[[A]], %[[B]] {transpose_lhs = true, transpose_rhs = true} : (tensor<16x8xf16>, tensor<32x16xf16>) -> tensor<8x32xf16>
  %0 = kiln.matmul %a, %b {transpose_lhs = true, transpose_rhs = true} : (tensor<16x8xf16>, tensor<32x16xf16>) -> tensor<8x32xf16>
  // CHECK: kiln.matmul %[[C]], %[[B]] {transpose_rhs = true} : (tensor<8x16xf16>, tensor<32x16xf16>) -> tensor<8x32xf16>
  %1 = kiln.matmul %c, %b {transpose_lhs = false, transpose_rhs = true} : (tensor<8x16xf16>, tensor<32x16xf16>) -> tensor<8x32xf16>
  // CHECK: kiln.matmul %[[A]], %{{.+}} {transpose_lhs = true} : (tensor<16x8xf16>, tensor<16x32xf16>) -> tensor<8x32xf16>
  %bt = kiln.transpose %b {permutation = array<i64: 1, 0>} : (tensor<32x16xf16>) -> tensor<16x32xf16>
  %2 = kiln.matmul %a, %bt {transpose_lhs = true} : (tensor<16x8xf16>, tensor<16x32xf16>) -> tensor<8x32xf16>
  return %0, %1, %2 : tensor<8x32xf16>, tensor<8x32xf16>, tensor<8x32xf16>
}

// Default attributes are elided when printed.
// CHECK-LABEL: func.func @conv2d_default
// CHECK-SAME: (%[[X:.+]]: tensor<1x3x8x8xf32>, %[[W:.+]]: tensor<4x3x3x3xf32>)
func.func @conv2d_default(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // CHECK: kiln.conv2d %[[X]], %[[W]] : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  %0 = kiln.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// H: (32 + 1 + 2 - 3) / 2 + 1 = 17; W: (32 + 0 + 1 - (2 * 2 + 1)) / 1 + 1 = 29.
// CHECK-LABEL: func.func @conv2d_strided_padded_dilated
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x32x32xbf16>, %[[W:.+]]: tensor<8x3x3x3xbf16>)
func.func @conv2d_strided_padded_dilated(%x: tensor<2x3x32x32xbf16>, %w: tensor<8x3x3x3xbf16>) -> tensor<2x8x17x29xbf16> {
  // CHECK: kiln.conv2d %[[X]], %[[W]] {dilations = array<i64: 1, 2>, padding = array<i64: 1, 0, 2, 1>, strides = array<i64: 2, 1>} : (tensor<2x3x32x32xbf16>, tensor<8x3x3x3xbf16>) -> tensor<2x8x17x29xbf16>
  %0 = kiln.conv2d %x, %w {strides = array<i64: 2, 1>, padding = array<i64: 1, 0, 2, 1>, dilations = array<i64: 1, 2>} : (tensor<2x3x32x32xbf16>, tensor<8x3x3x3xbf16>) -> tensor<2x8x17x29xbf16>
  return %0 : tensor<2x8x17x29xbf16>
}

// Depthwise: groups equals the channel count, one input channel per filter.
// CHECK-LABEL: func.func @conv2d_groups
// CHECK-SAME: (%[[X:.+]]: tensor<1x8x16x16xf16>, %[[W:.+]]: tensor<16x1x3x3xf16>, %[[V:.+]]: tensor<4x4x1x1xf16>)
func.func @conv2d_groups(%x: tensor<1x8x16x16xf16>, %w: tensor<16x1x3x3xf16>, %v: tensor<4x4x1x1xf16>) -> (tensor<1x16x16x16xf16>, tensor<1x4x16x16xf16>) {
  // CHECK: kiln.conv2d %[[X]], %[[W]] {groups = 8 : i64, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x8x16x16xf16>, tensor<16x1x3x3xf16>) -> tensor<1x16x16x16xf16>
  %0 = kiln.conv2d %x, %w {groups = 8 : i64, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x8x16x16xf16>, tensor<16x1x3x3xf16>) -> tensor<1x16x16x16xf16>
  // CHECK: kiln.conv2d %[[X]], %[[V]] {groups = 2 : i64} : (tensor<1x8x16x16xf16>, tensor<4x4x1x1xf16>) -> tensor<1x4x16x16xf16>
  %1 = kiln.conv2d %x, %v {groups = 2 : i64} : (tensor<1x8x16x16xf16>, tensor<4x4x1x1xf16>) -> tensor<1x4x16x16xf16>
  return %0, %1 : tensor<1x16x16x16xf16>, tensor<1x4x16x16xf16>
}

// CHECK-LABEL: func.func @reduce_kinds
// CHECK-SAME: (%[[X:.+]]: tensor<2x4x8xf32>, %[[Y:.+]]: tensor<4x8xbf16>)
func.func @reduce_kinds(%x: tensor<2x4x8xf32>, %y: tensor<4x8xbf16>) -> (tensor<4xf32>, tensor<2x1x1xf32>, tensor<4x1xbf16>, tensor<f32>) {
  // CHECK: kiln.reduce_sum %[[X]] {axes = array<i64: 0, 2>} : (tensor<2x4x8xf32>) -> tensor<4xf32>
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 2>} : (tensor<2x4x8xf32>) -> tensor<4xf32>
  // CHECK: kiln.reduce_mean %[[X]] {axes = array<i64: 2, 1>, keep_dims = true} : (tensor<2x4x8xf32>) -> tensor<2x1x1xf32>
  %1 = kiln.reduce_mean %x {axes = array<i64: 2, 1>, keep_dims = true} : (tensor<2x4x8xf32>) -> tensor<2x1x1xf32>
  // CHECK: kiln.reduce_max %[[Y]] {axes = array<i64: 1>, keep_dims = true} : (tensor<4x8xbf16>) -> tensor<4x1xbf16>
  %2 = kiln.reduce_max %y {axes = array<i64: 1>, keep_dims = true} : (tensor<4x8xbf16>) -> tensor<4x1xbf16>
  // Reducing every axis without keep_dims gives a rank-0 tensor.
  // CHECK: kiln.reduce_sum %[[X]] {axes = array<i64: 0, 1, 2>} : (tensor<2x4x8xf32>) -> tensor<f32>
  %3 = kiln.reduce_sum %x {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<2x4x8xf32>) -> tensor<f32>
  return %0, %1, %2, %3 : tensor<4xf32>, tensor<2x1x1xf32>, tensor<4x1xbf16>, tensor<f32>
}

// CHECK-LABEL: func.func @softmax_axes
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[Y:.+]]: tensor<2x4x8xf16>)
func.func @softmax_axes(%x: tensor<4x8xf32>, %y: tensor<2x4x8xf16>) -> (tensor<4x8xf32>, tensor<2x4x8xf16>) {
  // CHECK: kiln.softmax %[[X]] {axis = 1 : i64} : tensor<4x8xf32>
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<4x8xf32>
  // CHECK: kiln.softmax %[[Y]] {axis = 0 : i64} : tensor<2x4x8xf16>
  %1 = kiln.softmax %y {axis = 0 : i64} : tensor<2x4x8xf16>
  return %0, %1 : tensor<4x8xf32>, tensor<2x4x8xf16>
}

// CHECK-LABEL: func.func @layer_norm_types
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[G:.+]]: tensor<8xf32>, %[[B:.+]]: tensor<8xf32>, %[[H:.+]]: tensor<2x3x16xbf16>, %[[HG:.+]]: tensor<16xbf16>)
func.func @layer_norm_types(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %h: tensor<2x3x16xbf16>, %hg: tensor<16xbf16>) -> (tensor<4x8xf32>, tensor<2x3x16xbf16>) {
  // CHECK: kiln.layer_norm %[[X]], %[[G]], %[[B]] : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %0 = kiln.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: kiln.layer_norm %[[H]], %[[HG]], %[[HG]] {epsilon = 9.99999997E-7 : f32} : (tensor<2x3x16xbf16>, tensor<16xbf16>, tensor<16xbf16>) -> tensor<2x3x16xbf16>
  %1 = kiln.layer_norm %h, %hg, %hg {epsilon = 1.0e-06 : f32} : (tensor<2x3x16xbf16>, tensor<16xbf16>, tensor<16xbf16>) -> tensor<2x3x16xbf16>
  return %0, %1 : tensor<4x8xf32>, tensor<2x3x16xbf16>
}

// CHECK-LABEL: func.func @rms_norm_types
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[G:.+]]: tensor<8xf32>, %[[H:.+]]: tensor<2x16xf16>, %[[HG:.+]]: tensor<16xf16>)
func.func @rms_norm_types(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %h: tensor<2x16xf16>, %hg: tensor<16xf16>) -> (tensor<4x8xf32>, tensor<2x16xf16>) {
  // CHECK: kiln.rms_norm %[[X]], %[[G]] : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %0 = kiln.rms_norm %x, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: kiln.rms_norm %[[H]], %[[HG]] {epsilon = 9.99999974E-6 : f32} : (tensor<2x16xf16>, tensor<16xf16>) -> tensor<2x16xf16>
  %1 = kiln.rms_norm %h, %hg {epsilon = 1.0e-05 : f32} : (tensor<2x16xf16>, tensor<16xf16>) -> tensor<2x16xf16>
  return %0, %1 : tensor<4x8xf32>, tensor<2x16xf16>
}

// CHECK-LABEL: func.func @transpose_perms
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>, %[[I:.+]]: tensor<2x5xi64>)
func.func @transpose_perms(%x: tensor<2x3x4xf32>, %i: tensor<2x5xi64>) -> (tensor<4x2x3xf32>, tensor<5x2xi64>) {
  // CHECK: kiln.transpose %[[X]] {permutation = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %0 = kiln.transpose %x {permutation = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  // CHECK: kiln.transpose %[[I]] {permutation = array<i64: 1, 0>} : (tensor<2x5xi64>) -> tensor<5x2xi64>
  %1 = kiln.transpose %i {permutation = array<i64: 1, 0>} : (tensor<2x5xi64>) -> tensor<5x2xi64>
  return %0, %1 : tensor<4x2x3xf32>, tensor<5x2xi64>
}

// CHECK-LABEL: func.func @reshape_shapes
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xbf16>, %[[S:.+]]: tensor<f32>)
func.func @reshape_shapes(%x: tensor<2x3x4xbf16>, %s: tensor<f32>) -> (tensor<6x4xbf16>, tensor<1x1xf32>) {
  // CHECK: kiln.reshape %[[X]] : tensor<2x3x4xbf16> to tensor<6x4xbf16>
  %0 = kiln.reshape %x : tensor<2x3x4xbf16> to tensor<6x4xbf16>
  // CHECK: kiln.reshape %[[S]] : tensor<f32> to tensor<1x1xf32>
  %1 = kiln.reshape %s : tensor<f32> to tensor<1x1xf32>
  return %0, %1 : tensor<6x4xbf16>, tensor<1x1xf32>
}

// CHECK-LABEL: func.func @broadcast_to_shapes
// CHECK-SAME: (%[[X:.+]]: tensor<1x3xf32>, %[[Y:.+]]: tensor<4xf16>)
func.func @broadcast_to_shapes(%x: tensor<1x3xf32>, %y: tensor<4xf16>) -> (tensor<4x3xf32>, tensor<2x3x4xf16>) {
  // CHECK: kiln.broadcast_to %[[X]] : tensor<1x3xf32> to tensor<4x3xf32>
  %0 = kiln.broadcast_to %x : tensor<1x3xf32> to tensor<4x3xf32>
  // CHECK: kiln.broadcast_to %[[Y]] : tensor<4xf16> to tensor<2x3x4xf16>
  %1 = kiln.broadcast_to %y : tensor<4xf16> to tensor<2x3x4xf16>
  return %0, %1 : tensor<4x3xf32>, tensor<2x3x4xf16>
}

// CHECK-LABEL: func.func @concat_axes
// CHECK-SAME: (%[[A:.+]]: tensor<1x4xf32>, %[[B:.+]]: tensor<3x4xf32>, %[[C:.+]]: tensor<2x2xbf16>, %[[D:.+]]: tensor<2x5xbf16>)
func.func @concat_axes(%a: tensor<1x4xf32>, %b: tensor<3x4xf32>, %c: tensor<2x2xbf16>, %d: tensor<2x5xbf16>) -> (tensor<5x4xf32>, tensor<2x9xbf16>) {
  // CHECK: kiln.concat %[[A]], %[[B]], %[[A]] {axis = 0 : i64} : (tensor<1x4xf32>, tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<5x4xf32>
  %0 = kiln.concat %a, %b, %a {axis = 0 : i64} : (tensor<1x4xf32>, tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<5x4xf32>
  // CHECK: kiln.concat %[[C]], %[[D]], %[[C]] {axis = 1 : i64} : (tensor<2x2xbf16>, tensor<2x5xbf16>, tensor<2x2xbf16>) -> tensor<2x9xbf16>
  %1 = kiln.concat %c, %d, %c {axis = 1 : i64} : (tensor<2x2xbf16>, tensor<2x5xbf16>, tensor<2x2xbf16>) -> tensor<2x9xbf16>
  return %0, %1 : tensor<5x4xf32>, tensor<2x9xbf16>
}

// Strided sizes round up: (9 - 0) / 2 -> 5 and (8 - 1) / 3 -> 3.
// CHECK-LABEL: func.func @slice_strides
// CHECK-SAME: (%[[X:.+]]: tensor<9x8xf32>, %[[I:.+]]: tensor<6xi32>)
func.func @slice_strides(%x: tensor<9x8xf32>, %i: tensor<6xi32>) -> (tensor<4x8xf32>, tensor<5x3xf32>, tensor<0xi32>) {
  // CHECK: kiln.slice %[[X]] {limits = array<i64: 5, 8>, starts = array<i64: 1, 0>} : (tensor<9x8xf32>) -> tensor<4x8xf32>
  %0 = kiln.slice %x {starts = array<i64: 1, 0>, limits = array<i64: 5, 8>} : (tensor<9x8xf32>) -> tensor<4x8xf32>
  // CHECK: kiln.slice %[[X]] {limits = array<i64: 9, 8>, starts = array<i64: 0, 1>, strides = array<i64: 2, 3>} : (tensor<9x8xf32>) -> tensor<5x3xf32>
  %1 = kiln.slice %x {starts = array<i64: 0, 1>, limits = array<i64: 9, 8>, strides = array<i64: 2, 3>} : (tensor<9x8xf32>) -> tensor<5x3xf32>
  // An empty slice (start == limit) is allowed.
  // CHECK: kiln.slice %[[I]] {limits = array<i64: 3>, starts = array<i64: 3>} : (tensor<6xi32>) -> tensor<0xi32>
  %2 = kiln.slice %i {starts = array<i64: 3>, limits = array<i64: 3>} : (tensor<6xi32>) -> tensor<0xi32>
  return %0, %1, %2 : tensor<4x8xf32>, tensor<5x3xf32>, tensor<0xi32>
}

// The result shape is data[:axis] + indices + data[axis+1:].
// CHECK-LABEL: func.func @gather_axes
// CHECK-SAME: (%[[T:.+]]: tensor<512x64xbf16>, %[[IDS:.+]]: tensor<1x16xi32>, %[[X:.+]]: tensor<4x10x3xf32>, %[[J:.+]]: tensor<2xi64>)
func.func @gather_axes(%table: tensor<512x64xbf16>, %ids: tensor<1x16xi32>, %x: tensor<4x10x3xf32>, %j: tensor<2xi64>) -> (tensor<1x16x64xbf16>, tensor<4x2x3xf32>) {
  // CHECK: kiln.gather %[[T]], %[[IDS]] : (tensor<512x64xbf16>, tensor<1x16xi32>) -> tensor<1x16x64xbf16>
  %0 = kiln.gather %table, %ids {axis = 0 : i64} : (tensor<512x64xbf16>, tensor<1x16xi32>) -> tensor<1x16x64xbf16>
  // CHECK: kiln.gather %[[X]], %[[J]] {axis = 1 : i64} : (tensor<4x10x3xf32>, tensor<2xi64>) -> tensor<4x2x3xf32>
  %1 = kiln.gather %x, %j {axis = 1 : i64} : (tensor<4x10x3xf32>, tensor<2xi64>) -> tensor<4x2x3xf32>
  return %0, %1 : tensor<1x16x64xbf16>, tensor<4x2x3xf32>
}

// CHECK-LABEL: func.func @rope_attrs
// CHECK-SAME: (%[[Q:.+]]: tensor<1x4x16x32xf32>, %[[K:.+]]: tensor<16x8xbf16>)
func.func @rope_attrs(%q: tensor<1x4x16x32xf32>, %k: tensor<16x8xbf16>) -> (tensor<1x4x16x32xf32>, tensor<16x8xbf16>) {
  // CHECK: kiln.rope %[[Q]] : tensor<1x4x16x32xf32>
  %0 = kiln.rope %q : tensor<1x4x16x32xf32>
  // CHECK: kiln.rope %[[K]] {position_offset = 7 : i64, theta = 5.000000e+05 : f32} : tensor<16x8xbf16>
  %1 = kiln.rope %k {theta = 5.0e+05 : f32, position_offset = 7 : i64} : tensor<16x8xbf16>
  return %0, %1 : tensor<1x4x16x32xf32>, tensor<16x8xbf16>
}

// CHECK-LABEL: func.func @attention_plain
// CHECK-SAME: (%[[Q:.+]]: tensor<2x4x16x32xf32>, %[[K:.+]]: tensor<2x4x24x32xf32>, %[[V:.+]]: tensor<2x4x24x8xf32>)
func.func @attention_plain(%q: tensor<2x4x16x32xf32>, %k: tensor<2x4x24x32xf32>, %v: tensor<2x4x24x8xf32>) -> tensor<2x4x16x8xf32> {
  // The value head dim gives the result's last dimension.
  // CHECK: kiln.attention %[[Q]], %[[K]], %[[V]] : (tensor<2x4x16x32xf32>, tensor<2x4x24x32xf32>, tensor<2x4x24x8xf32>) -> tensor<2x4x16x8xf32>
  %0 = kiln.attention %q, %k, %v : (tensor<2x4x16x32xf32>, tensor<2x4x24x32xf32>, tensor<2x4x24x8xf32>) -> tensor<2x4x16x8xf32>
  return %0 : tensor<2x4x16x8xf32>
}

// Grouped-query attention: 8 query heads over 2 key/value heads.
// CHECK-LABEL: func.func @attention_gqa_causal_scale
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x16x32xbf16>, %[[K:.+]]: tensor<1x2x16x32xbf16>, %[[V:.+]]: tensor<1x2x16x32xbf16>)
func.func @attention_gqa_causal_scale(%q: tensor<1x8x16x32xbf16>, %k: tensor<1x2x16x32xbf16>, %v: tensor<1x2x16x32xbf16>) -> (tensor<1x8x16x32xbf16>, tensor<1x8x16x32xbf16>) {
  // CHECK: kiln.attention %[[Q]], %[[K]], %[[V]] {causal = true} : (tensor<1x8x16x32xbf16>, tensor<1x2x16x32xbf16>, tensor<1x2x16x32xbf16>) -> tensor<1x8x16x32xbf16>
  %0 = kiln.attention %q, %k, %v {causal = true} : (tensor<1x8x16x32xbf16>, tensor<1x2x16x32xbf16>, tensor<1x2x16x32xbf16>) -> tensor<1x8x16x32xbf16>
  // CHECK: kiln.attention %[[Q]], %[[K]], %[[V]] {causal = true, scale = 1.250000e-01 : f32} : (tensor<1x8x16x32xbf16>, tensor<1x2x16x32xbf16>, tensor<1x2x16x32xbf16>) -> tensor<1x8x16x32xbf16>
  %1 = kiln.attention %q, %k, %v {causal = true, scale = 0.125 : f32} : (tensor<1x8x16x32xbf16>, tensor<1x2x16x32xbf16>, tensor<1x2x16x32xbf16>) -> tensor<1x8x16x32xbf16>
  return %0, %1 : tensor<1x8x16x32xbf16>, tensor<1x8x16x32xbf16>
}

// CHECK-LABEL: func.func @moe_router_topk
// CHECK-SAME: (%[[L:.+]]: tensor<16x4xf32>, %[[H:.+]]: tensor<8x8xf16>)
func.func @moe_router_topk(%logits: tensor<16x4xf32>, %h: tensor<8x8xf16>) -> (tensor<16x2xf32>, tensor<16x2xi32>, tensor<8x8xf16>, tensor<8x8xi32>) {
  // CHECK: %[[W:.+]], %[[I:.+]] = kiln.moe_router %[[L]] {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %w, %i = kiln.moe_router %logits {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  // top_k may equal the expert count; normalize = true is the default.
  // CHECK: %[[HW:.+]], %[[HI:.+]] = kiln.moe_router %[[H]] {normalize = false, top_k = 8 : i64} : (tensor<8x8xf16>) -> (tensor<8x8xf16>, tensor<8x8xi32>)
  %hw, %hi = kiln.moe_router %h {top_k = 8 : i64, normalize = false} : (tensor<8x8xf16>) -> (tensor<8x8xf16>, tensor<8x8xi32>)
  // CHECK: return %[[W]], %[[I]], %[[HW]], %[[HI]]
  return %w, %i, %hw, %hi : tensor<16x2xf32>, tensor<16x2xi32>, tensor<8x8xf16>, tensor<8x8xi32>
}

// CHECK-LABEL: func.func @moe_experts_swiglu
// CHECK-SAME: (%[[X:.+]]: tensor<16x64xbf16>, %[[W:.+]]: tensor<16x2xbf16>, %[[I:.+]]: tensor<16x2xi32>, %[[G:.+]]: tensor<4x64x128xbf16>, %[[U:.+]]: tensor<4x64x128xbf16>, %[[D:.+]]: tensor<4x128x64xbf16>, %[[I64:.+]]: tensor<16x2xi64>)
func.func @moe_experts_swiglu(%x: tensor<16x64xbf16>, %w: tensor<16x2xbf16>, %i: tensor<16x2xi32>, %gate: tensor<4x64x128xbf16>, %up: tensor<4x64x128xbf16>, %down: tensor<4x128x64xbf16>, %i64: tensor<16x2xi64>) -> (tensor<16x64xbf16>, tensor<16x64xbf16>) {
  // CHECK: kiln.moe_experts %[[X]], %[[W]], %[[I]], %[[G]], %[[U]], %[[D]] : (tensor<16x64xbf16>, tensor<16x2xbf16>, tensor<16x2xi32>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xbf16>
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xbf16>, tensor<16x2xbf16>, tensor<16x2xi32>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xbf16>
  // CHECK: kiln.moe_experts %[[X]], %[[W]], %[[I64]], %[[G]], %[[U]], %[[D]] : (tensor<16x64xbf16>, tensor<16x2xbf16>, tensor<16x2xi64>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xbf16>
  %1 = kiln.moe_experts %x, %w, %i64, %gate, %up, %down : (tensor<16x64xbf16>, tensor<16x2xbf16>, tensor<16x2xi64>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xbf16>
  return %0, %1 : tensor<16x64xbf16>, tensor<16x64xbf16>
}

// The router feeding the experts, in f32.
// CHECK-LABEL: func.func @moe_router_experts_chain
// CHECK-SAME: (%[[X:.+]]: tensor<16x64xf32>, %[[L:.+]]: tensor<16x4xf32>
func.func @moe_router_experts_chain(%x: tensor<16x64xf32>, %logits: tensor<16x4xf32>, %gate: tensor<4x64x128xf32>, %up: tensor<4x64x128xf32>, %down: tensor<4x128x64xf32>) -> tensor<16x64xf32> {
  // CHECK: %[[W:.+]], %[[I:.+]] = kiln.moe_router %[[L]]
  // CHECK: kiln.moe_experts %[[X]], %[[W]], %[[I]], {{.+}} -> tensor<16x64xf32>
  %w, %i = kiln.moe_router %logits {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// A stride far beyond the extent takes the first element only.
// CHECK-LABEL: func.func @slice_huge_stride
func.func @slice_huge_stride(%x: tensor<9x8xf32>) -> tensor<1x8xf32> {
  // CHECK: kiln.slice %{{.*}} : (tensor<9x8xf32>) -> tensor<1x8xf32>
  %0 = kiln.slice %x {starts = array<i64: 0, 0>, limits = array<i64: 9, 8>, strides = array<i64: 9223372036854775807, 1>} : (tensor<9x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

//===----------------------------------------------------------------------===//
// Kernel groups
//===----------------------------------------------------------------------===//

// A fused group with several results; its body sees only its arguments.
// CHECK-LABEL: func.func @fused_multi_output
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[Y:.+]]: tensor<4x8xf32>, %[[G:.+]]: tensor<8xf32>)
func.func @fused_multi_output(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %g: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  // CHECK: %[[R:.+]]:2 = kiln.fused "rms_norm+residual" (%[[X]], %[[Y]], %[[G]]) : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  // CHECK-NEXT: ^bb0(%[[A:.+]]: tensor<4x8xf32>, %[[B:.+]]: tensor<4x8xf32>, %[[S:.+]]: tensor<8xf32>):
  // CHECK-NEXT: %[[SUM:.+]] = kiln.add %[[A]], %[[B]]
  // CHECK-NEXT: %[[NORM:.+]] = kiln.rms_norm %[[SUM]], %[[S]]
  // CHECK-NEXT: kiln.yield %[[SUM]], %[[NORM]] : tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK-NEXT: }
  %0:2 = kiln.fused "rms_norm+residual" (%x, %y, %g) : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %s: tensor<8xf32>):
    %1 = kiln.add %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %2 = kiln.rms_norm %1, %s : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    kiln.yield %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>
  }
  // CHECK: return %[[R]]#0, %[[R]]#1
  return %0#0, %0#1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// A group may read nothing from outside, e.g. one that only makes a constant.
// CHECK-LABEL: func.func @fused_no_inputs
func.func @fused_no_inputs() -> tensor<2xbf16> {
  // CHECK: kiln.fused "constant" () : () -> tensor<2xbf16> {
  // CHECK-NEXT: kiln.constant
  // CHECK-NEXT: kiln.yield
  %0 = kiln.fused "constant" () : () -> tensor<2xbf16> {
    %1 = kiln.constant dense<[1.0, 2.0]> : tensor<2xbf16>
    kiln.yield %1 : tensor<2xbf16>
  }
  return %0 : tensor<2xbf16>
}

// CHECK-LABEL: func.func @erf
func.func @erf(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: kiln.erf %{{.*}} : tensor<2x3xf32>
  %0 = kiln.erf %x : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @select_broadcast
func.func @select_broadcast(%c: tensor<4x1xi32>, %a: tensor<4x8xf32>, %b: tensor<f32>) -> tensor<4x8xf32> {
  // CHECK: kiln.select %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x1xi32>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %0 = kiln.select %c, %a, %b : (tensor<4x1xi32>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @pooling
func.func @pooling(%x: tensor<1x8x16x16xf32>) -> (tensor<1x8x8x8xf32>, tensor<1x8x8x8xf32>) {
  // CHECK: kiln.max_pool2d %{{.*}} {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
  %0 = kiln.max_pool2d %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: kiln.avg_pool2d %{{.*}} {count_include_pad = true, kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
  %1 = kiln.avg_pool2d %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, count_include_pad = true} : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
  return %0, %1 : tensor<1x8x8x8xf32>, tensor<1x8x8x8xf32>
}
