// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_90a output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// The vit patch embedding: conv2d as an implicit GEMM of output pixels x
// filter taps x output channels; the lhs tile gathers the input window of
// each pixel (zero padding outside), the rhs tile reads the filter as
// [taps x channels]; the epilogue's reshape + transpose + bias map each
// accumulator to its token and channel.
// CHECK-LABEL: patch_embed(
// CHECK: // Results 0: [16 x 192] x [192 x 64] from kiln.conv2d.
// CHECK: const int64_t [[IY:iy[0-9]+]] = p{{[0-9]+}} * 8 - 0 + t{{[0-9]+}} * 1;
// CHECK: if ([[IY]] >= 0 && [[IY]] < 32 && ix{{[0-9]+}} >= 0 && ix{{[0-9]+}} < 32) {
// CHECK: value = a{{[0-9]+}};
// CHECK: kiln_f32(arg1[(t{{[0-9]+}} + t{{[0-9]+}} * 8 + t{{[0-9]+}} * 64 + col * 192)]);
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: const float [[B:a[0-9]+]] = kiln_f32(arg2[(f{{[0-9]+}})]);
// CHECK: = (acc0[tm][tn][q] + [[B]]);
// CHECK: kiln_store(&result0[(f{{[0-9]+}} + f{{[0-9]+}} * 64)],
func.func @patch_embed(%x: tensor<1x3x32x32xbf16>, %w: tensor<64x3x8x8xbf16>, %b: tensor<64xbf16>) -> tensor<1x16x64xbf16> attributes {kiln.kernel} {
  %0 = kiln.conv2d %x, %w {strides = array<i64: 8, 8>} : (tensor<1x3x32x32xbf16>, tensor<64x3x8x8xbf16>) -> tensor<1x64x4x4xbf16>
  %1 = kiln.reshape %0 : tensor<1x64x4x4xbf16> to tensor<1x64x16xbf16>
  %2 = kiln.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<1x64x16xbf16>) -> tensor<1x16x64xbf16>
  %3 = kiln.add %2, %b : (tensor<1x16x64xbf16>, tensor<64xbf16>) -> tensor<1x16x64xbf16>
  return %3 : tensor<1x16x64xbf16>
}

// Padding and dilation enter the window coordinates.
// CHECK-LABEL: padded(
// CHECK: const int64_t iy{{[0-9]+}} = p{{[0-9]+}} * 1 - 1 + t{{[0-9]+}} * 2;
func.func @padded(%x: tensor<1x4x8x8xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32> attributes {kiln.kernel} {
  %0 = kiln.conv2d %x, %w {padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}
