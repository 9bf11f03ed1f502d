// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_90a output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// softmax: max, then sum of exponentials, then the normalized write, each a
// strided pass over the row; 64 elements take one warp.
// CHECK-LABEL: softmax_rows(const float *__restrict__ arg0, float *__restrict__ result0) {
// CHECK: __shared__ float partials[1];
// CHECK: const int64_t [[ROW:c[0-9]+]] = (int64_t)blockIdx.x;
// CHECK: [[TOP:top[0-9]+]] = kiln_block_reduce<1, true>([[TOP]], partials);
// CHECK: [[TOTAL:total[0-9]+]] = [[TOTAL]] + expf(a{{[0-9]+}} - [[TOP]]);
// CHECK: [[TOTAL]] = kiln_block_reduce<1, false>([[TOTAL]], partials);
// CHECK: = expf(a{{[0-9]+}} - [[TOP]]) / [[TOTAL]];
// CHECK: kiln_store(&result0[(j{{[0-9]+}} + [[ROW]] * 64)],
func.func @softmax_rows(%x: tensor<3x64xf32>) -> tensor<3x64xf32> attributes {kiln.kernel} {
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<3x64xf32>
  return %0 : tensor<3x64xf32>
}

// rms_norm over 2048 elements: 8 warps.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(256)
// CHECK-NEXT: rms(const __half *__restrict__ arg0, const __half *__restrict__ arg1, __half *__restrict__ result0) {
// CHECK: [[SQ:squares[0-9]+]] = kiln_block_reduce<8, false>([[SQ]], partials);
// CHECK: const float [[SCALE:scale[0-9]+]] = rsqrtf([[SQ]] / 2048.0f + 1.000000e-06f);
// CHECK: const float [[G:a[0-9]+]] = kiln_f32(arg1[(j{{[0-9]+}})]);
// CHECK: = a{{[0-9]+}} * [[SCALE]] * [[G]];
func.func @rms(%x: tensor<2x2048xf16>, %g: tensor<2048xf16>) -> tensor<2x2048xf16> attributes {kiln.kernel} {
  %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<2x2048xf16>, tensor<2048xf16>) -> tensor<2x2048xf16>
  return %0 : tensor<2x2048xf16>
}

// layer_norm: mean, then the variance around it, then scale and bias.
// CHECK-LABEL: ln(
// CHECK: const float [[MEAN:mean[0-9]+]] = total{{[0-9]+}} / 32.0f;
// CHECK: squares{{[0-9]+}} + (a{{[0-9]+}} - [[MEAN]]) * (a{{[0-9]+}} - [[MEAN]]);
// CHECK: = (a{{[0-9]+}} - [[MEAN]]) * scale{{[0-9]+}} * a{{[0-9]+}} + a{{[0-9]+}};
func.func @ln(%x: tensor<4x32xf32>, %g: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<4x32xf32> attributes {kiln.kernel} {
  %0 = kiln.layer_norm %x, %g, %b : (tensor<4x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}

// Producers fuse into the row's loads, consumers into its stores: the vit's
// class token concat + positions feed the norm, and both the sum and the
// norm are results.
// CHECK-LABEL: concat_norm(
// CHECK: if (c{{[0-9]+}} < 1) {
// CHECK: kiln_block_reduce<1, false>
// CHECK: kiln_store(&result0[
// CHECK: kiln_store(&result1[
func.func @concat_norm(%cls: tensor<1x1x64xf32>, %x: tensor<1x16x64xf32>, %p: tensor<17x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) -> (tensor<1x17x64xf32>, tensor<1x17x64xf32>) attributes {kiln.kernel} {
  %0 = kiln.concat %cls, %x {axis = 1 : i64} : (tensor<1x1x64xf32>, tensor<1x16x64xf32>) -> tensor<1x17x64xf32>
  %1 = kiln.add %0, %p : (tensor<1x17x64xf32>, tensor<17x64xf32>) -> tensor<1x17x64xf32>
  %2 = kiln.layer_norm %1, %g, %b : (tensor<1x17x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x17x64xf32>
  return %1, %2 : tensor<1x17x64xf32>, tensor<1x17x64xf32>
}

// A slice after the norm stores only the rows it keeps.
// CHECK-LABEL: norm_slice(
// CHECK: if ([[C:c[0-9]+]] >= 0 && [[C]] < 1) {
// CHECK: kiln_store(&result0[
func.func @norm_slice(%x: tensor<1x17x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<1x64xf32> attributes {kiln.kernel} {
  %0 = kiln.layer_norm %x, %g, %b : (tensor<1x17x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x17x64xf32>
  %1 = kiln.slice %0 {limits = array<i64: 1, 1, 64>, starts = array<i64: 0, 0, 0>} : (tensor<1x17x64xf32>) -> tensor<1x1x64xf32>
  %2 = kiln.reshape %1 : tensor<1x1x64xf32> to tensor<1x64xf32>
  return %2 : tensor<1x64xf32>
}
