// The tuning benchmark's f32 matmul 512x384x1536 (M x K x N), as in the
// kernels suite of `kiln bench` (bench/Suite.cpp).
func.func @main(%a: tensor<512x384xf32>, %b: tensor<384x1536xf32>) -> tensor<512x1536xf32> {
  %0 = kiln.matmul %a, %b : (tensor<512x384xf32>, tensor<384x1536xf32>) -> tensor<512x1536xf32>
  return %0 : tensor<512x1536xf32>
}
