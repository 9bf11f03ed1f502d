// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-select-kernel-config{target=avx512}))' --split-input-file | FileCheck %s --check-prefixes=CHECK,AVX512
// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-select-kernel-config{target=avx2}))' --split-input-file | FileCheck %s --check-prefixes=CHECK,AVX2

// A matmul tiles m and n in multiples of the register micro tile, whose
// width is two vector registers; tiles of 256 x 256 are halved, n first,
// down to 64, until there are 8 of them. 64 rows per tile share each packed
// rhs panel, so the rhs is packed even though k is shallow.
// CHECK-LABEL: func.func @matmul_large
// AVX512-SAME: kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 64], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true>
// AVX2-SAME: kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 64], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true>
func.func @matmul_large(%a: tensor<128x64xf32>, %b: tensor<64x256xf32>) -> tensor<128x256xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<128x64xf32>, tensor<64x256xf32>) -> tensor<128x256xf32>
  return %0 : tensor<128x256xf32>
}

// -----

// A large matmul keeps tiles of 256 x 256, and its rhs is packed once per
// 256 rows.
// CHECK-LABEL: func.func @matmul_square
// AVX512-SAME: tile_sizes = [256, 256], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 256>
// AVX2-SAME: tile_sizes = [256, 256], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true, k_block = 256>
func.func @matmul_square(%a: tensor<1024x1024xf32>, %b: tensor<1024x1024xf32>) -> tensor<1024x1024xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<1024x1024xf32>, tensor<1024x1024xf32>) -> tensor<1024x1024xf32>
  return %0 : tensor<1024x1024xf32>
}

// -----

// Few rows and a shallow k: the rhs is read in place. The rows stay whole
// and the columns go by 256.
// CHECK-LABEL: func.func @matmul_few_rows
// AVX512-SAME: <tile_sizes = [0, 256], vector_width = 16, micro_tile = [8, 32, 1]>
func.func @matmul_few_rows(%a: tensor<16x64xf32>, %b: tensor<64x4096xf32>) -> tensor<16x4096xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<16x64xf32>, tensor<64x4096xf32>) -> tensor<16x4096xf32>
  return %0 : tensor<16x4096xf32>
}

// -----

// A matmul at least two k blocks deep packs its rhs and sweeps k in blocks
// of 256 even with few rows; the transposed lhs is read for its k extent.
// Its 64 x 256 result goes by 64 x 64 tiles.
// CHECK-LABEL: func.func @matmul_deep
// AVX512-SAME: tile_sizes = [0, 64], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 256>
// AVX2-SAME: tile_sizes = [0, 64], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true, k_block = 256>
func.func @matmul_deep(%a: tensor<512x16xf32>, %b: tensor<512x256xf32>) -> tensor<16x256xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b {transpose_lhs = true} : (tensor<512x16xf32>, tensor<512x256xf32>) -> tensor<16x256xf32>
  return %0 : tensor<16x256xf32>
}

// -----

// A small matmul is one tile; batches go one at a time.
// CHECK-LABEL: func.func @matmul_batched_small
// AVX512-SAME: tile_sizes = [1, 0, 0], vector_width = 16
func.func @matmul_batched_small(%a: tensor<4x7x5xf32>, %b: tensor<5x13xf32>) -> tensor<4x7x13xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<4x7x5xf32>, tensor<5x13xf32>) -> tensor<4x7x13xf32>
  return %0 : tensor<4x7x13xf32>
}

// -----

// Elementwise kernels tile the leading dimensions to about 16k elements.
// CHECK-LABEL: func.func @elementwise
// AVX512-SAME: #kiln.cpu_config<tile_sizes = [16, 0], vector_width = 16>
// AVX2-SAME: #kiln.cpu_config<tile_sizes = [16, 0], vector_width = 8>
func.func @elementwise(%x: tensor<64x1024xf32>) -> tensor<64x1024xf32> attributes {kiln.kernel} {
  %0 = kiln.exp %x : tensor<64x1024xf32>
  return %0 : tensor<64x1024xf32>
}

// -----

// A row that alone exceeds the budget is tiled in whole vectors.
// CHECK-LABEL: func.func @elementwise_long_rows
// AVX512-SAME: tile_sizes = [1, 16384]
func.func @elementwise_long_rows(%x: tensor<2x40000xf32>) -> tensor<2x40000xf32> attributes {kiln.kernel} {
  %0 = kiln.neg %x : tensor<2x40000xf32>
  return %0 : tensor<2x40000xf32>
}

// -----

// Reductions keep the last dimension whole, with rows of about 4096
// elements per tile (4096 / 257 = 15 rows).
// CHECK-LABEL: func.func @softmax_rows
// CHECK-SAME: tile_sizes = [15, 0]
func.func @softmax_rows(%x: tensor<300x257xf32>) -> tensor<300x257xf32> attributes {kiln.kernel} {
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<300x257xf32>
  return %0 : tensor<300x257xf32>
}

// -----

// Several results share the tile loop: they are tiled like the first one.
// CHECK-LABEL: func.func @two_results
// AVX512-SAME: tile_sizes = [16, 0]
func.func @two_results(%x: tensor<64x1024xf32>) -> (tensor<64x1024xf32>, tensor<64x1024xf32>) attributes {kiln.kernel} {
  %0 = kiln.exp %x : tensor<64x1024xf32>
  %1 = kiln.neg %0 : tensor<64x1024xf32>
  return %0, %1 : tensor<64x1024xf32>, tensor<64x1024xf32>
}

// -----

// Results of different widths share only the rows.
// CHECK-LABEL: func.func @results_of_two_widths
// AVX512-SAME: tile_sizes = [16, 0]
func.func @results_of_two_widths(%x: tensor<64x1024xf32>, %y: tensor<64x512xf32>) -> (tensor<64x1024xf32>, tensor<64x512xf32>) attributes {kiln.kernel} {
  %0 = kiln.exp %x : tensor<64x1024xf32>
  %1 = kiln.exp %y : tensor<64x512xf32>
  return %0, %1 : tensor<64x1024xf32>, tensor<64x512xf32>
}

// -----

// Attention goes by (batch, head, query block), with a micro tile for its
// contractions.
// CHECK-LABEL: func.func @attention
// AVX512-SAME: tile_sizes = [1, 1, 32, 0], vector_width = 16, micro_tile = [8, 32, 1]
func.func @attention(%q: tensor<2x4x100x16xf32>, %k: tensor<2x2x100x16xf32>) -> tensor<2x4x100x16xf32> attributes {kiln.kernel} {
  %0 = kiln.attention %q, %k, %k {causal = true} : (tensor<2x4x100x16xf32>, tensor<2x2x100x16xf32>, tensor<2x2x100x16xf32>) -> tensor<2x4x100x16xf32>
  return %0 : tensor<2x4x100x16xf32>
}

// -----

// Experts go by blocks of 64 tokens, so that each expert's matmul has
// rows for several register tiles.
// CHECK-LABEL: func.func @experts
// AVX512-SAME: tile_sizes = [64, 0]
func.func @experts(%x: tensor<130x16xf32>, %w: tensor<130x2xf32>, %i: tensor<130x2xi32>, %g: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<130x16xf32> attributes {kiln.kernel} {
  %0 = kiln.moe_experts %x, %w, %i, %g, %g, %d : (tensor<130x16xf32>, tensor<130x2xf32>, tensor<130x2xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<130x16xf32>
  return %0 : tensor<130x16xf32>
}

// -----

// An existing config is kept as it is.
// CHECK-LABEL: func.func @existing_config
// CHECK-SAME: kiln.cpu_config = #kiln.cpu_config<tile_sizes = [3, 0], vector_width = 4>
func.func @existing_config(%x: tensor<64x1024xf32>) -> tensor<64x1024xf32> attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [3, 0], vector_width = 4>} {
  %0 = kiln.exp %x : tensor<64x1024xf32>
  return %0 : tensor<64x1024xf32>
}

// -----

// Functions that are not kernels get no config.
// CHECK-LABEL: func.func @negative_not_a_kernel
// CHECK-NOT: kiln.cpu_config
func.func @negative_not_a_kernel(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.exp %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
