// RUN: kiln-opt %s --kiln-cuda-emit-kernels="arch=sm_80 output=%t.cu" -o /dev/null
// RUN: FileCheck %s < %t.cu

// The prelude comes once, before the kernels.
// CHECK: __device__ __forceinline__ float kiln_f32(__nv_bfloat16 x)

// One thread per element; the [8] bias is loaded at its broadcast index.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(256)
// CHECK-NEXT: bias_gelu(const __nv_bfloat16 *__restrict__ arg0, const __nv_bfloat16 *__restrict__ arg1, __nv_bfloat16 *__restrict__ result0) {
// CHECK: if (i >= 32)
// CHECK: const int64_t c1 = (i / 1) % 8;
// CHECK: const int64_t c0 = (i / 8) % 4;
// CHECK: const float a0 = kiln_f32(arg0[c1 * 1 + c0 * 8]);
// CHECK: const float a1 = kiln_f32(arg1[c1 * 1]);
// CHECK: const float v0 = (a0 + a1);
// CHECK: const float v1 = (0.5f * v0 * (1.0f + tanhf(
// CHECK: kiln_store(&result0[i], v1);
func.func @bias_gelu(%x: tensor<4x8xbf16>, %b: tensor<8xbf16>) -> tensor<4x8xbf16> attributes {kiln.kernel} {
  %0 = kiln.add %x, %b : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
  %1 = kiln.gelu %0 {approximation = #kiln.gelu_approximation<tanh>} : tensor<4x8xbf16>
  return %1 : tensor<4x8xbf16>
}

// Functions that are not kernels are not generated.
// CHECK-NOT: @main
func.func @main(%x: tensor<4x8xbf16>, %b: tensor<8xbf16>) -> tensor<4x8xbf16> {
  %0 = call @bias_gelu(%x, %b) : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}
