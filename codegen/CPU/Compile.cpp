//===- Compile.cpp - LLVM-dialect kernels to a shared object ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "codegen/CPU/Compile.h"

#include "codegen/CPU/Patterns.h"
#include "codegen/Common/Target.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/OptimizationLevel.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>
#include <mutex>

using namespace mlir;

namespace kiln::cpu {

SmallVector<KernelEntry> getKernelEntries(ModuleOp module) {
  SmallVector<KernelEntry> entries;
  for (auto function : module.getOps<LLVM::LLVMFuncOp>()) {
    auto numBuffers = function->getAttrOfType<IntegerAttr>(kNumBuffersAttrName);
    if (!numBuffers || !function->hasAttr(kKernelAttrName))
      continue;
    auto tileCount = function->getAttrOfType<IntegerAttr>(kTileCountAttrName);
    entries.push_back({function.getSymName().str(),
                       tileCount ? tileCount.getInt() : 1,
                       numBuffers.getInt()});
  }
  return entries;
}

/// The target machine for `target`, or an error message.
static std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const codegen::CpuTarget &target, std::string &error) {
  static std::once_flag initialized;
  std::call_once(initialized, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  llvm::Triple triple(target.triple);
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!llvmTarget)
    return nullptr;
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      triple, target.cpu, target.features, options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    error = "cannot create a target machine for " + target.triple + " (" +
            target.cpu + ")";
  return machine;
}

LogicalResult emitObjectFile(ModuleOp module, const codegen::CpuTarget &target,
                             SmallVectorImpl<char> &object) {
  // 1. The target machine.
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(target, error);
  if (!machine)
    return module.emitError() << "cannot compile for the CPU target '"
                              << target.name << "': " << error;

  // 2. LLVM IR for the target: every kernel function may use the target's
  //    widest vectors (by default LLVM splits 512-bit vectors on CPUs that
  //    prefer 256-bit ones).
  MLIRContext *context = module.getContext();
  registerBuiltinDialectTranslation(*context);
  registerLLVMDialectTranslation(*context);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "kiln-kernels");
  if (!llvmModule)
    return module.emitError("cannot translate the kernels to LLVM IR");
  llvmModule->setTargetTriple(llvm::Triple(target.triple));
  llvmModule->setDataLayout(machine->createDataLayout());
  std::string width = std::to_string(target.vectorBits);
  for (llvm::Function &function : *llvmModule) {
    if (function.isDeclaration())
      continue;
    function.addFnAttr("target-cpu", target.cpu);
    if (!target.features.empty())
      function.addFnAttr("target-features", target.features);
    function.addFnAttr("prefer-vector-width", width);
    function.addFnAttr("min-legal-vector-width", width);
    function.addFnAttr(llvm::Attribute::NoUnwind);
  }
  std::string problems;
  llvm::raw_string_ostream problemStream(problems);
  if (llvm::verifyModule(*llvmModule, &problemStream))
    return module.emitError("the kernels' LLVM IR does not verify: ")
           << problems;

  // 3. O3.
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(machine.get());
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  llvm::ModulePassManager passes =
      builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  passes.run(*llvmModule, modules);

  // 4. Object code.
  llvm::raw_svector_ostream stream(object);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, stream, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return module.emitError("the target machine for '")
           << target.name << "' cannot emit object files";
  codegen.run(*llvmModule);
  return success();
}

LogicalResult linkSharedObject(Location loc, ArrayRef<std::string> objectPaths,
                               StringRef outputPath) {
  llvm::ErrorOr<std::string> driver = llvm::sys::findProgramByName("cc");
  if (!driver)
    return emitError(loc, "cannot link kernels: no C compiler driver 'cc' on "
                          "the PATH");
  SmallString<128> log;
  if (std::error_code code =
          llvm::sys::fs::createTemporaryFile("kiln-link", "log", log))
    return emitError(loc, "cannot create a temporary file: ") << code.message();
  // -z defs: a symbol the kernels need but nothing defines is a link error
  // here, not a failure to load the shared object later.
  SmallVector<StringRef> args = {*driver, "-shared", "-Wl,-z,defs", "-o",
                                 outputPath};
  for (const std::string &path : objectPaths)
    args.push_back(path);
  args.push_back("-lm");
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(*driver, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/120,
                                         /*MemoryLimit=*/0, &message);
  std::string output;
  if (auto buffer = llvm::MemoryBuffer::getFile(log))
    output = (*buffer)->getBuffer().str();
  llvm::sys::fs::remove(log);
  if (status != 0)
    return emitError(loc, "linking kernels into '")
           << outputPath << "' failed ("
           << (message.empty() ? "status " + std::to_string(status) : message)
           << "): " << output;
  return success();
}

LogicalResult compileToSharedObject(ModuleOp module,
                                    const codegen::CpuTarget &target,
                                    StringRef outputPath) {
  SmallVector<char> object;
  if (failed(emitObjectFile(module, target, object)))
    return failure();
  SmallString<128> objectPath;
  int fd = -1;
  if (std::error_code code = llvm::sys::fs::createTemporaryFile(
          "kiln-kernels", "o", fd, objectPath))
    return module.emitError("cannot create a temporary object file: ")
           << code.message();
  {
    llvm::raw_fd_ostream stream(fd, /*shouldClose=*/true);
    stream.write(object.data(), object.size());
    stream.close();
    if (stream.has_error()) {
      stream.clear_error();
      llvm::sys::fs::remove(objectPath);
      return module.emitError("cannot write the object file '")
             << objectPath << "'";
    }
  }
  LogicalResult linked = linkSharedObject(
      module.getLoc(), {std::string(objectPath.str())}, outputPath);
  llvm::sys::fs::remove(objectPath);
  return linked;
}

} // namespace kiln::cpu
