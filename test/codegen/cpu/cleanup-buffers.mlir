// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-cleanup-buffers))' --split-input-file | FileCheck %s

// A copy onto itself goes; a strided copy becomes a linalg.copy; a
// contiguous one stays; a temporary is freed before the kernel returns.
// CHECK-LABEL: func.func @copies
// CHECK-SAME: (%[[A:.+]]: memref<4x8xf32>, %[[R:.+]]: memref<4x8xf32>)
// CHECK: %[[TMP:.+]] = memref.alloc() {{.+}} : memref<4x8xf32>
// CHECK: memref.copy %[[A]], %[[TMP]]
// CHECK: %[[VIEW:.+]] = memref.subview %[[TMP]]
// CHECK: linalg.copy ins(%[[VIEW]] : {{.+}}) outs(%{{.+}} : {{.+}})
// CHECK-NOT: memref.copy
// CHECK: memref.dealloc %[[TMP]]
// CHECK-NEXT: return
func.func @copies(%A: memref<4x8xf32>, %R: memref<4x8xf32>) {
  %tmp = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
  memref.copy %A, %tmp : memref<4x8xf32> to memref<4x8xf32>
  memref.copy %R, %R : memref<4x8xf32> to memref<4x8xf32>
  %v = memref.subview %tmp[0, 0] [4, 4] [1, 2] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 2]>>
  %w = memref.subview %R[0, 0] [4, 4] [1, 1] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 1]>>
  memref.copy %v, %w : memref<4x4xf32, strided<[8, 2]>> to memref<4x4xf32, strided<[8, 1]>>
  return
}

// -----

// The accumulator of a reduction loop stays in registers: the read before
// and the write after the loop, the vector carried through it.
// CHECK-LABEL: func.func @accumulator
// CHECK: %[[INIT:.+]] = vector.transfer_read %{{.+}}[%{{.+}}, %{{.+}}], %{{.+}} {{.+}} : memref<16x32xf32>, vector<8x32xf32>
// CHECK: %[[SUM:.+]] = scf.for {{.+}} iter_args(%[[ACC:.+]] = %[[INIT]]) -> (vector<8x32xf32>)
// CHECK: arith.addf %{{.+}}, %[[ACC]]
// CHECK: vector.transfer_write %[[SUM]], %{{.+}} : vector<8x32xf32>, memref<16x32xf32>
func.func @accumulator(%A: memref<64x8x32xf32>, %R: memref<16x32xf32>, %row: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : f32
  %acc = memref.subview %R[%row, 0] [8, 32] [1, 1] : memref<16x32xf32> to memref<8x32xf32, strided<[32, 1], offset: ?>>
  scf.for %k = %c0 to %c64 step %c1 {
    %x = vector.transfer_read %A[%k, %c0, %c0], %pad {in_bounds = [true, true]} : memref<64x8x32xf32>, vector<8x32xf32>
    %old = vector.transfer_read %acc[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x32xf32, strided<[32, 1], offset: ?>>, vector<8x32xf32>
    %new = arith.addf %x, %old : vector<8x32xf32>
    vector.transfer_write %new, %acc[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x32xf32, strided<[32, 1], offset: ?>>
  }
  return
}

// -----

// A temporary of a static size allocated in a loop (a tile's packed panel)
// is allocated once, before the loop, and freed before the kernel returns;
// one of a dynamic size stays in the loop and is freed at the end of the
// iteration.
// CHECK-LABEL: func.func @loop_temporaries
// CHECK-NEXT: %[[STATIC:.+]] = memref.alloc() {alignment = 64 : i64} : memref<8x32xf32>
// CHECK: scf.for %[[I:.+]] =
// CHECK-NOT: memref.alloc() {{.+}} memref<8x32xf32>
// CHECK: %[[DYNAMIC:.+]] = memref.alloc(%[[I]]) : memref<?xf32>
// CHECK: memref.store %{{.+}}, %[[DYNAMIC]]
// CHECK: memref.dealloc %[[DYNAMIC]]
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc %[[STATIC]]
// CHECK-NEXT: return
func.func @loop_temporaries(%A: memref<8x32xf32>, %R: memref<4x8x32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %panel = memref.alloc() {alignment = 64 : i64} : memref<8x32xf32>
    memref.copy %A, %panel : memref<8x32xf32> to memref<8x32xf32>
    %row = memref.alloc(%i) : memref<?xf32>
    %zero = arith.constant 0.0 : f32
    memref.store %zero, %row[%c0] : memref<?xf32>
    %out = memref.subview %R[%i, 0, 0] [1, 8, 32] [1, 1, 1] : memref<4x8x32xf32> to memref<8x32xf32, strided<[32, 1], offset: ?>>
    memref.copy %panel, %out : memref<8x32xf32> to memref<8x32xf32, strided<[32, 1], offset: ?>>
  }
  return
}
