// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-cpu-tile-and-fuse))' --split-input-file --verify-diagnostics

// The tile sizes must match the result's rank.
// expected-error @+1 {{expected one tile size per dimension of the first result (rank 1, got 2 tile sizes)}}
func.func @negative_rank(%A: memref<8xf32>, %R: memref<8xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4, 4], vector_width = 16>} {
  %a = bufferization.to_tensor %A restrict : memref<8xf32> to tensor<8xf32>
  bufferization.materialize_in_destination %a in restrict writable %R : (tensor<8xf32>, memref<8xf32>) -> ()
  return
}

// -----

// A kernel whose result is not computed by a tileable op runs as one tile.
// expected-remark @+1 {{the root of the kernel is not a tileable op; it runs as one tile}}
func.func @remark_copy(%A: memref<8xf32>, %R: memref<8xf32>) attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 16>} {
  %a = bufferization.to_tensor %A restrict : memref<8xf32> to tensor<8xf32>
  bufferization.materialize_in_destination %a in restrict writable %R : (tensor<8xf32>, memref<8xf32>) -> ()
  return
}

// -----

// A kernel needs its config.
// expected-error @+1 {{expected a 'kiln.cpu_config' attribute (run kiln-select-kernel-config)}}
func.func @negative_no_config(%A: memref<8xf32>, %R: memref<8xf32>) attributes {kiln.kernel} {
  return
}
