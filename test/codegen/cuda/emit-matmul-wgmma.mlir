// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_90a output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu
// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t80.cu" -o /dev/null
// RUN: FileCheck %s --check-prefix=AMPERE < %t80.cu

// A bf16 matmul of two arguments on sm_90a: the default 128x128x64 tile,
// two warpgroups; thread 0 loads each k tile by TMA (one A box, two
// 64-column B boxes) into a ring of 4 stages on mbarriers; each warpgroup
// runs 4 wgmma m64n128k16 per tile (K-major A, MN-major B, 128B swizzle)
// and the bias epilogue reads the accumulators as mma.sync's fragments.
// CHECK-LABEL: matmul_bias(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, const __nv_bfloat16 *__restrict__ arg2, __nv_bfloat16 *__restrict__ result0, const __grid_constant__ KilnTensorMap tmapA, const __grid_constant__ KilnTensorMap tmapB) {
// CHECK: // Block tile 128x128x64, 8x1 warps of 1x16 mma tiles of 16x8.
// CHECK: extern __shared__ __align__(1024) unsigned char kilnShared[];
// CHECK: const int warpRow = (warp / 1) * 16, warpCol = (warp % 1) * 128;
// CHECK: float acc0[1][16][4] = {};
// CHECK: const uint32_t smem = (kiln_shared_address(kilnShared) + 1023) & ~1023u;
// CHECK: __shared__ __align__(8) uint64_t kilnFull[4];
// CHECK: kiln_mbarrier_init(&kilnFull[s], 1);
// CHECK-NEXT: kiln_fence_barrier_init();
// CHECK: kiln_mbarrier_expect_tx(&kilnFull[stage], 32768);
// CHECK-NEXT: kiln_tma_load_2d(smem + stage * 16384, &tmapA, (int)k0, (int)rowBase, &kilnFull[stage]);
// CHECK: for (int h = 0; h < 2; ++h)
// CHECK-NEXT: kiln_tma_load_2d(smem + 65536 + stage * 16384 + h * 8192, &tmapB, (int)(colBase + h * 64), (int)k0, &kilnFull[stage]);
// CHECK: kiln_mbarrier_wait(&kilnFull[stage], (uint32_t)(kt / 4) & 1u);
// CHECK-NEXT: const uint32_t a = smem + stage * 16384 + warpgroup * 8192, b = smem + 65536 + stage * 16384;
// CHECK-NEXT: kiln_wgmma_fence();
// CHECK: const uint64_t descA = kiln_wgmma_desc(a + kk * 32, 16, 1024);
// CHECK-NEXT: const uint64_t descB = kiln_wgmma_desc(b + kk * 2048, 8192, 1024);
// CHECK: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK: %64, %65, p, 1, 1, 0, 1;
// CHECK: kiln_wgmma_commit();
// CHECK-NEXT: kiln_wgmma_wait_all();
// CHECK: __syncthreads();
// CHECK-NEXT: if (threadIdx.x == 0 && kt + 4 < kTiles)
// CHECK-NEXT: loadTiles(stage, kBegin + (kt + 4) * 64);
// CHECK: const float [[V:v[0-9]+]] = (acc0[tm][tn][q] + a{{[0-9]+}});
// CHECK: kiln_store(&result0[(col + m{{[0-9]+}} * 256)], [[V]]);
// AMPERE-LABEL: matmul_bias(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, const __nv_bfloat16 *__restrict__ arg2, __nv_bfloat16 *__restrict__ result0) {
// AMPERE: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// AMPERE-NOT: wgmma
func.func @matmul_bias(%a: tensor<256x512xbf16>, %b: tensor<512x256xbf16>, %c: tensor<256xbf16>) -> tensor<256x256xbf16> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<256x512xbf16>, tensor<512x256xbf16>) -> tensor<256x256xbf16>
  %1 = kiln.add %0, %c : (tensor<256x256xbf16>, tensor<256xbf16>) -> tensor<256x256xbf16>
  return %1 : tensor<256x256xbf16>
}
