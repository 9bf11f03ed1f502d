//===- Explain.h - What each outlined kernel does and costs -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The data behind `kiln explain`: per kernel of an outlined module, its
// fusion kind, its ops, the FLOPs it performs and the bytes it must move,
// and so its arithmetic intensity. Printing is the tool's job.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_FUSION_EXPLAIN_H_
#define KILN_PASSES_FUSION_EXPLAIN_H_

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::graph {

/// One outlined kernel.
struct KernelExplanation {
  /// The kernel function's symbol name.
  std::string name;
  /// Its `kiln.fusion_kind`.
  std::string kind;
  /// The names of its ops in program order, e.g. "kiln.matmul".
  std::vector<std::string> ops;
  /// FLOPs of its ops (ir/Cost.h).
  int64_t flops = 0;
  /// Bytes of the activations it reads, of the weights and constants it
  /// reads (arguments fed by kiln.weight or kiln.constant at its call), and
  /// of the results it writes.
  int64_t inputBytes = 0;
  int64_t weightBytes = 0;
  int64_t outputBytes = 0;

  /// Bytes it moves at least: each input, weight and output once.
  int64_t getBytes() const { return inputBytes + weightBytes + outputBytes; }
  /// FLOPs per byte moved; 0 for a kernel that moves nothing.
  double getIntensity() const {
    return getBytes() ? static_cast<double>(flops) / getBytes() : 0.0;
  }
};

/// Which roofline limits a kernel on some machine.
enum class RooflineBound { Memory, Compute };

/// The bound of `kernel` on a machine whose ridge point (peak FLOP/s over
/// peak bytes/s) is `ridgeFlopsPerByte`: memory below it, compute above.
RooflineBound getRooflineBound(const KernelExplanation &kernel,
                               double ridgeFlopsPerByte);

/// The kernels of `module` (functions with `kiln.kernel`) in module order,
/// which is the order outlining creates them in. Weights are told from
/// activations at the kernel's first call; without one, every argument
/// counts as an activation.
std::vector<KernelExplanation> explainKernels(mlir::ModuleOp module);

} // namespace kiln::graph

#endif // KILN_PASSES_FUSION_EXPLAIN_H_
