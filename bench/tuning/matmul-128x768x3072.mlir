// The tuning benchmark's f32 matmul 128x768x3072 (M x K x N), as in the
// kernels suite of `kiln bench` (bench/Suite.cpp).
func.func @main(%a: tensor<128x768xf32>, %b: tensor<768x3072xf32>) -> tensor<128x3072xf32> {
  %0 = kiln.matmul %a, %b : (tensor<128x768xf32>, tensor<768x3072xf32>) -> tensor<128x3072xf32>
  return %0 : tensor<128x3072xf32>
}
