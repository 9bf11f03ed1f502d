// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-select-kernel-config{target=avx2}))' --split-input-file --verify-diagnostics
// RUN: not kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-select-kernel-config{target=pentium}))' 2>&1 | FileCheck %s --check-prefix=TARGET

// TARGET: unknown CPU target 'pentium' (expected host, x86-64, x86-64-v2, x86-64-v3 or avx2, x86-64-v4 or avx512)

// A config needs one tile size per dimension of the first result.
// expected-error @+1 {{expected one tile size per dimension of the first result (rank 2, got 1 tile sizes)}}
func.func @negative_rank(%x: tensor<4x8xf32>) -> tensor<4x8xf32> attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [2], vector_width = 8>} {
  %0 = kiln.exp %x : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Several results share their tiles: a dimension they differ in stays whole.
// expected-error @+1 {{expected tile size 0 for dimension 1 (tile size 4), which the 2 results of the kernel do not share}}
func.func @negative_unshared_dim(%x: tensor<4x8xf32>, %y: tensor<4x16xf32>) -> (tensor<4x8xf32>, tensor<4x16xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [2, 4], vector_width = 8>} {
  %0 = kiln.exp %x : tensor<4x8xf32>
  %1 = kiln.exp %y : tensor<4x16xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x16xf32>
}

// -----

// The config attribute must be a #kiln.cpu_config.
// expected-error @+1 {{expected 'kiln.cpu_config' to be a #kiln.cpu_config (got [1, 2])}}
func.func @negative_attribute_kind(%x: tensor<4x8xf32>) -> tensor<4x8xf32> attributes {kiln.kernel, kiln.cpu_config = [1, 2]} {
  %0 = kiln.exp %x : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
