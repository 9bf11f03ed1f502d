module attributes {kiln.weights_file = "../Inputs/weights.safetensors"} {
  func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}
