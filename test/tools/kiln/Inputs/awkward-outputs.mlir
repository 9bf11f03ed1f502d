// Outputs in every awkward form: %a is returned, read by a later kernel and
// returned again; %x and %y are inputs and %c a constant.
func.func @main(%x: tensor<3x5xf32> {kiln.name = "x"}, %y: tensor<5xf32> {kiln.name = "y"}) -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<5xf32>, tensor<2xf32>, tensor<3x5xf32>) {
  %c = kiln.constant dense<[1.5, -2.0]> : tensor<2xf32>
  %a = kiln.add %x, %y : (tensor<3x5xf32>, tensor<5xf32>) -> tensor<3x5xf32>
  %b = kiln.exp %a : tensor<3x5xf32>
  %s = kiln.softmax %b {axis = 1 : i64} : tensor<3x5xf32>
  return %a, %s, %x, %y, %c, %a : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<5xf32>, tensor<2xf32>, tensor<3x5xf32>
}
