// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// bf16 with a residual epilogue: mma.sync on tensor cores, the add applied
// to each f32 accumulator before the one store.
// CHECK-LABEL: matmul_residual(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, const __nv_bfloat16 *__restrict__ arg2, __nv_bfloat16 *__restrict__ result0) {
// CHECK: // [64 x 128] x [128 x 256], block tile 64x128x32, 4x2 warps of 1x8 mma tiles.
// CHECK: __shared__ __nv_bfloat16 tileA[64][32];
// CHECK: __shared__ __nv_bfloat16 tileB[32][128];
// CHECK: for (int64_t k0 = 0; k0 < 128; k0 += 32) {
// CHECK: tileB[r][c] = kk < 128 && col < 256 ? arg1[kk * 256 + col] : __nv_bfloat16(0.0f);
// CHECK: asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
// CHECK: const float product = acc[tm][tn][q];
// CHECK: const float a2 = kiln_f32(arg2[c2 * 1 + c1 * 256]);
// CHECK: const float v0 = (product + a2);
// CHECK: kiln_store(&result0[i], v0);
func.func @matmul_residual(%a: tensor<1x64x128xbf16>, %b: tensor<128x256xbf16>, %r: tensor<1x64x256xbf16>) -> tensor<1x64x256xbf16> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<1x64x128xbf16>, tensor<128x256xbf16>) -> tensor<1x64x256xbf16>
  %1 = kiln.add %0, %r : (tensor<1x64x256xbf16>, tensor<1x64x256xbf16>) -> tensor<1x64x256xbf16>
  return %1 : tensor<1x64x256xbf16>
}

// f32 keeps full precision with scalar FMAs in the mma register layout; the
// config attached to the kernel wins over the default.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(128, 1)
// CHECK-NEXT: matmul_f32(
// CHECK: block tile 32x32x16, 2x2 warps of 1x2 mma tiles.
// CHECK-NOT: mma.sync
// CHECK: acc[tm][tn][3] += a1 * b1;
func.func @matmul_f32(%a: tensor<32x16xf32>, %b: tensor<16x32xf32>) -> tensor<32x32xf32> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 32, block_n = 32, block_k = 16, warps = 4>} {
  %0 = kiln.matmul %a, %b : (tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<32x32xf32>
  return %0 : tensor<32x32xf32>
}
