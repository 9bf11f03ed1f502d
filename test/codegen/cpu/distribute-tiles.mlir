// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-distribute-tiles))' --split-input-file | FileCheck %s

// A 3 x 2 tile loop becomes a loop over [max(begin, 0), min(end, 6)) that
// delinearizes each tile index row-major.
// CHECK-LABEL: func.func @tiled
// CHECK-SAME: (%[[R:.+]]: memref<12x8xf32>, %[[BEGIN:.+]]: index, %[[END:.+]]: index)
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK-DAG: %[[C6:.+]] = arith.constant 6 : index
// CHECK: %[[FIRST:.+]] = arith.maxsi %[[BEGIN]], %[[C0]]
// CHECK: %[[LAST:.+]] = arith.minsi %[[END]], %[[C6]]
// CHECK: scf.for %[[T:.+]] = %[[FIRST]] to %[[LAST]] step %[[C1]]
// CHECK: %[[IJ:.+]]:2 = affine.delinearize_index %[[T]] into (3, 2)
// CHECK: %[[I:.+]] = arith.muli %[[IJ]]#0, %{{.+}}
// CHECK: %[[J:.+]] = arith.muli %[[IJ]]#1, %{{.+}}
// CHECK: memref.subview %[[R]][%[[I]], %[[J]]] [4, 4]
// CHECK-NOT: scf.forall
func.func @tiled(%R: memref<12x8xf32>) attributes {kiln.kernel, kiln.tile_count = 6 : i64} {
  %zero = arith.constant 0.0 : f32
  scf.forall (%i, %j) = (0, 0) to (12, 8) step (4, 4) {
    %tile = memref.subview %R[%i, %j] [4, 4] [1, 1] : memref<12x8xf32> to memref<4x4xf32, strided<[8, 1], offset: ?>>
    linalg.fill ins(%zero : f32) outs(%tile : memref<4x4xf32, strided<[8, 1], offset: ?>>)
  }
  return
}

// -----

// One tile: the body runs when the range holds tile 0.
// CHECK-LABEL: func.func @untiled
// CHECK-SAME: (%[[R:.+]]: memref<4xf32>, %[[BEGIN:.+]]: index, %[[END:.+]]: index)
// CHECK: %[[STARTS:.+]] = arith.cmpi sle, %[[BEGIN]], %{{.+}}
// CHECK: %[[ENDS:.+]] = arith.cmpi sgt, %[[END]], %{{.+}}
// CHECK: %[[HOLDS:.+]] = arith.andi %[[STARTS]], %[[ENDS]]
// CHECK: scf.if %[[HOLDS]] {
// CHECK-NEXT: arith.constant
// CHECK-NEXT: linalg.fill
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @untiled(%R: memref<4xf32>) attributes {kiln.kernel, kiln.tile_count = 1 : i64} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%R : memref<4xf32>)
  return
}

// -----

// A result built out of place (in a copy that the tiles fill and that is
// copied back whole after the loop) cannot be split: two calls at once would
// each copy back the other's tiles stale. The kernel gets one tile, and the
// call that holds it runs all 3 tiles.
// CHECK-LABEL: func.func @copied_back
// CHECK-SAME: attributes {kiln.kernel, kiln.tile_count = 1 : i64}
// CHECK: scf.if %{{.+}} {
// CHECK: scf.for %{{.+}} = %[[C0:.+]] to %[[C3:.+]] step
// CHECK-NOT: arith.maxsi
// CHECK: memref.copy
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @copied_back(%R: memref<12xf32>) attributes {kiln.kernel, kiln.tile_count = 3 : i64} {
  %zero = arith.constant 0.0 : f32
  %copy = memref.alloc() : memref<12xf32>
  scf.forall (%i) = (0) to (12) step (4) {
    %tile = memref.subview %copy[%i] [4] [1] : memref<12xf32> to memref<4xf32, strided<[1], offset: ?>>
    linalg.fill ins(%zero : f32) outs(%tile : memref<4xf32, strided<[1], offset: ?>>)
  }
  memref.copy %copy, %R : memref<12xf32> to memref<12xf32>
  return
}
