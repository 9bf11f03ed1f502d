// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_90a output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// Split-K with a residual epilogue in clusters of two column tiles: each of
// the 4 slices (grid z) sweeps its 256 of k, writes its partial tile to the
// workspace and counts itself; the last to arrive sums the partials in
// slice order, resets the counter and only then adds the residual.
// CHECK-LABEL: __launch_bounds__(128, 1) __cluster_dims__(2, 1, 1)
// CHECK-NEXT: matmul_split(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, const __nv_bfloat16 *__restrict__ arg2, __nv_bfloat16 *__restrict__ result0, unsigned char *__restrict__ workspace) {
// CHECK: const int64_t kBegin = (int64_t)blockIdx.z * 256, kEnd = kBegin + 256 < 1024 ? kBegin + 256 : 1024;
// CHECK: const int64_t kTiles = (kEnd - kBegin + 31) / 32;
// CHECK: loadTiles(next % 3, kBegin + next * 32);
// CHECK: kiln_cp_async_wait<0>();
// The 2 x 1 tiles' counters take 256 bytes; a partial tile is 64 x 128.
// CHECK: const int64_t tile = (int64_t)blockIdx.y * gridDim.x + blockIdx.x;
// CHECK-NEXT: float *partials = reinterpret_cast<float *>(workspace + 256) + tile * 32768;
// CHECK: partials[blockIdx.z * 8192 + at] = acc0[tm][tn][q];
// CHECK: __threadfence();
// CHECK-NEXT: __syncthreads();
// CHECK: kilnLastSlice = atomicAdd(counter, 1u) == 3u;
// CHECK: *counter = 0u;
// CHECK: if (!kilnLastSlice)
// CHECK-NEXT: return;
// CHECK: acc0[tm][tn][q] = 0.0f;
// CHECK: for (int z = 0; z < 4; ++z) {
// CHECK: acc0[tm][tn][q] += __ldcg(&partials[z * 8192 + at]);
// CHECK: const float [[V:v[0-9]+]] = (acc0[tm][tn][q] + a{{[0-9]+}});
// CHECK: kiln_store(&result0[(col + m{{[0-9]+}} * 256)], [[V]]);
func.func @matmul_split(%a: tensor<64x1024xbf16>, %b: tensor<1024x256xbf16>, %r: tensor<64x256xbf16>) -> tensor<64x256xbf16> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 32, warps = 4, stages = 3, split_k = 4, cluster_n = 2>} {
  %0 = kiln.matmul %a, %b : (tensor<64x1024xbf16>, tensor<1024x256xbf16>) -> tensor<64x256xbf16>
  %1 = kiln.add %0, %r : (tensor<64x256xbf16>, tensor<64x256xbf16>) -> tensor<64x256xbf16>
  return %1 : tensor<64x256xbf16>
}
