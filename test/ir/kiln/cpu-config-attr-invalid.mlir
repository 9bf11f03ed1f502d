// RUN: kiln-opt %s --split-input-file --verify-diagnostics

// Tile sizes are counts of elements.
// expected-error @+1 {{expected tile size 1 (-4) to be >= 0}}
func.func @negative_tile() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4, -4], vector_width = 8>} {
  return
}

// -----

// expected-error @+1 {{expected vector_width (12) to be a power of two in [1, 64]}}
func.func @negative_vector_width() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 12>} {
  return
}

// -----

// expected-error @+1 {{expected micro_tile to hold [m, n, k] (got 2 sizes)}}
func.func @negative_micro_tile_rank() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 32]>} {
  return
}

// -----

// expected-error @+1 {{expected micro_tile sizes (0) to be >= 1}}
func.func @negative_micro_tile_size() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 0, 1]>} {
  return
}

// -----

// expected-error @+1 {{expected k_block (-1) to be >= 0}}
func.func @negative_k_block() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, k_block = -1>} {
  return
}

// -----

// The packing tile of the rhs is the micro tile's n.
// expected-error @+1 {{expected a micro_tile with pack_matmul = true}}
func.func @negative_pack_without_micro_tile() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, pack_matmul = true>} {
  return
}

// -----

// The lhs is packed only along with the rhs.
// expected-error @+1 {{expected pack_matmul = true with pack_lhs = true}}
func.func @negative_pack_lhs_without_pack() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 32, 1], pack_lhs = true>} {
  return
}

// -----

// expected-error @+1 {{expected m_block (-8) to be >= 0}}
func.func @negative_m_block() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = -8>} {
  return
}

// -----

// An m block is a block of the packed lhs.
// expected-error @+1 {{expected pack_lhs = true with m_block = 64}}
func.func @m_block_without_pack_lhs() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 32, 1], pack_matmul = true, m_block = 64>} {
  return
}

// -----

// expected-error @+1 {{expected m_block (12) to be a multiple of micro_tile[0] (8)}}
func.func @m_block_not_whole_micro_tiles() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 32, 1], pack_matmul = true, pack_lhs = true, m_block = 12>} {
  return
}

// -----

// Only the row groups of a packed lhs share a rhs panel's first use.
// expected-error @+1 {{expected pack_lhs = true with pack_rhs_per_panel = true}}
func.func @rhs_per_panel_without_pack_lhs() attributes {kiln.cpu_config = #kiln.cpu_config<tile_sizes = [4], vector_width = 8, micro_tile = [8, 32, 1], pack_matmul = true, pack_rhs_per_panel = true>} {
  return
}
