//===- Nvrtc.h - CUDA C++ to cubin with NVRTC, cached on disk --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The in-process compile of generated CUDA C++: NVRTC turns one kernel's
// source into a cubin for sm_80 or sm_90a. libnvrtc is opened with dlopen,
// so kiln builds and runs where it is missing; only compiling for CUDA then
// fails, with a message saying which library could not be opened.
//
// Compiled cubins are kept in an on-disk cache folder, one file per key. The
// key is a SHA-256 of the source, the architecture, the NVRTC options (the
// include folders among them) and the NVRTC version, so a new toolkit or a
// changed option never reuses a stale cubin. Each file holds a checksum of
// its cubin: a damaged or truncated entry is detected, compiled again and
// replaced. Entries are written to a temporary file and renamed, so
// processes sharing a cache never see half an entry.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CUDA_NVRTC_H_
#define KILN_CODEGEN_CUDA_NVRTC_H_

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::codegen {

/// The entry points of an opened libnvrtc (Nvrtc.cpp).
struct NvrtcLibrary;

struct NvrtcOptions {
  /// The libnvrtc shared objects to try, in order; names without a slash
  /// are looked up as dlopen looks them up.
  std::vector<std::string> libraries = {"libnvrtc.so.13", "libnvrtc.so"};
  /// Folders searched for #include <...>: the CUDA toolkit's include folder,
  /// which holds cuda_bf16.h and cuda_fp16.h.
  std::vector<std::string> includeDirs;
  /// The cache folder, created when missing; empty: no cache.
  std::string cacheDir;
};

/// Whether a compile used the cache.
enum class NvrtcCacheOutcome {
  /// No cache folder was given.
  Disabled,
  /// The cubin came from the cache.
  Hit,
  /// Not in the cache: compiled and stored.
  Miss,
  /// The cached entry was damaged: compiled again and replaced.
  Rebuilt,
};

struct NvrtcResult {
  std::vector<uint8_t> cubin;
  NvrtcCacheOutcome cache = NvrtcCacheOutcome::Disabled;
};

/// A loaded libnvrtc. Cheap to copy; the library stays open while a copy
/// lives. Compiling is safe from several threads at once.
class NvrtcCompiler {
public:
  /// Opens the first library of `options.libraries` that loads and has the
  /// NVRTC entry points. Fails naming every library tried.
  static llvm::Expected<NvrtcCompiler> load(const NvrtcOptions &options);

  /// NVRTC's version, "major.minor".
  const std::string &getVersion() const;

  /// The options NVRTC is given for `arch`, in order.
  std::vector<std::string> getCompileOptions(llvm::StringRef arch) const;

  /// The cache key of compiling `source` for `arch`: 64 hex digits.
  std::string getCacheKey(llvm::StringRef source, llvm::StringRef arch) const;

  /// Compiles `source` (named `name` in diagnostics) to a cubin for `arch`
  /// ("sm_80" or "sm_90a"), through the cache. Fails with NVRTC's log, or
  /// when the cache folder cannot be created or written.
  llvm::Expected<NvrtcResult> compile(llvm::StringRef source,
                                      llvm::StringRef name,
                                      llvm::StringRef arch) const;

private:
  NvrtcCompiler(std::shared_ptr<const NvrtcLibrary> library,
                NvrtcOptions options);

  std::shared_ptr<const NvrtcLibrary> library;
  NvrtcOptions options;
};

} // namespace kiln::codegen

#endif // KILN_CODEGEN_CUDA_NVRTC_H_
