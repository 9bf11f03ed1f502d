func.func @main(%ids: tensor<3xi32> {kiln.range = array<i64: 0, 100>}) -> tensor<3x4xf32> {
  %table = kiln.constant dense<1.0> : tensor<10x4xf32>
  %0 = kiln.gather %table, %ids : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
