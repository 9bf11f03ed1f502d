// The tuning benchmark's RMS norm, as in the kernels suite of `kiln bench`
// (bench/Suite.cpp).
func.func @main(%x: tensor<32768x1024xf32>, %g: tensor<1024xf32>) -> tensor<32768x1024xf32> {
  %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<32768x1024xf32>, tensor<1024xf32>) -> tensor<32768x1024xf32>
  return %0 : tensor<32768x1024xf32>
}
