// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-pack-matmul))' --split-input-file | FileCheck %s

// The rhs goes into panels of n0 = 32 columns, panel by panel and zero
// padded (70 columns: 3 panels); the result is computed packed from a packed
// fill and unpacked.
// CHECK-LABEL: func.func @pack_rhs_panels
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[B:.+]] = bufferization.to_tensor %arg1
// CHECK: %[[PANELS:.+]] = linalg.pack %[[B]] padding_value(%[[ZERO]] : f32) outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [32] into %{{.+}} : tensor<33x70xf32> -> tensor<3x33x32xf32>
// CHECK: %[[FILL:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<130x3x32xf32>)
// CHECK: %[[MM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%{{.+}}, %[[PANELS]] : tensor<130x33xf32>, tensor<3x33x32xf32>) outs(%[[FILL]] : tensor<130x3x32xf32>)
// CHECK: linalg.unpack %[[MM]] inner_dims_pos = [1] inner_tiles = [32] into %{{.+}} : tensor<130x3x32xf32> -> tensor<130x70xf32>
func.func @pack_rhs_panels(%A: memref<130x33xf32>, %B: memref<33x70xf32>, %R: memref<130x70xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 32], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true>} {
  %a = bufferization.to_tensor %A restrict : memref<130x33xf32> to tensor<130x33xf32>
  %b = bufferization.to_tensor %B restrict : memref<33x70xf32> to tensor<33x70xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<130x70xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<130x70xf32>) -> tensor<130x70xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<130x33xf32>, tensor<33x70xf32>) outs(%f : tensor<130x70xf32>) -> tensor<130x70xf32>
  bufferization.materialize_in_destination %mm in restrict writable %R : (tensor<130x70xf32>, memref<130x70xf32>) -> ()
  return
}

// -----

// A transposed rhs (N x K) already has its panels outermost: no transpose of
// the pack's outer dimensions.
// CHECK-LABEL: func.func @pack_transposed_rhs
// CHECK: linalg.pack %{{.+}} padding_value(%{{.+}} : f32) inner_dims_pos = [0] inner_tiles = [16] into %{{.+}} : tensor<20x9xf32> -> tensor<2x9x16xf32>
func.func @pack_transposed_rhs(%A: memref<5x9xf32>, %B: memref<20x9xf32>, %R: memref<5x20xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true>} {
  %a = bufferization.to_tensor %A restrict : memref<5x9xf32> to tensor<5x9xf32>
  %b = bufferization.to_tensor %B restrict : memref<20x9xf32> to tensor<20x9xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<5x20xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<5x20xf32>) -> tensor<5x20xf32>
  %mm = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>] ins(%a, %b : tensor<5x9xf32>, tensor<20x9xf32>) outs(%f : tensor<5x20xf32>) -> tensor<5x20xf32>
  bufferization.materialize_in_destination %mm in restrict writable %R : (tensor<5x20xf32>, memref<5x20xf32>) -> ()
  return
}

// -----

// Without pack_matmul the pass changes nothing.
// CHECK-LABEL: func.func @negative_not_packed
// CHECK-NOT: linalg.pack
// CHECK: linalg.matmul
func.func @negative_not_packed(%A: memref<4x8xf32>, %B: memref<8x4xf32>, %R: memref<4x4xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 8, micro_tile = [4, 16, 1]>} {
  %a = bufferization.to_tensor %A restrict : memref<4x8xf32> to tensor<4x8xf32>
  %b = bufferization.to_tensor %B restrict : memref<8x4xf32> to tensor<8x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x4xf32>) outs(%f : tensor<4x4xf32>) -> tensor<4x4xf32>
  bufferization.materialize_in_destination %mm in restrict writable %R : (tensor<4x4xf32>, memref<4x4xf32>) -> ()
  return
}

// -----

// With pack_lhs the lhs goes into panels of m0 = 8 rows made of 8 x 16 tiles
// (130 x 33: 17 x 3 tiles, zero padded) and k into tiles of the vector width
// for the rhs too, whose tiles hold rows of n0; the result is packed by
// m0 x n0 tiles.
// CHECK-LABEL: func.func @pack_lhs_panels
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[A:.+]] = bufferization.to_tensor %arg0
// CHECK: %[[ROWS:.+]] = linalg.pack %[[A]] padding_value(%[[ZERO]] : f32) inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %{{.+}} : tensor<130x33xf32> -> tensor<17x3x8x16xf32>
// CHECK: %[[COLS:.+]] = linalg.pack %{{.+}} padding_value(%[[ZERO]] : f32) outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 32] into %{{.+}} : tensor<33x70xf32> -> tensor<3x3x16x32xf32>
// CHECK: %[[FILL:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<17x3x8x32xf32>)
// CHECK: %[[MM:.+]] = linalg.generic {{.+}} ins(%[[ROWS]], %[[COLS]] : tensor<17x3x8x16xf32>, tensor<3x3x16x32xf32>) outs(%[[FILL]] : tensor<17x3x8x32xf32>)
// CHECK: linalg.unpack %[[MM]] inner_dims_pos = [0, 1] inner_tiles = [8, 32] into %{{.+}} : tensor<17x3x8x32xf32> -> tensor<130x70xf32>
func.func @pack_lhs_panels(%A: memref<130x33xf32>, %B: memref<33x70xf32>, %R: memref<130x70xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 32], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true>} {
  %a = bufferization.to_tensor %A restrict : memref<130x33xf32> to tensor<130x33xf32>
  %b = bufferization.to_tensor %B restrict : memref<33x70xf32> to tensor<33x70xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<130x70xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<130x70xf32>) -> tensor<130x70xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<130x33xf32>, tensor<33x70xf32>) outs(%f : tensor<130x70xf32>) -> tensor<130x70xf32>
  bufferization.materialize_in_destination %mm in restrict writable %R : (tensor<130x70xf32>, memref<130x70xf32>) -> ()
  return
}

// -----

// A transposed lhs (K x M) has its rows innermost: its pack's outer
// dimensions are transposed so that the panels come first, and its tiles
// keep rows of k.
// CHECK-LABEL: func.func @pack_transposed_lhs
// CHECK: linalg.pack %{{.+}} padding_value(%{{.+}} : f32) outer_dims_perm = [1, 0] inner_dims_pos = [1, 0] inner_tiles = [4, 8] into %{{.+}} : tensor<9x5xf32> -> tensor<2x2x4x8xf32>
func.func @pack_transposed_lhs(%A: memref<9x5xf32>, %B: memref<9x20xf32>, %R: memref<5x20xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true, pack_lhs = true>} {
  %a = bufferization.to_tensor %A restrict : memref<9x5xf32> to tensor<9x5xf32>
  %b = bufferization.to_tensor %B restrict : memref<9x20xf32> to tensor<9x20xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<5x20xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<5x20xf32>) -> tensor<5x20xf32>
  %mm = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>] ins(%a, %b : tensor<9x5xf32>, tensor<9x20xf32>) outs(%f : tensor<5x20xf32>) -> tensor<5x20xf32>
  bufferization.materialize_in_destination %mm in restrict writable %R : (tensor<5x20xf32>, memref<5x20xf32>) -> ()
  return
}
