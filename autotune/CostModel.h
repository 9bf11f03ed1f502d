//===- CostModel.h - Predicted time of a candidate config ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// An analytic model that ranks candidates before any is compiled: a
// roofline of the kernel's FLOPs and the bytes its tiles move (operands
// re-read once per tile that needs them, cheaper when a tile's working set
// stays in L2), the register tile's FMA efficiency (the issue slots its
// operand loads take from the FMAs, enough accumulators to hide the FMA
// latency), and the tile count against
// the threads (idle threads in the last wave, a fixed cost per tile). A
// streaming kernel (elementwise, reductions) moves its bytes once; its tiles
// are cheap loop iterations, but tiles that cover their rows partially walk
// one address stream per row and operand, and past what the prefetchers
// track those rows come on demand. It only has to order candidates well;
// the measurements decide (autotune/Search.h corrects it with them).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_COSTMODEL_H_
#define KILN_AUTOTUNE_COSTMODEL_H_

#include "autotune/Space.h"
#include "runtime/MachinePeaks.h"

namespace kiln::autotune {

/// The predicted seconds of one call of the kernel of `space` with the
/// config of `candidate` on a machine with `peaks` (its threads included).
double predictSeconds(const SearchSpace &space, const Candidate &candidate,
                      const MachinePeaks &peaks);

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_COSTMODEL_H_
