// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-tile-and-fuse))' --split-input-file | FileCheck %s

// The root (the bias add) is tiled 64 x 32 over its result; the matmul and its
// fill are fused into the tile loop, which writes the output buffer.
// CHECK-LABEL: func.func @matmul_bias
// CHECK-SAME: kiln.tile_count = 9 : i64
// CHECK: %[[OUT:.+]] = bufferization.to_tensor %{{.+}} restrict writable
// CHECK: %[[LOOP:.+]] = scf.forall (%[[I:.+]], %[[J:.+]]) = (0, 0) to (130, 70) step (64, 32) shared_outs(%[[SHARED:.+]] = %[[OUT]])
// CHECK: %[[FILL:.+]] = linalg.fill {{.+}} -> tensor<?x?xf32>
// CHECK: %[[MM:.+]] = linalg.generic {{.+}} outs(%[[FILL]] : tensor<?x?xf32>)
// CHECK: %[[SLOT:.+]] = tensor.extract_slice %[[SHARED]][%[[I]], %[[J]]]
// CHECK: %[[ADD:.+]] = linalg.generic {{.+}} ins(%[[MM]], %{{.+}} : tensor<?x?xf32>, tensor<?xf32>) outs(%[[SLOT]] : tensor<?x?xf32>)
// CHECK: tensor.parallel_insert_slice %[[ADD]] into %[[SHARED]]
// CHECK: bufferization.materialize_in_destination %[[LOOP]]
func.func @matmul_bias(%A: memref<130x33xf32>, %B: memref<33x70xf32>, %C: memref<70xf32>, %R: memref<130x70xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 32], vector_width = 16, micro_tile = [8, 32, 1]>} {
  %a = bufferization.to_tensor %A restrict : memref<130x33xf32> to tensor<130x33xf32>
  %b = bufferization.to_tensor %B restrict : memref<33x70xf32> to tensor<33x70xf32>
  %c = bufferization.to_tensor %C restrict : memref<70xf32> to tensor<70xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<130x70xf32> to tensor<130x70xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<130x70xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<130x70xf32>) -> tensor<130x70xf32>
  %mm = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : tensor<130x33xf32>, tensor<33x70xf32>) outs(%f : tensor<130x70xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<130x70xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%mm, %c : tensor<130x70xf32>, tensor<70xf32>) outs(%r : tensor<130x70xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<130x70xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<130x70xf32>, memref<130x70xf32>) -> ()
  return
}

// -----

// Tile sizes of zero, or at least the dimension, leave the kernel one tile.
// CHECK-LABEL: func.func @untiled
// CHECK-SAME: kiln.tile_count = 1 : i64
// CHECK-NOT: scf.forall
func.func @untiled(%A: memref<4x8xf32>, %R: memref<4x8xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 8], vector_width = 16>} {
  %a = bufferization.to_tensor %A restrict : memref<4x8xf32> to tensor<4x8xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<4x8xf32> to tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x8xf32>) outs(%r : tensor<4x8xf32>) {
  ^bb0(%x: f32, %o: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<4x8xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<4x8xf32>, memref<4x8xf32>) -> ()
  return
}

// -----

// A row reduction tiled over its rows keeps whole rows in each tile.
// CHECK-LABEL: func.func @row_sum
// CHECK-SAME: kiln.tile_count = 3 : i64
// CHECK: scf.forall (%{{.+}}) = (0) to (10) step (4)
// CHECK: linalg.fill {{.+}} -> tensor<?xf32>
// CHECK: linalg.generic {{.+}} ins(%{{.+}} : tensor<?x64xf32>)
func.func @row_sum(%A: memref<10x64xf32>, %R: memref<10xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 16>} {
  %a = bufferization.to_tensor %A restrict : memref<10x64xf32> to tensor<10x64xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<10xf32> to tensor<10xf32>
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%r : tensor<10xf32>) -> tensor<10xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<10x64xf32>) outs(%f : tensor<10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %o, %x : f32
    linalg.yield %s : f32
  } -> tensor<10xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<10xf32>, memref<10xf32>) -> ()
  return
}

// -----

// kiln.attention is a root through its tiling model: tiles over (head,
// query rows) whose key producer is fused into the key loop, written into
// the output buffer in place.
// CHECK-LABEL: func.func @attention_root
// CHECK-SAME: kiln.tile_count = 4 : i64
// CHECK: %[[OUT:.+]] = bufferization.to_tensor %{{.+}} restrict writable
// CHECK: scf.forall (%[[H:.+]], %[[I:.+]]) = (0, 0) to (2, 8) step (1, 4) shared_outs(%[[SHARED:.+]] = %[[OUT]])
// CHECK: scf.for
// CHECK: arith.negf
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[SHARED]][0, %[[H]], %[[I]], 0] [1, 1, 4, 16]
func.func @attention_root(%Q: memref<1x2x8x16xf32>, %K: memref<1x1x8x16xf32>, %R: memref<1x2x8x16xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 1, 4, 0], vector_width = 8>} {
  %q = bufferization.to_tensor %Q restrict : memref<1x2x8x16xf32> to tensor<1x2x8x16xf32>
  %k = bufferization.to_tensor %K restrict : memref<1x1x8x16xf32> to tensor<1x1x8x16xf32>
  %e = tensor.empty() : tensor<1x1x8x16xf32>
  %n = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%k : tensor<1x1x8x16xf32>) outs(%e : tensor<1x1x8x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.negf %x : f32
    linalg.yield %y : f32
  } -> tensor<1x1x8x16xf32>
  %0 = kiln.attention %q, %n, %k {causal = true} : (tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>) -> tensor<1x2x8x16xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<1x2x8x16xf32>, memref<1x2x8x16xf32>) -> ()
  return
}

// -----

// Two results of different widths share the row tiles: one loop computes
// both, each written into its own buffer.
// CHECK-LABEL: func.func @two_widths
// CHECK-SAME: kiln.tile_count = 3 : i64
// CHECK: %[[LOOP:.+]]:2 = scf.forall (%[[I:.+]]) = (0) to (6) step (2) shared_outs(%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}})
// CHECK-COUNT-2: tensor.parallel_insert_slice
// CHECK: bufferization.materialize_in_destination %[[LOOP]]#0
// CHECK: bufferization.materialize_in_destination %[[LOOP]]#1
func.func @two_widths(%X: memref<6x8xf32>, %Y: memref<6x4xf32>, %R: memref<6x8xf32>, %S: memref<6x4xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [2, 0], vector_width = 8>} {
  %x = bufferization.to_tensor %X restrict : memref<6x8xf32> to tensor<6x8xf32>
  %y = bufferization.to_tensor %Y restrict : memref<6x4xf32> to tensor<6x4xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<6x8xf32> to tensor<6x8xf32>
  %s = bufferization.to_tensor %S restrict writable : memref<6x4xf32> to tensor<6x4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<6x8xf32>) outs(%r : tensor<6x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %b = arith.negf %a : f32
    linalg.yield %b : f32
  } -> tensor<6x8xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y : tensor<6x4xf32>) outs(%s : tensor<6x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %b = math.exp %a : f32
    linalg.yield %b : f32
  } -> tensor<6x4xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<6x8xf32>, memref<6x8xf32>) -> ()
  bufferization.materialize_in_destination %1 in restrict writable %S : (tensor<6x4xf32>, memref<6x4xf32>) -> ()
  return
}

// -----

// A batched matmul whose packed rhs comes through a reshape (an MoE's
// gathered expert weights times one token each), tiled by one batch: the
// pack's padded tile bound, min(1, 4 - b), folds to 1 with the loop bounds,
// so the fused pack reads a static tile, as the decomposition of packs into
// inner tiles requires.
// CHECK-LABEL: func.func @batched_packed_rhs
// CHECK-SAME: kiln.tile_count = 4 : i64
// CHECK: scf.forall (%[[B:.+]]) in (4)
// CHECK-NOT: affine.min
// CHECK: %[[RHS:.+]] = tensor.expand_shape %{{.+}} output_shape [1, 4, 1] : tensor<4xf32> into tensor<1x4x1xf32>
// CHECK: linalg.pack %[[RHS]] {{.+}} : tensor<1x4x1xf32> -> tensor<1x1x4x16xf32>
func.func @batched_packed_rhs(%A: memref<4x8x4xf32>, %B: memref<2x2x4xf32>, %R: memref<4x8x1xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [1, 0, 0], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true>} {
  %zero = arith.constant 0.0 : f32
  %a = bufferization.to_tensor %A restrict : memref<4x8x4xf32> to tensor<4x8x4xf32>
  %b = bufferization.to_tensor %B restrict : memref<2x2x4xf32> to tensor<2x2x4xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<4x8x1xf32> to tensor<4x8x1xf32>
  %flat = tensor.collapse_shape %b [[0, 1, 2]] : tensor<2x2x4xf32> into tensor<16xf32>
  %rhs = tensor.expand_shape %flat [[0, 1, 2]] output_shape [4, 4, 1] : tensor<16xf32> into tensor<4x4x1xf32>
  %pe = tensor.empty() : tensor<4x1x4x16xf32>
  %packed = linalg.pack %rhs padding_value(%zero : f32) outer_dims_perm = [0, 2, 1] inner_dims_pos = [2] inner_tiles = [16] into %pe : tensor<4x4x1xf32> -> tensor<4x1x4x16xf32>
  %e = tensor.empty() : tensor<4x8x1x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8x1x16xf32>) -> tensor<4x8x1x16xf32>
  %mm = linalg.generic {indexing_maps = [affine_map<(b, m, n, k, l) -> (b, m, k)>, affine_map<(b, m, n, k, l) -> (b, n, k, l)>, affine_map<(b, m, n, k, l) -> (b, m, n, l)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]} ins(%a, %packed : tensor<4x8x4xf32>, tensor<4x1x4x16xf32>) outs(%f : tensor<4x8x1x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x8x1x16xf32>
  %0 = linalg.unpack %mm inner_dims_pos = [2] inner_tiles = [16] into %r : tensor<4x8x1x16xf32> -> tensor<4x8x1xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<4x8x1xf32>, memref<4x8x1xf32>) -> ()
  return
}

// -----

// With a partial last tile, the fused pack and the matmul share one bound
// of the tile instead of equal copies, so that the pack's tiles, which go
// by that bound, are seen to stay inside its source.
// CHECK-LABEL: func.func @batched_packed_rhs_partial
// CHECK: scf.forall (%[[B:.+]]) = (0) to (5) step (2)
// CHECK: %[[N:.+]] = affine.min
// CHECK-NOT: affine.min
// CHECK: %[[RHS:.+]] = tensor.extract_slice %{{.+}}[%[[B]], 0, 0] [%[[N]], 4, 1]
// CHECK: %[[DEST:.+]] = tensor.empty(%[[N]]) : tensor<?x1x4x16xf32>
// CHECK: linalg.pack %[[RHS]] {{.+}} into %[[DEST]]
func.func @batched_packed_rhs_partial(%A: memref<5x8x4xf32>, %B: memref<5x4x1xf32>, %R: memref<5x8x1xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [2, 0, 0], vector_width = 8, micro_tile = [4, 16, 1], pack_matmul = true>} {
  %zero = arith.constant 0.0 : f32
  %a = bufferization.to_tensor %A restrict : memref<5x8x4xf32> to tensor<5x8x4xf32>
  %b = bufferization.to_tensor %B restrict : memref<5x4x1xf32> to tensor<5x4x1xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<5x8x1xf32> to tensor<5x8x1xf32>
  %pe = tensor.empty() : tensor<5x1x4x16xf32>
  %packed = linalg.pack %b padding_value(%zero : f32) outer_dims_perm = [0, 2, 1] inner_dims_pos = [2] inner_tiles = [16] into %pe : tensor<5x4x1xf32> -> tensor<5x1x4x16xf32>
  %e = tensor.empty() : tensor<5x8x1x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<5x8x1x16xf32>) -> tensor<5x8x1x16xf32>
  %mm = linalg.generic {indexing_maps = [affine_map<(b, m, n, k, l) -> (b, m, k)>, affine_map<(b, m, n, k, l) -> (b, n, k, l)>, affine_map<(b, m, n, k, l) -> (b, m, n, l)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]} ins(%a, %packed : tensor<5x8x4xf32>, tensor<5x1x4x16xf32>) outs(%f : tensor<5x8x1x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<5x8x1x16xf32>
  %0 = linalg.unpack %mm inner_dims_pos = [2] inner_tiles = [16] into %r : tensor<5x8x1x16xf32> -> tensor<5x8x1xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<5x8x1xf32>, memref<5x8x1xf32>) -> ()
  return
}

// -----

// Tiles of 32 rows of a result whose 112 columns are not whole panels of 48:
// the tile's unpack goes straight into the tile of the result, dropping the
// padding itself, instead of into a padded buffer whose slice is copied.
// CHECK-LABEL: func.func @packed_partial_panel
// CHECK: scf.forall (%[[I:.+]]) = (0) to (64) step (32) shared_outs(%[[OUT:.+]] = %{{.+}})
// CHECK: %[[TILE:.+]] = tensor.extract_slice %[[OUT]][%[[I]], 0] [32, 112] [1, 1]
// CHECK: %[[RESULT:.+]] = linalg.unpack %{{.+}} inner_dims_pos = [0, 1] inner_tiles = [8, 48] into %[[TILE]] : tensor<4x3x8x48xf32> -> tensor<32x112xf32>
// CHECK: tensor.parallel_insert_slice %[[RESULT]] into %[[OUT]][%[[I]], 0] [32, 112] [1, 1]
func.func @packed_partial_panel(%arg0: memref<64x200xf32>, %arg1: memref<200x112xf32>, %arg2: memref<64x112xf32>) attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [32, 0], vector_width = 16, micro_tile = [8, 48, 1], pack_matmul = true, k_block = 64, pack_lhs = true, m_block = 16>, kiln.kernel} {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = bufferization.to_tensor %arg0 restrict : memref<64x200xf32> to tensor<64x200xf32>
  %1 = bufferization.to_tensor %arg1 restrict : memref<200x112xf32> to tensor<200x112xf32>
  %2 = bufferization.to_tensor %arg2 restrict writable : memref<64x112xf32> to tensor<64x112xf32>
  %3 = tensor.empty() : tensor<8x13x8x16xf32>
  %pack = linalg.pack %0 padding_value(%cst : f32) inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %3 : tensor<64x200xf32> -> tensor<8x13x8x16xf32>
  %4 = tensor.empty() : tensor<3x13x16x48xf32>
  %pack_0 = linalg.pack %1 padding_value(%cst : f32) outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 48] into %4 : tensor<200x112xf32> -> tensor<3x13x16x48xf32>
  %5 = tensor.empty() : tensor<8x3x8x48xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<8x3x8x48xf32>) -> tensor<8x3x8x48xf32>
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d5, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%pack, %pack_0 : tensor<8x13x8x16xf32>, tensor<3x13x16x48xf32>) outs(%6 : tensor<8x3x8x48xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.mulf %in, %in_1 fastmath<contract> : f32
    %9 = arith.addf %out, %8 fastmath<contract> : f32
    linalg.yield %9 : f32
  } -> tensor<8x3x8x48xf32>
  %unpack = linalg.unpack %7 inner_dims_pos = [0, 1] inner_tiles = [8, 48] into %2 : tensor<8x3x8x48xf32> -> tensor<64x112xf32>
  bufferization.materialize_in_destination %unpack in restrict writable %arg2 : (tensor<64x112xf32>, memref<64x112xf32>) -> ()
  return
}
