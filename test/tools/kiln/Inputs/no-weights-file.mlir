func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = kiln.weight "w" : tensor<4x4xf32>
  %0 = kiln.matmul %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
