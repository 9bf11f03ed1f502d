// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-lower-kernel-signature))' --split-input-file --verify-diagnostics

// Kernel buffers have static shapes.
// expected-error @+1 {{expected statically shaped tensor arguments and results (got 'tensor<?xf32>')}}
func.func @negative_dynamic(%a: tensor<?xf32>) -> tensor<?xf32> attributes {kiln.kernel} {
  return %a : tensor<?xf32>
}
