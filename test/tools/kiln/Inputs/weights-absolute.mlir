module attributes {kiln.weights_file = "/etc/passwd"} {
  func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}
