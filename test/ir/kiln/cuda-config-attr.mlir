// RUN: kiln-opt %s --split-input-file | kiln-opt --split-input-file | FileCheck %s

// The config round trips with all its parameters.
// CHECK-LABEL: func.func @config_full
// CHECK-SAME: #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 3>
func.func @config_full() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 3>} {
  return
}

// -----

// stages defaults to 1 and is then not printed.
// CHECK-LABEL: func.func @config_default_stages
// CHECK-SAME: #kiln.cuda_config<block_m = 1, block_n = 1024, block_k = 1, warps = 4>
func.func @config_default_stages() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 1, block_n = 1024, block_k = 1, warps = 4>} {
  return
}

// -----

// Split-K and the cluster shape round trip.
// CHECK-LABEL: func.func @config_split_cluster
// CHECK-SAME: #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 4, split_k = 4, cluster_m = 2>
func.func @config_split_cluster() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 4, split_k = 4, cluster_m = 2>} {
  return
}
