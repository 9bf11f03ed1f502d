// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// bf16 with a residual epilogue: mma.sync on tensor cores, the add applied
// to each f32 accumulator before the one store. Operands that are kernel
// arguments stream through a 3-stage cp.async pipeline: tile kt + 2 is in
// flight while tile kt is multiplied.
// CHECK-LABEL: matmul_residual(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, const __nv_bfloat16 *__restrict__ arg2, __nv_bfloat16 *__restrict__ result0) {
// CHECK: // Block tile 64x128x32, 4x2 warps of 1x8 mma tiles of 16x8.
// CHECK: // cp.async pipeline: 3 stages of operand tiles in dynamic shared memory.
// CHECK: __nv_bfloat16 (*stageA)[64][32] = reinterpret_cast<__nv_bfloat16 (*)[64][32]>(kilnShared);
// CHECK: __nv_bfloat16 (*stageB)[1][32][128] = reinterpret_cast<__nv_bfloat16 (*)[1][32][128]>(kilnShared + 12288);
// CHECK: // Results 0: [64 x 128] x [128 x 256] from kiln.matmul.
// CHECK: kiln_cp_async16(&stageA[stage][r][c], arg0 + (inside ? row * 128 + kk : 0), inside);
// CHECK: kiln_cp_async16(&stageB[stage][0][r][c], arg1 + (inside ? kk * 256 + col : 0), inside);
// CHECK: for (int64_t kt = 0; kt < kTiles; ++kt) {
// CHECK-NEXT: kiln_cp_async_wait<1>();
// CHECK-NEXT: __syncthreads();
// CHECK: loadTiles(next % 3, kBegin + next * 32);
// CHECK: const auto tileA = stageA[kt % 3];
// CHECK: asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
// CHECK: const float [[R:a[0-9]+]] = kiln_f32(arg2[(col + m{{[0-9]+}} * 256)]);
// CHECK: const float [[V:v[0-9]+]] = (acc0[tm][tn][q] + [[R]]);
// CHECK: kiln_store(&result0[(col + m{{[0-9]+}} * 256)], [[V]]);
func.func @matmul_residual(%a: tensor<1x64x128xbf16>, %b: tensor<128x256xbf16>, %r: tensor<1x64x256xbf16>) -> tensor<1x64x256xbf16> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<1x64x128xbf16>, tensor<128x256xbf16>) -> tensor<1x64x256xbf16>
  %1 = kiln.add %0, %r : (tensor<1x64x256xbf16>, tensor<1x64x256xbf16>) -> tensor<1x64x256xbf16>
  return %1 : tensor<1x64x256xbf16>
}

// f32 keeps full precision with scalar FMAs in the mma register layout; the
// config attached to the kernel wins over the default (one stage: each k
// tile is staged, then multiplied).
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(128, 1)
// CHECK-NEXT: matmul_f32(
// CHECK: Block tile 32x32x16, 2x2 warps of 1x2 mma tiles of 16x8.
// CHECK: __shared__ float tileA[32][16];
// CHECK-NOT: mma.sync
// CHECK: acc0[tm][tn][3] += a1 * b1;
func.func @matmul_f32(%a: tensor<32x16xf32>, %b: tensor<16x32xf32>) -> tensor<32x32xf32> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 32, block_n = 32, block_k = 16, warps = 4>} {
  %0 = kiln.matmul %a, %b : (tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<32x32xf32>
  return %0 : tensor<32x32xf32>
}

// Prologue: the rms_norm's row statistics are reduced a warp per tile row
// before the main loop; the lhs tile is normalized while it is staged.
// CHECK-LABEL: norm_matmul(
// CHECK: __shared__ float rowStats0[2][16];
// CHECK: for (int r = warp; r < 16; r += 2) {
// CHECK: [[SQ:squares[0-9]+]] = kiln_warp_sum([[SQ]]);
// CHECK: rowStats0[0][r] = scale{{[0-9]+}};
// CHECK: __syncthreads();
// CHECK: const int64_t kBegin = 0, kEnd = 64;
// CHECK: for (int64_t k0 = kBegin; k0 < kEnd; k0 += 32) {
// CHECK: = a{{[0-9]+}} * rowStats0[0][r] * a{{[0-9]+}};
// CHECK: kiln_store(&tileA[r][c], value);
func.func @norm_matmul(%x: tensor<16x64xbf16>, %g: tensor<64xbf16>, %w: tensor<64x16xbf16>) -> tensor<16x16xbf16> attributes {kiln.kernel} {
  %0 = kiln.rms_norm %x, %g : (tensor<16x64xbf16>, tensor<64xbf16>) -> tensor<16x64xbf16>
  %1 = kiln.matmul %0, %w : (tensor<16x64xbf16>, tensor<64x16xbf16>) -> tensor<16x16xbf16>
  return %1 : tensor<16x16xbf16>
}

// Several matmuls: results that read one matmul each are groups side by
// side over blockIdx.x; silu(x A) * (x B) is one group whose two
// accumulators meet in the epilogue.
// CHECK-LABEL: swiglu_and_projection(
// CHECK: __nv_bfloat16 (*stageB)[2][32][64] =
// CHECK: if (blockIdx.x < 2) {
// CHECK: // Results 0: [16 x 64] x [64 x 128] from kiln.matmul.
// CHECK: float acc0[1][1][4] = {};
// CHECK: float acc1[1][1][4] = {};
// CHECK: kiln_cp_async16(&stageB[stage][1][r][c], arg2
// CHECK: float *d = acc1[tm][tn];
// CHECK: const float [[S:v[0-9]+]] = (acc0[tm][tn][q] / (1.0f + expf(-acc0[tm][tn][q])));
// CHECK: = ([[S]] * acc1[tm][tn][q]);
// CHECK: else if (blockIdx.x < 3) {
// CHECK: // Results 1: [16 x 64] x [64 x 32] from kiln.matmul.
func.func @swiglu_and_projection(%x: tensor<16x64xbf16>, %a: tensor<64x128xbf16>, %b: tensor<64x128xbf16>, %c: tensor<64x32xbf16>) -> (tensor<16x128xbf16>, tensor<16x32xbf16>) attributes {kiln.kernel} {
  %0 = kiln.matmul %x, %a : (tensor<16x64xbf16>, tensor<64x128xbf16>) -> tensor<16x128xbf16>
  %1 = kiln.silu %0 : tensor<16x128xbf16>
  %2 = kiln.matmul %x, %b : (tensor<16x64xbf16>, tensor<64x128xbf16>) -> tensor<16x128xbf16>
  %3 = kiln.mul %1, %2 : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %4 = kiln.matmul %x, %c : (tensor<16x64xbf16>, tensor<64x32xbf16>) -> tensor<16x32xbf16>
  return %3, %4 : tensor<16x128xbf16>, tensor<16x32xbf16>
}

// Data movement before the matmul (the attention heads merged back) is an
// index map on the lhs loads.
// CHECK-LABEL: heads_matmul(
// CHECK: __shared__ float tileA[16][32];
// CHECK: const int64_t [[L:l[0-9]+]] = (kk + m{{[0-9]+}} * 64);
// CHECK: const int64_t [[D:r[0-9]+]] = ([[L]]) % 16;
// CHECK: const int64_t [[H:r[0-9]+]] = ([[L]] / 16) % 4;
// CHECK: const int64_t [[S:r[0-9]+]] = ([[L]] / 64) % 16;
// CHECK: kiln_f32(arg0[([[D]] + [[S]] * 16 + [[H]] * 256)]);
func.func @heads_matmul(%o: tensor<1x4x16x16xf32>, %w: tensor<64x64xf32>) -> tensor<1x16x64xf32> attributes {kiln.kernel} {
  %0 = kiln.transpose %o {permutation = array<i64: 0, 2, 1, 3>} : (tensor<1x4x16x16xf32>) -> tensor<1x16x4x16xf32>
  %1 = kiln.reshape %0 : tensor<1x16x4x16xf32> to tensor<1x16x64xf32>
  %2 = kiln.matmul %1, %w : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
  return %2 : tensor<1x16x64xf32>
}
