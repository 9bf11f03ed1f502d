// The tuning benchmark's elementwise chain, x * sigmoid(x) + y (a SiLU with
// a residual, one fused kernel), as in the kernels suite of `kiln bench`
// (bench/Suite.cpp).
func.func @main(%x: tensor<32768x1024xf32>, %y: tensor<32768x1024xf32>) -> tensor<32768x1024xf32> {
  %0 = kiln.sigmoid %x : tensor<32768x1024xf32>
  %1 = kiln.mul %x, %0 : (tensor<32768x1024xf32>, tensor<32768x1024xf32>) -> tensor<32768x1024xf32>
  %2 = kiln.add %1, %y : (tensor<32768x1024xf32>, tensor<32768x1024xf32>) -> tensor<32768x1024xf32>
  return %2 : tensor<32768x1024xf32>
}
