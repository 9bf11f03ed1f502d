//===- KilnAttrs.td - Attributes and enums of the kiln dialect -*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_KILNATTRS_TD
#define KILN_IR_KILNATTRS_TD

include "ir/KilnDialect.td"
include "mlir/IR/EnumAttr.td"

def Kiln_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "how gelu evaluates the normal cumulative distribution", [
      I32EnumAttrCase<"Erf", 0, "erf">,
      I32EnumAttrCase<"Tanh", 1, "tanh">
    ]> {
  let cppNamespace = "::kiln";
  let genSpecializedAttr = 0;
}

def Kiln_GeluApproximationAttr
    : EnumAttr<Kiln_Dialect, Kiln_GeluApproximation, "gelu_approximation"> {
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Kernel configurations
//===----------------------------------------------------------------------===//

def Kiln_CpuConfigAttr : AttrDef<Kiln_Dialect, "CpuConfig"> {
  let mnemonic = "cpu_config";
  let summary = "how the CPU backend tiles and vectorizes one kernel";
  let description = [{
    Attached to a kernel function (`func.func` with the unit attribute
    `kiln.kernel`) as `kiln.cpu_config`; `kiln-select-kernel-config` sets the
    default one and the autotuner proposes others. The compiler reads it and
    never searches.

    - `tile_sizes`: one per dimension of the kernel's first result, that is
      per parallel loop of the root op that produces it; 0 leaves the
      dimension untiled. A kernel with several results tiles them all alike,
      so only dimensions they share may be tiled. The tiles form the kernel's tile space, which the
      runtime splits across threads.
    - `vector_width`: f32 lanes of the vectors the kernel computes with (a
      power of two, 1 to 64).
    - `micro_tile`: `[m, n, k]` register tile of the contractions inside a
      tile (matmul); omitted for kernels without one.
    - `pack_matmul`: whether contractions pack their operands into tiled
      layouts first (data tiling in the style of linalg.pack + mmt4d).
    - `k_block`: the cache block of the reduction (k) loop of contractions:
      a tile's micro kernels sweep this many k at a time, so the operand
      panels they reuse stay in cache; 0 (the default) leaves k whole.
    - `pack_lhs`: with `pack_matmul`, whether the lhs is packed too, into
      panels of `micro_tile[0]` rows made of contiguous tiles of one
      `vector_width` of k, so that a micro kernel reads one stream instead
      of one per row (default false: only the rhs is packed).
    - `m_block`: with `pack_lhs`, the rows of a tile whose lhs is packed at a
      time inside each k block (GotoBLAS's m_c), a multiple of
      `micro_tile[0]`: the micro kernels then go block by block, reading a
      packed lhs block that stays in L2, and accumulate into the result in
      place, each prefetching the result rows of the next; 0 (the default)
      packs all of the tile's rows per k block and accumulates in a packed
      buffer of the tile's result.
    - `pack_rhs_per_panel`: with `pack_lhs`, whether each k block's rhs is
      packed one panel at a time, right before the first row group's micro
      kernels that read the panel (the first m block peeled off its loop),
      instead of whole before any of them: the micro kernels of one panel
      then prefetch the next panel's source, and of a rhs met cold only the
      first panel waits on memory (default false: the strided panel reads
      cost more than they hide on some shapes, so the tuner decides). Packs
      of partial panels or k blocks, padded and packed whole outside the k
      blocks, stay as they are.

    ```mlir
    func.func @k(%a: tensor<128x64xf32>, %b: tensor<64x256xf32>) -> tensor<128x256xf32>
        attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [64, 128], vector_width = 16, micro_tile = [8, 32, 1]>}
    ```
  }];
  let parameters = (ins
    "::mlir::DenseI64ArrayAttr":$tile_sizes,
    "int64_t":$vector_width,
    OptionalParameter<"::mlir::DenseI64ArrayAttr">:$micro_tile,
    DefaultValuedParameter<"bool", "false">:$pack_matmul,
    DefaultValuedParameter<"int64_t", "0">:$k_block,
    DefaultValuedParameter<"bool", "false">:$pack_lhs,
    DefaultValuedParameter<"int64_t", "0">:$m_block,
    DefaultValuedParameter<"bool", "false">:$pack_rhs_per_panel
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The function attribute that holds a kernel's CPU configuration.
    static constexpr ::llvm::StringLiteral kAttrName = "kiln.cpu_config";
  }];
}

def Kiln_CudaConfigAttr : AttrDef<Kiln_Dialect, "CudaConfig"> {
  let mnemonic = "cuda_config";
  let summary = "how the CUDA backend tiles one kernel over blocks and warps";
  let description = [{
    Attached to a kernel function as `kiln.cuda_config`. The CUDA generator
    reads it; `kiln::codegen::getDefaultCudaConfig` proposes the default one
    per kernel and architecture.

    - `block_m`, `block_n`, `block_k`: the tile one thread block computes.
      Contractions tile their output `block_m x block_n` and sweep k by
      `block_k` (multiples of the 16x8x16 mma.sync shape). Row kernels
      (softmax, norms, reductions) take `block_m` rows per block;
      elementwise kernels take `block_n` elements per thread block.
    - `warps`: warps per thread block (1 to 32).
    - `stages`: shared-memory pipeline depth of contractions (1 to 8); 1
      loads each k tile before computing it, more prefetch with cp.async.
    - `split_k`: contractions only (1 to 64): the k dimension is cut into
      `split_k` slices of whole `block_k` tiles, each computed by its own
      blocks (grid z); their f32 partial tiles meet in a workspace and the
      last slice to finish sums them in slice order, so the result does not
      depend on the order the blocks ran, and applies the epilogue.
    - `cluster_m`, `cluster_n`: contractions on sm_90a only (each 1 to 8,
      their product at most 8, the portable cluster size): blocks of
      `cluster_m` row tiles by `cluster_n` column tiles form one
      thread-block cluster, scheduled together on one GPC.

    ```mlir
    func.func @k(...) attributes {kiln.kernel, kiln.cuda_config = #kiln.cuda_config<block_m = 128, block_n = 128, block_k = 32, warps = 8, stages = 3>}
    ```
  }];
  let parameters = (ins
    "int64_t":$block_m,
    "int64_t":$block_n,
    "int64_t":$block_k,
    "int64_t":$warps,
    DefaultValuedParameter<"int64_t", "1">:$stages,
    DefaultValuedParameter<"int64_t", "1">:$split_k,
    DefaultValuedParameter<"int64_t", "1">:$cluster_m,
    DefaultValuedParameter<"int64_t", "1">:$cluster_n
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  // One builder whose split-K and cluster shape default to none, so that
  // generators which never split k state only the tile.
  let skipDefaultBuilders = 1;
  let builders = [
    AttrBuilder<(ins "int64_t":$block_m, "int64_t":$block_n,
                     "int64_t":$block_k, "int64_t":$warps, "int64_t":$stages,
                     CArg<"int64_t", "1">:$split_k,
                     CArg<"int64_t", "1">:$cluster_m,
                     CArg<"int64_t", "1">:$cluster_n), [{
      return $_get($_ctxt, block_m, block_n, block_k, warps, stages, split_k,
                   cluster_m, cluster_n);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The function attribute that holds a kernel's CUDA configuration.
    static constexpr ::llvm::StringLiteral kAttrName = "kiln.cuda_config";
    /// Whether blocks form clusters of more than one.
    bool hasClusters() const { return getClusterM() * getClusterN() > 1; }
  }];
}

#endif // KILN_IR_KILNATTRS_TD
