//===- Pipelines.cpp - The graph pass pipelines -----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "passes/Pipelines.h"

#include "passes/Fusion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace kiln::graph {

void buildGraphPipeline(mlir::OpPassManager &pm,
                        const GraphPipelineOptions &options) {
  mlir::OpPassManager &function = pm.nest<mlir::func::FuncOp>();
  function.addPass(mlir::createCanonicalizerPass());
  function.addPass(mlir::createCSEPass());
  FormKernelGroupsPassOptions formOptions;
  formOptions.enable = options.fusion;
  function.addPass(createFormKernelGroupsPass(formOptions));
  pm.addPass(createOutlineKernelsPass());
}

void registerGraphPasses() {
  registerFusionPasses();
  mlir::PassPipelineRegistration<GraphPipelineOptions>(
      "kiln-graph-pipeline",
      "canonicalize, fuse into kernel groups and outline them as kernels",
      buildGraphPipeline);
}

} // namespace kiln::graph
