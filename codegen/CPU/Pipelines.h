//===- Pipelines.h - The CPU kernel lowering pipeline -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_PIPELINES_H_
#define KILN_CODEGEN_CPU_PIPELINES_H_

#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace kiln::cpu {

struct CpuLowerKernelPipelineOptions
    : mlir::PassPipelineOptions<CpuLowerKernelPipelineOptions> {
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("the CPU whose default kernel configs are used: host, "
                     "x86-64, x86-64-v2, x86-64-v3 (avx2) or x86-64-v4 "
                     "(avx512)"),
      llvm::cl::init("host")};
  Option<bool> vectorizeContractions{
      *this, "vectorize-contractions",
      llvm::cl::desc("tile and vectorize contractions by the micro tile"),
      llvm::cl::init(true)};
};

/// `kiln-cpu-lower-kernel`: lowers every kernel function of a module from
/// kiln ops to the LLVM dialect, each with its C entry point, reading (or
/// first selecting) its `kiln.cpu_config`:
///
///   select config -> kiln to linalg -> fuse elementwise ops -> buffer
///   signature -> tile and fuse -> vectorize -> one-shot bufferize -> clean
///   up buffers -> distribute tiles -> lower vectors -> LLVM -> entry points
/// The last stage of `buildCpuLowerKernelPipeline`: a kernel already on
/// buffers (memref signature, tile loop over its tile range, vectors) to
/// the LLVM dialect with its C entry point.
void buildCpuLowerBuffersPipeline(mlir::OpPassManager &pm);

void buildCpuLowerKernelPipeline(mlir::OpPassManager &pm,
                                 const CpuLowerKernelPipelineOptions &options);

/// Registers the CPU passes and the `kiln-cpu-lower-kernel` and
/// `kiln-cpu-lower-buffers` pipelines.
void registerCpuPasses();

} // namespace kiln::cpu

#endif // KILN_CODEGEN_CPU_PIPELINES_H_
