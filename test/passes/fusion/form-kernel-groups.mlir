// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-fusion-form-kernel-groups))' --split-input-file | FileCheck %s
// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-fusion-form-kernel-groups{enable=false}))' --split-input-file | FileCheck %s --check-prefixes=NOFUSE

// Bias and activation after a matmul join it as its epilogue; weights stay
// outside and become inputs.
// CHECK-LABEL: func.func @epilogue_bias_gelu
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>)
// CHECK: %[[W:.+]] = kiln.weight "w"
// CHECK: %[[B:.+]] = kiln.weight "b"
// CHECK: %[[R:.+]] = kiln.fused "matmul+bias+gelu" (%[[X]], %[[W]], %[[B]])
// CHECK-NEXT: ^bb0(%[[XA:.+]]: tensor<4x8xf32>, %[[WA:.+]]: tensor<8x16xf32>, %[[BA:.+]]: tensor<16xf32>):
// CHECK-NEXT: %[[M:.+]] = kiln.matmul %[[XA]], %[[WA]]
// CHECK-NEXT: %[[A:.+]] = kiln.add %[[M]], %[[BA]]
// CHECK-NEXT: %[[G:.+]] = kiln.gelu %[[A]]
// CHECK-NEXT: kiln.yield %[[G]]
// CHECK: return %[[R]]
// NOFUSE-LABEL: func.func @epilogue_bias_gelu
// NOFUSE: kiln.fused "matmul"
// NOFUSE: kiln.fused "bias"
// NOFUSE: kiln.fused "gelu"
func.func @epilogue_bias_gelu(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = kiln.weight "w" : tensor<8x16xf32>
  %b = kiln.weight "b" : tensor<16xf32>
  %0 = kiln.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %1 = kiln.add %0, %b : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %2 = kiln.gelu %1 : tensor<4x16xf32>
  return %2 : tensor<4x16xf32>
}

// -----

// A residual add, a constant scale and a cast are epilogues too; the
// constant is an input, not part of the kernel.
// CHECK-LABEL: func.func @epilogue_residual_scale_cast
// CHECK: %[[C:.+]] = kiln.constant
// CHECK: kiln.fused "matmul+residual+scale+cast" ({{.*}}%[[C]]) {{.*}} -> tensor<4x16xbf16>
// CHECK-NOT: kiln.constant
// CHECK: kiln.cast
// CHECK-NEXT: kiln.yield
func.func @epilogue_residual_scale_cast(%x: tensor<4x8xf32>, %r: tensor<4x16xf32>) -> tensor<4x16xbf16> {
  %w = kiln.weight "w" : tensor<8x16xf32>
  %c = kiln.constant dense<0.5> : tensor<f32>
  %0 = kiln.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %1 = kiln.add %r, %0 : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %2 = kiln.mul %1, %c : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xf32>
  %3 = kiln.cast %2 : tensor<4x16xf32> to tensor<4x16xbf16>
  return %3 : tensor<4x16xbf16>
}

// -----

// The matmul's value is returned too: gelu is not its only user, so it
// stays out.
// CHECK-LABEL: func.func @negative_epilogue_multi_use
// CHECK: %[[M:.+]] = kiln.fused "matmul"
// CHECK: %[[G:.+]] = kiln.fused "gelu" (%[[M]])
// CHECK: return %[[M]], %[[G]]
func.func @negative_epilogue_multi_use(%x: tensor<4x8xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %w = kiln.weight "w" : tensor<8x16xf32>
  %0 = kiln.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %1 = kiln.gelu %0 : tensor<4x16xf32>
  return %0, %1 : tensor<4x16xf32>, tensor<4x16xf32>
}

// -----

// A sub that broadcasts the reduction's value back over the rows would grow
// the kernel's output: it is no epilogue.
// CHECK-LABEL: func.func @negative_epilogue_broadcast
// CHECK: %[[M:.+]] = kiln.fused "reduce_max"
// CHECK: kiln.fused "sub" (%{{.+}}, %[[M]])
func.func @negative_epilogue_broadcast(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = kiln.reduce_max %x {axes = array<i64: 1>, keep_dims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %1 = kiln.sub %x, %0 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// A reshape on the way to the residual add is written by the epilogue.
// CHECK-LABEL: func.func @epilogue_through_reshape
// CHECK: kiln.fused "matmul+residual"
// CHECK: kiln.matmul
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.add
// CHECK-NEXT: kiln.yield
func.func @epilogue_through_reshape(%x: tensor<16x8xf32>, %r: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %w = kiln.weight "w" : tensor<8x8xf32>
  %0 = kiln.matmul %x, %w : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
  %1 = kiln.reshape %0 : tensor<16x8xf32> to tensor<1x16x8xf32>
  %2 = kiln.add %r, %1 : (tensor<1x16x8xf32>, tensor<1x16x8xf32>) -> tensor<1x16x8xf32>
  return %2 : tensor<1x16x8xf32>
}

// -----

// A reshape between two matmuls leads to no epilogue: the consumer absorbs it
// as an index remapping of its loads.
// CHECK-LABEL: func.func @negative_epilogue_reshape_to_anchor
// CHECK: %[[A:.+]] = kiln.fused "matmul" {{.*}} -> tensor<16x8xf32>
// CHECK: kiln.fused "matmul" (%[[A]], {{.*}} -> tensor<1x16x4xf32>
// CHECK-NEXT: ^bb0
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.matmul
func.func @negative_epilogue_reshape_to_anchor(%x: tensor<16x8xf32>) -> tensor<1x16x4xf32> {
  %w1 = kiln.weight "w1" : tensor<8x8xf32>
  %w2 = kiln.weight "w2" : tensor<8x4xf32>
  %0 = kiln.matmul %x, %w1 : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
  %1 = kiln.reshape %0 : tensor<16x8xf32> to tensor<1x16x8xf32>
  %2 = kiln.matmul %1, %w2 : (tensor<1x16x8xf32>, tensor<8x4xf32>) -> tensor<1x16x4xf32>
  return %2 : tensor<1x16x4xf32>
}

// -----

// q, k and v read the same activations: one kernel with three results.
// CHECK-LABEL: func.func @horizontal_qkv
// CHECK: %[[R:.+]]:3 = kiln.fused "matmul*3"
// CHECK-COUNT-3: kiln.matmul
// CHECK-NEXT: kiln.yield
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
func.func @horizontal_qkv(%x: tensor<16x64xf32>) -> (tensor<16x64xf32>, tensor<16x32xf32>, tensor<16x32xf32>) {
  %wq = kiln.weight "wq" : tensor<64x64xf32>
  %wk = kiln.weight "wk" : tensor<64x32xf32>
  %wv = kiln.weight "wv" : tensor<64x32xf32>
  %q = kiln.matmul %x, %wq : (tensor<16x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
  %k = kiln.matmul %x, %wk : (tensor<16x64xf32>, tensor<64x32xf32>) -> tensor<16x32xf32>
  %v = kiln.matmul %x, %wv : (tensor<16x64xf32>, tensor<64x32xf32>) -> tensor<16x32xf32>
  return %q, %k, %v : tensor<16x64xf32>, tensor<16x32xf32>, tensor<16x32xf32>
}

// -----

// SwiGLU: gate and up fuse horizontally and silu * mul is their epilogue,
// so only the product leaves the kernel.
// CHECK-LABEL: func.func @horizontal_swiglu
// CHECK: kiln.fused "matmul*2+silu+mul" {{.*}} -> tensor<16x128xf32> {
// CHECK: %[[G:.+]] = kiln.matmul
// CHECK-NEXT: %[[S:.+]] = kiln.silu %[[G]]
// CHECK-NEXT: %[[U:.+]] = kiln.matmul
// CHECK-NEXT: %[[P:.+]] = kiln.mul %[[S]], %[[U]]
// CHECK-NEXT: kiln.yield %[[P]]
func.func @horizontal_swiglu(%x: tensor<16x64xf32>) -> tensor<16x128xf32> {
  %wg = kiln.weight "w_gate" : tensor<64x128xf32>
  %wu = kiln.weight "w_up" : tensor<64x128xf32>
  %g = kiln.matmul %x, %wg : (tensor<16x64xf32>, tensor<64x128xf32>) -> tensor<16x128xf32>
  %s = kiln.silu %g : tensor<16x128xf32>
  %u = kiln.matmul %x, %wu : (tensor<16x64xf32>, tensor<64x128xf32>) -> tensor<16x128xf32>
  %0 = kiln.mul %s, %u : (tensor<16x128xf32>, tensor<16x128xf32>) -> tensor<16x128xf32>
  return %0 : tensor<16x128xf32>
}

// -----

// The second matmul reads the first one's result: one group of both would
// be a cycle.
// CHECK-LABEL: func.func @negative_horizontal_dependent
// CHECK: %[[A:.+]] = kiln.fused "matmul" {{.*}} -> tensor<4x8xf32>
// CHECK: kiln.fused "matmul" (%[[A]], {{.*}} -> tensor<4x4xf32>
// CHECK: kiln.transpose
// CHECK-NEXT: kiln.matmul
func.func @negative_horizontal_dependent(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  %w = kiln.weight "w" : tensor<8x8xf32>
  %0 = kiln.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %2 = kiln.matmul %x, %1 : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
  return %2 : tensor<4x4xf32>
}

// -----

// The add is q's only user but also reads k through the softmax: in the q/k
// group it would close a cycle, so it becomes the softmax's epilogue.
// CHECK-LABEL: func.func @negative_epilogue_cycle
// CHECK: %[[QK:.+]]:2 = kiln.fused "matmul*2"
// CHECK: kiln.fused "softmax+residual" (%[[QK]]#1, %[[QK]]#0)
func.func @negative_epilogue_cycle(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w1 = kiln.weight "w1" : tensor<8x8xf32>
  %w2 = kiln.weight "w2" : tensor<8x8xf32>
  %q = kiln.matmul %x, %w1 : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %k = kiln.matmul %x, %w2 : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %s = kiln.softmax %k {axis = 1 : i64} : tensor<4x8xf32>
  %0 = kiln.add %q, %s : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// The head split and the rotary embedding are applied as the attention
// kernel loads q, k and v.
// CHECK-LABEL: func.func @prologue_attention_rope
// CHECK-SAME: (%[[Q:.+]]: tensor<1x16x64xf32>, %[[K:.+]]: tensor<1x16x32xf32>, %[[V:.+]]: tensor<1x16x32xf32>)
// CHECK: kiln.fused "attention+rope" (%[[Q]], %[[K]], %[[V]])
// CHECK-COUNT-2: kiln.rope
// CHECK: kiln.attention
// CHECK-NEXT: kiln.yield
// NOFUSE-LABEL: func.func @prologue_attention_rope
// NOFUSE-COUNT-3: kiln.fused "reshape"
// NOFUSE: kiln.fused "attention"
func.func @prologue_attention_rope(%q: tensor<1x16x64xf32>, %k: tensor<1x16x32xf32>, %v: tensor<1x16x32xf32>) -> tensor<1x4x16x16xf32> {
  %0 = kiln.reshape %q : tensor<1x16x64xf32> to tensor<1x16x4x16xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  %2 = kiln.rope %1 : tensor<1x4x16x16xf32>
  %3 = kiln.reshape %k : tensor<1x16x32xf32> to tensor<1x16x2x16xf32>
  %4 = kiln.transpose %3 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x16x2x16xf32>) -> tensor<1x2x16x16xf32>
  %5 = kiln.rope %4 : tensor<1x2x16x16xf32>
  %6 = kiln.reshape %v : tensor<1x16x32xf32> to tensor<1x16x2x16xf32>
  %7 = kiln.transpose %6 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x16x2x16xf32>) -> tensor<1x2x16x16xf32>
  %8 = kiln.attention %2, %5, %7 {causal = true} : (tensor<1x4x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32>
  return %8 : tensor<1x4x16x16xf32>
}

// -----

// The rotated keys are returned too; in the attention kernel they would be
// computed twice.
// CHECK-LABEL: func.func @negative_prologue_multi_use
// CHECK: %[[K:.+]] = kiln.fused "rope"
// CHECK: %[[A:.+]] = kiln.fused "attention" (%{{.+}}, %[[K]])
// CHECK: return %[[A]], %[[K]]
func.func @negative_prologue_multi_use(%q: tensor<1x2x16x16xf32>, %k: tensor<1x2x16x16xf32>) -> (tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) {
  %0 = kiln.rope %k : tensor<1x2x16x16xf32>
  %1 = kiln.attention %q, %0, %0 : (tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> tensor<1x2x16x16xf32>
  return %1, %0 : tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>
}

// -----

// The add joins the softmax, but the exp it broadcasts over the rows would
// run once per row there.
// CHECK-LABEL: func.func @negative_prologue_broadcast
// CHECK: %[[E:.+]] = kiln.fused "exp" {{.*}} -> tensor<8xf32>
// CHECK: kiln.fused "softmax+add" (%{{.+}}, %[[E]])
func.func @negative_prologue_broadcast(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = kiln.exp %b : tensor<8xf32>
  %1 = kiln.add %x, %0 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %2 = kiln.softmax %1 {axis = 1 : i64} : tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// The residual add before a norm joins it; the sum is used later, so the
// norm kernel yields it too.
// CHECK-LABEL: func.func @residual_norm_multi_output
// CHECK: %[[R:.+]]:2 = kiln.fused "rms_norm+residual"
// CHECK: %[[SUM:.+]] = kiln.add
// CHECK-NEXT: %[[NORM:.+]] = kiln.rms_norm %[[SUM]]
// CHECK-NEXT: kiln.yield %[[SUM]], %[[NORM]]
// CHECK: kiln.fused "exp+residual" (%[[R]]#1, %[[R]]#0)
func.func @residual_norm_multi_output(%x: tensor<1x16x64xf32>, %h: tensor<1x16x64xf32>) -> (tensor<1x16x64xf32>, tensor<1x16x64xf32>) {
  %g = kiln.weight "g" : tensor<64xf32>
  %0 = kiln.add %x, %h : (tensor<1x16x64xf32>, tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  %1 = kiln.rms_norm %0, %g : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %2 = kiln.exp %1 : tensor<1x16x64xf32>
  %3 = kiln.add %0, %2 : (tensor<1x16x64xf32>, tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  return %3, %1 : tensor<1x16x64xf32>, tensor<1x16x64xf32>
}

// -----

// Only a norm yields the add before it; a softmax does not take a sum that
// is used later.
// CHECK-LABEL: func.func @negative_residual_not_norm
// CHECK: %[[S:.+]] = kiln.fused "residual"
// CHECK: kiln.fused "softmax" (%[[S]])
func.func @negative_residual_not_norm(%x: tensor<4x8xf32>, %h: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = kiln.add %x, %h : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.softmax %0 {axis = 1 : i64} : tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A norm that only feeds the contraction axis of the projections is their
// prologue: each row is normalized as it is loaded.
// CHECK-LABEL: func.func @norm_prologue_matmul
// CHECK: kiln.fused "matmul*2+rms_norm" {{.*}} -> (tensor<16x64xf32>, tensor<16x32xf32>)
// CHECK: %[[N:.+]] = kiln.rms_norm
// CHECK-NEXT: kiln.matmul %[[N]]
// CHECK-NEXT: kiln.matmul %[[N]]
func.func @norm_prologue_matmul(%x: tensor<16x64xf32>) -> (tensor<16x64xf32>, tensor<16x32xf32>) {
  %g = kiln.weight "g" : tensor<64xf32>
  %wq = kiln.weight "wq" : tensor<64x64xf32>
  %wk = kiln.weight "wk" : tensor<64x32xf32>
  %0 = kiln.rms_norm %x, %g : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %q = kiln.matmul %0, %wq : (tensor<16x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
  %k = kiln.matmul %0, %wk : (tensor<16x64xf32>, tensor<64x32xf32>) -> tensor<16x32xf32>
  return %q, %k : tensor<16x64xf32>, tensor<16x32xf32>
}

// -----

// With transpose_lhs the normalized axis is not the contraction axis.
// CHECK-LABEL: func.func @negative_norm_prologue_transposed
// CHECK: %[[N:.+]] = kiln.fused "rms_norm"
// CHECK: kiln.fused "matmul" (%[[N]]
func.func @negative_norm_prologue_transposed(%x: tensor<64x16xf32>) -> tensor<16x32xf32> {
  %g = kiln.weight "g" : tensor<16xf32>
  %w = kiln.weight "w" : tensor<64x32xf32>
  %0 = kiln.rms_norm %x, %g : (tensor<64x16xf32>, tensor<16xf32>) -> tensor<64x16xf32>
  %1 = kiln.matmul %0, %w {transpose_lhs = true} : (tensor<64x16xf32>, tensor<64x32xf32>) -> tensor<16x32xf32>
  return %1 : tensor<16x32xf32>
}

// -----

// The normalized value is needed outside too (the next residual, after a
// post-norm): the matmul kernel would have to write it as well.
// CHECK-LABEL: func.func @negative_norm_prologue_other_use
// CHECK: %[[N:.+]] = kiln.fused "layer_norm"
// CHECK: %[[M:.+]] = kiln.fused "matmul" (%[[N]]
// CHECK: return %[[N]], %[[M]]
func.func @negative_norm_prologue_other_use(%x: tensor<16x64xf32>) -> (tensor<16x64xf32>, tensor<16x64xf32>) {
  %g = kiln.weight "g" : tensor<64xf32>
  %b = kiln.weight "b" : tensor<64xf32>
  %w = kiln.weight "w" : tensor<64x64xf32>
  %0 = kiln.layer_norm %x, %g, %b : (tensor<16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %1 = kiln.matmul %0, %w : (tensor<16x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
  return %0, %1 : tensor<16x64xf32>, tensor<16x64xf32>
}

// -----

// The router, its logits matmul, the experts, the norm before them and the
// residual after them form one mixture-of-experts kernel.
// CHECK-LABEL: func.func @moe_router_experts
// CHECK: kiln.fused "moe_experts+rms_norm+matmul+moe_router+residual"
// CHECK: kiln.rms_norm
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.moe_router
// CHECK-NEXT: kiln.moe_experts
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.add
// CHECK-NEXT: kiln.yield
func.func @moe_router_experts(%x: tensor<1x16x64xf32>, %r: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
  %g = kiln.weight "g" : tensor<64xf32>
  %wr = kiln.weight "router" : tensor<64x4xf32>
  %gate = kiln.weight "w_gate" : tensor<4x64x128xf32>
  %up = kiln.weight "w_up" : tensor<4x64x128xf32>
  %down = kiln.weight "w_down" : tensor<4x128x64xf32>
  %0 = kiln.rms_norm %x, %g : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %1 = kiln.reshape %0 : tensor<1x16x64xf32> to tensor<16x64xf32>
  %2 = kiln.matmul %1, %wr : (tensor<16x64xf32>, tensor<64x4xf32>) -> tensor<16x4xf32>
  %w, %i = kiln.moe_router %2 {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %3 = kiln.moe_experts %1, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  %4 = kiln.reshape %3 : tensor<16x64xf32> to tensor<1x16x64xf32>
  %5 = kiln.add %r, %4 : (tensor<1x16x64xf32>, tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  return %5 : tensor<1x16x64xf32>
}

// -----

// The routing weights are returned too, so the router stays a kernel of its
// own.
// CHECK-LABEL: func.func @negative_moe_router_used
// CHECK: %[[R:.+]]:2 = kiln.fused "moe_router"
// CHECK: kiln.fused "moe_experts" (%{{.+}}, %[[R]]#0, %[[R]]#1,
func.func @negative_moe_router_used(%x: tensor<16x64xf32>, %logits: tensor<16x4xf32>) -> (tensor<16x64xf32>, tensor<16x2xf32>) {
  %gate = kiln.weight "w_gate" : tensor<4x64x128xf32>
  %up = kiln.weight "w_up" : tensor<4x64x128xf32>
  %down = kiln.weight "w_down" : tensor<4x128x64xf32>
  %w, %i = kiln.moe_router %logits {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %0 = kiln.moe_experts %x, %w, %i, %gate, %up, %down : (tensor<16x64xf32>, tensor<16x2xf32>, tensor<16x2xi32>, tensor<4x64x128xf32>, tensor<4x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return %0, %w : tensor<16x64xf32>, tensor<16x2xf32>
}

// -----

// An elementwise chain with no anchor is a kernel of its own.
// CHECK-LABEL: func.func @elementwise_chain
// CHECK: kiln.fused "exp+neg+mul"
// CHECK-NEXT: ^bb0
// CHECK-NEXT: kiln.exp
// CHECK-NEXT: kiln.neg
// CHECK-NEXT: kiln.mul
// CHECK-NEXT: kiln.yield
// NOFUSE-LABEL: func.func @elementwise_chain
// NOFUSE: kiln.fused "exp"
// NOFUSE: kiln.fused "neg"
// NOFUSE: kiln.fused "mul"
func.func @elementwise_chain(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = kiln.exp %x : tensor<4x8xf32>
  %1 = kiln.neg %0 : tensor<4x8xf32>
  %2 = kiln.mul %x, %1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// A reduction takes its elementwise producer and its same-size consumer.
// CHECK-LABEL: func.func @reduction_producer_consumer
// CHECK: kiln.fused "reduce_mean+mul+rsqrt"
// CHECK-NEXT: ^bb0
// CHECK-NEXT: kiln.mul
// CHECK-NEXT: kiln.reduce_mean
// CHECK-NEXT: kiln.rsqrt
func.func @reduction_producer_consumer(%x: tensor<4x8xf32>) -> tensor<4x1xf32> {
  %0 = kiln.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.reduce_mean %0 {axes = array<i64: 1>, keep_dims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %2 = kiln.rsqrt %1 : tensor<4x1xf32>
  return %2 : tensor<4x1xf32>
}

// -----

// Slicing out the class token at the very end has no consumer kernel: the
// norm kernel writes it.
// CHECK-LABEL: func.func @trailing_slice
// CHECK: kiln.fused "layer_norm+slice" {{.*}} -> tensor<1x64xf32>
// CHECK: kiln.layer_norm
// CHECK-NEXT: kiln.slice
// CHECK-NEXT: kiln.reshape
func.func @trailing_slice(%x: tensor<1x17x64xf32>) -> tensor<1x64xf32> {
  %g = kiln.weight "g" : tensor<64xf32>
  %b = kiln.weight "b" : tensor<64xf32>
  %0 = kiln.layer_norm %x, %g, %b : (tensor<1x17x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x17x64xf32>
  %1 = kiln.slice %0 {starts = array<i64: 0, 0, 0>, limits = array<i64: 1, 1, 64>} : (tensor<1x17x64xf32>) -> tensor<1x1x64xf32>
  %2 = kiln.reshape %1 : tensor<1x1x64xf32> to tensor<1x64xf32>
  return %2 : tensor<1x64xf32>
}

// -----

func.func private @external(tensor<4xf32>) -> tensor<4xf32>

// A call is kept as it is, in order, between the kernels around it.
// CHECK-LABEL: func.func @opaque_call
// CHECK: %[[E:.+]] = kiln.fused "exp"
// CHECK: %[[C:.+]] = call @external(%[[E]])
// CHECK: kiln.fused "neg" (%[[C]])
func.func @opaque_call(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.exp %x : tensor<4xf32>
  %1 = func.call @external(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = kiln.neg %1 : tensor<4xf32>
  return %2 : tensor<4xf32>
}

// -----

// An outlined kernel is not fused again.
// CHECK-LABEL: func.func private @negative_kernel
// CHECK-NOT: kiln.fused
// CHECK: kiln.exp
func.func private @negative_kernel(%x: tensor<4xf32>) -> tensor<4xf32> attributes {kiln.kernel} {
  %0 = kiln.exp %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Pools anchor kernels with their epilogues, and erf joins as one, as real
// CNN and BERT exports need.
// CHECK-LABEL: func.func @pool_and_erf
// CHECK: kiln.fused "max_pool2d+relu"
// CHECK: kiln.fused "avg_pool2d+erf"
// CHECK-NOT: kiln.fused
func.func @pool_and_erf(%x: tensor<1x2x8x8xf32>) -> tensor<1x2x2x2xf32> {
  %0 = kiln.max_pool2d %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x2x8x8xf32>) -> tensor<1x2x4x4xf32>
  %1 = kiln.relu %0 : tensor<1x2x4x4xf32>
  %2 = kiln.avg_pool2d %1 {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
  %3 = kiln.erf %2 : tensor<1x2x2x2xf32>
  return %3 : tensor<1x2x2x2xf32>
}
