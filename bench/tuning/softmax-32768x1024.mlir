// The tuning benchmark's row softmax, as in the kernels suite of
// `kiln bench` (bench/Suite.cpp).
func.func @main(%x: tensor<32768x1024xf32>) -> tensor<32768x1024xf32> {
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<32768x1024xf32>
  return %0 : tensor<32768x1024xf32>
}
