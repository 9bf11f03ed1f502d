//===- CudaSource.h - Shared pieces of the CUDA generators -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// What every kernel kind's generator (Emit<Kind>.cpp) shares: CUDA types of
// tensors, the kernel signature, and the pointwise emitter, which writes the
// value of any kernel value at given coordinates as CUDA statements. Data
// movement (reshape, transpose, slice, concat, gather, broadcast) is an index
// map in that emitter, so every generator fuses it into its loads and stores.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CUDA_CUDASOURCE_H_
#define KILN_CODEGEN_CUDA_CUDASOURCE_H_

#include "codegen/CUDA/EmitCuda.h"

#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::codegen {

/// Coordinates of one element as CUDA expressions, outermost first.
using Coords = llvm::SmallVector<std::string>;

/// The CUDA type that stores elements of `type`, or "" for types the
/// generator does not cover.
std::string getStorageType(mlir::Type type);

mlir::RankedTensorType getTensorType(mlir::Value value);
mlir::func::ReturnOp getReturn(mlir::func::FuncOp kernel);

/// The kernel's config: its `kiln.cuda_config`, or the default for `arch`.
CudaConfigAttr getConfig(mlir::func::FuncOp kernel, llvm::StringRef arch);

/// Threads per block of `config`.
int64_t getThreads(CudaConfigAttr config);

/// `extern "C" __global__ void __launch_bounds__(...) name(params) {`: the
/// kernel's arguments as const pointers `argN`, then its results `resultN`,
/// then `extraParameters` (declarations, e.g. a workspace pointer).
/// `minBlocks` > 0 adds the minimum blocks per SM to the launch bounds;
/// `attributes` go after them (e.g. `__cluster_dims__(2, 1, 1)`).
std::string getSignature(mlir::func::FuncOp kernel, int64_t threads,
                         int64_t minBlocks = 0,
                         llvm::ArrayRef<std::string> extraParameters = {},
                         llvm::StringRef attributes = "");

/// The row-major linear index of `coords` in `shape` (size-1 dimensions
/// skipped, their coordinate being 0).
std::string getLinearIndex(llvm::ArrayRef<std::string> coords,
                           llvm::ArrayRef<int64_t> shape);

/// Whether `op` computes each element from its operands' elements at the
/// same (broadcast) coordinates.
bool isElementwiseOp(mlir::Operation *op);

/// Whether `op` is an op the pointwise emitter evaluates at any coordinates
/// (elementwise, data movement, rope, reductions, pooling, norms and
/// softmax, splat constants).
bool isPointwiseOp(mlir::Operation *op);

/// Writes CUDA statements that evaluate kernel values at coordinates. Each
/// value's element is computed once per coordinates in a scope (the same
/// value at the same coordinates reuses its variable). Values that a
/// generator computes itself (matmul accumulators, normalized rows whose
/// statistics a block reduced) are given as sources.
class PointwiseEmitter {
public:
  /// Emits the element of a value at coordinates; returns its expression.
  using Source = std::function<std::string(PointwiseEmitter &,
                                           llvm::ArrayRef<std::string>)>;

  PointwiseEmitter(llvm::raw_ostream &os, std::string indent)
      : os(os), indent(std::move(indent)) {}

  /// The expression of `value` at `coords` (a float, or an int64_t for
  /// integer tensors), after emitting the statements that compute it.
  std::string emit(mlir::Value value, llvm::ArrayRef<std::string> coords);

  /// Computes `value` with `source` instead of from its definition.
  void setSource(mlir::Value value, Source source) {
    sources[value] = std::move(source);
  }
  bool hasSource(mlir::Value value) const { return sources.count(value); }

  /// Loads of the given arguments (by number) whose innermost coordinate is
  /// `laneCoord` read `lanes` consecutive elements with one 128-bit load at
  /// lane 0 into a buffer declared ahead of the loop over `lane`.
  void setVectorLoads(llvm::DenseMap<unsigned, bool> arguments,
                      std::string laneCoord, int64_t lanes) {
    vectorArguments = std::move(arguments);
    this->laneCoord = std::move(laneCoord);
    this->lanes = lanes;
  }

  /// Declarations the vector loads need ahead of the lane loop; the caller
  /// writes them there.
  std::string takeHoisted() { return std::exchange(hoisted, std::string()); }

  /// Emits one line at the current indentation.
  llvm::raw_ostream &line() { return os << indent; }
  /// A fresh variable name with `prefix`.
  std::string fresh(llvm::StringRef prefix);
  /// Opens and closes a nested C scope (a branch or a loop body): values
  /// computed inside are not reused after it.
  void open(llvm::StringRef header);
  void close();

private:
  std::string emitOp(mlir::Operation *op, mlir::Value value,
                     llvm::ArrayRef<std::string> coords);
  std::string load(mlir::BlockArgument argument,
                   llvm::ArrayRef<std::string> coords);
  /// Emits `const int64_t name = expr;` and returns name.
  std::string let(llvm::StringRef prefix, const std::string &expr);

  llvm::raw_ostream &os;
  std::string indent;
  std::vector<std::map<std::pair<void *, std::string>, std::string>> scopes{1};
  llvm::DenseMap<mlir::Value, Source> sources;
  llvm::DenseMap<unsigned, bool> vectorArguments;
  std::string laneCoord;
  int64_t lanes = 1;
  std::string hoisted;
  int64_t next = 0;
};

/// The coordinates in `to`'s shape of the element that `from` has at
/// `fromCoords`, when `to` is computed from `from` by elementwise ops (on
/// operands of `to`'s shape), transposes, reshapes and slices; with the
/// condition (or "") under which that element is in `to` (a slice drops
/// the others). Emits the index arithmetic through `emitter`. Fails when
/// `to` is computed otherwise.
std::optional<std::pair<Coords, std::string>>
mapForward(PointwiseEmitter &emitter, mlir::Value from, Coords fromCoords,
           mlir::Value to);

/// Whether `value` is computed from `from` inside the kernel.
bool dependsOn(mlir::Value value, mlir::Value from);

/// Coordinates of `linear` (a row-major index) in `shape`, emitted as named
/// variables `prefix0, prefix1, ...`.
Coords emitDelinearize(PointwiseEmitter &emitter, const std::string &linear,
                       llvm::ArrayRef<int64_t> shape, llvm::StringRef prefix);

/// The statistics of one row of a softmax, rms_norm or layer_norm, which a
/// generator reduces over the row's threads; and the source that normalizes
/// an element of that row with them.
struct RowStatistics {
  /// Names of the f32 variables that hold the statistics once reduced:
  /// softmax: max and the sum of exp(x - max); rms_norm: the scale;
  /// layer_norm: the mean and the scale.
  std::string first, second;
};

/// Emits, through `emitter`, the statistics of the row of `op` (a softmax,
/// rms_norm or layer_norm over its last axis) whose outer coordinates are
/// `outer`: `loop(j)` is the header of the loop over the row's positions
/// `j` the calling thread visits, and `reduce(partial, max)` the expression
/// that turns a thread's partial sum (or max) into the row's. Returns the
/// statistics' names.
RowStatistics emitRowStatistics(
    PointwiseEmitter &emitter, mlir::Operation *op, const Coords &outer,
    const std::function<std::string(const std::string &)> &loop,
    const std::function<std::string(const std::string &, bool)> &reduce);

/// The source that normalizes elements of `op`'s rows with `statistics`.
PointwiseEmitter::Source getNormalizedSource(mlir::Operation *op,
                                             RowStatistics statistics);

/// The softmax and norm ops that `value`, seen as [rows x width], reads
/// row for row: through reshapes and pointwise ops on operands of one
/// shape, ending at an op of `rows` rows of `width`.
llvm::SmallVector<mlir::Operation *>
getRowProducers(mlir::Value value, int64_t rows, int64_t width);

/// Emits the statistics of the rows `rowBase + r` (r < tileRows, and only
/// rows < `rows`) of `op` into the shared `float name[2][tileRows]`, one
/// warp per row (names `warp`, `lane`, `rowBase` in scope), then a barrier;
/// and has `emitter` normalize `op`'s elements with the statistics of row
/// `r` (a variable the caller defines where it reads them).
void emitTileRowStatistics(PointwiseEmitter &emitter, mlir::Operation *op,
                           int64_t tileRows, int64_t warps, int64_t rows,
                           const std::string &name);

/// Stores the kernel results numbered in `results` (all when empty): those
/// that `anchor` reaches by mapForward at the element `anchor` has at
/// `anchorCoords`, the others (which must have the anchor's shape) at the
/// same coordinates. The emitter's sources give the anchor's element (and
/// those of values computed alongside it, like a group's other matmuls)
/// whatever coordinates they are asked at, so each result must read them
/// at one element: through one chain of data movement, or through
/// elementwise ops only. Fails with an error otherwise.
mlir::LogicalResult emitResultStores(PointwiseEmitter &emitter,
                                     mlir::func::FuncOp kernel,
                                     mlir::Value anchor,
                                     const Coords &anchorCoords,
                                     llvm::ArrayRef<unsigned> results = {});

} // namespace kiln::codegen

#endif // KILN_CODEGEN_CUDA_CUDASOURCE_H_
