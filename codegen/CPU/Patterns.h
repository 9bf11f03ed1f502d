//===- Patterns.h - Rewrite patterns of the CPU backend ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The reusable transforms behind the CPU passes; each pass in Passes.td is a
// thin shell around one of these.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_PATTERNS_H_
#define KILN_CODEGEN_CPU_PATTERNS_H_

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Support/LLVM.h"

namespace mlir {
class ConversionTarget;
class Operation;
class DialectRegistry;
class RewriterBase;
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace kiln {
class CpuConfigAttr;
} // namespace kiln

namespace mlir::scf {
class ForOp;
} // namespace mlir::scf

namespace mlir::vector {
class TransferWriteOp;
} // namespace mlir::vector

namespace kiln::cpu {

/// The unit attribute that marks a function as a kernel.
inline constexpr llvm::StringLiteral kKernelAttrName = "kiln.kernel";
/// The i64 function attribute holding the number of tiles of a kernel.
inline constexpr llvm::StringLiteral kTileCountAttrName = "kiln.tile_count";
/// The i64 attribute of a kernel entry holding its number of buffers.
inline constexpr llvm::StringLiteral kNumBuffersAttrName = "kiln.num_buffers";

/// Whether `function` is a kernel (carries `kiln.kernel`).
bool isKernel(mlir::func::FuncOp function);

/// The `kiln.cpu_config` of kernel `function`; emits an error naming the
/// missing attribute and returns failure when it has none.
mlir::FailureOr<CpuConfigAttr> getKernelConfig(mlir::func::FuncOp function);

/// The bytes of a cache line: what one prefetch brings in.
inline constexpr int64_t kCacheLineBytes = 64;

/// The function argument that `buffer` is a view of (through view-like
/// ops), or null when it is not one (a temporary, say).
mlir::BlockArgument getViewedArgument(mlir::Value buffer);

/// The accumulator writes of `function`: a transfer write of the result of
/// a loop (a k loop whose iterations accumulate into it) to a view of a
/// kernel argument, inside a loop of its own. The k loop starts from a read
/// of the same tile or, in the first k block, from a constant. Appends them
/// to `writes`, in program order.
void getInPlaceAccumulators(
    mlir::func::FuncOp function,
    llvm::SmallVectorImpl<mlir::vector::TransferWriteOp> &writes);

/// The induction variable of the next iteration of `loop`, built at the
/// rewriter's insertion point inside it: min(iv + step, ub - step), so the
/// last iteration gives its own (a prefetch for "the next iteration" then
/// repeats its own lines rather than branching).
mlir::Value buildNextInductionVar(mlir::RewriterBase &rewriter,
                                  mlir::Location loc, mlir::scf::ForOp loop);

/// Patterns that rewrite kiln ops into linalg, tensor, arith and math ops on
/// tensors, and mark the kiln dialect illegal on `target`.
void populateKilnToLinalgPatterns(mlir::RewritePatternSet &patterns);
void configureKilnToLinalgTarget(mlir::ConversionTarget &target);

/// Rewrites `kernel` to take one memref per input and result (see
/// `kiln-cpu-lower-kernel-signature`).
mlir::LogicalResult lowerKernelSignature(mlir::RewriterBase &rewriter,
                                         mlir::func::FuncOp kernel);

/// The contraction dimensions of `op` when it is a contraction with at least
/// one m, n and k loop: a matmul, batched or with transposed operands.
std::optional<mlir::linalg::ContractionDimensions>
getMatmulDims(mlir::linalg::LinalgOp op);

/// The contractions of `kernel` on tensors (see getMatmulDims), with their
/// dimensions, in walk order.
llvm::SmallVector<
    std::pair<mlir::linalg::LinalgOp, mlir::linalg::ContractionDimensions>>
getContractions(mlir::func::FuncOp kernel);

/// With `pack_matmul` in `config`, packs the rhs and result of every
/// contraction of `kernel` into panels of the micro tile's n (see
/// `kiln-cpu-pack-matmul`).
mlir::LogicalResult packMatmuls(mlir::RewriterBase &rewriter,
                                mlir::func::FuncOp kernel,
                                CpuConfigAttr config);

/// Tiles the root op of `kernel` by `config` into an scf.forall and fuses its
/// producers into it; sets `kiln.tile_count`.
mlir::LogicalResult tileAndFuseKernel(mlir::RewriterBase &rewriter,
                                      mlir::func::FuncOp kernel,
                                      CpuConfigAttr config);

/// Attaches TilingInterface to kiln.attention, kiln.moe_router and
/// kiln.moe_experts: tiled over their parallel loops, each tile becomes the
/// op's final computation on tensors (KernelOpTiling.cpp).
void registerKernelOpTilingModels(mlir::DialectRegistry &registry);

/// Whether `op` is a kiln op that stays through kiln-to-linalg and is
/// computed by its tiled implementation.
bool isTiledKernelOp(mlir::Operation *op);

/// Replaces every kiln op of `kernel` that tiling left whole by its tiled
/// implementation over its whole iteration domain.
mlir::LogicalResult decomposeKernelOps(mlir::RewriterBase &rewriter,
                                       mlir::func::FuncOp kernel);

/// Tiles every linalg op of `kernel` to vector sizes from `config` and
/// vectorizes it.
mlir::LogicalResult vectorizeKernel(mlir::RewriterBase &rewriter,
                                    mlir::func::FuncOp kernel,
                                    CpuConfigAttr config,
                                    bool vectorizeContractions);

/// Patterns applied right after vectorization, on tensors: fold
/// multi-reductions of products into vector.contract and simplify transfers.
void populatePostVectorizationPatterns(mlir::RewritePatternSet &patterns);

/// Replaces the tile loop of a bufferized `kernel` by a loop over the tile
/// range given by two new trailing index arguments.
mlir::LogicalResult distributeTiles(mlir::RewriterBase &rewriter,
                                    mlir::func::FuncOp kernel);

/// Registers every dialect, interface model and translation the CPU backend
/// creates or needs, for tools and tests that build their own context.
void registerCpuCodegenDialects(mlir::DialectRegistry &registry);

} // namespace kiln::cpu

#endif // KILN_CODEGEN_CPU_PATTERNS_H_
