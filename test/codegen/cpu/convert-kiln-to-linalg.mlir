// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-convert-kiln-to-linalg))' --split-input-file | FileCheck %s

// A broadcast operand is read through a map that drops its missing leading
// dimensions.
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @add_broadcast
func.func @add_broadcast(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // CHECK: %[[INIT:.+]] = tensor.empty() : tensor<4x8xf32>
  // CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
  // CHECK-SAME: outs(%[[INIT]] : tensor<4x8xf32>)
  // CHECK: arith.addf
  // CHECK-NOT: kiln.
  %0 = kiln.add %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// A size-1 dimension that broadcasts is read at index 0.
// CHECK-DAG: #[[$COL:.+]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @mul_size_one
func.func @mul_size_one(%a: tensor<4x8xf32>, %b: tensor<4x1xf32>) -> tensor<4x8xf32> {
  // CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$COL]], #{{.+}}]
  // CHECK: arith.mulf
  %0 = kiln.mul %a, %b : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// bf16 is computed in f32 and rounded once; gelu goes through erf.
// CHECK-LABEL: func.func @gelu_bf16
func.func @gelu_bf16(%x: tensor<4xbf16>) -> tensor<4xbf16> {
  // CHECK: ^bb0(%[[IN:.+]]: bf16, %{{.+}}: bf16):
  // CHECK: %[[WIDE:.+]] = arith.extf %[[IN]] : bf16 to f32
  // CHECK: math.erf
  // CHECK: %[[NARROW:.+]] = arith.truncf %{{.+}} : f32 to bf16
  // CHECK: linalg.yield %[[NARROW]] : bf16
  %0 = kiln.gelu %x : tensor<4xbf16>
  return %0 : tensor<4xbf16>
}

// -----

// The tanh form of gelu.
// CHECK-LABEL: func.func @gelu_tanh
func.func @gelu_tanh(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: math.tanh
  // CHECK-NOT: math.erf
  %0 = kiln.gelu %x {approximation = #kiln.gelu_approximation<tanh>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Transposed operands are read through transposed maps; a rank-2 rhs is
// shared by every batch; bf16 accumulates in f32 and is rounded afterwards.
// CHECK-DAG: #[[$LHS:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d1)>
// CHECK-DAG: #[[$RHS:.+]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-DAG: #[[$OUT:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @matmul_batch_transposed
func.func @matmul_batch_transposed(%a: tensor<2x16x8xbf16>, %b: tensor<32x16xbf16>) -> tensor<2x8x32xbf16> {
  // CHECK: %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<2x8x32xf32>)
  // CHECK: %[[ACC:.+]] = linalg.generic {indexing_maps = [#[[$LHS]], #[[$RHS]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
  // CHECK-SAME: outs(%[[ZERO]] : tensor<2x8x32xf32>)
  // CHECK: arith.mulf %{{.+}}, %{{.+}} fastmath<contract> : f32
  // CHECK: arith.addf %{{.+}}, %{{.+}} fastmath<contract> : f32
  // CHECK: linalg.generic
  // CHECK-SAME: ins(%[[ACC]] : tensor<2x8x32xf32>)
  // CHECK: arith.truncf %{{.+}} : f32 to bf16
  %0 = kiln.matmul %a, %b {transpose_lhs = true, transpose_rhs = true} : (tensor<2x16x8xbf16>, tensor<32x16xbf16>) -> tensor<2x8x32xbf16>
  return %0 : tensor<2x8x32xbf16>
}

// -----

// Softmax: the row maximum, the sum of exp(x - max), its reciprocal once
// per row, then exp(x - max) * (1 / sum).
// CHECK-LABEL: func.func @softmax
func.func @softmax(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: %[[MAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
  // CHECK: arith.maximumf
  // CHECK: %[[SUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
  // CHECK-SAME: ins(%{{.+}}, %[[MAX]] :
  // CHECK: math.exp
  // CHECK: %[[INVERSE:.+]] = linalg.generic {{.+}} iterator_types = ["parallel"]
  // CHECK-SAME: ins(%[[SUM]] : tensor<4xf32>)
  // CHECK: arith.divf
  // CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]
  // CHECK-SAME: ins(%{{.+}}, %[[MAX]], %[[INVERSE]] :
  // CHECK-NOT: arith.divf
  // CHECK: arith.mulf
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// A mean divides by the count; kept dimensions come back through the map.
// CHECK-LABEL: func.func @reduce_mean_keep_dims
func.func @reduce_mean_keep_dims(%x: tensor<4x8xf32>) -> tensor<4x1xf32> {
  // CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
  // CHECK: linalg.generic
  // CHECK-SAME: outs(%{{.+}} : tensor<4x1xf32>)
  // CHECK: arith.constant 8.000000e+00 : f32
  // CHECK: arith.divf
  %0 = kiln.reduce_mean %x {axes = array<i64: 1>, keep_dims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  return %0 : tensor<4x1xf32>
}

// -----

// RMS norm: the sum of squares per row, rsqrt(mean + eps) once per row,
// then x * rsqrt(mean + eps) * scale.
// CHECK-LABEL: func.func @rms_norm
func.func @rms_norm(%x: tensor<4x8xf32>, %g: tensor<8xf32>) -> tensor<4x8xf32> {
  // CHECK: %[[SQUARES:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
  // CHECK: %[[INVERSE:.+]] = linalg.generic {{.+}} iterator_types = ["parallel"]
  // CHECK-SAME: ins(%[[SQUARES]] : tensor<4xf32>)
  // CHECK: math.rsqrt
  // CHECK: linalg.generic
  // CHECK-SAME: ins(%{{.+}}, %[[INVERSE]], %{{.+}} : tensor<4x8xf32>, tensor<4xf32>, tensor<8xf32>)
  // CHECK-NOT: math.rsqrt
  // CHECK: arith.mulf
  %0 = kiln.rms_norm %x, %g {epsilon = 1.0e-06 : f32} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Padding becomes tensor.pad; a grouped convolution views the channels as
// [groups, channels per group].
// CHECK-LABEL: func.func @conv2d_grouped_padded
func.func @conv2d_grouped_padded(%x: tensor<1x4x7x7xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x7x7xf32> {
  // CHECK: tensor.pad %{{.+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
  // CHECK: tensor.expand_shape {{.+}} into tensor<1x2x2x9x9xf32>
  // CHECK: tensor.expand_shape {{.+}} into tensor<2x3x2x3x3xf32>
  // CHECK: linalg.conv_2d_ngchw_gfchw
  // CHECK: tensor.collapse_shape {{.+}} into tensor<1x6x7x7xf32>
  %0 = kiln.conv2d %x, %w {groups = 2 : i64, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x4x7x7xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x7x7xf32>
  return %0 : tensor<1x6x7x7xf32>
}

// -----

// A convolution is a matmul over im2col patches: the patches copy the input
// element each tap reads at each output position, ow innermost; the filter
// [F, C * KH * KW] times the patches [N, C * KH * KW, OH * OW] is a
// contraction over k = (c, kh, kw) with the filter's rows as m.
// CHECK-DAG: #[[$TAPS:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4 * 2 + d2 * 2, d5 * 2 + d3 * 2)>
// CHECK-DAG: #[[$ID6:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4, d5)>
// CHECK-DAG: #[[$LHS:.+]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
// CHECK-DAG: #[[$RHS:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[$OUT:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @conv2d_im2col
func.func @conv2d_im2col(%x: tensor<2x3x9x9xbf16>, %w: tensor<5x3x3x3xbf16>) -> tensor<2x5x4x4xbf16> {
  // CHECK: %[[PAD:.+]] = tensor.pad %{{.+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
  // CHECK: %[[TAPS:.+]] = linalg.generic {indexing_maps = [#[[$TAPS]], #[[$ID6]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
  // CHECK-SAME: ins(%[[PAD]] : tensor<2x3x11x11xbf16>) outs(%{{.+}} : tensor<2x3x3x3x4x4xbf16>)
  // CHECK: %[[PATCHES:.+]] = tensor.collapse_shape %[[TAPS]] {{\[}}[0], [1, 2, 3], [4, 5]] : tensor<2x3x3x3x4x4xbf16> into tensor<2x27x16xbf16>
  // CHECK: %[[ROWS:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0], [1, 2, 3]] : tensor<5x3x3x3xbf16> into tensor<5x27xbf16>
  // CHECK: %[[PRODUCT:.+]] = linalg.generic {indexing_maps = [#[[$LHS]], #[[$RHS]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
  // CHECK-SAME: ins(%[[ROWS]], %[[PATCHES]] : tensor<5x27xbf16>, tensor<2x27x16xbf16>) outs(%{{.+}} : tensor<2x5x16xf32>)
  // CHECK: arith.mulf %{{.+}}, %{{.+}} fastmath<contract> : f32
  // CHECK: arith.addf %{{.+}}, %{{.+}} fastmath<contract> : f32
  // CHECK: tensor.expand_shape %[[PRODUCT]] {{\[}}[0], [1], [2, 3]] output_shape [2, 5, 4, 4] : tensor<2x5x16xf32> into tensor<2x5x4x4xf32>
  // CHECK: arith.truncf
  // CHECK-NOT: linalg.conv
  %0 = kiln.conv2d %x, %w {strides = array<i64: 2, 2>, dilations = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>} : (tensor<2x3x9x9xbf16>, tensor<5x3x3x3xbf16>) -> tensor<2x5x4x4xbf16>
  return %0 : tensor<2x5x4x4xbf16>
}

// -----

// erf is math.erf on f32, approximated by kiln-cpu-lower-vectors.
// CHECK-LABEL: func.func @erf_f16
func.func @erf_f16(%x: tensor<5xf16>) -> tensor<5xf16> {
  // CHECK: linalg.generic
  // CHECK: %[[WIDE:.+]] = arith.extf %{{.+}} : f16 to f32
  // CHECK: %[[ERF:.+]] = math.erf %[[WIDE]] : f32
  // CHECK: arith.truncf %[[ERF]] : f32 to f16
  %0 = kiln.erf %x : tensor<5xf16>
  return %0 : tensor<5xf16>
}

// -----

// select compares the condition with zero; the values are not extended.
// CHECK-DAG: #[[$COND:.+]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-DAG: #[[$SCALAR:.+]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @select
func.func @select(%c: tensor<4x1xi64>, %a: tensor<4x8xbf16>, %b: tensor<bf16>) -> tensor<4x8xbf16> {
  // CHECK: linalg.generic {indexing_maps = [#[[$COND]], #{{.+}}, #[[$SCALAR]], #{{.+}}]
  // CHECK: ^bb0(%[[C:.+]]: i64, %[[A:.+]]: bf16, %[[B:.+]]: bf16, %{{.+}}: bf16):
  // CHECK: %[[ZERO:.+]] = arith.constant 0 : i64
  // CHECK: %[[TAKEN:.+]] = arith.cmpi ne, %[[C]], %[[ZERO]] : i64
  // CHECK: %[[PICK:.+]] = arith.select %[[TAKEN]], %[[A]], %[[B]] : bf16
  // CHECK: linalg.yield %[[PICK]] : bf16
  %0 = kiln.select %c, %a, %b : (tensor<4x1xi64>, tensor<4x8xbf16>, tensor<bf16>) -> tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}

// -----

// Max pooling pads with -inf and pools into an f32 accumulator.
// CHECK-LABEL: func.func @max_pool_bf16
func.func @max_pool_bf16(%x: tensor<1x2x9x9xbf16>) -> tensor<1x2x5x3xbf16> {
  // CHECK: %[[NEG:.+]] = arith.constant 0xFF80 : bf16
  // CHECK: %[[PADDED:.+]] = tensor.pad %{{.+}} low[0, 0, 1, 0] high[0, 0, 1, 1]
  // CHECK: tensor.yield %[[NEG]] : bf16
  // CHECK: %[[INIT:.+]] = arith.constant 0xFF800000 : f32
  // CHECK: %[[ACC:.+]] = linalg.fill ins(%[[INIT]] : f32) outs(%{{.+}} : tensor<1x2x5x3xf32>)
  // CHECK: %[[WINDOW:.+]] = tensor.empty() : tensor<3x3xf32>
  // CHECK: %[[POOL:.+]] = linalg.pooling_nchw_max {dilations = dense<1> : tensor<2xi64>, strides = dense<[2, 3]> : tensor<2xi64>}
  // CHECK-SAME: ins(%[[PADDED]], %[[WINDOW]] : tensor<1x2x11x10xbf16>, tensor<3x3xf32>) outs(%[[ACC]] : tensor<1x2x5x3xf32>)
  // CHECK: linalg.generic {{.+}} ins(%[[POOL]] : tensor<1x2x5x3xf32>)
  // CHECK: arith.truncf
  %0 = kiln.max_pool2d %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 3>, padding = array<i64: 1, 0, 1, 1>} : (tensor<1x2x9x9xbf16>) -> tensor<1x2x5x3xbf16>
  return %0 : tensor<1x2x5x3xbf16>
}

// -----

// Average pooling sums with zero padding, then divides by the positions of
// each window inside the input, found from the output indices.
// CHECK-LABEL: func.func @avg_pool
func.func @avg_pool(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32> {
  // CHECK: tensor.pad %{{.+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
  // CHECK: %[[SUM:.+]] = linalg.pooling_nchw_sum
  // CHECK: linalg.generic {{.+}} ins(%[[SUM]] : tensor<1x2x3x3xf32>)
  // CHECK-DAG: linalg.index 2 : index
  // CHECK-DAG: linalg.index 3 : index
  // CHECK: arith.minsi
  // CHECK: arith.maxsi
  // CHECK: arith.sitofp
  // CHECK: arith.divf
  %0 = kiln.avg_pool2d %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>} : (tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// With count_include_pad the divisor is the window's size.
// CHECK-LABEL: func.func @avg_pool_include_pad
func.func @avg_pool_include_pad(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32> {
  // CHECK: linalg.pooling_nchw_sum
  // CHECK: %[[SIZE:.+]] = arith.constant 4.000000e+00 : f32
  // CHECK-NOT: linalg.index
  // CHECK: arith.divf %{{.+}}, %[[SIZE]] : f32
  %0 = kiln.avg_pool2d %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, count_include_pad = true} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
  return %0 : tensor<1x1x2x2xf32>
}

// -----

// A reshape that only merges dimensions is a collapse; one that regroups
// them goes through 1-D (here the two collapses fold into one).
// CHECK-LABEL: func.func @reshapes
func.func @reshapes(%x: tensor<2x3x4xf32>) -> (tensor<6x4xf32>, tensor<4x6xf32>) {
  // CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0, 1], [2]] : tensor<2x3x4xf32> into tensor<6x4xf32>
  %0 = kiln.reshape %x : tensor<2x3x4xf32> to tensor<6x4xf32>
  // CHECK: %[[FLAT:.+]] = tensor.collapse_shape %{{.+}} {{\[\[}}0, 1, 2]] : tensor<2x3x4xf32> into tensor<24xf32>
  // CHECK: tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1]] output_shape [4, 6] : tensor<24xf32> into tensor<4x6xf32>
  %1 = kiln.reshape %0 : tensor<6x4xf32> to tensor<4x6xf32>
  return %0, %1 : tensor<6x4xf32>, tensor<4x6xf32>
}

// -----

// Gather clamps each index into range before it reads.
// CHECK-LABEL: func.func @gather
func.func @gather(%t: tensor<10x4xf32>, %i: tensor<3xi32>) -> tensor<3x4xf32> {
  // CHECK: arith.index_cast
  // CHECK: arith.maxsi
  // CHECK: arith.minsi
  // CHECK: tensor.extract
  %0 = kiln.gather %t, %i {axis = 0 : i64} : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// Rope reads precomputed [sequence, head_dim] cosine and signed sine tables.
// CHECK-LABEL: func.func @rope
func.func @rope(%q: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  // CHECK: %[[COS:.+]] = arith.constant dense<{{.+}}> : tensor<2x4xf32>
  // CHECK: %[[SIN:.+]] = arith.constant dense<{{.+}}> : tensor<2x4xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: ins(%{{.+}}, %[[COS]], %[[SIN]] :
  // CHECK: arith.remui
  // CHECK: tensor.extract
  %0 = kiln.rope %q : tensor<1x2x4xf32>
  return %0 : tensor<1x2x4xf32>
}

// -----

// Slices and concatenations are tensor slices.
// CHECK-LABEL: func.func @slice_concat
func.func @slice_concat(%a: tensor<9x8xf32>, %b: tensor<2x8xf32>) -> tensor<6x8xf32> {
  // CHECK: %[[SLICE:.+]] = tensor.extract_slice %{{.+}}[1, 0] [4, 8] [2, 1] : tensor<9x8xf32> to tensor<4x8xf32>
  %0 = kiln.slice %a {starts = array<i64: 1, 0>, limits = array<i64: 9, 8>, strides = array<i64: 2, 1>} : (tensor<9x8xf32>) -> tensor<4x8xf32>
  // CHECK: %[[FIRST:.+]] = tensor.insert_slice %[[SLICE]] into %{{.+}}[0, 0] [4, 8] [1, 1]
  // CHECK: tensor.insert_slice %{{.+}} into %[[FIRST]][4, 0] [2, 8] [1, 1]
  %1 = kiln.concat %0, %b {axis = 0 : i64} : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<6x8xf32>
  return %1 : tensor<6x8xf32>
}

// -----

// Casts: integers to floats, and between float widths.
// CHECK-LABEL: func.func @casts
func.func @casts(%i: tensor<4xi32>, %f: tensor<4xf16>) -> (tensor<4xbf16>, tensor<4xi64>) {
  // CHECK: arith.sitofp %{{.+}} : i32 to f32
  // CHECK: arith.truncf %{{.+}} : f32 to bf16
  %0 = kiln.cast %i : tensor<4xi32> to tensor<4xbf16>
  // CHECK: arith.extsi %{{.+}} : i32 to i64
  %1 = kiln.cast %i : tensor<4xi32> to tensor<4xi64>
  return %0, %1 : tensor<4xbf16>, tensor<4xi64>
}
