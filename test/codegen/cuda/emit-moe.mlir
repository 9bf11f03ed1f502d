// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// The moe decoder's feed-forward kernel: rms_norm, router matmul, top-2
// routing, SwiGLU experts over the tokens gathered per expert, combine,
// residual; 16 tokens per block.
// CHECK-LABEL: moe_block(
// CHECK: // 16 tokens of 64, 4 SwiGLU experts of width 128, top 2; 16 tokens per block.
// CHECK: __shared__ float tokenTile[16][64];
// CHECK: __shared__ float rowStats0[2][16];
// CHECK: rowStats0[0][r] = scale{{[0-9]+}};
// CHECK: // 1. Stage the block's tokens.
// CHECK: tokenTile[r][h] = kiln_round_bf16(value);
// CHECK: // 2. Route: softmax over the experts, then the top 2.
// CHECK: logit += tokenTile[r][k] * a{{[0-9]+}};
// CHECK: probability[x] = kiln_round_bf16(logit);
// CHECK: if (probability[x] > bestProbability) {
// CHECK: routeWeight[r][choice] = kiln_round_bf16(routeWeight[r][choice] / chosenSum);
// CHECK: // 3. Per expert: gather its tokens, SwiGLU, combine.
// CHECK: // Every thread has read the previous expert's memberCount.
// CHECK-NEXT: __syncthreads();
// CHECK: if (rowBase + r < 16 && routeExpert[r][choice] == expert) {
// CHECK: activation[member][f] = kiln_round_bf16(gate / (1.0f + expf(-gate)) * up);
// CHECK: combined[members[member]][h] += memberWeight[member] * y;
// CHECK: // 4. Store the results of the combined rows.
// CHECK: = (a{{[0-9]+}} + combined[r][h]);
func.func @moe_block(%x: tensor<1x16x64xbf16>, %g: tensor<64xbf16>, %router: tensor<64x4xbf16>, %gate: tensor<4x64x128xbf16>, %up: tensor<4x64x128xbf16>, %down: tensor<4x128x64xbf16>) -> tensor<1x16x64xbf16> attributes {kiln.kernel} {
  %0 = kiln.rms_norm %x, %g : (tensor<1x16x64xbf16>, tensor<64xbf16>) -> tensor<1x16x64xbf16>
  %1 = kiln.reshape %0 : tensor<1x16x64xbf16> to tensor<16x64xbf16>
  %2 = kiln.matmul %1, %router : (tensor<16x64xbf16>, tensor<64x4xbf16>) -> tensor<16x4xbf16>
  %weights, %indices = kiln.moe_router %2 {top_k = 2 : i64} : (tensor<16x4xbf16>) -> (tensor<16x2xbf16>, tensor<16x2xi32>)
  %3 = kiln.moe_experts %1, %weights, %indices, %gate, %up, %down : (tensor<16x64xbf16>, tensor<16x2xbf16>, tensor<16x2xi32>, tensor<4x64x128xbf16>, tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<16x64xbf16>
  %4 = kiln.reshape %3 : tensor<16x64xbf16> to tensor<1x16x64xbf16>
  %5 = kiln.add %x, %4 : (tensor<1x16x64xbf16>, tensor<1x16x64xbf16>) -> tensor<1x16x64xbf16>
  return %5 : tensor<1x16x64xbf16>
}
