//===- SelectKernelConfig.cpp - Sets or verifies kernel configs -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/KernelConfig.h"
#include "codegen/CPU/Passes.h"
#include "codegen/CPU/Patterns.h"
#include "codegen/Common/Target.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <optional>

#define DEBUG_TYPE "kiln-select-kernel-config"

namespace kiln::cpu {
#define GEN_PASS_DEF_SELECTKERNELCONFIGPASS
#include "codegen/CPU/Passes.h.inc"
} // namespace kiln::cpu

using namespace mlir;
using namespace kiln;
using namespace kiln::cpu;

bool kiln::cpu::isKernel(func::FuncOp function) {
  return function->hasAttr(kKernelAttrName);
}

FailureOr<CpuConfigAttr> kiln::cpu::getKernelConfig(func::FuncOp function) {
  auto config =
      function->getAttrOfType<CpuConfigAttr>(CpuConfigAttr::kAttrName);
  if (!config)
    return function.emitError()
           << "expected a '" << CpuConfigAttr::kAttrName
           << "' attribute (run kiln-select-kernel-config)";
  return config;
}

namespace {

struct SelectKernelConfigPass
    : kiln::cpu::impl::SelectKernelConfigPassBase<SelectKernelConfigPass> {
  using Base::Base;
  LogicalResult initialize(MLIRContext *context) override;
  void runOnOperation() override;

  std::optional<codegen::CpuTarget> cpuTarget;
};

} // namespace

LogicalResult SelectKernelConfigPass::initialize(MLIRContext *context) {
  llvm::Expected<codegen::CpuTarget> found = codegen::getCpuTarget(target);
  if (!found)
    return emitError(UnknownLoc::get(context))
           << llvm::toString(found.takeError());
  cpuTarget = *found;
  return success();
}

void SelectKernelConfigPass::runOnOperation() {
  func::FuncOp function = getOperation();
  if (!isKernel(function))
    return;
  Attribute existing = function->getAttr(CpuConfigAttr::kAttrName);
  if (!existing) {
    function->setAttr(CpuConfigAttr::kAttrName,
                      getDefaultCpuConfig(function, *cpuTarget));
    return;
  }
  auto config = dyn_cast<CpuConfigAttr>(existing);
  if (!config) {
    function.emitError() << "expected '" << CpuConfigAttr::kAttrName
                         << "' to be a #kiln.cpu_config (got " << existing
                         << ")";
    return signalPassFailure();
  }
  if (failed(verifyCpuConfig(function, config)))
    signalPassFailure();
}
