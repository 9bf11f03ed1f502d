// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-convert-kiln-to-linalg))' --split-input-file --verify-diagnostics

// An op without a CPU lowering is an error at that op.
func.func @negative_attention(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{'kiln.attention' cannot be lowered by the CPU backend yet}}
  %0 = kiln.attention %q, %q, %q : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %0 : tensor<1x1x4x8xf32>
}

// -----

// Weights reach a kernel as arguments; a kiln.weight inside one is an error.
func.func @negative_weight() -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.weight' cannot be lowered by the CPU backend yet}}
  %0 = kiln.weight "w" : tensor<4xf32>
  return %0 : tensor<4xf32>
}
