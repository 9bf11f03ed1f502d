// The tuning benchmark's f32 matmul 1024x1024x1024 (M x K x N), as in the
// kernels suite of `kiln bench` (bench/Suite.cpp).
func.func @main(%a: tensor<1024x1024xf32>, %b: tensor<1024x1024xf32>) -> tensor<1024x1024xf32> {
  %0 = kiln.matmul %a, %b : (tensor<1024x1024xf32>, tensor<1024x1024xf32>) -> tensor<1024x1024xf32>
  return %0 : tensor<1024x1024xf32>
}
