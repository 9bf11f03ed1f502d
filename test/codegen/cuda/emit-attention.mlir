// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// The decoder's attention: the head split (reshape + transpose) and rope are
// fused into the tile loads; grouped-query heads (4 query heads on 2
// key/value heads); causal. Online softmax over key tiles in shared memory.
// CHECK-LABEL: attention_rope(
// CHECK: // Queries [1 x 4 x 16 x 16], 2 key/value heads of 16 keys; 16 queries per block, key tiles of 64.
// CHECK: __shared__ float queryTile[16][16];
// CHECK: __shared__ float keyTile[64][17];
// CHECK: __shared__ float valueTile[64][16];
// CHECK: kvHead = head / 2;
// CHECK: __cosf(
// CHECK: queryTile[r][d] = value;
// CHECK: const int64_t keyEnd = min((int64_t)16, max((int64_t)0, queryBase + 16));
// CHECK: for (int64_t keyBase = 0; keyBase < keyEnd; keyBase += 64) {
// CHECK: keyTile[r][d] = value;
// CHECK: valueTile[r][d] = value;
// CHECK: if (queryPosition < 16 && keyPosition < 16 && keyPosition <= queryPosition + 0) {
// CHECK: score[t] = dot * 2.500000e-01f;
// CHECK: const float newMax = fmaxf(runningMax[qi], kiln_warp_max(tileMax));
// CHECK: runningSum[qi] = runningSum[qi] * correction + kiln_warp_sum(tileSum);
// CHECK: const float p = __shfl_sync(0xffffffffu, score[t], source);
// CHECK: kiln_store(&result0[(column + queryPosition * 16 + head * 256)], (runningSum[qi] > 0.0f ? out[qi][c] / runningSum[qi] : 0.0f));
func.func @attention_rope(%q: tensor<1x16x64xbf16>, %k: tensor<1x16x32xbf16>, %v: tensor<1x16x32xbf16>) -> tensor<1x4x16x16xbf16> attributes {kiln.kernel} {
  %0 = kiln.reshape %q : tensor<1x16x64xbf16> to tensor<1x16x4x16xbf16>
  %1 = kiln.transpose %0 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x16x4x16xbf16>) -> tensor<1x4x16x16xbf16>
  %2 = kiln.reshape %k : tensor<1x16x32xbf16> to tensor<1x16x2x16xbf16>
  %3 = kiln.transpose %2 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x16x2x16xbf16>) -> tensor<1x2x16x16xbf16>
  %4 = kiln.reshape %v : tensor<1x16x32xbf16> to tensor<1x16x2x16xbf16>
  %5 = kiln.transpose %4 {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x16x2x16xbf16>) -> tensor<1x2x16x16xbf16>
  %6 = kiln.rope %1 : tensor<1x4x16x16xbf16>
  %7 = kiln.rope %3 : tensor<1x2x16x16xbf16>
  %8 = kiln.attention %6, %7, %5 {causal = true} : (tensor<1x4x16x16xbf16>, tensor<1x2x16x16xbf16>, tensor<1x2x16x16xbf16>) -> tensor<1x4x16x16xbf16>
  return %8 : tensor<1x4x16x16xbf16>
}

// Head dim 128: key tiles of 32 keep the f32 tiles within 48 KiB; each lane
// owns 4 output columns. Not causal: every key tile is visited.
// CHECK-LABEL: attention_128(
// CHECK: key tiles of 32.
// CHECK: float runningMax[4], runningSum[4], out[4][4];
// CHECK: const int64_t keyEnd = 256;
// CHECK-NOT: keyPosition <= queryPosition
// CHECK: score[t] = dot * 1.000000e-01f;
func.func @attention_128(%q: tensor<2x8x256x128xf32>, %k: tensor<2x8x256x128xf32>, %v: tensor<2x8x256x128xf32>) -> tensor<2x8x256x128xf32> attributes {kiln.kernel} {
  %0 = kiln.attention %q, %k, %v {scale = 0.1 : f32} : (tensor<2x8x256x128xf32>, tensor<2x8x256x128xf32>, tensor<2x8x256x128xf32>) -> tensor<2x8x256x128xf32>
  return %0 : tensor<2x8x256x128xf32>
}
