//===- KernelGroups.h - Planning, forming and outlining kernels -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The logic behind the fusion passes as free functions: plan the kernel
// groups of a block (pure analysis), check a plan, wrap each planned group
// in a kiln.fused op, and outline kiln.fused ops into kernel functions. The
// passes are thin shells around them; the CPU and CUDA pipelines and the
// autotuner call them directly.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_FUSION_KERNELGROUPS_H_
#define KILN_PASSES_FUSION_KERNELGROUPS_H_

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace kiln::graph {

/// The unit attribute that marks an outlined kernel function.
constexpr llvm::StringLiteral kKernelAttrName = "kiln.kernel";
/// The string attribute of a kernel function naming its fusion rule.
constexpr llvm::StringLiteral kFusionKindAttrName = "kiln.fusion_kind";

/// The knobs of kernel-group planning.
struct FusionOptions {
  /// Fuse; with false every op is its own group.
  bool enable = true;
};

/// One planned kernel group.
struct KernelGroup {
  /// The group's ops, in program order.
  llvm::SmallVector<mlir::Operation *> ops;
  /// The op the group was formed around: its anchor, or for a group without
  /// one its last op.
  mlir::Operation *root = nullptr;
  /// The fusion rule, e.g. "matmul+bias+gelu"; empty for an op that is kept
  /// as it is (an op of another dialect, an existing kiln.fused).
  std::string kind;

  /// Whether the group becomes a kiln.fused op.
  bool isKernel() const { return !kind.empty(); }
};

/// Plans the kernel groups of `body`, a block of side-effect-free ops (see
/// FormKernelGroupsPass for the rules). Every op of the block except the
/// terminator and the operand-free ops (weights, constants) is in exactly
/// one group; the groups come in a topological order, ties broken by
/// program order, so the plan is deterministic. Pure analysis: the IR is not
/// changed.
llvm::SmallVector<KernelGroup> planKernelGroups(mlir::Block &body,
                                                const FusionOptions &options);

/// Checks that `groups` is a valid plan for `body`: every op (except the
/// terminator and operand-free ops) in exactly one group, each group's ops
/// in program order, and each group's inputs produced before it (by an
/// earlier group, an operand-free op or a block argument), which makes
/// every group convex and the groups acyclic. On failure emits an error at
/// the offending op.
mlir::LogicalResult verifyKernelGroups(mlir::Block &body,
                                       llvm::ArrayRef<KernelGroup> groups);

/// Rewrites `body` by `groups` (a plan that verifyKernelGroups accepts):
/// each kernel group becomes a kiln.fused op whose inputs are the values
/// its ops read from outside it (in order of first use) and whose results
/// are its values used outside it (in program order), the other groups'
/// ops are moved; all in plan order before the terminator. Operand-free ops
/// stay where they are. Returns the kiln.fused ops created.
llvm::SmallVector<mlir::Operation *>
formKernelGroups(mlir::RewriterBase &rewriter, mlir::Block &body,
                 llvm::ArrayRef<KernelGroup> groups);

/// The symbol name of kernel `index` of `prefix` with fusion `kind`:
/// `<prefix>_k<index>_<kind>`, every character of `kind` outside
/// [A-Za-z0-9_] written `_` (`*` as `x`).
std::string getKernelName(llvm::StringRef prefix, unsigned index,
                          llvm::StringRef kind);

/// Outlines every kiln.fused op of the non-kernel functions of `module`
/// into a private kernel function (see OutlineKernelsPass) called in its
/// place. An empty `prefix` names kernels after the module, or without a
/// module name, after their caller. Returns the number of kernels.
unsigned outlineKernels(mlir::ModuleOp module, llvm::StringRef prefix);

} // namespace kiln::graph

#endif // KILN_PASSES_FUSION_KERNELGROUPS_H_
