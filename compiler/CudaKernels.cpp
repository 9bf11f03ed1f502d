//===- CudaKernels.cpp - The GPU half of the compiler driver ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Every kernel is generated before any is compiled, so that one error lists
// all the kernels the generator does not cover rather than the first.
//
//===----------------------------------------------------------------------===//

#include "compiler/CudaKernels.h"

#include "codegen/CUDA/EmitCuda.h"
#include "passes/Fusion/KernelGroups.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kiln::compiler {

void setDefaultCudaConfigs(ModuleOp module, StringRef arch) {
  for (auto kernel : module.getOps<func::FuncOp>())
    if (kernel->hasAttr(graph::kKernelAttrName) &&
        !kernel->hasAttr(CudaConfigAttr::kAttrName))
      kernel->setAttr(CudaConfigAttr::kAttrName,
                      codegen::getDefaultCudaConfig(kernel, arch));
}

/// The kernel's config as text, for the CUDA section.
static std::string printConfig(func::FuncOp kernel) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << kernel->getAttr(CudaConfigAttr::kAttrName);
  return text;
}

FailureOr<CudaProgram> compileCudaKernels(ModuleOp module, StringRef arch,
                                          const codegen::NvrtcOptions &nvrtc,
                                          std::vector<std::string> &sources) {
  // 1. Generate every kernel, collecting why the uncovered ones are not.
  std::vector<func::FuncOp> kernels;
  std::string uncovered;
  int numUncovered = 0;
  for (auto kernel : module.getOps<func::FuncOp>()) {
    if (!kernel->hasAttr(graph::kKernelAttrName))
      continue;
    std::string reason;
    FailureOr<std::string> source = failure();
    {
      ScopedDiagnosticHandler capture(module.getContext(), [&](Diagnostic &d) {
        if (reason.empty())
          reason = d.str();
        return success();
      });
      source = codegen::emitCudaKernel(kernel, arch);
    }
    if (failed(source)) {
      uncovered += (numUncovered++ ? ", '" : "'") +
                   kernel.getSymName().str() + "' (" + reason + ")";
      continue;
    }
    kernels.push_back(kernel);
    sources.push_back(codegen::getCudaPrelude().str() + "\n" + *source);
  }
  if (numUncovered)
    return module.emitError("cannot compile for ")
           << arch << ": the CUDA generator does not cover " << numUncovered
           << (numUncovered == 1 ? " kernel" : " kernels") << " yet: "
           << uncovered;

  // 2. Compile each to a cubin, with its launch shape.
  llvm::Expected<codegen::NvrtcCompiler> compiler =
      codegen::NvrtcCompiler::load(nvrtc);
  if (!compiler)
    return module.emitError("cannot compile for ")
           << arch << ": " << llvm::toString(compiler.takeError());
  CudaProgram program;
  program.arch = arch.str();
  for (auto [kernel, source] : llvm::zip_equal(kernels, sources)) {
    std::string symbol = kernel.getSymName().str();
    llvm::Expected<codegen::NvrtcResult> compiled =
        compiler->compile(source, symbol, arch);
    if (!compiled)
      return kernel.emitError() << llvm::toString(compiled.takeError());
    codegen::CudaLaunch launch = codegen::getCudaLaunch(kernel, arch);
    CudaKernelImage image;
    image.symbol = symbol;
    image.numParams = kernel.getNumArguments() + kernel.getNumResults();
    image.grid = {static_cast<uint32_t>(launch.gridX),
                  static_cast<uint32_t>(launch.gridY),
                  static_cast<uint32_t>(launch.gridZ)};
    image.block = {static_cast<uint32_t>(launch.blockX), 1, 1};
    image.sharedBytes = static_cast<uint32_t>(launch.sharedBytes);
    image.workspaceBytes = static_cast<uint64_t>(launch.workspaceBytes);
    for (const codegen::CudaTensorMapLaunch &map : launch.tensorMaps)
      image.tensorMaps.push_back(
          {static_cast<uint32_t>(map.param), map.bf16 ? "bf16" : "f16",
           {static_cast<uint64_t>(map.inner), static_cast<uint64_t>(map.outer)},
           {static_cast<uint32_t>(map.boxInner),
            static_cast<uint32_t>(map.boxOuter)}});
    image.config = printConfig(kernel);
    image.cubin = std::move(compiled->cubin);
    program.kernels.push_back(std::move(image));
  }
  return program;
}

} // namespace kiln::compiler
