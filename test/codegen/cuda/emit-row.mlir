// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_90a output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// softmax: max, then sum of exponentials, then the normalized write, each a
// strided pass over the row; 64 elements take one warp.
// CHECK-LABEL: softmax_rows(const float *__restrict__ arg0, float *__restrict__ result0) {
// CHECK: __shared__ float partials[1];
// CHECK: const int64_t row = (int64_t)blockIdx.x * 64;
// CHECK: top = kiln_block_reduce<1, true>(top, partials);
// CHECK: total += expf(kiln_f32(arg0[row + j]) - top);
// CHECK: total = kiln_block_reduce<1, false>(total, partials);
// CHECK: kiln_store(&result0[row + j], expf(kiln_f32(arg0[row + j]) - top) * inverse);
func.func @softmax_rows(%x: tensor<3x64xf32>) -> tensor<3x64xf32> attributes {kiln.kernel} {
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<3x64xf32>
  return %0 : tensor<3x64xf32>
}

// rms_norm over 2048 elements: 8 warps.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(256)
// CHECK-NEXT: rms(const __half *__restrict__ arg0, const __half *__restrict__ arg1, __half *__restrict__ result0) {
// CHECK: squares = kiln_block_reduce<8, false>(squares, partials);
// CHECK: const float scale = rsqrtf(squares / 2048.0f + 1.000000e-06f);
// CHECK: kiln_store(&result0[row + j], kiln_f32(arg0[row + j]) * scale * kiln_f32(arg1[j]));
func.func @rms(%x: tensor<2x2048xf16>, %g: tensor<2048xf16>) -> tensor<2x2048xf16> attributes {kiln.kernel} {
  %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<2x2048xf16>, tensor<2048xf16>) -> tensor<2x2048xf16>
  return %0 : tensor<2x2048xf16>
}

// layer_norm: mean, then the variance around it, then scale and bias.
// CHECK-LABEL: ln(
// CHECK: const float mean = kiln_block_reduce<1, false>(total, partials) / 32.0f;
// CHECK: const float v = kiln_f32(arg0[row + j]) - mean;
// CHECK: kiln_store(&result0[row + j], (kiln_f32(arg0[row + j]) - mean) * scale * kiln_f32(arg1[j]) + kiln_f32(arg2[j]));
func.func @ln(%x: tensor<4x32xf32>, %g: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<4x32xf32> attributes {kiln.kernel} {
  %0 = kiln.layer_norm %x, %g, %b : (tensor<4x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}
