//===- Passes.td - Passes of the CPU backend -------------*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The CPU backend lowers one kernel function at a time: a `func.func` with
// the unit attribute `kiln.kernel`, whose body is a fused group of kiln ops
// and whose `kiln.cpu_config` attribute says how to tile and vectorize it.
// The passes run in the order of `kiln-cpu-lower-kernel` (Pipelines.h).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_PASSES_TD
#define KILN_CODEGEN_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def SelectKernelConfigPass
    : Pass<"kiln-select-kernel-config", "::mlir::func::FuncOp"> {
  let summary = "sets the default CPU config of a kernel, or verifies its own";
  let description = [{
    For a kernel function (`kiln.kernel`) without a `kiln.cpu_config`
    attribute, attaches the default config that `KernelConfig.cpp` derives
    from the kernel's ops and shapes and from the target's vector width. An
    existing config (from the autotuner or written by hand) is checked
    against the kernel: one tile size per dimension of the first result, and
    with several results only dimensions that every result has with the same
    extent tiled. Functions without `kiln.kernel` are left alone.

    Before:
    ```mlir
    func.func @k(%a: tensor<64x64xf32>) -> tensor<64x64xf32> attributes {kiln.kernel}
    ```
    After (`target=avx2`):
    ```mlir
    func.func @k(%a: tensor<64x64xf32>) -> tensor<64x64xf32>
        attributes {kiln.kernel, kiln.cpu_config = #kiln.cpu_config<tile_sizes = [16, 0], vector_width = 8>}
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"host\"",
           "the CPU to generate code for: host, x86-64, x86-64-v2, "
           "x86-64-v3 (avx2) or x86-64-v4 (avx512)">,
  ];
  let dependentDialects = ["::kiln::KilnDialect"];
}

def ConvertKilnToLinalgPass
    : Pass<"kiln-cpu-convert-kiln-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "lowers kiln ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Rewrites every kiln op of the function into upstream ops on tensors:
    elementwise and broadcasting ops, casts, transposes and broadcasts to
    `linalg.generic`; matmul to a contraction `linalg.generic` that
    accumulates in f32; reductions, softmax, layer and RMS norm to reduction
    generics, per-row factors and an elementwise generic; conv2d to the
    named linalg convolutions after `tensor.pad`; reshape, slice and concat
    to tensor ops; gather and rope to generics that read with
    `tensor.extract`; erf to `math.erf`; select to a generic that compares
    the condition with zero;
    max and average pooling to `tensor.pad` (-inf or zero) and the named
    linalg pooling ops, the average dividing by the window's positions
    inside the input (or its size with `count_include_pad`). bf16 and
    f16 values are computed in f32 and rounded once when stored.

    `kiln.attention`, `kiln.moe_router` and `kiln.moe_experts` stay: they
    are tiled through their TilingInterface models and computed by
    `kiln-cpu-decompose-kernel-ops`. An op the backend cannot lower
    (`kiln.weight` inside a kernel) is an error at that op.

    Before:
    ```mlir
    %0 = kiln.add %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
    After:
    ```mlir
    %e = tensor.empty() : tensor<4x8xf32>
    %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
        affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], ...}
        ins(%a, %b : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>)
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def FuseElementwiseOpsPass
    : Pass<"kiln-cpu-fuse-elementwise-ops", "::mlir::func::FuncOp"> {
  let summary = "fuses elementwise generics, keeping contractions whole";
  let description = [{
    Fuses each elementwise `linalg.generic` into the generic that reads its
    result, when it has no other reader, and moves reshapes through
    generics, as `linalg-fuse-elementwise-ops` does, with one exception:
    nothing is fused into or moved across a contraction or a convolution.
    Fused into a matmul, the body of an rms_norm or a transpose would run
    once per multiply-add instead of once per element, and the matmul would
    no longer be recognized as one (no micro tiles, no vectors).

    Before:
    ```mlir
    %n = linalg.generic {...} ins(%x, %inverse : ...) {  // x * inverse
    %p = linalg.generic {...} ins(%n, %w : ...) {  // the matmul
    %r = linalg.generic {...} ins(%p, %b : ...) {  // + bias
    ```
    After: unchanged. Upstream fuses the normalization into the matmul; the
    matmul itself, a reduction, fuses into nothing either way.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}


def LowerKernelSignaturePass
    : Pass<"kiln-cpu-lower-kernel-signature", "::mlir::func::FuncOp"> {
  let summary = "gives a kernel one buffer argument per input and result";
  let description = [{
    Precondition: the kernel body is on tensors (after
    `kiln-cpu-convert-kiln-to-linalg`). Rewrites the signature of a
    `kiln.kernel` function from `(tensors) -> (tensors)` to one memref
    argument per input and then one per result, in order, as the runtime's
    kernel ABI passes buffers. Inputs enter as `bufferization.to_tensor
    restrict`; each result is written with
    `bufferization.materialize_in_destination`, and the op that computes it
    takes the output buffer as its destination so that bufferization writes
    the result in place.

    Before:
    ```mlir
    func.func @k(%a: tensor<4xf32>) -> tensor<4xf32> attributes {kiln.kernel} {
      %e = tensor.empty() : tensor<4xf32>
      %0 = linalg.generic ... ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>)
      return %0 : tensor<4xf32>
    }
    ```
    After:
    ```mlir
    func.func @k(%A: memref<4xf32>, %R: memref<4xf32>) attributes {kiln.kernel} {
      %a = bufferization.to_tensor %A restrict : memref<4xf32> to tensor<4xf32>
      %r = bufferization.to_tensor %R restrict writable : memref<4xf32> to tensor<4xf32>
      %0 = linalg.generic ... ins(%a : tensor<4xf32>) outs(%r : tensor<4xf32>)
      bufferization.materialize_in_destination %0 in restrict writable %R : (tensor<4xf32>, memref<4xf32>) -> ()
      return
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def PackMatmulPass : Pass<"kiln-cpu-pack-matmul", "::mlir::func::FuncOp"> {
  let summary = "packs the rhs of a kernel's contractions into panels";
  let description = [{
    Precondition: `kiln-cpu-lower-kernel-signature`; does nothing unless the
    kernel's `kiln.cpu_config` has `pack_matmul = true`. Data tiling in the
    style of linalg.pack + mmt4d: each contraction's n loop is split by the
    micro tile's n (`n0`), its rhs is packed into panels of `n0` columns laid
    out panel by panel (`[N/n0, K, n0]`, zero padded), so the micro kernel
    reads each k step's `n0` values from one contiguous run and a panel stays
    in cache for all the rows of a tile; the result is computed packed
    (`[M, N/n0, n0]`) and unpacked before the epilogue. Tiling later fuses
    the packs into each tile. The lhs stays in rows: the micro kernel reads
    one lhs element per row and k step, which a packed layout would only
    transpose at a cost.

    Before:
    ```mlir
    %0 = linalg.matmul ins(%a, %b : tensor<64x256xf32>, tensor<256x96xf32>)
                       outs(%c : tensor<64x96xf32>) -> tensor<64x96xf32>
    ```
    After (`micro_tile = [8, 32, 1]`):
    ```mlir
    %p = linalg.pack %b outer_dims_perm = [1, 0] inner_dims_pos = [1]
        inner_tiles = [32] into %e : tensor<256x96xf32> -> tensor<3x256x32xf32>
    %1 = linalg.generic ... ins(%a, %p) outs(... : tensor<64x3x32xf32>)
    %0 = linalg.unpack %1 inner_dims_pos = [1] inner_tiles = [32] into %c
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def TileAndFuseKernelPass
    : Pass<"kiln-cpu-tile-and-fuse", "::mlir::func::FuncOp"> {
  let summary = "tiles a kernel's root op by its config and fuses producers";
  let description = [{
    Precondition: `kiln-cpu-lower-kernel-signature`. The root op is the op
    (a linalg op, or a kiln op with a TilingInterface model: attention, the
    MoE ops) that computes the kernel's first result. Its parallel loops are
    tiled by `tile_sizes` of the kernel's `kiln.cpu_config` into one
    `scf.forall`, whose iterations are the kernel's tiles, and every producer
    inside the kernel is fused into the loop, through reshapes. Each further
    result is tiled alike over the dimensions the results share, and the
    loops are merged, so that one tile computes every result. The number of
    tiles is stored in the function attribute `kiln.tile_count` (1 for an
    untiled kernel). The tile bounds are then folded with the loop's bounds
    and deduplicated: a fused pack whose tile is provably whole gets a static
    source, and one with a partial tile shares the loop's bound.

    Before:
    ```mlir
    %0 = linalg.generic ... outs(%r : tensor<64x64xf32>)
    ```
    After (`tile_sizes = [16, 0]`):
    ```mlir
    %0 = scf.forall (%i) in (4) shared_outs(%o = %r) -> (tensor<64x64xf32>) {
      ... linalg.generic on tensor<16x64xf32> ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def DecomposeKernelOpsPass
    : Pass<"kiln-cpu-decompose-kernel-ops", "::mlir::func::FuncOp"> {
  let summary = "computes the attention and MoE ops that tiling left whole";
  let description = [{
    Precondition: `kiln-cpu-tile-and-fuse`. `kiln.attention`,
    `kiln.moe_router` and `kiln.moe_experts` implement TilingInterface over
    their parallel loops (batch, head and query rows; tokens), and a tile of
    them is their final computation on tensors: flash attention with an
    online softmax over key blocks, the router's softmax and top-k, and the
    experts grouped by expert: the tile's (token, slot) pairs are counted
    per expert and their rows gathered into one block per expert (padded to
    whole register tiles of rows when the kernel's config has a micro
    tile), each block goes through its expert's SwiGLU as three contractions
    (the expert's matrices packed into panels of the micro tile's n, when
    it divides their width, as `kiln-cpu-pack-matmul` packs a matmul's rhs),
    which `kiln-cpu-vectorize` gives the matmul's register tiles, and each
    token sums its slots' rows in slot order. Tile-and-fuse leaves these
    ops whole when they are not the root of the kernel's tile loop or cannot
    be fused into it; this pass replaces each by its tiled implementation
    over its whole iteration domain.

    Before:
    ```mlir
    %0 = kiln.attention %q, %k, %v : (tensor<1x2x8x16xf32>, ...) -> tensor<1x2x8x16xf32>
    ```
    After:
    ```mlir
    %0 = scf.for %b = %c0 to %c1 step %c1 iter_args(%t = %e) -> (tensor<1x2x8x16xf32>) {
      %1 = scf.for %h = ... {
        %q = tensor.extract_slice ...
        %2:3 = scf.for %k0 = %c0 to %c8 step %c64 iter_args(...) { ... }
        ...
      }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def VectorizeKernelPass : Pass<"kiln-cpu-vectorize", "::mlir::func::FuncOp"> {
  let summary = "tiles the ops inside a kernel tile to vectors and vectorizes";
  let description = [{
    Precondition: `kiln-cpu-tile-and-fuse`. Every linalg op of a kernel is
    tiled again with `scf.for` down to vector-sized pieces and vectorized:

    - contractions first by `k_block` (fusing their operand packs) and, with
      `m_block`, accumulating into the result in place (when the panels
      divide it) by blocks of rows that each pack their own lhs; then by
      the config's `micro_tile` `[m, n, k]`; the loops over
      `m` and `n` are peeled so that full micro tiles vectorize without
      masks, and the remainders go by rows of `vector_width` lanes;
    - a reduction along its innermost loop (rows of softmax and the norms)
      into a partial result of `vector_width` lanes: the other loops go by
      1, the loop over the row accumulates whole vectors in a register
      (its last, partial iteration peeled and masked), and one reduction
      across the lanes per row follows it;
    - every other op by `vector_width` lanes of its innermost loop (masked
      where the extent is not a multiple) and 1 along the other loops.

    Ops the vectorizer does not handle stay as scalar linalg ops (they become
    loops later). Afterwards multi-reductions of products fold into
    `vector.contract`.
  }];
  let options = [
    Option<"vectorizeContractions", "vectorize-contractions", "bool",
           /*default=*/"true",
           "tile and vectorize contractions by the config's micro tile">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::ub::UBDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def PrefetchAccumulatorsPass
    : Pass<"kiln-cpu-prefetch-accumulators", "::mlir::func::FuncOp"> {
  let summary = "prefetches the next micro kernel's in-place accumulator";
  let description = [{
    Precondition: kiln-cpu-distribute-tiles. In a kernel whose config has an
    `m_block` (contractions accumulate into the result in place), every
    vector transfer write of a loop's result (the accumulator a k loop keeps
    in registers) to a view of a kernel argument, inside a loop, gets write
    prefetches of every cache line of the tile it would write at the next
    iteration of that loop; after its last iteration, at the first iteration
    of it in the next iteration of the loop directly around it (the next
    panel's first row group), the last of both prefetching the first row
    group of the last panel. The prefetches are spread over the second half
    of the iterations of the k loop: ceil(lines / iterations in that half)
    per iteration; all before the k loop when its trip count is not static.
    Other kernels are left alone.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def DeferAccumulatorReadsPass
    : Pass<"kiln-cpu-defer-accumulator-reads", "::mlir::func::FuncOp"> {
  let summary = "starts in-place accumulators from zero, adds the tile after";
  let description = [{
    Precondition: kiln-cpu-prefetch-accumulators, which finds the
    accumulators in the form this pass rewrites. In a kernel, every vector
    transfer write of a loop's result to a view of a kernel argument, inside
    a loop, whose loop starts from a transfer read of the same tile (no
    mask, the same indices and permutation) and only accumulates into it
    (vector.contract of kind add, additions, inner loops that do the same),
    and which writes no memory: the loop starts from zeros instead, and the
    read moves after it and is added to its result before the write.

    Before:
    ```mlir
    %tile = vector.transfer_read %C[%r, %c0], %pad : memref<64x32xf32>, vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %tile) -> (vector<8x32xf32>) {
      %next = vector.contract {...} %a, %b, %acc : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
      scf.yield %next : vector<8x32xf32>
    }
    vector.transfer_write %sum, %C[%r, %c0] : vector<8x32xf32>, memref<64x32xf32>
    ```
    After:
    ```mlir
    %zeros = arith.constant dense<0.0> : vector<8x32xf32>
    %sum = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %zeros) -> (vector<8x32xf32>) {...}
    %tile = vector.transfer_read %C[%r, %c0], %pad : memref<64x32xf32>, vector<8x32xf32>
    %total = arith.addf %tile, %sum : vector<8x32xf32>
    vector.transfer_write %total, %C[%r, %c0] : vector<8x32xf32>, memref<64x32xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def PrefetchPackSourcesPass
    : Pass<"kiln-cpu-prefetch-pack-sources", "::mlir::func::FuncOp"> {
  let summary = "prefetches the source of the next operand pack";
  let description = [{
    Precondition: kiln-cpu-distribute-tiles. In a kernel whose config packs
    its contractions, an operand pack is a vector transfer read of a view of
    a kernel argument stored into a temporary buffer, in loops with static
    bounds that contain no contraction. The micro kernels that follow a pack
    in its block (the first loop after it that contains a contraction)
    prefetch, into L2, every cache line that the next pack of the same
    operand will read: the pack's next iteration of the loop around it when
    that loop moves the pack's source (the last iteration prefetches its own
    source), else the first iteration of the first later loop in the same
    block around a pack of the same operand (the loop from which the pack
    was peeled). The lines are spread over the micro kernels with static
    loops that run the most of them: ceil(lines / micro kernels) at the
    start of each, the last line again once all are issued. Other kernels,
    and packs whose address needs values not available there, are left
    alone.

    With `pack_rhs_per_panel`, first: a rhs pack whose panel loop matches
    the panel loop of the micro kernels after it (same bounds, one loop of
    row groups inside) moves into that loop's first pass. The loops between
    the micro kernels' root and their panel loop give up their first
    iteration (scf.for peeling), and the peeled panel loop packs each panel
    at the start of its iteration, so that the micro kernels of one panel
    prefetch the next panel's source; those of its last panel prefetch the
    first panel of the next pack of the rhs: the next iteration of the
    nearest loop around that moves it (the next k block), or the first
    iteration of a later loop next to it or to a loop around it (the loop
    from which the first k block was peeled). A rhs buffer whose every
    access is in such a panel loop, at that loop's own panel (one m block:
    no later one reads the panels), shrinks to one panel, which each
    iteration packs anew and which stays in L1.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def SplitRegisterTilesPass
    : Pass<"kiln-cpu-split-register-tiles", "::mlir::func::FuncOp"> {
  let summary = "splits micro kernels' register tiles into vector-width rows";
  let description = [{
    Precondition: bufferized. Every vector.contract whose accumulator spans
    more than one row of the config's `vector_width` lanes is unrolled into
    contractions of 1 x `vector_width` (k steps outermost, then rows, then
    columns), as are the transfers that read its operands and read and write
    its accumulator; the scf.for loops that carry the accumulator carry its
    rows as separate iter args. Each row is then one register, whatever the
    tile's width, and each lhs broadcast is used by its row's FMAs right
    after it is made. Kernels without such contractions are left alone.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def CleanupBuffersPass
    : Pass<"kiln-cpu-cleanup-buffers", "::mlir::func::FuncOp"> {
  let summary = "removes no-op copies, hoists accumulators, frees temporaries";
  let description = [{
    Precondition: one-shot bufferization. Erases `memref.copy` ops whose
    source and target are the same value (what an in-place result leaves),
    turns copies between strided views into `linalg.copy` (which becomes
    loops; upstream lowers them to a call into the MLIR runner library),
    gives masked transfers their mask as an operand, folds subviews into the vector transfers that read or write them, moves
    loop-invariant code out of loops and hoists read-modify-write transfer
    pairs out of them (accumulators stay in registers). A `memref.alloc` of
    a static size moves to the start of the kernel and is freed before it
    returns (one allocation per call, not per tile); any other is freed at
    the end of its block. The kernel's temporaries never escape the block
    that allocates them.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def DistributeTilesPass
    : Pass<"kiln-cpu-distribute-tiles", "::mlir::func::FuncOp"> {
  let summary = "turns a kernel's tile loop into a loop over a tile range";
  let description = [{
    Precondition: bufferized (the tile loop is an `scf.forall` without
    results directly in the function body). Appends two `index` arguments
    `tile_begin` and `tile_end` to the kernel and replaces the tile loop with
    an `scf.for` over `[tile_begin, tile_end)`, clamped to the tile count,
    that delinearizes the tile index row-major. An untiled kernel (tile count
    1) runs its body when the range holds tile 0.

    Before:
    ```mlir
    scf.forall (%i, %j) in (4, 2) { ... }
    ```
    After:
    ```mlir
    scf.for %t = %begin to %end step %c1 {
      %i:2 = affine.delinearize_index %t into (4, 2) : index, index
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def LowerVectorsPass : Pass<"kiln-cpu-lower-vectors", "::mlir::func::FuncOp"> {
  let summary = "lowers vector, math and bf16 ops to what LLVM handles well";
  let description = [{
    Precondition: bufferized. In stages: masked transfers take their mask as
    an operand; contractions become outer products and then FMAs;
    multi-reductions, transposes, broadcasts and shape casts lower to 1-D
    vector ops; n-D transfers unroll into 1-D loads and stores. Transcendental
    math ops become polynomial approximations that vectorize (exp, log, tanh,
    erf, ...), bf16 conversions become integer bit manipulation, and any
    remaining linalg op becomes loops.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def EmitKernelEntryPass
    : Pass<"kiln-cpu-emit-kernel-entry", "::mlir::ModuleOp"> {
  let summary = "wraps each lowered kernel in the runtime's C entry point";
  let description = [{
    Precondition: the module is in the LLVM dialect and each kernel was
    converted with bare-pointer memref arguments followed by the tile range.
    Renames each kernel `@k` to the internal `@k.body` and defines the
    exported entry `void k(void *const *buffers, int64_t tileBegin, int64_t
    tileEnd)` of runtime/KernelAbi.h, which loads one pointer per buffer and
    calls the body. The entry keeps `kiln.tile_count` and records the number
    of buffers in `kiln.num_buffers`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // KILN_CODEGEN_CPU_PASSES_TD
