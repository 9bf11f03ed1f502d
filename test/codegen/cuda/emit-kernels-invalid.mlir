// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" --split-input-file --verify-diagnostics -o /dev/null
// RUN: not kiln-opt %s --split-input-file --kiln-cuda-emit-kernels="arch=sm_75 output=%t.cu" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ARCH

// ARCH: unknown CUDA architecture 'sm_75' (expected sm_80 or sm_90a)

func.func @transposed(%x: tensor<4x8xf32>) -> tensor<8x4xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA generation does not cover 'kiln.transpose' in this kernel yet}}
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

func.func @softmax_inner(%x: tensor<4x8xf32>) -> tensor<4x8xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA generation covers softmax along the last axis only, not axis 0}}
  %0 = kiln.softmax %x {axis = 0 : i64} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @norm_then_matmul(%x: tensor<16x64xf32>, %g: tensor<64xf32>, %w: tensor<64x32xf32>) -> tensor<16x32xf32> attributes {kiln.kernel} {
  %0 = kiln.rms_norm %x, %g : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  // expected-error @+1 {{CUDA generation covers matmuls of kernel arguments only, not of computed values}}
  %1 = kiln.matmul %0, %w : (tensor<16x64xf32>, tensor<64x32xf32>) -> tensor<16x32xf32>
  return %1 : tensor<16x32xf32>
}

// -----

// expected-error @+1 {{CUDA generation does not cover tensors of 'tensor<4xi32>' yet}}
func.func @integers(%x: tensor<4xi32>) -> tensor<4xf32> attributes {kiln.kernel} {
  %0 = kiln.cast %x : tensor<4xi32> to tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @too_many_warps(%a: tensor<16x16xbf16>, %b: tensor<16x8xbf16>) -> tensor<16x8xbf16> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 16, block_n = 8, block_k = 16, warps = 4>} {
  // expected-error @+1 {{CUDA config #kiln.cuda_config<block_m = 16, block_n = 8, block_k = 16, warps = 4> does not split into 16x8x16 mma tiles over 4 warps}}
  %0 = kiln.matmul %a, %b : (tensor<16x16xbf16>, tensor<16x8xbf16>) -> tensor<16x8xbf16>
  return %0 : tensor<16x8xbf16>
}
