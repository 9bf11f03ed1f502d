// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-vectorize))' --split-input-file | FileCheck %s
// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-vectorize{vectorize-contractions=false}))' --split-input-file | FileCheck %s --check-prefix=SCALAR
// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-vectorize),canonicalize)' --split-input-file | FileCheck %s --check-prefix=INPLACE

// A 16x40 matmul with micro tile [8, 32, 1]: two full 8x32 micro tiles along
// m (no mask, one vector.contract per k), then the 8 leftover columns by rows
// of 1x8.
// CHECK-LABEL: func.func @matmul
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C8:.+]] iter_args
// CHECK: vector.transfer_read {{.+}} : tensor<8x1xf32>, vector<8x1xf32>
// CHECK: vector.transfer_read {{.+}} : tensor<1x32xf32>, vector<1x32xf32>
// CHECK: vector.contract {{.+}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: vector.contract {{.+}} : vector<1x1xf32>, vector<1x8xf32> into vector<1x8xf32>
// CHECK-NOT: vector.mask
// CHECK-NOT: linalg.generic
// SCALAR-LABEL: func.func @matmul
// SCALAR: linalg.generic
// SCALAR-NOT: vector.contract
func.func @matmul(%A: memref<16x8xf32>, %B: memref<8x40xf32>, %R: memref<16x40xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1]>} {
  %a = bufferization.to_tensor %A restrict : memref<16x8xf32> to tensor<16x8xf32>
  %b = bufferization.to_tensor %B restrict : memref<8x40xf32> to tensor<8x40xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<16x40xf32> to tensor<16x40xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : tensor<16x8xf32>, tensor<8x40xf32>) outs(%r : tensor<16x40xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<16x40xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<16x40xf32>, memref<16x40xf32>) -> ()
  return
}

// -----

// An elementwise op goes by rows of 16 lanes; the last 4 of each 20-long row
// are masked.
// CHECK-LABEL: func.func @elementwise
// CHECK: scf.for
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C16:.+]] iter_args
// CHECK: %[[N:.+]] = affine.min
// CHECK: %[[MASK:.+]] = vector.create_mask %{{.+}}, %[[N]] : vector<1x16xi1>
// CHECK: vector.mask %[[MASK]] { vector.transfer_read
// CHECK: math.exp %{{.+}} : vector<1x16xf32>
// CHECK: vector.mask %[[MASK]] { vector.transfer_write
func.func @elementwise(%A: memref<4x20xf32>, %R: memref<4x20xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16>} {
  %a = bufferization.to_tensor %A restrict : memref<4x20xf32> to tensor<4x20xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<4x20xf32> to tensor<4x20xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x20xf32>) outs(%r : tensor<4x20xf32>) {
  ^bb0(%x: f32, %o: f32):
    %n = math.exp %x : f32
    linalg.yield %n : f32
  } -> tensor<4x20xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<4x20xf32>, memref<4x20xf32>) -> ()
  return
}

// -----

// With k_block = 16, k goes by blocks of 16 outermost, then the n micro
// tiles, then m; each micro tile's accumulator stays a vector carried
// through the k loop, read before it and written after it.
// CHECK-LABEL: func.func @matmul_k_block
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C16:.+]] iter_args
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C32:.+]] iter_args
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C8:.+]] iter_args
// CHECK: %[[ACC:.+]] = vector.transfer_read {{.+}} : tensor<8x32xf32>, vector<8x32xf32>
// CHECK: %[[K:.+]]:2 = scf.for {{.+}} -> (tensor<8x32xf32>, vector<8x32xf32>)
// CHECK: vector.contract
// CHECK: vector.transfer_write %[[K]]#1, %[[K]]#0
func.func @matmul_k_block(%A: memref<16x40xf32>, %B: memref<40x64xf32>, %R: memref<16x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], k_block = 16>} {
  %a = bufferization.to_tensor %A restrict : memref<16x40xf32> to tensor<16x40xf32>
  %b = bufferization.to_tensor %B restrict : memref<40x64xf32> to tensor<40x64xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<16x64xf32> to tensor<16x64xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<16x40xf32>, tensor<40x64xf32>) outs(%r : tensor<16x64xf32>) -> tensor<16x64xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<16x64xf32>, memref<16x64xf32>) -> ()
  return
}

// -----

// With the rhs packed (kiln-cpu-pack-matmul), each k block packs only its
// own 16 rows of the panels, inside the k loop and right before the micro
// tiles read them; the last block has 8 rows.
// CHECK-LABEL: func.func @pack_in_k_blocks
// CHECK-NOT: linalg.pack
// CHECK: scf.for %[[K:.+]] = %{{.+}} to %[[C40:.+]] step %[[C16:.+]] iter_args
// CHECK: %[[ROWS:.+]] = affine.min #{{.+}}(%[[K]])
// CHECK: tensor.empty(%[[ROWS]]) : tensor<2x?x32xf32>
// CHECK: vector.transfer_read {{.+}} : tensor<1x32xf32>, vector<1x32xf32>
// CHECK: vector.contract
// CHECK-NOT: linalg.pack
#lhs = affine_map<(d0, d1, d2, d3) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
#res = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
func.func @pack_in_k_blocks(%A: memref<16x40xf32>, %B: memref<40x64xf32>, %R: memref<16x2x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 16>} {
  %zero = arith.constant 0.0 : f32
  %a = bufferization.to_tensor %A restrict : memref<16x40xf32> to tensor<16x40xf32>
  %b = bufferization.to_tensor %B restrict : memref<40x64xf32> to tensor<40x64xf32>
  %e = tensor.empty() : tensor<2x40x32xf32>
  %panels = linalg.pack %b outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [32] into %e : tensor<40x64xf32> -> tensor<2x40x32xf32>
  %r = tensor.empty() : tensor<16x2x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%r : tensor<16x2x32xf32>) -> tensor<16x2x32xf32>
  %0 = linalg.generic {indexing_maps = [#lhs, #rhs, #res], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%a, %panels : tensor<16x40xf32>, tensor<2x40x32xf32>) outs(%f : tensor<16x2x32xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x2x32xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<16x2x32xf32>, memref<16x2x32xf32>) -> ()
  return
}

// -----

// Whole inner tiles need no padding: each is copied as one vector read and
// one vector write, not a scalar loop. The loops go in the source's order:
// its 5 rows outside, each row copied whole across the 2 panels.
// CHECK-LABEL: func.func @pack_whole_panels
// CHECK-DAG: %[[C2:.+]] = arith.constant 2 : index
// CHECK-DAG: %[[C5:.+]] = arith.constant 5 : index
// CHECK: scf.for %[[K:.+]] = %{{.+}} to %[[C5]]
// CHECK: scf.for %[[P:.+]] = %{{.+}} to %[[C2]]
// CHECK: %[[ROW:.+]] = tensor.extract_slice %{{.+}}[%[[K]], %{{.+}}] [1, 32] {{.+}} to tensor<1x32xf32>
// CHECK: %[[V:.+]] = vector.transfer_read %[[ROW]]{{.+}} : tensor<1x32xf32>, vector<1x32xf32>
// CHECK: vector.transfer_write %[[V]]
// CHECK-NOT: tensor.insert_slice %[[ROW]]
func.func @pack_whole_panels(%B: memref<5x64xf32>, %R: memref<2x5x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true>} {
  %b = bufferization.to_tensor %B restrict : memref<5x64xf32> to tensor<5x64xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<2x5x32xf32> to tensor<2x5x32xf32>
  %0 = linalg.pack %b outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [32] into %r : tensor<5x64xf32> -> tensor<2x5x32xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<2x5x32xf32>, memref<2x5x32xf32>) -> ()
  return
}

// -----

// A pack goes by one inner tile: a masked read of up to 32 columns padded
// with zeros, written as one panel row.
// CHECK-LABEL: func.func @pack_panels
// CHECK-NOT: linalg.pack
// CHECK: vector.mask %{{.+}} { vector.transfer_read {{.+}} : tensor<1x?xf32>, vector<1x32xf32> }
// CHECK-NOT: linalg.pack
func.func @pack_panels(%B: memref<5x40xf32>, %R: memref<2x5x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true>} {
  %zero = arith.constant 0.0 : f32
  %b = bufferization.to_tensor %B restrict : memref<5x40xf32> to tensor<5x40xf32>
  %r = bufferization.to_tensor %R restrict writable : memref<2x5x32xf32> to tensor<2x5x32xf32>
  %0 = linalg.pack %b padding_value(%zero : f32) outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [32] into %r : tensor<5x40xf32> -> tensor<2x5x32xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<2x5x32xf32>, memref<2x5x32xf32>) -> ()
  return
}

// -----

// A reduction along the innermost loop accumulates 16 lanes in a register
// through the full iterations (no mask, no horizontal reduction inside the
// loop), adds the 4 leftover elements of the 100-long row to the lanes,
// then reduces across the lanes once per row.
// CHECK-LABEL: func.func @row_sum_of_squares
// CHECK: scf.for
// CHECK: %[[LANES:.+]]:2 = scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%{{.+}} = %{{.+}}, %[[ACC:.+]] = %{{.+}}) -> (tensor<1x16xf32>, vector<1x16xf32>)
// CHECK-NOT: vector.mask
// CHECK-NOT: vector.multi_reduction
// CHECK: %[[X:.+]] = vector.transfer_read {{.+}} : tensor<1x16xf32>, vector<1x16xf32>
// CHECK: %[[SQUARE:.+]] = arith.mulf %[[X]], %[[X]] : vector<1x16xf32>
// CHECK: %[[SUM:.+]] = arith.addf %[[ACC]], %[[SQUARE]] : vector<1x16xf32>
// CHECK: scf.yield %{{.+}}, %[[SUM]]
// CHECK: vector.transfer_read {{.+}} : tensor<1x4xf32>, vector<1x4xf32>
// CHECK: vector.multi_reduction <add>, %{{.+}}, %{{.+}} [1] : vector<1x16xf32> to vector<1xf32>
// CHECK-NOT: vector.multi_reduction
func.func @row_sum_of_squares(%X: memref<4x100xf32>, %R: memref<4xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0], vector_width = 16>} {
  %x = bufferization.to_tensor %X restrict : memref<4x100xf32> to tensor<4x100xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x100xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %s = arith.addf %acc, %sq : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<4xf32>, memref<4xf32>) -> ()
  return
}

// -----

// With an m block (16 rows = 2 lhs panels of 8) the packed accumulator
// becomes a view of the result, with no fill: inside each k block (2 of the
// 4 k0 tiles) the rhs is packed once and each m block packs its own lhs
// rows, then runs its micro kernels; the first k block, peeled off the
// loop, starts its accumulators from zeros (see @m_block_first_k_block);
// the view folds back into the result.
// CHECK-LABEL: func.func @m_block_in_place
// CHECK: %[[RESULT:.+]] = bufferization.to_tensor %arg2
// CHECK: %[[VIEW:.+]] = tensor.expand_shape %[[RESULT]] {{\[}}[0, 1], [2, 3]] output_shape [4, 8, 2, 32] : tensor<32x64xf32> into tensor<4x8x2x32xf32>
// CHECK: scf.for {{.+}} -> (tensor<2x2x16x32xf32>)
// CHECK: %[[FIRST:.+]] = scf.for %{{.+}} = %c0 to %c4 step %c2 iter_args(%{{.+}} = %[[VIEW]]) -> (tensor<4x8x2x32xf32>)
// CHECK: scf.for {{.+}} -> (tensor<2x2x8x16xf32>)
// CHECK: vector.contract {{.+}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: scf.for {{.+}} -> (tensor<2x2x16x32xf32>)
// CHECK: %[[REST:.+]] = scf.for %{{.+}} = %c0 to %c4 step %c2 iter_args(%{{.+}} = %[[FIRST]]) -> (tensor<4x8x2x32xf32>)
// CHECK: vector.contract {{.+}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: tensor.collapse_shape %[[REST]] {{\[}}[0, 1], [2, 3]] : tensor<4x8x2x32xf32> into tensor<32x64xf32>
func.func @m_block_in_place(%arg0: memref<32x64xf32>, %arg1: memref<64x64xf32>, %arg2: memref<32x64xf32>) attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 32, pack_lhs = true, m_block = 16>, kiln.kernel, kiln.tile_count = 1 : i64} {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = bufferization.to_tensor %arg0 restrict : memref<32x64xf32> to tensor<32x64xf32>
  %1 = bufferization.to_tensor %arg1 restrict : memref<64x64xf32> to tensor<64x64xf32>
  %2 = bufferization.to_tensor %arg2 restrict writable : memref<32x64xf32> to tensor<32x64xf32>
  %3 = tensor.empty() : tensor<4x4x8x16xf32>
  %pack = linalg.pack %0 inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %3 : tensor<32x64xf32> -> tensor<4x4x8x16xf32>
  %4 = tensor.empty() : tensor<2x4x16x32xf32>
  %pack_0 = linalg.pack %1 outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 32] into %4 : tensor<64x64xf32> -> tensor<2x4x16x32xf32>
  %5 = tensor.empty() : tensor<4x2x8x32xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<4x2x8x32xf32>) -> tensor<4x2x8x32xf32>
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d5, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%pack, %pack_0 : tensor<4x4x8x16xf32>, tensor<2x4x16x32xf32>) outs(%6 : tensor<4x2x8x32xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.mulf %in, %in_1 fastmath<contract> : f32
    %9 = arith.addf %out, %8 fastmath<contract> : f32
    linalg.yield %9 : f32
  } -> tensor<4x2x8x32xf32>
  %unpack = linalg.unpack %7 inner_dims_pos = [0, 1] inner_tiles = [8, 32] into %2 : tensor<4x2x8x32xf32> -> tensor<32x64xf32>
  bufferization.materialize_in_destination %unpack in restrict writable %arg2 : (tensor<32x64xf32>, memref<32x64xf32>) -> ()
  return
}

// -----

// Zero-first, after canonicalization: the micro kernels of the first of
// three k blocks start from zeros and write their tiles without reading
// them; those of the other two blocks (a loop) read theirs and accumulate.
// INPLACE-LABEL: func.func @m_block_first_k_block
// INPLACE-DAG: %[[ZEROS:.+]] = arith.constant dense<0.000000e+00> : vector<8x32xf32>
// INPLACE-DAG: %[[VIEW:.+]] = tensor.expand_shape
// INPLACE: %[[FIRST:.+]] = scf.for %{{.+}} = %c0 to %c4 step %c2 iter_args(%{{.+}} = %[[VIEW]]) -> (tensor<4x8x2x32xf32>)
// INPLACE-NOT: vector.transfer_read {{.+}} : tensor<8x32xf32>, vector<8x32xf32>
// INPLACE: scf.for {{.+}} iter_args(%{{.+}} = %[[ZEROS]]) -> (vector<8x32xf32>)
// INPLACE: vector.transfer_write {{.+}} : vector<8x32xf32>, tensor<8x32xf32>
// INPLACE: scf.for %{{.+}} = %c2 to %c6 step %c2 iter_args(%{{.+}} = %[[FIRST]]) -> (tensor<4x8x2x32xf32>)
// INPLACE: %[[ACC:.+]] = vector.transfer_read {{.+}} : tensor<8x32xf32>, vector<8x32xf32>
// INPLACE: scf.for {{.+}} iter_args(%{{.+}} = %[[ACC]]) -> (vector<8x32xf32>)
func.func @m_block_first_k_block(%arg0: memref<32x96xf32>, %arg1: memref<96x64xf32>, %arg2: memref<32x64xf32>) attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 32, pack_lhs = true, m_block = 16>, kiln.kernel, kiln.tile_count = 1 : i64} {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = bufferization.to_tensor %arg0 restrict : memref<32x96xf32> to tensor<32x96xf32>
  %1 = bufferization.to_tensor %arg1 restrict : memref<96x64xf32> to tensor<96x64xf32>
  %2 = bufferization.to_tensor %arg2 restrict writable : memref<32x64xf32> to tensor<32x64xf32>
  %3 = tensor.empty() : tensor<4x6x8x16xf32>
  %pack = linalg.pack %0 inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %3 : tensor<32x96xf32> -> tensor<4x6x8x16xf32>
  %4 = tensor.empty() : tensor<2x6x16x32xf32>
  %pack_0 = linalg.pack %1 outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 32] into %4 : tensor<96x64xf32> -> tensor<2x6x16x32xf32>
  %5 = tensor.empty() : tensor<4x2x8x32xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<4x2x8x32xf32>) -> tensor<4x2x8x32xf32>
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d5, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%pack, %pack_0 : tensor<4x6x8x16xf32>, tensor<2x6x16x32xf32>) outs(%6 : tensor<4x2x8x32xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.mulf %in, %in_1 fastmath<contract> : f32
    %9 = arith.addf %out, %8 fastmath<contract> : f32
    linalg.yield %9 : f32
  } -> tensor<4x2x8x32xf32>
  %unpack = linalg.unpack %7 inner_dims_pos = [0, 1] inner_tiles = [8, 32] into %2 : tensor<4x2x8x32xf32> -> tensor<32x64xf32>
  bufferization.materialize_in_destination %unpack in restrict writable %arg2 : (tensor<32x64xf32>, memref<32x64xf32>) -> ()
  return
}

// -----
// Panels that do not divide the result (48 columns, panels of 32) leave a
// narrower panel of the rest (16 columns): the whole panels accumulate in
// the result, the rest in a buffer of its own copied into the result at
// the end; each has its own rhs pack, and they share the k blocks, the m
// blocks and each m block's lhs pack.
// CHECK-LABEL: func.func @m_block_remainder_panel
// CHECK: %[[MAIN:.+]] = tensor.expand_shape %{{.+}} output_shape [4, 8, 1, 32] : tensor<32x32xf32> into tensor<4x8x1x32xf32>
// CHECK: %[[REST:.+]] = tensor.empty() : tensor<32x16xf32>
// CHECK: %[[TAIL:.+]] = tensor.expand_shape %[[REST]] {{.+}} output_shape [4, 8, 1, 16]
// CHECK-NOT: padding_value
// CHECK: scf.for {{.+}} -> (tensor<1x2x16x32xf32>)
// CHECK: scf.for {{.+}} -> (tensor<1x2x16x16xf32>)
// CHECK: %[[BLOCKS:.+]]:2 = scf.for {{.+}} iter_args(%{{.+}} = %[[MAIN]], %{{.+}} = %[[TAIL]]) -> (tensor<4x8x1x32xf32>, tensor<4x8x1x16xf32>)
// CHECK: tensor.empty() : tensor<2x2x8x16xf32>
// CHECK-NOT: tensor.empty() : tensor<2x2x8x16xf32>
// CHECK: vector.contract {{.+}} into vector<8x32xf32>
// CHECK-NOT: tensor.empty() : tensor<2x2x8x16xf32>
// CHECK: vector.contract {{.+}} into vector<8x16xf32>
// CHECK: %[[LAST:.+]]:2 = scf.for {{.+}} iter_args(%{{.+}} = %[[BLOCKS]]#0, %{{.+}} = %[[BLOCKS]]#1)
// CHECK: %[[WHOLE:.+]] = tensor.collapse_shape %[[LAST]]#0
// CHECK: %[[FIRST:.+]] = tensor.insert_slice %[[WHOLE]] into %{{.+}}[0, 0] [32, 32] [1, 1]
// CHECK: %[[NARROW:.+]] = tensor.collapse_shape %[[LAST]]#1
// CHECK: tensor.insert_slice %[[NARROW]] into %[[FIRST]][0, 32] [32, 16] [1, 1]
func.func @m_block_remainder_panel(%arg0: memref<32x64xf32>, %arg1: memref<64x48xf32>, %arg2: memref<32x48xf32>) attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 32, pack_lhs = true, m_block = 16>, kiln.kernel, kiln.tile_count = 1 : i64} {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = bufferization.to_tensor %arg0 restrict : memref<32x64xf32> to tensor<32x64xf32>
  %1 = bufferization.to_tensor %arg1 restrict : memref<64x48xf32> to tensor<64x48xf32>
  %2 = bufferization.to_tensor %arg2 restrict writable : memref<32x48xf32> to tensor<32x48xf32>
  %3 = tensor.empty() : tensor<4x4x8x16xf32>
  %pack = linalg.pack %0 inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %3 : tensor<32x64xf32> -> tensor<4x4x8x16xf32>
  %4 = tensor.empty() : tensor<2x4x16x32xf32>
  %pack_0 = linalg.pack %1 padding_value(%cst : f32) outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 32] into %4 : tensor<64x48xf32> -> tensor<2x4x16x32xf32>
  %5 = tensor.empty() : tensor<4x2x8x32xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<4x2x8x32xf32>) -> tensor<4x2x8x32xf32>
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d5, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%pack, %pack_0 : tensor<4x4x8x16xf32>, tensor<2x4x16x32xf32>) outs(%6 : tensor<4x2x8x32xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.mulf %in, %in_1 fastmath<contract> : f32
    %9 = arith.addf %out, %8 fastmath<contract> : f32
    linalg.yield %9 : f32
  } -> tensor<4x2x8x32xf32>
  %unpack = linalg.unpack %7 inner_dims_pos = [0, 1] inner_tiles = [8, 32] into %2 : tensor<4x2x8x32xf32> -> tensor<32x48xf32>
  bufferization.materialize_in_destination %unpack in restrict writable %arg2 : (tensor<32x48xf32>, memref<32x48xf32>) -> ()
  return
}

// -----
// A rest that is not whole vectors (8 columns) is padded to them: its rhs
// pack pads (a masked read, outside the k blocks), and only its first 8
// columns go into the result.
// CHECK-LABEL: func.func @m_block_padded_remainder_panel
// CHECK: scf.for {{.+}} -> (tensor<1x4x16x16xf32>)
// CHECK: vector.mask %{{.+}} { vector.transfer_read {{.+}} : tensor<16x8xf32>, vector<16x16xf32> }
// CHECK: tensor.empty() : tensor<32x16xf32>
// CHECK: vector.contract {{.+}} into vector<8x32xf32>
// CHECK: vector.contract {{.+}} into vector<8x16xf32>
// CHECK: %[[NARROW:.+]] = tensor.extract_slice %{{.+}}[0, 0] [32, 8] [1, 1] : tensor<32x16xf32> to tensor<32x8xf32>
// CHECK: %[[COLUMNS:.+]] = vector.transfer_read %[[NARROW]]
// CHECK: vector.transfer_write %[[COLUMNS]], %{{.+}}[%c0, %c32] {{.+}} : vector<32x8xf32>, tensor<32x40xf32>
func.func @m_block_padded_remainder_panel(%arg0: memref<32x64xf32>, %arg1: memref<64x40xf32>, %arg2: memref<32x40xf32>) attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 32, pack_lhs = true, m_block = 16>, kiln.kernel, kiln.tile_count = 1 : i64} {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = bufferization.to_tensor %arg0 restrict : memref<32x64xf32> to tensor<32x64xf32>
  %1 = bufferization.to_tensor %arg1 restrict : memref<64x40xf32> to tensor<64x40xf32>
  %2 = bufferization.to_tensor %arg2 restrict writable : memref<32x40xf32> to tensor<32x40xf32>
  %3 = tensor.empty() : tensor<4x4x8x16xf32>
  %pack = linalg.pack %0 inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %3 : tensor<32x64xf32> -> tensor<4x4x8x16xf32>
  %4 = tensor.empty() : tensor<2x4x16x32xf32>
  %pack_0 = linalg.pack %1 padding_value(%cst : f32) outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 32] into %4 : tensor<64x40xf32> -> tensor<2x4x16x32xf32>
  %5 = tensor.empty() : tensor<4x2x8x32xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<4x2x8x32xf32>) -> tensor<4x2x8x32xf32>
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d5, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%pack, %pack_0 : tensor<4x4x8x16xf32>, tensor<2x4x16x32xf32>) outs(%6 : tensor<4x2x8x32xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.mulf %in, %in_1 fastmath<contract> : f32
    %9 = arith.addf %out, %8 fastmath<contract> : f32
    linalg.yield %9 : f32
  } -> tensor<4x2x8x32xf32>
  %unpack = linalg.unpack %7 inner_dims_pos = [0, 1] inner_tiles = [8, 32] into %2 : tensor<4x2x8x32xf32> -> tensor<32x40xf32>
  bufferization.materialize_in_destination %unpack in restrict writable %arg2 : (tensor<32x40xf32>, memref<32x40xf32>) -> ()
  return
}

// -----
// A result narrower than one panel (24 columns, panels of 32) keeps the
// packed accumulator: no view of the result, the m blocks go through the
// packed buffer.
// CHECK-LABEL: func.func @m_block_partial_panels
// CHECK-NOT: tensor.expand_shape
// CHECK: %[[PACKED:.+]] = tensor.empty() : tensor<4x1x8x32xf32>
// CHECK: scf.for %{{.+}} = %c0 to %c4 step %c2 {{.+}} -> (tensor<4x1x8x32xf32>)
// CHECK: scf.for %{{.+}} = %c0 to %c4 step %c2 {{.+}} -> (tensor<4x1x8x32xf32>)
// CHECK-NOT: tensor.collapse_shape
// CHECK: return
func.func @m_block_partial_panels(%arg0: memref<32x64xf32>, %arg1: memref<64x24xf32>, %arg2: memref<32x24xf32>) attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 32, pack_lhs = true, m_block = 16>, kiln.kernel, kiln.tile_count = 1 : i64} {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = bufferization.to_tensor %arg0 restrict : memref<32x64xf32> to tensor<32x64xf32>
  %1 = bufferization.to_tensor %arg1 restrict : memref<64x24xf32> to tensor<64x24xf32>
  %2 = bufferization.to_tensor %arg2 restrict writable : memref<32x24xf32> to tensor<32x24xf32>
  %3 = tensor.empty() : tensor<4x4x8x16xf32>
  %pack = linalg.pack %0 inner_dims_pos = [0, 1] inner_tiles = [8, 16] into %3 : tensor<32x64xf32> -> tensor<4x4x8x16xf32>
  %4 = tensor.empty() : tensor<1x4x16x32xf32>
  %pack_0 = linalg.pack %1 padding_value(%cst : f32) outer_dims_perm = [1, 0] inner_dims_pos = [0, 1] inner_tiles = [16, 32] into %4 : tensor<64x24xf32> -> tensor<1x4x16x32xf32>
  %5 = tensor.empty() : tensor<4x1x8x32xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<4x1x8x32xf32>) -> tensor<4x1x8x32xf32>
  %7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d5, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4)>], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%pack, %pack_0 : tensor<4x4x8x16xf32>, tensor<1x4x16x32xf32>) outs(%6 : tensor<4x1x8x32xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.mulf %in, %in_1 fastmath<contract> : f32
    %9 = arith.addf %out, %8 fastmath<contract> : f32
    linalg.yield %9 : f32
  } -> tensor<4x1x8x32xf32>
  %unpack = linalg.unpack %7 inner_dims_pos = [0, 1] inner_tiles = [8, 32] into %2 : tensor<4x1x8x32xf32> -> tensor<32x24xf32>
  bufferization.materialize_in_destination %unpack in restrict writable %arg2 : (tensor<32x24xf32>, memref<32x24xf32>) -> ()
  return
}
