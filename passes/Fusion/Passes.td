//===- Passes.td - Fusion into kernels and outlining -------*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Fusion turns a model function into kernels in two steps: form the groups
// (each a kiln.fused op in the function), then outline each group into a
// private kernel function called from the model.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_FUSION_PASSES_TD
#define KILN_PASSES_FUSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def FormKernelGroupsPass
    : Pass<"kiln-fusion-form-kernel-groups", "mlir::func::FuncOp"> {
  let summary = "fuses the ops of a model function into kernel groups";
  let description = [{
    Plans the kernel groups of a single-block function of kiln ops, then
    wraps each group in a `kiln.fused` op whose `kind` names the rule that
    formed it. Each group is built around one anchor (matmul, conv2d,
    attention, moe_experts, a reduction, softmax, layer_norm, rms_norm):

    1. a moe_experts takes the moe_router that feeds only it and the router's
       logits matmul (`moe_experts+matmul+moe_router`);
    2. matmuls sharing their lhs fuse horizontally (`matmul*3` for q/k/v,
       `matmul*2` for SwiGLU's gate and up);
    3. epilogues: an elementwise op that is the only outside user of a group's
       value, reached directly or through reshape/transpose, joins the group
       (bias, activation, residual, scale, cast, SwiGLU's `silu*mul`);
    4. prologues: an elementwise, rope or data-movement producer (reshape,
       transpose, broadcast_to, slice, concat, gather) joins the group that
       holds all of its users, unless the group would recompute it per
       broadcast element; a residual add feeding a norm joins the norm's group
       even when used later, which then yields it too (`rms_norm+residual`);
       chains of elementwise ops with no anchor form their own group;
    5. a norm whose result only feeds matmul lhs (or moe_experts tokens) along
       the normalized axis joins that group as its prologue
       (`matmul*3+rms_norm`);
    6. data movement that only the function returns (slicing out a class
       token) joins the group producing its input (`layer_norm+slice`).

    Weights and constants are never fused: they become the groups' inputs.
    Every merge keeps the graph of groups acyclic, so every group is convex
    (no path leaves it and comes back); the plan is checked before the
    rewrite. Groups are emitted in a deterministic topological order. With
    `enable=false` every op is its own group.

    Preconditions: a single-block body of side-effect-free ops (ops of other
    dialects are kept as they are, in order). Kernel functions
    (`kiln.kernel`) are skipped.

    Before:
    ```mlir
    %0 = kiln.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
    %1 = kiln.add %0, %b : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
    %2 = kiln.gelu %1 : tensor<4x16xf32>
    ```
    After:
    ```mlir
    %0 = kiln.fused "matmul+bias+gelu" (%x, %w, %b) : (...) -> tensor<4x16xf32> {
    ^bb0(%a: tensor<4x8xf32>, %c: tensor<8x16xf32>, %d: tensor<16xf32>):
      ...
      kiln.yield %3 : tensor<4x16xf32>
    }
    ```
  }];
  let dependentDialects = ["::kiln::KilnDialect"];
  let options = [
    Option<"enable", "enable", "bool", /*default=*/"true",
           "fuse; without, every op becomes its own group">,
  ];
  let statistics = [
    Statistic<"numGroups", "num-groups", "kernel groups formed">,
    Statistic<"numFusedOps", "num-fused-ops", "ops placed in groups">,
  ];
}

def OutlineKernelsPass : Pass<"kiln-fusion-outline-kernels", "mlir::ModuleOp"> {
  let summary = "outlines each kiln.fused group into a kernel function";
  let description = [{
    Replaces every `kiln.fused` op with a `func.call` to a new private
    function `@<prefix>_k<N>_<kind>` holding its body, marked with the unit
    attribute `kiln.kernel` and the string attribute `kiln.fusion_kind`. The
    prefix is the `prefix` option, else the module's name, else the calling
    function's name; `N` counts the kernels of each prefix in the order the
    groups appear (functions in module order, ops in program order), and
    `<kind>` is the kind with every character outside `[A-Za-z0-9_]` written
    `_` (`*` as `x`). Kernels are placed before the function that calls them.

    Before:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %0 = kiln.fused "exp" (%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {...}
      return %0 : tensor<4x8xf32>
    }
    ```
    After:
    ```mlir
    func.func private @main_k0_exp(%arg0: tensor<4x8xf32>) -> tensor<4x8xf32>
        attributes {kiln.fusion_kind = "exp", kiln.kernel} {...}
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %0 = call @main_k0_exp(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32>
      return %0 : tensor<4x8xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
  let options = [
    Option<"prefix", "prefix", "std::string", /*default=*/"\"\"",
           "kernel name prefix; empty for the module's or caller's name">,
  ];
  let statistics = [
    Statistic<"numKernels", "num-kernels", "kernels outlined">,
  ];
}

#endif // KILN_PASSES_FUSION_PASSES_TD
