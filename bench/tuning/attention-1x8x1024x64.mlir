// The tuning benchmark's causal grouped-query attention (8 query heads over
// 2 key/value heads, 1024 tokens of 64), as in the kernels suite of
// `kiln bench` (bench/Suite.cpp).
func.func @main(%q: tensor<1x8x1024x64xf32>, %k: tensor<1x2x1024x64xf32>, %v: tensor<1x2x1024x64xf32>) -> tensor<1x8x1024x64xf32> {
  %0 = kiln.attention %q, %k, %v {causal = true} : (tensor<1x8x1024x64xf32>, tensor<1x2x1024x64xf32>, tensor<1x2x1024x64xf32>) -> tensor<1x8x1024x64xf32>
  return %0 : tensor<1x8x1024x64xf32>
}
