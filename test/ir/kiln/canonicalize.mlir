// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(canonicalize))' --split-input-file | FileCheck %s

// Identical constants are uniqued.
// CHECK-LABEL: func.func @constant_dedup
func.func @constant_dedup() -> (tensor<2xf32>, tensor<2xf32>) {
  // CHECK: %[[C:.+]] = kiln.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  // CHECK-NOT: kiln.constant
  // CHECK: return %[[C]], %[[C]]
  %0 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %1 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %0, %1 : tensor<2xf32>, tensor<2xf32>
}

// -----

// x - (+0) is x for every x, -0 included.
// CHECK-LABEL: func.func @sub_zero
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
func.func @sub_zero(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK-NOT: kiln.sub
  // CHECK: return %[[X]]
  %zero = kiln.constant dense<0.0> : tensor<2x3xf32>
  %0 = kiln.sub %x, %zero : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// A broadcast scalar +0 folds too, since the result keeps x's shape.
// CHECK-LABEL: func.func @sub_zero_scalar_bf16
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xbf16>)
func.func @sub_zero_scalar_bf16(%x: tensor<2x3xbf16>) -> tensor<2x3xbf16> {
  // CHECK-NOT: kiln.sub
  // CHECK: return %[[X]]
  %zero = kiln.constant dense<0.0> : tensor<bf16>
  %0 = kiln.sub %x, %zero : (tensor<2x3xbf16>, tensor<bf16>) -> tensor<2x3xbf16>
  return %0 : tensor<2x3xbf16>
}

// -----

// A zero constant written element by element is still a splat.
// CHECK-LABEL: func.func @sub_zero_elementwise_constant
// CHECK-SAME: (%[[X:.+]]: tensor<2xf16>)
func.func @sub_zero_elementwise_constant(%x: tensor<2xf16>) -> tensor<2xf16> {
  // CHECK-NOT: kiln.sub
  // CHECK: return %[[X]]
  %zero = kiln.constant dense<[0.0, 0.0]> : tensor<2xf16>
  %0 = kiln.sub %x, %zero : (tensor<2xf16>, tensor<2xf16>) -> tensor<2xf16>
  return %0 : tensor<2xf16>
}

// -----

// x - (-0) is x + 0, which turns -0 into +0: it must not fold.
// CHECK-LABEL: func.func @negative_sub_negative_zero
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @negative_sub_negative_zero(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[Z:.+]] = kiln.constant dense<-0.000000e+00>
  // CHECK: %[[R:.+]] = kiln.sub %[[X]], %[[Z]]
  // CHECK: return %[[R]]
  %zero = kiln.constant dense<-0.0> : tensor<4xf32>
  %0 = kiln.sub %x, %zero : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// x + 0 is not x when x is -0 (-0 + 0 = +0), so add has no folder.
// CHECK-LABEL: func.func @negative_add_zero
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @negative_add_zero(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[R:.+]] = kiln.add %[[X]], %{{.+}}
  // CHECK: return %[[R]]
  %zero = kiln.constant dense<0.0> : tensor<4xf32>
  %0 = kiln.add %x, %zero : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// 0 - x is -x, not x.
// CHECK-LABEL: func.func @negative_sub_zero_lhs
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @negative_sub_zero_lhs(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[R:.+]] = kiln.sub %{{.+}}, %[[X]]
  // CHECK: return %[[R]]
  %zero = kiln.constant dense<0.0> : tensor<4xf32>
  %0 = kiln.sub %zero, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// The zero broadcasts x from [1, 3] to [2, 3], so the result is not x.
// CHECK-LABEL: func.func @negative_sub_zero_broadcasts_x
// CHECK-SAME: (%[[X:.+]]: tensor<1x3xf32>)
func.func @negative_sub_zero_broadcasts_x(%x: tensor<1x3xf32>) -> tensor<2x3xf32> {
  // CHECK: %[[R:.+]] = kiln.sub %[[X]], %{{.+}} : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: return %[[R]]
  %zero = kiln.constant dense<0.0> : tensor<2x3xf32>
  %0 = kiln.sub %x, %zero : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// x * 1 is x.
// CHECK-LABEL: func.func @mul_one_rhs
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
func.func @mul_one_rhs(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK-NOT: kiln.mul
  // CHECK: return %[[X]]
  %one = kiln.constant dense<1.0> : tensor<3xf32>
  %0 = kiln.mul %x, %one : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// 1 * x is x too.
// CHECK-LABEL: func.func @mul_one_lhs_f16
// CHECK-SAME: (%[[X:.+]]: tensor<4xf16>)
func.func @mul_one_lhs_f16(%x: tensor<4xf16>) -> tensor<4xf16> {
  // CHECK-NOT: kiln.mul
  // CHECK: return %[[X]]
  %one = kiln.constant dense<1.0> : tensor<f16>
  %0 = kiln.mul %one, %x : (tensor<f16>, tensor<4xf16>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

// The ones broadcast x from [3] to [2, 3]; the mul carries the broadcast.
// CHECK-LABEL: func.func @negative_mul_one_broadcasts_x
// CHECK-SAME: (%[[X:.+]]: tensor<3xf32>)
func.func @negative_mul_one_broadcasts_x(%x: tensor<3xf32>) -> tensor<2x3xf32> {
  // CHECK: %[[R:.+]] = kiln.mul %[[X]], %{{.+}} : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: return %[[R]]
  %one = kiln.constant dense<1.0> : tensor<2x3xf32>
  %0 = kiln.mul %x, %one : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Only 1 is neutral; a non-splat constant of ones and twos is not.
// CHECK-LABEL: func.func @negative_mul_not_one
// CHECK-SAME: (%[[X:.+]]: tensor<2xbf16>)
func.func @negative_mul_not_one(%x: tensor<2xbf16>) -> (tensor<2xbf16>, tensor<2xbf16>) {
  // CHECK: %[[A:.+]] = kiln.mul %[[X]], %{{.+}}
  // CHECK: %[[B:.+]] = kiln.mul %[[X]], %{{.+}}
  // CHECK: return %[[A]], %[[B]]
  %two = kiln.constant dense<2.0> : tensor<2xbf16>
  %mixed = kiln.constant dense<[1.0, 2.0]> : tensor<2xbf16>
  %0 = kiln.mul %x, %two : (tensor<2xbf16>, tensor<2xbf16>) -> tensor<2xbf16>
  %1 = kiln.mul %x, %mixed : (tensor<2xbf16>, tensor<2xbf16>) -> tensor<2xbf16>
  return %0, %1 : tensor<2xbf16>, tensor<2xbf16>
}

// -----

// x / 1 is x.
// CHECK-LABEL: func.func @div_one
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xbf16>)
func.func @div_one(%x: tensor<2x3xbf16>) -> tensor<2x3xbf16> {
  // CHECK-NOT: kiln.div
  // CHECK: return %[[X]]
  %one = kiln.constant dense<1.0> : tensor<1x1xbf16>
  %0 = kiln.div %x, %one : (tensor<2x3xbf16>, tensor<1x1xbf16>) -> tensor<2x3xbf16>
  return %0 : tensor<2x3xbf16>
}

// -----

// 1 / x is a reciprocal, not x.
// CHECK-LABEL: func.func @negative_div_one_lhs
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @negative_div_one_lhs(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[R:.+]] = kiln.div %{{.+}}, %[[X]]
  // CHECK: return %[[R]]
  %one = kiln.constant dense<1.0> : tensor<4xf32>
  %0 = kiln.div %one, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Dividing by 1 still must not drop a broadcast of x.
// CHECK-LABEL: func.func @negative_div_one_broadcasts_x
// CHECK-SAME: (%[[X:.+]]: tensor<f32>)
func.func @negative_div_one_broadcasts_x(%x: tensor<f32>) -> tensor<4xf32> {
  // CHECK: %[[R:.+]] = kiln.div %[[X]], %{{.+}} : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK: return %[[R]]
  %one = kiln.constant dense<1.0> : tensor<4xf32>
  %0 = kiln.div %x, %one : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// neg(neg(x)) is x.
// CHECK-LABEL: func.func @neg_neg
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @neg_neg(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK-NOT: kiln.neg
  // CHECK: return %[[X]]
  %0 = kiln.neg %x : tensor<4xf32>
  %1 = kiln.neg %0 : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// A single negation stays.
// CHECK-LABEL: func.func @negative_neg_single
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @negative_neg_single(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[R:.+]] = kiln.neg %[[X]]
  // CHECK: return %[[R]]
  %0 = kiln.neg %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A cast to the input's own type is a no-op.
// CHECK-LABEL: func.func @cast_identity
// CHECK-SAME: (%[[X:.+]]: tensor<4xbf16>)
func.func @cast_identity(%x: tensor<4xbf16>) -> tensor<4xbf16> {
  // CHECK-NOT: kiln.cast
  // CHECK: return %[[X]]
  %0 = kiln.cast %x : tensor<4xbf16> to tensor<4xbf16>
  return %0 : tensor<4xbf16>
}

// -----

// A cast to another type converts the elements.
// CHECK-LABEL: func.func @negative_cast_other_type
// CHECK-SAME: (%[[X:.+]]: tensor<4xi32>)
func.func @negative_cast_other_type(%x: tensor<4xi32>) -> tensor<4xi64> {
  // CHECK: %[[R:.+]] = kiln.cast %[[X]] : tensor<4xi32> to tensor<4xi64>
  // CHECK: return %[[R]]
  %0 = kiln.cast %x : tensor<4xi32> to tensor<4xi64>
  return %0 : tensor<4xi64>
}

// -----

// f32 -> bf16 -> f32 rounds, so the round trip is not the identity.
// CHECK-LABEL: func.func @negative_cast_round_trip
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
func.func @negative_cast_round_trip(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[B:.+]] = kiln.cast %[[X]] : tensor<4xf32> to tensor<4xbf16>
  // CHECK: %[[R:.+]] = kiln.cast %[[B]] : tensor<4xbf16> to tensor<4xf32>
  // CHECK: return %[[R]]
  %0 = kiln.cast %x : tensor<4xf32> to tensor<4xbf16>
  %1 = kiln.cast %0 : tensor<4xbf16> to tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// The identity permutation moves nothing.
// CHECK-LABEL: func.func @transpose_identity
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
func.func @transpose_identity(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  // CHECK-NOT: kiln.transpose
  // CHECK: return %[[X]]
  %0 = kiln.transpose %x {permutation = array<i64: 0, 1, 2>} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

// A non-identity permutation stays, even on equal sizes where the type is unchanged.
// CHECK-LABEL: func.func @negative_transpose_non_identity
// CHECK-SAME: (%[[X:.+]]: tensor<4x4xf32>)
func.func @negative_transpose_non_identity(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // CHECK: %[[R:.+]] = kiln.transpose %[[X]] {permutation = array<i64: 1, 0>}
  // CHECK: return %[[R]]
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<4x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// Two transposes compose into one: result dim i is x dim p1[p2[i]].
// CHECK-LABEL: func.func @transpose_compose
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
func.func @transpose_compose(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  // CHECK: %[[R:.+]] = kiln.transpose %[[X]] {permutation = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  // CHECK-NOT: kiln.transpose
  // CHECK: return %[[R]]
  %0 = kiln.transpose %x {permutation = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 1, 2, 0>} : (tensor<3x4x2xf32>) -> tensor<4x2x3xf32>
  return %1 : tensor<4x2x3xf32>
}

// -----

// Transposes that compose to the identity vanish.
// CHECK-LABEL: func.func @transpose_compose_identity
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xi32>)
func.func @transpose_compose_identity(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
  // CHECK-NOT: kiln.transpose
  // CHECK: return %[[X]]
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<2x3xi32>) -> tensor<3x2xi32>
  %1 = kiln.transpose %0 {permutation = array<i64: 1, 0>} : (tensor<3x2xi32>) -> tensor<2x3xi32>
  return %1 : tensor<2x3xi32>
}

// -----

// The inner transpose stays for its other use; the outer one reads x directly.
// CHECK-LABEL: func.func @transpose_compose_shared_inner
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
func.func @transpose_compose_shared_inner(%x: tensor<2x3x4xf32>) -> (tensor<3x2x4xf32>, tensor<4x2x3xf32>) {
  // CHECK-DAG: %[[T:.+]] = kiln.transpose %[[X]] {permutation = array<i64: 1, 0, 2>}
  // CHECK-DAG: %[[U:.+]] = kiln.transpose %[[X]] {permutation = array<i64: 2, 0, 1>}
  // CHECK: return %[[T]], %[[U]]
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0, 2>} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 2, 1, 0>} : (tensor<3x2x4xf32>) -> tensor<4x2x3xf32>
  return %0, %1 : tensor<3x2x4xf32>, tensor<4x2x3xf32>
}

// -----

// A reshape to the input's own shape is a no-op.
// CHECK-LABEL: func.func @reshape_identity
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
func.func @reshape_identity(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK-NOT: kiln.reshape
  // CHECK: return %[[X]]
  %0 = kiln.reshape %x : tensor<2x3xf32> to tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// A reshape of a reshape reads the original row-major order.
// CHECK-LABEL: func.func @reshape_reshape
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xbf16>)
func.func @reshape_reshape(%x: tensor<2x3x4xbf16>) -> tensor<4x6xbf16> {
  // CHECK: %[[R:.+]] = kiln.reshape %[[X]] : tensor<2x3x4xbf16> to tensor<4x6xbf16>
  // CHECK-NOT: kiln.reshape
  // CHECK: return %[[R]]
  %0 = kiln.reshape %x : tensor<2x3x4xbf16> to tensor<24xbf16>
  %1 = kiln.reshape %0 : tensor<24xbf16> to tensor<4x6xbf16>
  return %1 : tensor<4x6xbf16>
}

// -----

// A reshape back to the original shape vanishes.
// CHECK-LABEL: func.func @reshape_reshape_identity
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
func.func @reshape_reshape_identity(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK-NOT: kiln.reshape
  // CHECK: return %[[X]]
  %0 = kiln.reshape %x : tensor<2x3xf32> to tensor<3x2xf32>
  %1 = kiln.reshape %0 : tensor<3x2xf32> to tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// A reshaped constant is a constant of the new shape, in row-major order.
// CHECK-LABEL: func.func @reshape_constant
func.func @reshape_constant() -> tensor<3x2xi32> {
  // CHECK: %[[C:.+]] = kiln.constant dense<{{\[\[}}1, 2], [3, 4], [5, 6]]> : tensor<3x2xi32>
  // CHECK-NOT: kiln.reshape
  // CHECK: return %[[C]]
  %c = kiln.constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi32>
  %0 = kiln.reshape %c : tensor<2x3xi32> to tensor<3x2xi32>
  return %0 : tensor<3x2xi32>
}

// -----

// Reshaping a non-constant to a new shape stays.
// CHECK-LABEL: func.func @negative_reshape_non_constant
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
func.func @negative_reshape_non_constant(%x: tensor<2x3xf32>) -> tensor<6xf32> {
  // CHECK: %[[R:.+]] = kiln.reshape %[[X]] : tensor<2x3xf32> to tensor<6xf32>
  // CHECK: return %[[R]]
  %0 = kiln.reshape %x : tensor<2x3xf32> to tensor<6xf32>
  return %0 : tensor<6xf32>
}

// -----

// Broadcasting to the input's own shape is a no-op.
// CHECK-LABEL: func.func @broadcast_to_identity
// CHECK-SAME: (%[[X:.+]]: tensor<4x3xf16>)
func.func @broadcast_to_identity(%x: tensor<4x3xf16>) -> tensor<4x3xf16> {
  // CHECK-NOT: kiln.broadcast_to
  // CHECK: return %[[X]]
  %0 = kiln.broadcast_to %x : tensor<4x3xf16> to tensor<4x3xf16>
  return %0 : tensor<4x3xf16>
}

// -----

// A broadcast splat is a larger splat.
// CHECK-LABEL: func.func @broadcast_to_splat
func.func @broadcast_to_splat() -> tensor<4x3xf32> {
  // CHECK: %[[C:.+]] = kiln.constant dense<2.500000e+00> : tensor<4x3xf32>
  // CHECK-NOT: kiln.broadcast_to
  // CHECK: return %[[C]]
  %c = kiln.constant dense<2.5> : tensor<1x3xf32>
  %0 = kiln.broadcast_to %c : tensor<1x3xf32> to tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// A broadcast +0 splat then folds away in the sub that reads it.
// CHECK-LABEL: func.func @broadcast_to_splat_then_sub
// CHECK-SAME: (%[[X:.+]]: tensor<4x3xf32>)
func.func @broadcast_to_splat_then_sub(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  // CHECK-NOT: kiln.broadcast_to
  // CHECK-NOT: kiln.sub
  // CHECK: return %[[X]]
  %c = kiln.constant dense<0.0> : tensor<3xf32>
  %z = kiln.broadcast_to %c : tensor<3xf32> to tensor<4x3xf32>
  %0 = kiln.sub %x, %z : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// A non-splat constant is not materialized at the larger size.
// CHECK-LABEL: func.func @negative_broadcast_to_non_splat
func.func @negative_broadcast_to_non_splat() -> tensor<4x2xf32> {
  // CHECK: %[[C:.+]] = kiln.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  // CHECK: %[[R:.+]] = kiln.broadcast_to %[[C]] : tensor<2xf32> to tensor<4x2xf32>
  // CHECK: return %[[R]]
  %c = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = kiln.broadcast_to %c : tensor<2xf32> to tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// Broadcasting a non-constant to a larger shape stays.
// CHECK-LABEL: func.func @negative_broadcast_to_non_constant
// CHECK-SAME: (%[[X:.+]]: tensor<3xf32>)
func.func @negative_broadcast_to_non_constant(%x: tensor<3xf32>) -> tensor<4x3xf32> {
  // CHECK: %[[R:.+]] = kiln.broadcast_to %[[X]] : tensor<3xf32> to tensor<4x3xf32>
  // CHECK: return %[[R]]
  %0 = kiln.broadcast_to %x : tensor<3xf32> to tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// A concat of one input is that input.
// CHECK-LABEL: func.func @concat_single
// CHECK-SAME: (%[[X:.+]]: tensor<2x4xf32>)
func.func @concat_single(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // CHECK-NOT: kiln.concat
  // CHECK: return %[[X]]
  %0 = kiln.concat %x {axis = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// A concat of two inputs stays, even of the same value.
// CHECK-LABEL: func.func @negative_concat_two
// CHECK-SAME: (%[[X:.+]]: tensor<2x4xf32>)
func.func @negative_concat_two(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  // CHECK: %[[R:.+]] = kiln.concat %[[X]], %[[X]] {axis = 0 : i64}
  // CHECK: return %[[R]]
  %0 = kiln.concat %x, %x {axis = 0 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// A slice of the whole tensor is the tensor.
// CHECK-LABEL: func.func @slice_full
// CHECK-SAME: (%[[X:.+]]: tensor<9x8xf32>)
func.func @slice_full(%x: tensor<9x8xf32>) -> tensor<9x8xf32> {
  // CHECK-NOT: kiln.slice
  // CHECK: return %[[X]]
  %0 = kiln.slice %x {starts = array<i64: 0, 0>, limits = array<i64: 9, 8>} : (tensor<9x8xf32>) -> tensor<9x8xf32>
  return %0 : tensor<9x8xf32>
}

// -----

// Any stride over a size-1 dimension still takes its one element.
// CHECK-LABEL: func.func @slice_full_strided_unit_dim
// CHECK-SAME: (%[[X:.+]]: tensor<1x8xbf16>)
func.func @slice_full_strided_unit_dim(%x: tensor<1x8xbf16>) -> tensor<1x8xbf16> {
  // CHECK-NOT: kiln.slice
  // CHECK: return %[[X]]
  %0 = kiln.slice %x {starts = array<i64: 0, 0>, limits = array<i64: 1, 8>, strides = array<i64: 4, 1>} : (tensor<1x8xbf16>) -> tensor<1x8xbf16>
  return %0 : tensor<1x8xbf16>
}

// -----

// A slice that drops elements stays.
// CHECK-LABEL: func.func @negative_slice_partial
// CHECK-SAME: (%[[X:.+]]: tensor<9x8xf32>)
func.func @negative_slice_partial(%x: tensor<9x8xf32>) -> (tensor<4x8xf32>, tensor<5x8xf32>) {
  // CHECK: %[[A:.+]] = kiln.slice %[[X]] {limits = array<i64: 5, 8>, starts = array<i64: 1, 0>}
  // CHECK: %[[B:.+]] = kiln.slice %[[X]] {limits = array<i64: 9, 8>, starts = array<i64: 0, 0>, strides = array<i64: 2, 1>}
  // CHECK: return %[[A]], %[[B]]
  %0 = kiln.slice %x {starts = array<i64: 1, 0>, limits = array<i64: 5, 8>} : (tensor<9x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.slice %x {starts = array<i64: 0, 0>, limits = array<i64: 9, 8>, strides = array<i64: 2, 1>} : (tensor<9x8xf32>) -> tensor<5x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<5x8xf32>
}
