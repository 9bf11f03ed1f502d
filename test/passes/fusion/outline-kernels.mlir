// RUN: kiln-opt %s --pass-pipeline='builtin.module(kiln-fusion-outline-kernels)' --split-input-file | FileCheck %s
// RUN: kiln-opt %s --pass-pipeline='builtin.module(kiln-fusion-outline-kernels{prefix=net})' --split-input-file | FileCheck %s --check-prefixes=PREFIX

// Each group becomes a private kernel before its caller, named after the
// caller, numbered in program order, with its kind spelled as a symbol; the
// caller calls it with the group's inputs.
// CHECK-LABEL: func.func private @main_k0_matmulx2_rms_norm
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[G:.+]]: tensor<8xf32>, %[[W1:.+]]: tensor<8x8xf32>, %[[W2:.+]]: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK-SAME: attributes {kiln.fusion_kind = "matmul*2+rms_norm", kiln.kernel}
// CHECK-NEXT: %[[N:.+]] = kiln.rms_norm %[[X]], %[[G]]
// CHECK-NEXT: %[[A:.+]] = kiln.matmul %[[N]], %[[W1]]
// CHECK-NEXT: %[[B:.+]] = kiln.matmul %[[N]], %[[W2]]
// CHECK-NEXT: return %[[A]], %[[B]] : tensor<4x8xf32>, tensor<4x8xf32>
// CHECK-LABEL: func.func private @main_k1_residual
// CHECK-SAME: attributes {kiln.fusion_kind = "residual", kiln.kernel}
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[IN:.+]]: tensor<4x8xf32>)
// CHECK: %[[SCALE:.+]] = kiln.weight "g"
// CHECK: %[[R:.+]]:2 = call @main_k0_matmulx2_rms_norm(%[[IN]], %[[SCALE]], %{{.+}}, %{{.+}}) : (tensor<4x8xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK: %[[S:.+]] = call @main_k1_residual(%[[R]]#0, %[[R]]#1)
// CHECK: return %[[S]]
// CHECK-NOT: kiln.fused
// PREFIX: func.func private @net_k0_matmulx2_rms_norm
// PREFIX: func.func private @net_k1_residual
// PREFIX: call @net_k0_matmulx2_rms_norm
// PREFIX: call @net_k1_residual
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %g = kiln.weight "g" : tensor<8xf32>
  %w1 = kiln.weight "w1" : tensor<8x8xf32>
  %w2 = kiln.weight "w2" : tensor<8x8xf32>
  %0:2 = kiln.fused "matmul*2+rms_norm" (%x, %g, %w1, %w2) : (tensor<4x8xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%a: tensor<4x8xf32>, %s: tensor<8xf32>, %b: tensor<8x8xf32>, %c: tensor<8x8xf32>):
    %1 = kiln.rms_norm %a, %s : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    %2 = kiln.matmul %1, %b : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %3 = kiln.matmul %1, %c : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    kiln.yield %2, %3 : tensor<4x8xf32>, tensor<4x8xf32>
  }
  %4 = kiln.fused "residual" (%0#0, %0#1) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>):
    %5 = kiln.add %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    kiln.yield %5 : tensor<4x8xf32>
  }
  return %4 : tensor<4x8xf32>
}

// -----

// In a named module the kernels are named after the module (the model), one
// count across its functions.
// CHECK-LABEL: module @decoder
// CHECK: func.func private @decoder_k0_exp
// CHECK: func.func @first
// CHECK: call @decoder_k0_exp
// CHECK: func.func private @decoder_k1_neg
// CHECK: func.func @second
// CHECK: call @decoder_k1_neg
// PREFIX-LABEL: module @decoder
// PREFIX: call @net_k0_exp
// PREFIX: call @net_k1_neg
module @decoder {
  func.func @first(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
    ^bb0(%a: tensor<4xf32>):
      %1 = kiln.exp %a : tensor<4xf32>
      kiln.yield %1 : tensor<4xf32>
    }
    return %0 : tensor<4xf32>
  }
  func.func @second(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = kiln.fused "neg" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
    ^bb0(%a: tensor<4xf32>):
      %1 = kiln.neg %a : tensor<4xf32>
      kiln.yield %1 : tensor<4xf32>
    }
    return %0 : tensor<4xf32>
  }
}

// -----

// A name already taken is made unique rather than reused.
// CHECK-LABEL: func.func private @main_k0_exp(
// CHECK-SAME: tensor<2xf32>
// CHECK: func.func private @[[NAME:main_k0_exp_[0-9]+]](
// CHECK-SAME: attributes {kiln.fusion_kind = "exp", kiln.kernel}
// CHECK: func.func @main
// CHECK: call @[[NAME]](
func.func private @main_k0_exp(%x: tensor<2xf32>) -> tensor<2xf32>

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %1 = kiln.exp %a : tensor<4xf32>
    kiln.yield %1 : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// Without groups there is nothing to outline.
// CHECK-LABEL: func.func @negative_no_groups
// CHECK-NEXT: kiln.exp
// CHECK-NEXT: return
// CHECK-NOT: func.func
func.func @negative_no_groups(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.exp %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
