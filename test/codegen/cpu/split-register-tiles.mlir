// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-split-register-tiles))' --split-input-file | FileCheck %s

// A 2 x 48 register tile with vector_width 16: read as six rows of 16,
// carried through both k loops as six iter args, and accumulated k step by
// k step, row by row: each row's lhs element (one read) feeds that row's
// three contractions, one per rhs vector.
// CHECK-LABEL: func.func @rows_of_a_tile
// CHECK-COUNT-6: vector.transfer_read %arg0{{.+}} : memref<2x48xf32>, vector<1x16xf32>
// CHECK: %[[OUTER:.+]]:6 = scf.for {{.+}} iter_args({{.+}}) -> (vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>)
// CHECK: %[[INNER:.+]]:6 = scf.for {{.+}} iter_args(%[[A0:.+]] = %{{.+}}, %[[A1:.+]] = %{{.+}}, %[[A2:.+]] = %{{.+}}, %[[A3:.+]] = %{{.+}}, %[[A4:.+]] = %{{.+}}, %[[A5:.+]] = %{{.+}})
// CHECK-DAG: %[[L0:.+]] = vector.transfer_read %arg1[%c0, %{{.+}}]{{.+}} : memref<2x64xf32>, vector<1x1xf32>
// CHECK-DAG: %[[L1:.+]] = vector.transfer_read %arg1[%c1, %{{.+}}]{{.+}} : memref<2x64xf32>, vector<1x1xf32>
// CHECK-DAG: %[[R0:.+]] = vector.transfer_read %arg2[%{{.+}}, %c0]{{.+}} : memref<64x48xf32>, vector<1x16xf32>
// CHECK-DAG: %[[R1:.+]] = vector.transfer_read %arg2[%{{.+}}, %c16]{{.+}} : memref<64x48xf32>, vector<1x16xf32>
// CHECK-DAG: %[[R2:.+]] = vector.transfer_read %arg2[%{{.+}}, %c32]{{.+}} : memref<64x48xf32>, vector<1x16xf32>
// CHECK: %[[C0:.+]] = vector.contract {{.+}} %[[L0]], %[[R0]], %[[A0]] : vector<1x1xf32>, vector<1x16xf32> into vector<1x16xf32>
// CHECK: %[[C1:.+]] = vector.contract {{.+}} %[[L0]], %[[R1]], %[[A1]]
// CHECK: %[[C2:.+]] = vector.contract {{.+}} %[[L0]], %[[R2]], %[[A2]]
// CHECK: %[[C3:.+]] = vector.contract {{.+}} %[[L1]], %[[R0]], %[[A3]]
// CHECK: %[[C4:.+]] = vector.contract {{.+}} %[[L1]], %[[R1]], %[[A4]]
// CHECK: %[[C5:.+]] = vector.contract {{.+}} %[[L1]], %[[R2]], %[[A5]]
// CHECK: scf.yield %[[C0]], %[[C1]], %[[C2]], %[[C3]], %[[C4]], %[[C5]]
// CHECK: scf.yield %[[INNER]]#0, %[[INNER]]#1, %[[INNER]]#2, %[[INNER]]#3, %[[INNER]]#4, %[[INNER]]#5
// CHECK: vector.transfer_write %[[OUTER]]#0, %arg0[%c0, %c0]
// CHECK: vector.transfer_write %[[OUTER]]#1, %arg0[%c0, %c16]
// CHECK: vector.transfer_write %[[OUTER]]#2, %arg0[%c0, %c32]
// CHECK: vector.transfer_write %[[OUTER]]#3, %arg0[%c1, %c0]
// CHECK: vector.transfer_write %[[OUTER]]#4, %arg0[%c1, %c16]
// CHECK: vector.transfer_write %[[OUTER]]#5, %arg0[%c1, %c32]
// CHECK-NOT: vector<2x48xf32>
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (k, n)>
#acc = affine_map<(m, n, k) -> (m, n)>
func.func @rows_of_a_tile(%C: memref<2x48xf32>, %A: memref<2x64xf32>, %B: memref<64x48xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [2, 48, 1]>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %pad = ub.poison : f32
  %init = vector.transfer_read %C[%c0, %c0], %pad {in_bounds = [true, true]} : memref<2x48xf32>, vector<2x48xf32>
  %sum = scf.for %kb = %c0 to %c4 step %c1 iter_args(%outer = %init) -> (vector<2x48xf32>) {
    %block = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %outer) -> (vector<2x48xf32>) {
      %kk = affine.apply affine_map<(d0, d1) -> (d0 * 16 + d1)>(%kb, %k)
      %a = vector.transfer_read %A[%c0, %kk], %pad {in_bounds = [true, true]} : memref<2x64xf32>, vector<2x1xf32>
      %b = vector.transfer_read %B[%kk, %c0], %pad {in_bounds = [true, true]} : memref<64x48xf32>, vector<1x48xf32>
      %next = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %acc : vector<2x1xf32>, vector<1x48xf32> into vector<2x48xf32>
      scf.yield %next : vector<2x48xf32>
    }
    scf.yield %block : vector<2x48xf32>
  }
  vector.transfer_write %sum, %C[%c0, %c0] {in_bounds = [true, true]} : vector<2x48xf32>, memref<2x48xf32>
  return
}

// -----

// A tile that starts from zeros (the first k block of an in-place matmul):
// each row starts from its own zero constant.
// CHECK-LABEL: func.func @tile_from_zeros
// CHECK: %[[ZERO:.+]] = arith.constant dense<0.000000e+00> : vector<1x16xf32>
// CHECK: scf.for {{.+}} iter_args({{.+}} = %[[ZERO]], {{.+}} = %[[ZERO]], {{.+}} = %[[ZERO]], {{.+}} = %[[ZERO]]) -> (vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>)
// CHECK-COUNT-4: vector.transfer_write {{.+}} : vector<1x16xf32>, memref<2x32xf32>
func.func @tile_from_zeros(%C: memref<2x32xf32>, %A: memref<2x16xf32>, %B: memref<16x32xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [2, 32, 1]>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %pad = ub.poison : f32
  %zero = arith.constant dense<0.0> : vector<2x32xf32>
  %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %zero) -> (vector<2x32xf32>) {
    %a = vector.transfer_read %A[%c0, %k], %pad {in_bounds = [true, true]} : memref<2x16xf32>, vector<2x1xf32>
    %b = vector.transfer_read %B[%k, %c0], %pad {in_bounds = [true, true]} : memref<16x32xf32>, vector<1x32xf32>
    %next = vector.contract {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %acc : vector<2x1xf32>, vector<1x32xf32> into vector<2x32xf32>
    scf.yield %next : vector<2x32xf32>
  }
  vector.transfer_write %sum, %C[%c0, %c0] {in_bounds = [true, true]} : vector<2x32xf32>, memref<2x32xf32>
  return
}

// -----

// A row of one vector (a partial micro tile's row) is already a register:
// the kernel is left as it is.
// CHECK-LABEL: func.func @one_vector_row
// CHECK: scf.for {{.+}} -> (vector<1x16xf32>)
// CHECK: vector.contract {{.+}} : vector<1x1xf32>, vector<1x16xf32> into vector<1x16xf32>
func.func @one_vector_row(%C: memref<1x16xf32>, %A: memref<1x16xf32>, %B: memref<16x16xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 16, micro_tile = [1, 16, 1]>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %pad = ub.poison : f32
  %init = vector.transfer_read %C[%c0, %c0], %pad {in_bounds = [true, true]} : memref<1x16xf32>, vector<1x16xf32>
  %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %init) -> (vector<1x16xf32>) {
    %a = vector.transfer_read %A[%c0, %k], %pad {in_bounds = [true, true]} : memref<1x16xf32>, vector<1x1xf32>
    %b = vector.transfer_read %B[%k, %c0], %pad {in_bounds = [true, true]} : memref<16x16xf32>, vector<1x16xf32>
    %next = vector.contract {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %acc : vector<1x1xf32>, vector<1x16xf32> into vector<1x16xf32>
    scf.yield %next : vector<1x16xf32>
  }
  vector.transfer_write %sum, %C[%c0, %c0] {in_bounds = [true, true]} : vector<1x16xf32>, memref<1x16xf32>
  return
}
