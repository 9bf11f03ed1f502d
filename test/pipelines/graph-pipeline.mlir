// RUN: kiln-opt %s --kiln-graph-pipeline | FileCheck %s
// RUN: kiln-opt %s --pass-pipeline='builtin.module(kiln-graph-pipeline{fusion=false})' | FileCheck %s --check-prefixes=NOFUSE

// A pre-norm feed-forward block: the canonicalizer drops the multiply by one
// and CSE the duplicate weight read, then the norm, both projections and the
// SwiGLU product fuse into one kernel and the down projection with the
// residual into another. Without fusion every remaining op is a kernel.
// CHECK-LABEL: func.func private @main_k0_matmulx2_rms_norm_silu_mul
// CHECK-SAME: attributes {kiln.fusion_kind = "matmul*2+rms_norm+silu+mul", kiln.kernel}
// CHECK-LABEL: func.func private @main_k1_matmul_residual
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.add
// CHECK-NEXT: return
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.+]]: tensor<16x64xf32>)
// CHECK-COUNT-1: kiln.weight "g"
// CHECK-NOT: kiln.weight "g"
// CHECK-NOT: kiln.constant
// CHECK: %[[H:.+]] = call @main_k0_matmulx2_rms_norm_silu_mul(%[[X]],
// CHECK: %[[Y:.+]] = call @main_k1_matmul_residual(%[[H]], %{{.+}}, %[[X]])
// CHECK-NEXT: return %[[Y]]
// NOFUSE-LABEL: func.func @main
// NOFUSE: call @main_k0_rms_norm
// NOFUSE: call @main_k1_matmul
// NOFUSE: call @main_k2_silu
// NOFUSE: call @main_k3_matmul
// NOFUSE: call @main_k4_mul
// NOFUSE: call @main_k5_matmul
// NOFUSE: call @main_k6_residual
// NOFUSE-NOT: call
func.func @main(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %g = kiln.weight "g" : tensor<64xf32>
  %g2 = kiln.weight "g" : tensor<64xf32>
  %wg = kiln.weight "w_gate" : tensor<64x128xf32>
  %wu = kiln.weight "w_up" : tensor<64x128xf32>
  %wd = kiln.weight "w_down" : tensor<128x64xf32>
  %one = kiln.constant dense<1.0> : tensor<f32>
  %0 = kiln.rms_norm %x, %g : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %1 = kiln.matmul %0, %wg : (tensor<16x64xf32>, tensor<64x128xf32>) -> tensor<16x128xf32>
  %2 = kiln.silu %1 : tensor<16x128xf32>
  %3 = kiln.rms_norm %x, %g2 : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %4 = kiln.matmul %3, %wu : (tensor<16x64xf32>, tensor<64x128xf32>) -> tensor<16x128xf32>
  %5 = kiln.mul %2, %4 : (tensor<16x128xf32>, tensor<16x128xf32>) -> tensor<16x128xf32>
  %6 = kiln.matmul %5, %wd : (tensor<16x128xf32>, tensor<128x64xf32>) -> tensor<16x64xf32>
  %7 = kiln.mul %6, %one : (tensor<16x64xf32>, tensor<f32>) -> tensor<16x64xf32>
  %8 = kiln.add %x, %7 : (tensor<16x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
  return %8 : tensor<16x64xf32>
}
