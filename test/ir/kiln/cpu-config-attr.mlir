// RUN: kiln-opt %s --split-input-file | kiln-opt --split-input-file | FileCheck %s

// The config round trips with all its parameters.
// CHECK-LABEL: func.func @config_full
// CHECK-SAME: #kiln.cpu_config<tile_sizes = [64, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 256, pack_lhs = true, m_block = 32, pack_rhs_per_panel = true>
func.func @config_full() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 256, pack_lhs = true, m_block = 32, pack_rhs_per_panel = true>} {
  return
}

// -----

// micro_tile, pack_matmul, k_block, pack_lhs, m_block and pack_rhs_per_panel
// are optional; no tile sizes is a rank-0 result.
// CHECK-LABEL: func.func @config_minimal
// CHECK-SAME: #kiln.cpu_config<tile_sizes = [], vector_width = 1>
func.func @config_minimal() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [], vector_width = 1>} {
  return
}
