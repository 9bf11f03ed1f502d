// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-convert-kiln-to-linalg))' --split-input-file --verify-diagnostics

// Weights reach a kernel as arguments; a kiln.weight inside one is an error.
func.func @negative_weight() -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.weight' cannot be lowered by the CPU backend yet}}
  %0 = kiln.weight "w" : tensor<4xf32>
  return %0 : tensor<4xf32>
}
