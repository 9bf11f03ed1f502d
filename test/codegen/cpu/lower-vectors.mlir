// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-lower-vectors))' --split-input-file | FileCheck %s

// An 8x32 outer-product contraction becomes one FMA per row, on 1-D loads of
// whole rows, and 1-D stores.
// CHECK-LABEL: func.func @contract
// CHECK: %[[ROW:.+]] = vector.load %{{.+}} : memref<4x32xf32>, vector<32xf32>
// CHECK-COUNT-8: vector.fma %{{.+}}, %[[ROW]], %{{.+}} : vector<32xf32>
// CHECK-COUNT-8: vector.store %{{.+}} : memref<8x32xf32>, vector<32xf32>
// CHECK-NOT: vector.contract
// CHECK-NOT: vector.transfer
func.func @contract(%A: memref<8x4xf32>, %B: memref<4x32xf32>, %R: memref<8x32xf32>, %k: index) {
  %c0 = arith.constant 0 : index
  %pad = ub.poison : f32
  %a = vector.transfer_read %A[%c0, %k], %pad {in_bounds = [true, true]} : memref<8x4xf32>, vector<8x1xf32>
  %b = vector.transfer_read %B[%k, %c0], %pad {in_bounds = [true, true]} : memref<4x32xf32>, vector<1x32xf32>
  %c = vector.transfer_read %R[%c0, %c0], %pad {in_bounds = [true, true]} : memref<8x32xf32>, vector<8x32xf32>
  %d = vector.contract {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %c : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
  vector.transfer_write %d, %R[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x32xf32>
  return
}

// -----

// Masked transfers become masked loads and stores; exp becomes a polynomial;
// bf16 conversions become integer bit operations.
// CHECK-LABEL: func.func @masked_exp_bf16
// CHECK: %[[MASK:.+]] = vector.create_mask %{{.+}} : vector<16xi1>
// CHECK: vector.maskedload %{{.+}}, %[[MASK]]
// CHECK: arith.bitcast %{{.+}} : vector<16xbf16> to vector<16xi16>
// CHECK: math.fma
// CHECK: arith.bitcast %{{.+}} : vector<16xi16> to vector<16xbf16>
// CHECK: vector.maskedstore %{{.+}}, %[[MASK]]
// CHECK-NOT: math.exp
// CHECK-NOT: arith.extf
// CHECK-NOT: arith.truncf
func.func @masked_exp_bf16(%A: memref<20xbf16>, %R: memref<20xbf16>, %i: index, %n: index) {
  %pad = ub.poison : bf16
  %mask = vector.create_mask %n : vector<16xi1>
  %x = vector.mask %mask { vector.transfer_read %A[%i], %pad {in_bounds = [true]} : memref<20xbf16>, vector<16xbf16> } : vector<16xi1> -> vector<16xbf16>
  %w = arith.extf %x : vector<16xbf16> to vector<16xf32>
  %e = math.exp %w : vector<16xf32>
  %y = arith.truncf %e : vector<16xf32> to vector<16xbf16>
  vector.mask %mask { vector.transfer_write %y, %R[%i] {in_bounds = [true]} : vector<16xbf16>, memref<20xbf16> } : vector<16xi1>
  return
}

// -----

// A row reduction: one 1-D reduction per row.
// CHECK-LABEL: func.func @row_sum
// CHECK: vector.reduction <add>, %{{.+}}, %{{.+}} : vector<16xf32> into f32
// CHECK-NOT: vector.multi_reduction
func.func @row_sum(%A: memref<16xf32>, %acc: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %pad = ub.poison : f32
  %x = vector.transfer_read %A[%c0], %pad {in_bounds = [true]} : memref<16xf32>, vector<16xf32>
  %r = vector.multi_reduction <add>, %x, %acc [0] : vector<16xf32> to f32
  return %r : f32
}
