//===- Pipelines.h - The graph pass pipelines -------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PIPELINES_H_
#define KILN_PASSES_PIPELINES_H_

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace kiln::graph {

/// Options of `kiln-graph-pipeline`.
struct GraphPipelineOptions
    : public mlir::PassPipelineOptions<GraphPipelineOptions> {
  Option<bool> fusion{*this, "fusion",
                      llvm::cl::desc("fuse ops into kernels; with false, "
                                     "every op becomes its own kernel"),
                      llvm::cl::init(true)};
};

/// The graph pipeline on a module of model functions: canonicalize and CSE
/// each function, form its kernel groups, then outline every group into a
/// kernel function.
void buildGraphPipeline(mlir::OpPassManager &pm,
                        const GraphPipelineOptions &options);

/// Registers the graph passes (fusion) and `kiln-graph-pipeline`.
void registerGraphPasses();

} // namespace kiln::graph

#endif // KILN_PASSES_PIPELINES_H_
