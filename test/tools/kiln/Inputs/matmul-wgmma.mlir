// A bf16 matmul of two inputs large enough for sm_90a's wgmma tile.
func.func @main(%a: tensor<256x512xbf16> {kiln.name = "a"}, %b: tensor<512x192xbf16> {kiln.name = "b"}) -> tensor<256x192xbf16> {
  %0 = kiln.matmul %a, %b : (tensor<256x512xbf16>, tensor<512x192xbf16>) -> tensor<256x192xbf16>
  %1 = kiln.relu %0 : tensor<256x192xbf16>
  return %1 : tensor<256x192xbf16>
}
