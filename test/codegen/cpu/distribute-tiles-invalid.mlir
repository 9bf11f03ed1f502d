// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-distribute-tiles))' --split-input-file --verify-diagnostics

// The recorded tile count must be the loop's.
func.func @negative_count(%R: memref<12xf32>) attributes {kiln.kernel, kiln.tile_count = 4 : i64} {
  %zero = arith.constant 0.0 : f32
  // expected-error @+1 {{expected the tile loop to have 4 iterations (got 3)}}
  scf.forall (%i) = (0) to (12) step (4) {
    %tile = memref.subview %R[%i] [4] [1] : memref<12xf32> to memref<4xf32, strided<[1], offset: ?>>
    linalg.fill ins(%zero : f32) outs(%tile : memref<4xf32, strided<[1], offset: ?>>)
  }
  return
}

// -----

// A kernel of several tiles needs its tile loop.
// expected-error @+1 {{expected a tile loop for 3 tiles}}
func.func @negative_no_loop(%R: memref<12xf32>) attributes {kiln.kernel, kiln.tile_count = 3 : i64} {
  return
}
