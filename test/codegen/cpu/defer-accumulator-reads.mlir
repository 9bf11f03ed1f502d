// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-defer-accumulator-reads))' --split-input-file | FileCheck %s

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>

// A micro kernel accumulating into the result in place, through two k
// loops (k tiles and k within a tile): its k loops start from zeros, and
// the tile, read after them, is added to their sum before the write.
// CHECK-LABEL: func.func @deferred_read
// CHECK: scf.for %[[R:.+]] = %c0 to %c64 step %c8
// CHECK-NOT: vector.transfer_read %arg0
// CHECK: %[[ZEROS:.+]] = arith.constant dense<0.000000e+00> : vector<8x32xf32>
// CHECK: %[[SUM:.+]] = scf.for %{{.+}} = %c0 to %c4 step %c1 iter_args(%{{.+}} = %[[ZEROS]])
// CHECK: scf.for
// CHECK: vector.contract
// CHECK: %[[TILE:.+]] = vector.transfer_read %arg0[%[[R]], %c0]
// CHECK: %[[TOTAL:.+]] = arith.addf %[[TILE]], %[[SUM]] : vector<8x32xf32>
// CHECK: vector.transfer_write %[[TOTAL]], %arg0[%[[R]], %c0]
func.func @deferred_read(%C: memref<64x32xf32>, %A: memref<8x64xf32>, %B: memref<64x32xf32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %tile = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %kt = %c0 to %c4 step %c1 iter_args(%outer = %tile) -> (vector<8x32xf32>) {
      %inner = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %outer) -> (vector<8x32xf32>) {
        %a = vector.transfer_read %A[%c0, %k], %pad {in_bounds = [true, true]} : memref<8x64xf32>, vector<8x1xf32>
        %b = vector.transfer_read %B[%k, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<1x32xf32>
        %next = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %acc : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
        scf.yield %next : vector<8x32xf32>
      }
      scf.yield %inner : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}

// -----

#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#acc = affine_map<(d0, d1, d2) -> (d0, d1)>

// An integer accumulator gets an integer addition; prefetches in the k loop
// do not count as writes.
// CHECK-LABEL: func.func @integer_accumulator_with_prefetch
// CHECK: %[[SUM:.+]] = scf.for
// CHECK: memref.prefetch
// CHECK: %[[TILE:.+]] = vector.transfer_read %arg0
// CHECK: arith.addi %[[TILE]], %[[SUM]] : vector<8x32xi32>
func.func @integer_accumulator_with_prefetch(%C: memref<64x32xi32>, %A: memref<8x16xi32>, %B: memref<16x32xi32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0 : i32
  scf.for %r = %c0 to %c64 step %c8 {
    %tile = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xi32>, vector<8x32xi32>
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %tile) -> (vector<8x32xi32>) {
      memref.prefetch %C[%r, %k], write, locality<3>, data : memref<64x32xi32>
      %a = vector.transfer_read %A[%c0, %k], %pad {in_bounds = [true, true]} : memref<8x16xi32>, vector<8x1xi32>
      %b = vector.transfer_read %B[%k, %c0], %pad {in_bounds = [true, true]} : memref<16x32xi32>, vector<1x32xi32>
      %next = vector.contract {indexing_maps = [#lhs, #rhs, #acc], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %acc : vector<8x1xi32>, vector<1x32xi32> into vector<8x32xi32>
      scf.yield %next : vector<8x32xi32>
    }
    vector.transfer_write %sum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xi32>, memref<64x32xi32>
  }
  return
}

// -----

// Left alone: a k loop that starts from a constant (the first k block's),
// one whose iterations do more than add to it (a maximum), one that reads
// another tile than it writes, one that writes memory, one followed by a
// store before its write (the tile read after it would see the store),
// and one whose tile is read outside the loop around its write (read after
// it, the tile would be read once per write).
// CHECK-LABEL: func.func @negative
// CHECK-NOT: arith.constant dense<0.000000e+00>
// CHECK: return
func.func @negative(%C: memref<64x32xf32>, %other: memref<64x32xf32>, %zeros: vector<8x32xf32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %pad = ub.poison : f32
  scf.for %r = %c0 to %c64 step %c8 {
    %from_constant = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %zeros) -> (vector<8x32xf32>) {
      %next = arith.mulf %acc, %acc : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %from_constant, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
    %tile = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %maximum = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %tile) -> (vector<8x32xf32>) {
      %next = arith.maximumf %acc, %zeros : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %maximum, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
    %next_rows = arith.addi %r, %c8 : index
    %shifted = vector.transfer_read %C[%next_rows, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %elsewhere = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %shifted) -> (vector<8x32xf32>) {
      %next = arith.addf %acc, %zeros : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %elsewhere, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
    %again = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %writing = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %again) -> (vector<8x32xf32>) {
      vector.transfer_write %zeros, %other[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
      %next = arith.addf %acc, %zeros : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %writing, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
    %before_store = vector.transfer_read %C[%r, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
    %stored_over = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %before_store) -> (vector<8x32xf32>) {
      %next = arith.addf %acc, %zeros : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %zeros, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
    vector.transfer_write %stored_over, %C[%r, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  %once = vector.transfer_read %C[%c0, %c0], %pad {in_bounds = [true, true]} : memref<64x32xf32>, vector<8x32xf32>
  scf.for %r = %c0 to %c64 step %c8 {
    %outside = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %once) -> (vector<8x32xf32>) {
      %next = arith.addf %acc, %zeros : vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %outside, %C[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<64x32xf32>
  }
  return
}
