// RUN: kiln-opt %s --kiln-cpu-lower-buffers | FileCheck %s
// RUN: kiln-opt %s --kiln-cpu-lower-buffers | FileCheck %s --check-prefix=NONE

// The last stage of kiln-cpu-lower-kernel on its own: a kernel on buffers
// (a tile loop, a vector contraction accumulated in registers, a prefetch)
// leaves as the LLVM dialect with its C entry point; the contraction is
// lowered to FMAs of whole vectors.
// CHECK-LABEL: llvm.func internal @k.body
// CHECK: llvm.intr.prefetch
// CHECK: llvm.intr.fmuladd
// CHECK-SAME: vector<16xf32>
// CHECK-LABEL: llvm.func @k
// CHECK-SAME: kiln.kernel, kiln.num_buffers = 3 : i64
// CHECK: llvm.call @k.body
// Nothing above the LLVM dialect is left anywhere.
// NONE-NOT: vector.contract
// NONE-NOT: scf.for
// NONE-NOT: memref.
func.func @k(%a: memref<8x4xf32>, %b: memref<4x16xf32>, %c: memref<8x16xf32>, %begin: index, %end: index) attributes {kiln.kernel, kiln.tile_count = 1 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  scf.for %t = %begin to %end step %c1 {
    memref.prefetch %c[%c0, %c0], write, locality<3>, data : memref<8x16xf32>
    %init = vector.transfer_read %c[%c0, %c0], %zero {in_bounds = [true, true]} : memref<8x16xf32>, vector<8x16xf32>
    %sum = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc = %init) -> (vector<8x16xf32>) {
      %lhs = vector.transfer_read %a[%c0, %k], %zero {in_bounds = [true, true]} : memref<8x4xf32>, vector<8x1xf32>
      %rhs = vector.transfer_read %b[%k, %c0], %zero {in_bounds = [true, true]} : memref<4x16xf32>, vector<1x16xf32>
      %next = vector.contract {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %lhs, %rhs, %acc : vector<8x1xf32>, vector<1x16xf32> into vector<8x16xf32>
      scf.yield %next : vector<8x16xf32>
    }
    vector.transfer_write %sum, %c[%c0, %c0] {in_bounds = [true, true]} : vector<8x16xf32>, memref<8x16xf32>
  }
  return
}
