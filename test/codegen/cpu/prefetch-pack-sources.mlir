// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-prefetch-pack-sources))' --split-input-file | FileCheck %s

// A loop over k blocks of 16 packs its rhs block into two panels of 32
// columns, then runs one micro kernel per panel. Each micro kernel
// prefetches half of the 64 cache lines that the next k block's pack reads
// (2 panels x 16 rows x 2 lines; the last k block its own: min(kb + 16,
// 48)), at its start and into L2.
// CHECK-DAG: #[[$PANEL:.+]] = affine_map<(d0) -> (d0 * 32)>
// CHECK-DAG: #[[$ADD:.+]] = affine_map<(d0, d1) -> (d0 + d1)>
// CHECK-DAG: #[[$LINE_COL:.+]] = affine_map<(d0, d1) -> (d0 + d1 * 16)>
// CHECK-LABEL: func.func @next_k_block
// CHECK: scf.for %[[KB:.+]] = %c0 to %c64 step %c16
// CHECK: vector.transfer_read %arg1[%[[KB]],
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK: %[[FIRST:.+]] = affine.apply #[[$PANEL]](%[[P]])
// CHECK: %[[STEP:.+]] = arith.addi %[[KB]], %c16
// CHECK: %[[LAST:.+]] = arith.subi %c64, %c16
// CHECK: %[[NEXT:.+]] = arith.minsi %[[STEP]], %[[LAST]]
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %c32 step
// CHECK: %[[LINE:.+]] = arith.addi %[[FIRST]], %[[I]]
// CHECK: %[[CLAMPED:.+]] = arith.minsi %[[LINE]], %c63
// CHECK: %[[POS:.+]]:3 = affine.delinearize_index %[[CLAMPED]] into (2, 16, 2)
// CHECK: %[[COL:.+]] = affine.apply #[[$PANEL]](%{{.+}})
// CHECK: %[[ROW:.+]] = affine.apply #[[$ADD]](%[[NEXT]], %[[POS]]#1)
// CHECK: %[[LINE_START:.+]] = affine.apply #[[$LINE_COL]](%[[COL]], %[[POS]]#2)
// CHECK: memref.prefetch %arg1[%[[ROW]], %[[LINE_START]]], read, locality<2>, data
// CHECK: scf.for %{{.+}} = %c0 to %c16 step %c1 iter_args
// CHECK-NOT: memref.prefetch
// CHECK: return
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @next_k_block(%A: memref<8x64xf32>, %B: memref<64x64xf32>, %C: memref<8x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 16>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  scf.for %kb = %c0 to %c64 step %c16 {
    scf.for %p = %c0 to %c2 step %c1 {
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      %v = vector.transfer_read %B[%kb, %col], %pad {in_bounds = [true, true]} : memref<64x64xf32>, vector<16x32xf32>
      vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
        %ka = arith.addi %kb, %k : index
        %l = vector.transfer_read %A[%c0, %ka], %pad {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x1xf32>
        %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
        %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
        scf.yield %c : vector<8x32xf32>
      }
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      vector.transfer_write %sum, %C[%c0, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x64xf32>
    }
  }
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// The first k block peeled off the loop: its micro kernels prefetch for the
// loop's first iteration (kb = 16), the loop's for its next ones.
// CHECK-LABEL: func.func @peeled_first_k_block
// CHECK: vector.transfer_read %arg1[%c0,
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK: %[[POS:.+]]:3 = affine.delinearize_index
// CHECK: %[[ROW:.+]] = affine.apply #{{.+}}(%c16, %[[POS]]#1)
// CHECK: memref.prefetch %arg1[%[[ROW]], %{{.+}}], read, locality<2>, data
// CHECK: scf.for %[[KB:.+]] = %c16 to %c64 step %c16
// CHECK: vector.transfer_read %arg1[%[[KB]],
// CHECK: %[[STEP:.+]] = arith.addi %[[KB]], %c16
// CHECK: %[[NEXT:.+]] = arith.minsi %[[STEP]],
// CHECK: %[[POS2:.+]]:3 = affine.delinearize_index
// CHECK: %[[ROW2:.+]] = affine.apply #{{.+}}(%[[NEXT]], %[[POS2]]#1)
// CHECK: memref.prefetch %arg1[%[[ROW2]], %{{.+}}], read, locality<2>, data
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @peeled_first_k_block(%A: memref<8x64xf32>, %B: memref<64x64xf32>, %C: memref<8x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 16>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  scf.for %p = %c0 to %c2 step %c1 {
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    %v = vector.transfer_read %B[%c0, %col], %pad {in_bounds = [true, true]} : memref<64x64xf32>, vector<16x32xf32>
    vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
  }
  scf.for %p = %c0 to %c2 step %c1 {
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
      %l = vector.transfer_read %A[%c0, %k], %pad {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x1xf32>
      %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
      %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
      scf.yield %c : vector<8x32xf32>
    }
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    vector.transfer_write %sum, %C[%c0, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x64xf32>
  }
  scf.for %kb = %c16 to %c64 step %c16 {
    scf.for %p = %c0 to %c2 step %c1 {
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      %v = vector.transfer_read %B[%kb, %col], %pad {in_bounds = [true, true]} : memref<64x64xf32>, vector<16x32xf32>
      vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
        %ka = arith.addi %kb, %k : index
        %l = vector.transfer_read %A[%c0, %ka], %pad {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x1xf32>
        %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
        %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
        scf.yield %c : vector<8x32xf32>
      }
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      vector.transfer_write %sum, %C[%c0, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x64xf32>
    }
  }
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// Kernels whose config does not pack contractions are left alone.
// CHECK-LABEL: func.func @unpacked_config
// CHECK-NOT: memref.prefetch
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @unpacked_config(%A: memref<8x64xf32>, %B: memref<64x64xf32>, %C: memref<8x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = false>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  scf.for %kb = %c0 to %c64 step %c16 {
    scf.for %p = %c0 to %c2 step %c1 {
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      %v = vector.transfer_read %B[%kb, %col], %pad {in_bounds = [true, true]} : memref<64x64xf32>, vector<16x32xf32>
      vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
        %ka = arith.addi %kb, %k : index
        %l = vector.transfer_read %A[%c0, %ka], %pad {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x1xf32>
        %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
        %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
        scf.yield %c : vector<8x32xf32>
      }
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      vector.transfer_write %sum, %C[%c0, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x64xf32>
    }
  }
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// A copy from a temporary is no pack of an operand: left alone.
// CHECK-LABEL: func.func @temporary_source
// CHECK-NOT: memref.prefetch
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @temporary_source(%A: memref<8x64xf32>, %C: memref<8x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 16>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  %B = memref.alloc() : memref<64x64xf32>
  scf.for %kb = %c0 to %c64 step %c16 {
    scf.for %p = %c0 to %c2 step %c1 {
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      %v = vector.transfer_read %B[%kb, %col], %pad {in_bounds = [true, true]} : memref<64x64xf32>, vector<16x32xf32>
      vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
        %ka = arith.addi %kb, %k : index
        %l = vector.transfer_read %A[%c0, %ka], %pad {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x1xf32>
        %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
        %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
        scf.yield %c : vector<8x32xf32>
      }
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      vector.transfer_write %sum, %C[%c0, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x64xf32>
    }
  }
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// With pack_rhs_per_panel, the rhs block's pack moves into the first m
// block's panel loop: the first m block is peeled off its loop and inlined,
// each of its panels is packed right before its row groups' micro kernels,
// which prefetch the next panel's source (the last panel its own:
// min(p + 1, 1)) and the next m block's lhs (rows from 16). The other m
// blocks read the panels packed.
// CHECK-LABEL: func.func @rhs_per_panel
// CHECK-NOT: vector.transfer_read %arg1
// CHECK: vector.transfer_read %arg0[
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK-NEXT: %[[COL:.+]] = affine.apply #{{.+}}(%[[P]])
// CHECK-NEXT: %[[PANEL:.+]] = vector.transfer_read %arg1[%c0, %[[COL]]]
// CHECK-NEXT: vector.transfer_write %[[PANEL]], %{{.+}}[%[[P]], %c0, %c0]
// CHECK-NEXT: scf.for %{{.+}} = %c0 to %c2 step %c1
// CHECK: %[[STEP:.+]] = arith.addi %[[P]], %c1
// CHECK: %[[NEXT:.+]] = arith.minsi %[[STEP]],
// CHECK: affine.apply #{{.+}}(%[[NEXT]])
// CHECK: memref.prefetch %arg1
// CHECK: affine.apply #{{.+}}(%c16{{.*}}, %{{.+}})
// CHECK: memref.prefetch %arg0
// CHECK: vector.contract
// CHECK: scf.for %{{.+}} = %c16{{.*}} to %c32 step %c16
// CHECK-NOT: vector.transfer_read %arg1
// CHECK: memref.dealloc %{{.+}} : memref<2x16x32xf32>
// CHECK: return
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @rhs_per_panel(%A: memref<32x16xf32>, %B: memref<16x64xf32>, %C: memref<32x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 16, pack_rhs_per_panel = true>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  %rows = memref.alloc() : memref<2x8x16xf32>
  scf.for %p = %c0 to %c2 step %c1 {
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    %v = vector.transfer_read %B[%c0, %col], %pad {in_bounds = [true, true]} : memref<16x64xf32>, vector<16x32xf32>
    vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
  }
  scf.for %mb = %c0 to %c32 step %c16 {
    scf.for %g = %c0 to %c2 step %c1 {
      %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
      %v = vector.transfer_read %A[%row, %c0], %pad {in_bounds = [true, true]} : memref<32x16xf32>, vector<8x16xf32>
      vector.transfer_write %v, %rows[%g, %c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<2x8x16xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      scf.for %g = %c0 to %c2 step %c1 {
        %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
          %l = vector.transfer_read %rows[%g, %c0, %k], %pad {in_bounds = [true, true]} : memref<2x8x16xf32>, vector<8x1xf32>
          %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
          %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
          scf.yield %c : vector<8x32xf32>
        }
        %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
        %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
        vector.transfer_write %sum, %C[%row, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<32x64xf32>
      }
    }
  }
  memref.dealloc %rows : memref<2x8x16xf32>
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// With one m block of all the rows, no later m block reads the panels:
// each is packed right before its row groups into the same one panel's
// space, which the pack and the micro kernels index at panel 0.
// CHECK-LABEL: func.func @rhs_per_panel_one_m_block
// CHECK: %[[PANEL:.+]] = memref.alloc() : memref<1x16x32xf32>
// CHECK-NOT: memref<2x16x32xf32>
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK: vector.transfer_read %arg1[%c0,
// CHECK-NEXT: vector.transfer_write %{{.+}}, %[[PANEL]][%c0{{.*}}, %c0, %c0]
// CHECK: scf.for %{{.+}} = %c0 to %c4 step %c1
// CHECK: vector.transfer_read %[[PANEL]][%c0{{.*}}, %{{.+}}, %c0]
// CHECK: memref.dealloc %[[PANEL]] : memref<1x16x32xf32>
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @rhs_per_panel_one_m_block(%A: memref<32x16xf32>, %B: memref<16x64xf32>, %C: memref<32x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 32, pack_rhs_per_panel = true>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  %rows = memref.alloc() : memref<4x8x16xf32>
  scf.for %p = %c0 to %c2 step %c1 {
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    %v = vector.transfer_read %B[%c0, %col], %pad {in_bounds = [true, true]} : memref<16x64xf32>, vector<16x32xf32>
    vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
  }
  scf.for %g = %c0 to %c4 step %c1 {
    %row = affine.apply affine_map<(d0) -> (d0 * 8)>(%g)
    %v = vector.transfer_read %A[%row, %c0], %pad {in_bounds = [true, true]} : memref<32x16xf32>, vector<8x16xf32>
    vector.transfer_write %v, %rows[%g, %c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<4x8x16xf32>
  }
  scf.for %p = %c0 to %c2 step %c1 {
    scf.for %g = %c0 to %c4 step %c1 {
      %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
        %l = vector.transfer_read %rows[%g, %c0, %k], %pad {in_bounds = [true, true]} : memref<4x8x16xf32>, vector<8x1xf32>
        %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
        %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
        scf.yield %c : vector<8x32xf32>
      }
      %row = affine.apply affine_map<(d0) -> (d0 * 8)>(%g)
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      vector.transfer_write %sum, %C[%row, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<32x64xf32>
    }
  }
  memref.dealloc %rows : memref<4x8x16xf32>
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// Without it, the same kernel packs the rhs block whole before the m
// blocks, and no m block is peeled.
// CHECK-LABEL: func.func @rhs_whole
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK: vector.transfer_read %arg1[%c0,
// CHECK: scf.for %{{.+}} = %c0 to %c32 step %c16
// CHECK-NOT: vector.transfer_read %arg1
// CHECK: return
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @rhs_whole(%A: memref<32x16xf32>, %B: memref<16x64xf32>, %C: memref<32x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 16>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %pad = ub.poison : f32
  %zeros = arith.constant dense<0.0> : vector<8x32xf32>
  %panels = memref.alloc() : memref<2x16x32xf32>
  %rows = memref.alloc() : memref<2x8x16xf32>
  scf.for %p = %c0 to %c2 step %c1 {
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    %v = vector.transfer_read %B[%c0, %col], %pad {in_bounds = [true, true]} : memref<16x64xf32>, vector<16x32xf32>
    vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
  }
  scf.for %mb = %c0 to %c32 step %c16 {
    scf.for %g = %c0 to %c2 step %c1 {
      %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
      %v = vector.transfer_read %A[%row, %c0], %pad {in_bounds = [true, true]} : memref<32x16xf32>, vector<8x16xf32>
      vector.transfer_write %v, %rows[%g, %c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<2x8x16xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      scf.for %g = %c0 to %c2 step %c1 {
        %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %zeros) -> (vector<8x32xf32>) {
          %l = vector.transfer_read %rows[%g, %c0, %k], %pad {in_bounds = [true, true]} : memref<2x8x16xf32>, vector<8x1xf32>
          %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
          %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
          scf.yield %c : vector<8x32xf32>
        }
        %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
        %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
        vector.transfer_write %sum, %C[%row, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<32x64xf32>
      }
    }
  }
  memref.dealloc %rows : memref<2x8x16xf32>
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// A k block's rhs packed per panel: the micro kernels of its last panel
// prefetch the next k block's first panel (kb + 16, clamped, at column 0),
// the others the next panel of the same k block.
// CHECK-LABEL: func.func @rhs_per_panel_k_blocks
// CHECK: scf.for %[[KB:.+]] = %c0 to %c32 step %c16
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK: vector.transfer_read %arg1[%[[KB]],
// CHECK: %[[LAST:.+]] = arith.subi %c2, %c1
// CHECK: %[[IS_LAST:.+]] = arith.cmpi eq, %[[P]], %[[LAST]]
// CHECK: scf.if %[[IS_LAST]]
// CHECK: %[[STEP:.+]] = arith.addi %[[KB]], %c16
// CHECK: %[[NEXT_KB:.+]] = arith.minsi %[[STEP]],
// CHECK: %[[FIRST_COL:.+]] = affine.apply #{{.+}}(%c0)
// CHECK: %[[ROW:.+]] = affine.apply #{{.+}}(%[[NEXT_KB]],
// CHECK: %[[COL:.+]] = affine.apply #{{.+}}(%[[FIRST_COL]],
// CHECK: memref.prefetch %arg1[%[[ROW]], %[[COL]]]
// CHECK: } else {
// CHECK: %[[NEXT_P:.+]] = arith.minsi
// CHECK: affine.apply #{{.+}}(%[[NEXT_P]])
// CHECK: affine.apply #{{.+}}(%[[KB]],
// CHECK: memref.prefetch %arg1
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @rhs_per_panel_k_blocks(%A: memref<32x32xf32>, %B: memref<32x64xf32>, %C: memref<32x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 16, pack_lhs = true, m_block = 16, pack_rhs_per_panel = true>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %pad = ub.poison : f32
  %panels = memref.alloc() : memref<2x16x32xf32>
  %rows = memref.alloc() : memref<2x8x16xf32>
  scf.for %kb = %c0 to %c32 step %c16 {
    scf.for %p = %c0 to %c2 step %c1 {
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      %v = vector.transfer_read %B[%kb, %col], %pad {in_bounds = [true, true]} : memref<32x64xf32>, vector<16x32xf32>
      vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
    }
    scf.for %mb = %c0 to %c32 step %c16 {
      scf.for %g = %c0 to %c2 step %c1 {
        %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
        %v = vector.transfer_read %A[%row, %kb], %pad {in_bounds = [true, true]} : memref<32x32xf32>, vector<8x16xf32>
        vector.transfer_write %v, %rows[%g, %c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<2x8x16xf32>
      }
      scf.for %p = %c0 to %c2 step %c1 {
        scf.for %g = %c0 to %c2 step %c1 {
          %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
          %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
          %init = vector.transfer_read %C[%row, %col], %pad {in_bounds = [true, true]} : memref<32x64xf32>, vector<8x32xf32>
          %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %init) -> (vector<8x32xf32>) {
            %l = vector.transfer_read %rows[%g, %c0, %k], %pad {in_bounds = [true, true]} : memref<2x8x16xf32>, vector<8x1xf32>
            %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
            %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
            scf.yield %c : vector<8x32xf32>
          }
          vector.transfer_write %sum, %C[%row, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<32x64xf32>
        }
      }
    }
  }
  memref.dealloc %rows : memref<2x8x16xf32>
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}

// -----

// The first k block peeled off the loop: its last panel's micro kernels
// prefetch the loop's first k block's first panel (rows from 16, column 0).
// CHECK-LABEL: func.func @rhs_per_panel_peeled_k_block
// CHECK: scf.for %[[P:.+]] = %c0 to %c2 step %c1
// CHECK: vector.transfer_read %arg1[%c0,
// CHECK: scf.if
// CHECK: %[[FIRST_COL:.+]] = affine.apply #{{.+}}(%c0)
// CHECK: %[[ROW:.+]] = affine.apply #{{.+}}(%c16, %{{.+}})
// CHECK: %[[COL:.+]] = affine.apply #{{.+}}(%[[FIRST_COL]],
// CHECK: memref.prefetch %arg1[%[[ROW]], %[[COL]]]
// CHECK: } else {
// CHECK: scf.for %[[KB:.+]] = %c16 to %c32 step %c16
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @rhs_per_panel_peeled_k_block(%A: memref<32x32xf32>, %B: memref<32x64xf32>, %C: memref<32x64xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 16, pack_lhs = true, m_block = 16, pack_rhs_per_panel = true>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %pad = ub.poison : f32
  %panels = memref.alloc() : memref<2x16x32xf32>
  %rows = memref.alloc() : memref<2x8x16xf32>
  scf.for %p = %c0 to %c2 step %c1 {
    %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
    %v = vector.transfer_read %B[%c0, %col], %pad {in_bounds = [true, true]} : memref<32x64xf32>, vector<16x32xf32>
    vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
  }
  scf.for %mb = %c0 to %c32 step %c16 {
    scf.for %g = %c0 to %c2 step %c1 {
      %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
      %v = vector.transfer_read %A[%row, %c0], %pad {in_bounds = [true, true]} : memref<32x32xf32>, vector<8x16xf32>
      vector.transfer_write %v, %rows[%g, %c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<2x8x16xf32>
    }
    scf.for %p = %c0 to %c2 step %c1 {
      scf.for %g = %c0 to %c2 step %c1 {
        %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
        %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
        %init = vector.transfer_read %C[%row, %col], %pad {in_bounds = [true, true]} : memref<32x64xf32>, vector<8x32xf32>
        %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %init) -> (vector<8x32xf32>) {
          %l = vector.transfer_read %rows[%g, %c0, %k], %pad {in_bounds = [true, true]} : memref<2x8x16xf32>, vector<8x1xf32>
          %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
          %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
          scf.yield %c : vector<8x32xf32>
        }
        vector.transfer_write %sum, %C[%row, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<32x64xf32>
      }
    }
  }
  scf.for %kb = %c16 to %c32 step %c16 {
    scf.for %p = %c0 to %c2 step %c1 {
      %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
      %v = vector.transfer_read %B[%kb, %col], %pad {in_bounds = [true, true]} : memref<32x64xf32>, vector<16x32xf32>
      vector.transfer_write %v, %panels[%p, %c0, %c0] {in_bounds = [true, true]} : vector<16x32xf32>, memref<2x16x32xf32>
    }
    scf.for %mb = %c0 to %c32 step %c16 {
      scf.for %g = %c0 to %c2 step %c1 {
        %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
        %v = vector.transfer_read %A[%row, %kb], %pad {in_bounds = [true, true]} : memref<32x32xf32>, vector<8x16xf32>
        vector.transfer_write %v, %rows[%g, %c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<2x8x16xf32>
      }
      scf.for %p = %c0 to %c2 step %c1 {
        scf.for %g = %c0 to %c2 step %c1 {
          %row = affine.apply affine_map<(d0, d1) -> (d0 + d1 * 8)>(%mb, %g)
          %col = affine.apply affine_map<(d0) -> (d0 * 32)>(%p)
          %init = vector.transfer_read %C[%row, %col], %pad {in_bounds = [true, true]} : memref<32x64xf32>, vector<8x32xf32>
          %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%a = %init) -> (vector<8x32xf32>) {
            %l = vector.transfer_read %rows[%g, %c0, %k], %pad {in_bounds = [true, true]} : memref<2x8x16xf32>, vector<8x1xf32>
            %r = vector.transfer_read %panels[%p, %k, %c0], %pad {in_bounds = [true, true]} : memref<2x16x32xf32>, vector<1x32xf32>
            %c = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %l, %r, %a : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
            scf.yield %c : vector<8x32xf32>
          }
          vector.transfer_write %sum, %C[%row, %col] {in_bounds = [true, true]} : vector<8x32xf32>, memref<32x64xf32>
        }
      }
    }
  }
  memref.dealloc %rows : memref<2x8x16xf32>
  memref.dealloc %panels : memref<2x16x32xf32>
  return
}
