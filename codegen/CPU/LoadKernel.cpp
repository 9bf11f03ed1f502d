//===- LoadKernel.cpp - Compile one kernel, load it in-process -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/LoadKernel.h"

#include "codegen/CPU/Pipelines.h"
#include "codegen/Common/Target.h"

#include "mlir/Pass/PassManager.h"

#include <dlfcn.h>
#include <utility>

using namespace mlir;

namespace kiln::cpu {

LoadedKernel::LoadedKernel(LoadedKernel &&other) noexcept
    : library(std::exchange(other.library, nullptr)),
      entry(std::exchange(other.entry, nullptr)), info(std::move(other.info)) {}

LoadedKernel &LoadedKernel::operator=(LoadedKernel &&other) noexcept {
  if (this != &other) {
    if (library)
      dlclose(library);
    library = std::exchange(other.library, nullptr);
    entry = std::exchange(other.entry, nullptr);
    info = std::move(other.info);
  }
  return *this;
}

LoadedKernel::~LoadedKernel() {
  if (library)
    dlclose(library);
}

FailureOr<LoadedKernel> loadKernel(Location loc, StringRef path,
                                   const KernelEntry &info) {
  LoadedKernel kernel;
  kernel.library = dlopen(path.str().c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!kernel.library)
    return emitError(loc) << "cannot load the kernel library '" << path
                          << "': " << dlerror();
  kernel.entry =
      reinterpret_cast<KilnKernelFn>(dlsym(kernel.library, info.symbol.c_str()));
  if (!kernel.entry)
    return emitError(loc) << "the kernel library '" << path
                          << "' has no symbol '" << info.symbol << "'";
  kernel.info = info;
  return kernel;
}

FailureOr<LoadedKernel> compileAndLoadKernel(ModuleOp module,
                                             StringRef target,
                                             StringRef path) {
  llvm::Expected<codegen::CpuTarget> cpu = codegen::getCpuTarget(target);
  if (!cpu)
    return module.emitError(llvm::toString(cpu.takeError()));
  PassManager pm(module.getContext());
  CpuLowerKernelPipelineOptions options;
  options.target = target.str();
  buildCpuLowerKernelPipeline(pm, options);
  if (failed(pm.run(module)))
    return failure();
  SmallVector<KernelEntry> entries = getKernelEntries(module);
  if (entries.size() != 1)
    return module.emitError("expected one kernel to compile and load (got ")
           << entries.size() << ")";
  if (failed(compileToSharedObject(module, *cpu, path)))
    return failure();
  return loadKernel(module.getLoc(), path, entries.front());
}

} // namespace kiln::cpu
