//===- KilnOpt.cpp - mlir-opt-style driver for kiln IR ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Parses, verifies, transforms and prints kiln IR; the driver of the lit
// tests.
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Patterns.h"
#include "codegen/CPU/Pipelines.h"
#include "codegen/CUDA/Passes.h"
#include "ir/KilnDialect.h"
#include "passes/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  kiln::graph::registerGraphPasses();
  kiln::cpu::registerCpuPasses();
  kiln::cuda::registerKilnCudaPasses();
  mlir::DialectRegistry registry;
  registry.insert<kiln::KilnDialect, mlir::func::FuncDialect>();
  kiln::cpu::registerCpuCodegenDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
