// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-prefetch-accumulators))' --split-input-file | FileCheck %s

// An 8 x 32 accumulator read from the result in place, in a loop over row
// groups of 8: each micro kernel prefetches for writing the 16 cache lines
// of the next group's tile (the two lines of each of its 8 rows; the last
// group its own: min(r + 8, 56)), two lines per iteration in the second
// half of its k loop (iterations 8 to 15; the first half's lines are
// negative, out of range).
// CHECK-DAG: #[[$FIRST:.+]] = affine_map<(d0) -> ((d0 - 8) * 2)>
// CHECK-DAG: #[[$SECOND:.+]] = affine_map<(d0) -> ((d0 - 8) * 2 + 1)>
// CHECK-DAG: #[[$ADD:.+]] = affine_map<(d0, d1) -> (d0 + d1)>
// CHECK-DAG: #[[$LINE_COL:.+]] = affine_map<(d0, d1) -> (d0 + d1 * 16)>
// CHECK-LABEL: func.func @next_row_group
// CHECK: scf.for %[[R:.+]] = %c0 to %c64 step %c8
// CHECK: %[[ACC:.+]] = vector.transfer_read %arg0[%[[R]], %c0]
// CHECK: %[[STEP:.+]] = arith.addi %[[R]], %c8
// CHECK: %[[LAST:.+]] = arith.subi %c64, %c8
// CHECK: %[[NEXT:.+]] = arith.minsi %[[STEP]], %[[LAST]]
// CHECK-NOT: memref.prefetch
// CHECK: scf.for %[[K:.+]] = %c0 to %c16 step %c1 iter_args(%{{.+}} = %[[ACC]])
// CHECK: %[[LINE:.+]] = affine.apply #[[$FIRST]](%[[K]])
// CHECK: %[[IN_RANGE:.+]] = arith.cmpi ult, %[[LINE]], %{{.+}}
// CHECK: scf.if %[[IN_RANGE]] {
// CHECK: %[[POS:.+]]:2 = affine.delinearize_index %[[LINE]] into (8, 2)
// CHECK: %[[ROW:.+]] = affine.apply #[[$ADD]](%[[NEXT]], %[[POS]]#0)
// CHECK: %[[COL:.+]] = affine.apply #[[$LINE_COL]](%c0, %[[POS]]#1)
// CHECK: memref.prefetch %arg0[%[[ROW]], %[[COL]]], write, locality<3>, data
// CHECK: %[[LINE2:.+]] = affine.apply #[[$SECOND]](%[[K]])
// CHECK: arith.cmpi ult, %[[LINE2]], %{{.+}}
// CHECK: affine.delinearize_index %[[LINE2]] into (8, 2)
// CHECK: memref.prefetch %arg0
// CHECK-NOT: memref.prefetch
// CHECK: arith.addf
func.func @next_row_group(%C: memref<64x32xf32>, %A: memref<64x16xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %acc = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}

// -----

// The first k block's micro kernels start from zeros and only write their
// tiles: they prefetch the next tile's lines all the same.
// CHECK-LABEL: func.func @write_only_accumulator
// CHECK: scf.for %[[R:.+]] = %c0 to %c64 step %c8
// CHECK: %[[NEXT:.+]] = arith.minsi
// CHECK: scf.for %[[K:.+]] = %c0 to %c16 step %c1 iter_args(%{{.+}} = %cst)
// CHECK: %[[POS:.+]]:2 = affine.delinearize_index %{{.+}} into (8, 2)
// CHECK: %[[ROW:.+]] = affine.apply #{{.+}}(%[[NEXT]], %[[POS]]#0)
// CHECK: memref.prefetch %arg0[%[[ROW]], %{{.+}}], write, locality<3>, data
// CHECK: memref.prefetch %arg0[%{{.+}}, %{{.+}}], write, locality<3>, data
// CHECK-NOT: memref.prefetch
// CHECK: arith.addf
func.func @write_only_accumulator(%C: memref<64x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  scf.for %r = %c0 to %c64 step %c8 {
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}

// -----

// Row groups in a loop over panels: after a panel's last row group comes
// the next panel's first, whose column (computed in the panel loop) is
// computed again from the next panel; the last panel is its own next.
// CHECK-DAG: #[[$PANEL_COL:.+]] = affine_map<(d0) -> (d0 * 32)>
// CHECK-DAG: #[[$ADD:.+]] = affine_map<(d0, d1) -> (d0 + d1)>
// CHECK-DAG: #[[$LINE_COL:.+]] = affine_map<(d0, d1) -> (d0 + d1 * 16)>
// CHECK-LABEL: func.func @next_panel_first_row_group
// CHECK: scf.for %[[P:.+]] = %c0 to %c4 step %c1
// CHECK: scf.for %[[R:.+]] = %c0 to %c64 step %c8
// CHECK: %[[STEP:.+]] = arith.addi %[[R]], %c8
// CHECK: %[[IN_PANEL:.+]] = arith.cmpi slt, %[[STEP]], %c64
// CHECK: %[[NEXT_ROW:.+]] = arith.select %[[IN_PANEL]], %[[STEP]], %c0
// CHECK: %[[PANEL_STEP:.+]] = arith.addi %[[P]], %c1
// CHECK: %[[LAST_PANEL:.+]] = arith.subi %c4, %c1
// CHECK: %[[STEPPED_PANEL:.+]] = arith.minsi %[[PANEL_STEP]], %[[LAST_PANEL]]
// CHECK: %[[NEXT_PANEL:.+]] = arith.select %[[IN_PANEL]], %[[P]], %[[STEPPED_PANEL]]
// CHECK: %[[NEXT_COL:.+]] = affine.apply #[[$PANEL_COL]](%[[NEXT_PANEL]])
// CHECK: scf.for
// CHECK: %[[POS:.+]]:2 = affine.delinearize_index %{{.+}} into (8, 2)
// CHECK: %[[ROW:.+]] = affine.apply #[[$ADD]](%[[NEXT_ROW]], %[[POS]]#0)
// CHECK: %[[COL:.+]] = affine.apply #[[$LINE_COL]](%[[NEXT_COL]], %[[POS]]#1)
// CHECK: memref.prefetch %arg0[%[[ROW]], %[[COL]]], write, locality<3>, data
func.func @next_panel_first_row_group(%C: memref<64x128xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %p = %c0 to %c4 step %c1 {
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    scf.for %r = %c0 to %c64 step %c8 {
      %acc = vector.transfer_read %C[%r, %col], %pad {in_bounds = [true, true]} : memref<64x128xf32>, vector<8x32xf32>
      %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
        %next = arith.addf %a, %a : vector<8x32xf32>
        scf.yield %next : vector<8x32xf32>
      }
      vector.transfer_write %sum, %C[%r, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x128xf32>
    }
  }
  return
}

// -----

// The row index computed in the loop is computed again for the next
// iteration, through a view of the result.
// CHECK-LABEL: func.func @computed_row_of_view
// CHECK: scf.for %[[G:.+]] = %c0 to %c4 step %c1
// CHECK: %[[NEXT:.+]] = arith.minsi
// CHECK: %[[ROW:.+]] = affine.apply #{{.+}}(%[[NEXT]])[%arg2]
// CHECK: scf.for
// CHECK: %[[POS:.+]]:2 = affine.delinearize_index %{{.+}} into (8, 2)
// CHECK: %[[LINE_ROW:.+]] = affine.apply #{{.+}}(%c0, %[[POS]]#0)
// CHECK: memref.prefetch %{{.+}}[%[[ROW]], %[[LINE_ROW]], %c0, %{{.+}}], write
// CHECK: memref.prefetch %{{.+}}[%[[ROW]], %{{.+}}, %c0, %{{.+}}], write
// CHECK-NOT: memref.prefetch
// CHECK: arith.addf
func.func @computed_row_of_view(%C: memref<64x32xf32>, %A: memref<64x16xf32>, %base: index) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 32>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %pad = ub.poison : f32
  %view = memref.expand_shape %C [[0, 1], [2, 3]] output_shape [8, 8, 1, 32] : memref<64x32xf32> into memref<8x8x1x32xf32>
  scf.for %g = %c0 to %c4 step %c1 {
    %row = affine.apply affine_map<(d0)[s0] -> (d0 + s0)>(%g)[%base]
    %acc = vector.transfer_read %view[%row, %c0, %c0, %c0], %pad {in_bounds = [true, true], permutation_map = affine_map<(d0, d1, d2, d3) -> (d1, d3)>} : memref<8x8x1x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %view[%row, %c0, %c0, %c0] {in_bounds = [true, true], permutation_map = affine_map<(d0, d1, d2, d3) -> (d1, d3)>} : vector<8x32xf32>, memref<8x8x1x32xf32>
  }
  return
}

// -----

// A k loop of 8 iterations prefetches four of the 16 lines per iteration
// of its second half.
// CHECK-DAG: #[[$FOURTH:.+]] = affine_map<(d0) -> ((d0 - 4) * 4 + 3)>
// CHECK-LABEL: func.func @four_lines_per_iteration
// CHECK: scf.for %[[K:.+]] = %c0 to %c8 step %c1
// CHECK-COUNT-3: memref.prefetch
// CHECK: %[[FOURTH_LINE:.+]] = affine.apply #[[$FOURTH]](%[[K]])
// CHECK: affine.delinearize_index %[[FOURTH_LINE]] into (8, 2)
// CHECK: memref.prefetch
// CHECK-NOT: memref.prefetch
// CHECK: arith.addf
func.func @four_lines_per_iteration(%C: memref<64x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %acc = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c8 step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}

// -----

// A k loop of 32 iterations (from 4, step 2) prefetches line
// (k - 4) / 2 - 16 in iterations 16 to 31, and nothing before.
// CHECK-DAG: #[[$ITERATION:.+]] = affine_map<(d0) -> (d0 floordiv 2 - 18)>
// CHECK-LABEL: func.func @more_iterations_than_lines
// CHECK: scf.for %[[K:.+]] = %c4 to %c68 step %c2
// CHECK: %[[LINE:.+]] = affine.apply #[[$ITERATION]](%[[K]])
// CHECK: %[[IN_RANGE:.+]] = arith.cmpi ult, %[[LINE]], %c16
// CHECK: scf.if %[[IN_RANGE]] {
// CHECK-NEXT: affine.delinearize_index %[[LINE]] into (8, 2)
// CHECK: memref.prefetch
// CHECK-NOT: memref.prefetch
// CHECK: arith.addf
func.func @more_iterations_than_lines(%C: memref<64x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %c68 = arith.constant 68 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %acc = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c4 to %c68 step %c2 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}

// -----

// A k loop without a static trip count: all 16 lines before it.
// CHECK-LABEL: func.func @dynamic_k_loop
// CHECK: scf.for
// CHECK-COUNT-16: memref.prefetch
// CHECK-NOT: memref.prefetch
// CHECK: scf.for %{{.+}} = %c0 to %arg1 step %c1
func.func @dynamic_k_loop(%C: memref<64x32xf32>, %depth: index) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %acc = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %depth step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}

// -----

// An accumulator in a temporary buffer (a packed tile) is no result in
// place, and a kernel without m blocks is left alone.
// CHECK-LABEL: func.func @negative_temporary_and_no_m_block
// CHECK-NOT: memref.prefetch
func.func @negative_temporary_and_no_m_block(%C: memref<64x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 64>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  %tmp = memref.alloc() : memref<64x32xf32>
  scf.for %r = %c0 to %c64 step %c8 {
    %acc = vector.transfer_read %tmp[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c8 step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %tmp[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  memref.copy %tmp, %C : memref<64x32xf32> to memref<64x32xf32>
  memref.dealloc %tmp : memref<64x32xf32>
  return
}

// CHECK-LABEL: func.func @negative_no_m_block
// CHECK-NOT: memref.prefetch
func.func @negative_no_m_block(%C: memref<64x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %acc = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c8 step %c1 iter_args(%a = %acc) -> (vector<8x32xf32>) {
      %next = arith.addf %a, %a : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}
