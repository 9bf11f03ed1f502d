// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" --split-input-file --verify-diagnostics -o /dev/null
// RUN: not kiln-opt %s --split-input-file --kiln-cuda-emit-kernels="arch=sm_75 output=%t.cu" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ARCH

// ARCH: unknown CUDA architecture 'sm_75' (expected sm_80 or sm_90a)

// A router without its experts has no generator.
func.func @router_alone(%x: tensor<16x4xf32>) -> tensor<16x2xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA generation does not cover 'kiln.moe_router' in this kernel yet}}
  %w, %i = kiln.moe_router %x {top_k = 2 : i64} : (tensor<16x4xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  return %w : tensor<16x2xf32>
}

// -----

// Rows are along the last axis.
func.func @softmax_inner(%x: tensor<4x8xf32>) -> tensor<4x8xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA generation covers softmax along the last axis only, not axis 0}}
  %0 = kiln.softmax %x {axis = 0 : i64} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Batched rhs operands are not a GEMM with a shared rhs.
func.func @batched_rhs(%a: tensor<2x16x16xf32>, %b: tensor<2x16x8xf32>) -> tensor<2x16x8xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA generation covers matmuls with a 2-D rhs and no transpose_lhs only}}
  %0 = kiln.matmul %a, %b : (tensor<2x16x16xf32>, tensor<2x16x8xf32>) -> tensor<2x16x8xf32>
  return %0 : tensor<2x16x8xf32>
}

// -----

// Grouped convolutions are not one implicit GEMM.
func.func @grouped_conv(%x: tensor<1x4x8x8xf32>, %w: tensor<8x2x3x3xf32>) -> tensor<1x8x6x6xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA generation covers conv2d with one group only}}
  %0 = kiln.conv2d %x, %w {groups = 2 : i64} : (tensor<1x4x8x8xf32>, tensor<8x2x3x3xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}

// -----

// Matmuls whose accumulators meet in one result share their lhs tile.
func.func @different_lhs(%x: tensor<16x16xf32>, %y: tensor<16x16xf32>, %a: tensor<16x8xf32>, %b: tensor<16x8xf32>) -> tensor<16x8xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %x, %a : (tensor<16x16xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  // expected-error @+1 {{CUDA generation expects the matmuls a result reads to share their lhs and their shape}}
  %1 = kiln.matmul %y, %b : (tensor<16x16xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  %2 = kiln.add %0, %1 : (tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  return %2 : tensor<16x8xf32>
}

// -----

// An epilogue reads each accumulator where it is computed, not transposed.
// expected-error @+1 {{CUDA generation expects result 0 to read each element of 'tensor<16x16xf32>' at one place}}
func.func @transposed_epilogue(%x: tensor<16x16xf32>, %a: tensor<16x16xf32>) -> tensor<16x16xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %x, %a : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 1, 0>} : (tensor<16x16xf32>) -> tensor<16x16xf32>
  %2 = kiln.add %0, %1 : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  return %2 : tensor<16x16xf32>
}

// -----

func.func @too_many_warps(%a: tensor<16x16xbf16>, %b: tensor<16x8xbf16>) -> tensor<16x8xbf16> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 16, block_n = 8, block_k = 16, warps = 4>} {
  // expected-error @+1 {{CUDA config #kiln.cuda_config<block_m = 16, block_n = 8, block_k = 16, warps = 4> does not split into 16x8x16 mma tiles over 4 warps}}
  %0 = kiln.matmul %a, %b : (tensor<16x16xbf16>, tensor<16x8xbf16>) -> tensor<16x8xbf16>
  return %0 : tensor<16x8xbf16>
}

// -----

// Head dim 512 needs f32 tiles beyond 48 KiB of shared memory.
func.func @attention_too_wide(%q: tensor<1x1x64x512xf32>) -> tensor<1x1x64x512xf32> attributes {kiln.kernel} {
  // expected-error @+1 {{CUDA config #kiln.cuda_config<block_m = 16, block_n = 32, block_k = 1, warps = 4> needs 163968 bytes of shared memory (at most 49152)}}
  %0 = kiln.attention %q, %q, %q : (tensor<1x1x64x512xf32>, tensor<1x1x64x512xf32>, tensor<1x1x64x512xf32>) -> tensor<1x1x64x512xf32>
  return %0 : tensor<1x1x64x512xf32>
}

// -----

// Split-K slices are whole block_k tiles; 64 of k has only 2 of 32.
func.func @split_k_too_deep(%a: tensor<32x64xf32>, %b: tensor<64x32xf32>) -> tensor<32x32xf32> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 32, block_n = 32, block_k = 32, warps = 4, split_k = 4>} {
  // expected-error @+1 {{splits k (64) into more slices than it has block_k tiles}}
  %0 = kiln.matmul %a, %b : (tensor<32x64xf32>, tensor<64x32xf32>) -> tensor<32x32xf32>
  return %0 : tensor<32x32xf32>
}

// -----

// Clusters are an sm_90 feature.
// expected-error @+1 {{clusters blocks, which needs sm_90a (not sm_80)}}
func.func @cluster_on_ampere(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>) -> tensor<64x64xf32> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 32, block_n = 32, block_k = 32, warps = 4, cluster_m = 2>} {
  %0 = kiln.matmul %a, %b : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
  return %0 : tensor<64x64xf32>
}

// -----

// Only contractions have a k to split.
// expected-error @+1 {{splits k or clusters blocks, which only matmul and conv kernels do}}
func.func @split_k_softmax(%x: tensor<4x8xf32>) -> tensor<4x8xf32> attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 1, block_n = 8, block_k = 1, warps = 1, split_k = 2>} {
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
