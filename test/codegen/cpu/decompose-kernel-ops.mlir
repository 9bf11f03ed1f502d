// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-decompose-kernel-ops))' --split-input-file | FileCheck %s

// Attention left whole runs per (batch, head) over key blocks of 64 with an
// online softmax; query head h reads kv head h floordiv 2. Of 100 keys, one
// whole block goes in the loop and the 36 after it in a static block of
// their own.
// CHECK-LABEL: func.func @attention_grouped
// CHECK-NOT: kiln.attention
// CHECK: scf.for %[[B:.+]] = %{{.+}} to %{{.+}} step
// CHECK: scf.for %[[H:.+]] = %{{.+}} to %{{.+}} step
// CHECK: %[[KV:.+]] = affine.apply #{{.+}}(%[[H]])
// CHECK: tensor.extract_slice %{{.+}}[%[[B]], %[[H]], 0, 0] [1, 1, 8, 16] [1, 1, 1, 1] : tensor<1x2x8x16xf32> to tensor<8x16xf32>
// CHECK: scf.for %[[K0:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args({{.+}}) -> (tensor<8xf32>, tensor<8xf32>, tensor<8x16xf32>)
// CHECK: tensor.extract_slice %{{.+}}[%[[B]], %[[KV]], %[[K0]], 0] [1, 1, 64, 16] [1, 1, 1, 1] : tensor<1x1x100x16xf32> to tensor<64x16xf32>
// CHECK: math.exp
// CHECK: scf.yield
// CHECK: %[[C64:.+]] = arith.constant 64 : index
// CHECK: tensor.extract_slice %{{.+}}[%[[B]], %[[KV]], %[[C64]], 0] [1, 1, 36, 16] [1, 1, 1, 1] : tensor<1x1x100x16xf32> to tensor<36x16xf32>
// CHECK: math.exp
// CHECK: tensor.insert_slice
func.func @attention_grouped(%q: tensor<1x2x8x16xf32>, %k: tensor<1x1x100x16xf32>) -> tensor<1x2x8x16xf32> {
  %0 = kiln.attention %q, %k, %k : (tensor<1x2x8x16xf32>, tensor<1x1x100x16xf32>, tensor<1x1x100x16xf32>) -> tensor<1x2x8x16xf32>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

// A causal tile stops at the last key its last row sees: 4 rows against 10
// keys see keys [0, 10), less than a whole block, so one block of 10 keys
// runs without a key loop.
// CHECK-LABEL: func.func @attention_causal
// CHECK: scf.for
// CHECK: scf.for
// CHECK-NOT: scf.for
// CHECK: tensor.extract_slice %{{.+}} [1, 1, 10, 8] [1, 1, 1, 1] : tensor<1x1x10x8xf32> to tensor<10x8xf32>
// CHECK: arith.cmpi sgt
func.func @attention_causal(%q: tensor<1x1x4x8xf32>, %k: tensor<1x1x10x8xf32>) -> tensor<1x1x4x8xf32> {
  %0 = kiln.attention %q, %k, %k {causal = true} : (tensor<1x1x4x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>) -> tensor<1x1x4x8xf32>
  return %0 : tensor<1x1x4x8xf32>
}

// -----

// The router picks per token with loops over the slots and the experts.
// CHECK-LABEL: func.func @router
// CHECK-NOT: kiln.moe_router
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// CHECK: tensor.insert %{{.+}} : tensor<3x2xi32>
func.func @router(%l: tensor<3x4xf32>) -> (tensor<3x2xf32>, tensor<3x2xi32>) {
  %w, %i = kiln.moe_router %l {top_k = 2 : i64} : (tensor<3x4xf32>) -> (tensor<3x2xf32>, tensor<3x2xi32>)
  return %w, %i : tensor<3x2xf32>, tensor<3x2xi32>
}

// -----

// The experts go by expert: the slots of each are counted, their rows
// gathered into one block per expert, and each block multiplied by its
// expert's matrices; without a config neither padded nor packed.
// CHECK-LABEL: func.func @experts
// CHECK-NOT: kiln.moe_experts
// CHECK: scf.for {{.+}} -> (tensor<4xindex>) {
// CHECK: arith.minsi
// CHECK: scf.for {{.+}} -> (tensor<4xindex>, index) {
// CHECK: scf.for {{.+}} -> (tensor<4xindex>, tensor<3x2xindex>, tensor<6x16xf32>) {
// CHECK: linalg.copy
// CHECK: scf.for %[[E:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%{{.+}}) -> (tensor<6x16xf32>) {
// CHECK: tensor.extract_slice %{{.+}}[%{{.+}}, 0] [%{{.+}}, 16] [1, 1] : tensor<6x16xf32> to tensor<?x16xf32>
// CHECK: tensor.extract_slice %{{.+}}[%[[E]], 0, 0] [1, 16, 8] [1, 1, 1] : tensor<4x16x8xf32> to tensor<16x8xf32>
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%{{.+}} : tensor<?x16xf32>, tensor<16x8xf32>)
// CHECK: tensor.insert_slice %{{.+}} into %{{.+}}[%{{.+}}, 0] [%{{.+}}, 16] [1, 1] : tensor<?x16xf32> into tensor<6x16xf32>
func.func @experts(%x: tensor<3x16xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi32>, %g: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<3x16xf32> {
  %0 = kiln.moe_experts %x, %w, %i, %g, %g, %d : (tensor<3x16xf32>, tensor<3x2xf32>, tensor<3x2xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}

// -----

// With a register tile of [4, 16]: each expert's block is padded to a
// multiple of 4 rows (6 slots + 4 x 3 rows at most), and its matrices are
// packed into panels of 16 columns, multiplied as the packed matmul is.
// CHECK-LABEL: func.func @experts_packed
// CHECK: linalg.fill {{.+}} -> tensor<18x16xf32>
// CHECK: scf.for {{.+}} -> (tensor<18x16xf32>) {
// CHECK: %[[ROWS:.+]] = arith.muli %{{.+}}, %{{.+}} : index
// CHECK: tensor.extract_slice %{{.+}} [%[[ROWS]], 16] [1, 1] : tensor<18x16xf32> to tensor<?x16xf32>
// CHECK: %[[PANELS:.+]] = linalg.pack %{{.+}} outer_dims_perm = [1, 0] inner_dims_pos = [1] inner_tiles = [16] into %{{.+}} : tensor<16x32xf32> -> tensor<2x16x16xf32>
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction", "parallel"]
// CHECK-SAME: ins(%{{.+}}, %[[PANELS]] : tensor<?x16xf32>, tensor<2x16x16xf32>)
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0], [1, 2]] : tensor<?x2x16xf32> into tensor<?x32xf32>
// CHECK: linalg.pack %{{.+}} : tensor<32x16xf32> -> tensor<1x32x16xf32>
func.func @experts_packed(%x: tensor<3x16xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi32>, %g: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>) -> tensor<3x16xf32> attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [0, 0], vector_width = 8, micro_tile = [4, 16, 1]>} {
  %0 = kiln.moe_experts %x, %w, %i, %g, %g, %d : (tensor<3x16xf32>, tensor<3x2xf32>, tensor<3x2xi32>, tensor<4x16x32xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}
