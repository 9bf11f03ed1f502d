// The tuning benchmark's f32 matmul 2048x2048x2048 (M x K x N), as in the
// kernels suite of `kiln bench` (bench/Suite.cpp).
func.func @main(%a: tensor<2048x2048xf32>, %b: tensor<2048x2048xf32>) -> tensor<2048x2048xf32> {
  %0 = kiln.matmul %a, %b : (tensor<2048x2048xf32>, tensor<2048x2048xf32>) -> tensor<2048x2048xf32>
  return %0 : tensor<2048x2048xf32>
}
