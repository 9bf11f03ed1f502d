// A kernel that holds a kiln.fused op: kernels are what fusion produces, so
// the CPU backend never lowers a fused op inside one.
func.func private @kernel(%x: tensor<4xf32>) -> tensor<4xf32> attributes {kiln.kernel, kiln.fusion_kind = "exp"} {
  %0 = kiln.fused "exp" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %1 = kiln.exp %a : tensor<4xf32>
    kiln.yield %1 : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = call @kernel(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
