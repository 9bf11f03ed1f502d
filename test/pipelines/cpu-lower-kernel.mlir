// RUN: kiln-opt %s --pass-pipeline='builtin.module(kiln-cpu-lower-kernel{target=avx512})' | FileCheck %s

// The whole pipeline: a matmul with a bias and gelu epilogue becomes an
// LLVM-dialect kernel with an exported entry of runtime/KernelAbi.h; the
// tiled kernel (2 x 2 tiles, the rhs packed) loops over its tile range;
// the micro kernel is FMAs on 512-bit vectors, one per register (its 8 x 32
// tile split into rows of 16); erf became a polynomial.
// CHECK-LABEL: llvm.func internal @mm_bias_gelu.body
// CHECK-SAME: (%{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: i64, %{{.+}}: i64)
// CHECK-SAME: kiln.cpu_config = #kiln.cpu_config<tile_sizes = [72, 64], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true>
// CHECK: llvm.intr.fmuladd(%{{.+}}, %{{.+}}, %{{.+}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK-NOT: vector<32xf32>
// CHECK: llvm.intr.masked.store
// CHECK-NOT: math.
// CHECK-LABEL: llvm.func @mm_bias_gelu
// CHECK-SAME: (%{{.+}}: !llvm.ptr, %{{.+}}: i64, %{{.+}}: i64)
// CHECK-SAME: kiln.kernel, kiln.num_buffers = 4 : i64, kiln.tile_count = 4 : i64
// CHECK: llvm.call @mm_bias_gelu.body
func.func @mm_bias_gelu(%a: tensor<130x33xf32>, %b: tensor<33x70xf32>, %bias: tensor<70xf32>) -> tensor<130x70xf32> attributes {kiln.kernel} {
  %0 = kiln.matmul %a, %b : (tensor<130x33xf32>, tensor<33x70xf32>) -> tensor<130x70xf32>
  %1 = kiln.add %0, %bias : (tensor<130x70xf32>, tensor<70xf32>) -> tensor<130x70xf32>
  %2 = kiln.gelu %1 : tensor<130x70xf32>
  return %2 : tensor<130x70xf32>
}
