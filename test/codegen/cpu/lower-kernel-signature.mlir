// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-lower-kernel-signature))' --split-input-file | FileCheck %s

// The result is computed into the output buffer: the generic's destination
// becomes the writable tensor of the last argument.
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[A:.+]]: memref<4xf32>, %[[R:.+]]: memref<4xf32>)
// CHECK-NOT: ->
// CHECK: %[[IN:.+]] = bufferization.to_tensor %[[A]] restrict : memref<4xf32> to tensor<4xf32>
// CHECK: %[[OUT:.+]] = bufferization.to_tensor %[[R]] restrict writable : memref<4xf32> to tensor<4xf32>
// CHECK: %[[RES:.+]] = linalg.generic {{.+}} ins(%[[IN]] : tensor<4xf32>) outs(%[[OUT]] : tensor<4xf32>)
// CHECK: bufferization.materialize_in_destination %[[RES]] in restrict writable %[[R]]
// CHECK: return{{$}}
func.func @elementwise(%a: tensor<4xf32>) -> tensor<4xf32> attributes {kiln.kernel} {
  %e = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A reduction accumulates into a fill; the fill writes the output buffer.
// CHECK-LABEL: func.func @reduction
// CHECK-SAME: %[[R:[a-z0-9]+]]: memref<4xf32>)
// CHECK: %[[OUT:.+]] = bufferization.to_tensor %[[R]] restrict writable
// CHECK: %[[FILL:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%[[OUT]] : tensor<4xf32>)
// CHECK: linalg.generic {{.+}} outs(%[[FILL]] : tensor<4xf32>)
func.func @reduction(%a: tensor<4x8xf32>) -> tensor<4xf32> attributes {kiln.kernel} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<4x8xf32>) outs(%f : tensor<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %o, %x : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A result that is an input is copied; each result has its own buffer.
// CHECK-LABEL: func.func @passthrough
// CHECK-SAME: (%[[A:.+]]: memref<4xf32>, %[[R0:.+]]: memref<4xf32>, %[[R1:.+]]: memref<4xf32>)
// CHECK: %[[IN:.+]] = bufferization.to_tensor %[[A]] restrict
// CHECK: bufferization.materialize_in_destination %[[IN]] in restrict writable %[[R0]]
// CHECK: bufferization.materialize_in_destination %[[IN]] in restrict writable %[[R1]]
func.func @passthrough(%a: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) attributes {kiln.kernel} {
  return %a, %a : tensor<4xf32>, tensor<4xf32>
}

// -----

// Functions that are not kernels keep their signature.
// CHECK-LABEL: func.func @negative_not_a_kernel
// CHECK-SAME: (%{{.+}}: tensor<4xf32>) -> tensor<4xf32>
func.func @negative_not_a_kernel(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
