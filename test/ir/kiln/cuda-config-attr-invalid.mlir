// RUN: kiln-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{expected block_m (96) to be a power of two >= 1}}
func.func @block_m_not_power_of_two() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 96, block_n = 128, block_k = 32, warps = 8>} {
  return
}

// -----

// expected-error @+1 {{expected block_k (0) to be a power of two >= 1}}
func.func @block_k_zero() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 0, warps = 8>} {
  return
}

// -----

// expected-error @+1 {{expected warps (33) to be in [1, 32]}}
func.func @too_many_warps() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 32, warps = 33>} {
  return
}

// -----

// expected-error @+1 {{expected stages (0) to be in [1, 8]}}
func.func @no_stage() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 32, warps = 4, stages = 0>} {
  return
}

// -----

// expected-error @+1 {{expected split_k (0) to be in [1, 64]}}
func.func @no_split() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 32, warps = 4, split_k = 0>} {
  return
}

// -----

// expected-error @+1 {{expected cluster_n (16) to be in [1, 8]}}
func.func @cluster_too_wide() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 32, warps = 4, cluster_n = 16>} {
  return
}

// -----

// expected-error @+1 {{expected cluster_m * cluster_n (16) to be at most 8}}
func.func @cluster_too_big() attributes {kiln.cuda_config = #kiln.cuda_config<block_m = 64, block_n = 128, block_k = 32, warps = 4, cluster_m = 4, cluster_n = 4>} {
  return
}
