// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// The prelude comes once, before the kernels.
// CHECK: __device__ __forceinline__ float kiln_f32(__nv_bfloat16 x)

// Eight bf16 lanes per thread: the outer coordinates once, one 128-bit
// load per argument (the [8] bias at its broadcast index) and one 128-bit
// store.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(256)
// CHECK-NEXT: bias_gelu(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, __nv_bfloat16 *__restrict__ result0) {
// CHECK: const int64_t first = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 8;
// CHECK: if (first >= 32)
// CHECK: for (int lane = 0; lane < 8; ++lane) {
// CHECK: *reinterpret_cast<uint4 *>([[X:vec[0-9]+]]) = *reinterpret_cast<const uint4 *>(&arg0[(column + c{{[0-9]+}} * 8)]);
// CHECK: const float [[A:a[0-9]+]] = kiln_f32([[X]][lane]);
// CHECK: *reinterpret_cast<uint4 *>([[B:vec[0-9]+]]) = *reinterpret_cast<const uint4 *>(&arg1[(column)]);
// CHECK: const float [[V:v[0-9]+]] = ([[A]] + a{{[0-9]+}});
// CHECK: (0.5f * [[V]] * (1.0f + tanhf(
// CHECK: *reinterpret_cast<uint4 *>(&result0[first]) = *reinterpret_cast<const uint4 *>(out0);
func.func @bias_gelu(%x: tensor<4x8xbf16>, %b: tensor<8xbf16>) -> tensor<4x8xbf16> attributes {kiln.kernel} {
  %0 = kiln.add %x, %b : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
  %1 = kiln.gelu %0 {approximation = #kiln.gelu_approximation<tanh>} : tensor<4x8xbf16>
  return %1 : tensor<4x8xbf16>
}

// A transpose moves the innermost axis: its loads stay scalar, the stores
// are still vectors.
// CHECK-LABEL: transposed(
// CHECK: for (int lane = 0; lane < 4; ++lane) {
// CHECK: const float a{{[0-9]+}} = kiln_f32(arg0[(c{{[0-9]+}} + column * 8)]);
// CHECK: *reinterpret_cast<uint4 *>(&result0[first])
func.func @transposed(%x: tensor<4x8xf32>) -> tensor<8x4xf32> attributes {kiln.kernel} {
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// Embedding lookup then concat along the sequence: the index picks the
// table row (clamped into the table), the concat a branch; rows stay
// contiguous, so the table is read as vectors.
// CHECK-LABEL: gather_concat(
// CHECK: if (c{{[0-9]+}} < 16) {
// CHECK: else {
// CHECK: const int64_t [[ID:a[0-9]+]] = (int64_t)arg1[
// CHECK: const int64_t [[ROW:g[0-9]+]] = min(max([[ID]], (int64_t)0), (int64_t)255);
// CHECK: *reinterpret_cast<const uint4 *>(&arg0[(column + [[ROW]] * 64)]);
func.func @gather_concat(%table: tensor<256x64xbf16>, %ids: tensor<1x16xi32>, %image: tensor<1x16x64xbf16>) -> tensor<1x32x64xbf16> attributes {kiln.kernel} {
  %0 = kiln.gather %table, %ids : (tensor<256x64xbf16>, tensor<1x16xi32>) -> tensor<1x16x64xbf16>
  %1 = kiln.concat %image, %0 {axis = 1 : i64} : (tensor<1x16x64xbf16>, tensor<1x16x64xbf16>) -> tensor<1x32x64xbf16>
  return %1 : tensor<1x32x64xbf16>
}

// A strided slice and a reshape are index arithmetic on the load; an odd
// innermost extent takes one element per thread.
// CHECK-LABEL: slice_reshape(
// CHECK: // 15 elements, 1 consecutive ones per thread.
// CHECK: arg0[((r{{[0-9]+}} * 2 + 1) + r{{[0-9]+}} * 12 + r{{[0-9]+}} * 72)]
// CHECK: kiln_store(&result0[
func.func @slice_reshape(%x: tensor<2x6x12xf32>) -> tensor<15xf32> attributes {kiln.kernel} {
  %0 = kiln.reshape %x : tensor<2x6x12xf32> to tensor<12x12xf32>
  %1 = kiln.slice %0 {starts = array<i64: 0, 1>, limits = array<i64: 3, 11>, strides = array<i64: 1, 2>} : (tensor<12x12xf32>) -> tensor<3x5xf32>
  %2 = kiln.reshape %1 : tensor<3x5xf32> to tensor<15xf32>
  return %2 : tensor<15xf32>
}

// Pooling windows and rope are loops and pairs on the loads.
// CHECK-LABEL: pool_rope(
// CHECK: for (int64_t ky{{[0-9]+}} = 0; ky{{[0-9]+}} < 2; ++ky{{[0-9]+}}) {
// CHECK: = fmaxf(v{{[0-9]+}}, a{{[0-9]+}});
// CHECK: __cosf(
func.func @pool_rope(%x: tensor<1x2x8x8xf32>) -> tensor<1x2x4x4xf32> attributes {kiln.kernel} {
  %0 = kiln.max_pool2d %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x2x8x8xf32>) -> tensor<1x2x4x4xf32>
  %1 = kiln.rope %0 : tensor<1x2x4x4xf32>
  return %1 : tensor<1x2x4x4xf32>
}

// Functions that are not kernels are not generated.
// CHECK-NOT: @main
func.func @main(%x: tensor<4x8xbf16>, %b: tensor<8xbf16>) -> tensor<4x8xbf16> {
  %0 = call @bias_gelu(%x, %b) : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}
