//===- Nvrtc.cpp - CUDA C++ to cubin with NVRTC, cached on disk -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A cache entry, all integers little-endian:
//
//   offset  size  field
//   0       8     magic "KILNCUBN"
//   8       8     u64 cubin size in bytes
//   16      32    SHA-256 of the cubin
//   48      size  the cubin
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/Nvrtc.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <cstring>
#include <dlfcn.h>

using namespace llvm;

namespace kiln::codegen {

//===----------------------------------------------------------------------===//
// The library
//===----------------------------------------------------------------------===//

namespace {
// NVRTC's C interface, declared here so that building needs no CUDA headers.
using NvrtcResultCode = int;
using NvrtcProgram = struct _nvrtcProgram *;
} // namespace

struct NvrtcLibrary {
  void *handle = nullptr;
  std::string version;
  const char *(*getErrorString)(NvrtcResultCode) = nullptr;
  NvrtcResultCode (*getVersion)(int *, int *) = nullptr;
  NvrtcResultCode (*createProgram)(NvrtcProgram *, const char *, const char *,
                                   int, const char *const *,
                                   const char *const *) = nullptr;
  NvrtcResultCode (*destroyProgram)(NvrtcProgram *) = nullptr;
  NvrtcResultCode (*compileProgram)(NvrtcProgram, int,
                                    const char *const *) = nullptr;
  NvrtcResultCode (*getProgramLogSize)(NvrtcProgram, size_t *) = nullptr;
  NvrtcResultCode (*getProgramLog)(NvrtcProgram, char *) = nullptr;
  NvrtcResultCode (*getCubinSize)(NvrtcProgram, size_t *) = nullptr;
  NvrtcResultCode (*getCubin)(NvrtcProgram, char *) = nullptr;

  ~NvrtcLibrary() {
    if (handle)
      dlclose(handle);
  }
};

/// Looks up `name` in `handle` into `entry`; false when it is missing.
template <typename Fn>
static bool bindSymbol(void *handle, const char *name, Fn &entry) {
  entry = reinterpret_cast<Fn>(dlsym(handle, name));
  return entry != nullptr;
}

/// Opens `path` and binds every entry point; nullptr with `reason` set when
/// it cannot.
static std::shared_ptr<NvrtcLibrary>
openLibrary(const std::string &path, std::string &reason) {
  auto library = std::make_shared<NvrtcLibrary>();
  library->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library->handle) {
    const char *message = dlerror();
    reason = message ? message : path + ": cannot be opened";
    return nullptr;
  }
  void *handle = library->handle;
  if (!bindSymbol(handle, "nvrtcGetErrorString", library->getErrorString) ||
      !bindSymbol(handle, "nvrtcVersion", library->getVersion) ||
      !bindSymbol(handle, "nvrtcCreateProgram", library->createProgram) ||
      !bindSymbol(handle, "nvrtcDestroyProgram", library->destroyProgram) ||
      !bindSymbol(handle, "nvrtcCompileProgram", library->compileProgram) ||
      !bindSymbol(handle, "nvrtcGetProgramLogSize",
                  library->getProgramLogSize) ||
      !bindSymbol(handle, "nvrtcGetProgramLog", library->getProgramLog) ||
      !bindSymbol(handle, "nvrtcGetCUBINSize", library->getCubinSize) ||
      !bindSymbol(handle, "nvrtcGetCUBIN", library->getCubin)) {
    reason = path + " lacks the NVRTC entry points";
    return nullptr;
  }
  int major = 0, minor = 0;
  if (library->getVersion(&major, &minor) != 0) {
    reason = path + ": nvrtcVersion failed";
    return nullptr;
  }
  library->version = std::to_string(major) + "." + std::to_string(minor);
  return library;
}

NvrtcCompiler::NvrtcCompiler(std::shared_ptr<const NvrtcLibrary> library,
                             NvrtcOptions options)
    : library(std::move(library)), options(std::move(options)) {}

Expected<NvrtcCompiler> NvrtcCompiler::load(const NvrtcOptions &options) {
  std::string reasons;
  for (const std::string &path : options.libraries) {
    std::string reason;
    if (std::shared_ptr<NvrtcLibrary> library = openLibrary(path, reason))
      return NvrtcCompiler(std::move(library), options);
    reasons += (reasons.empty() ? "" : "; ") + reason;
  }
  return createStringError("cannot load NVRTC (" +
                           (reasons.empty() ? "no library given" : reasons) +
                           ")");
}

const std::string &NvrtcCompiler::getVersion() const {
  return library->version;
}

//===----------------------------------------------------------------------===//
// Compiling
//===----------------------------------------------------------------------===//

/// NVRTC has no C library headers; generated kernels include <stdint.h> for
/// the fixed-width types only, so it is given this one.
static constexpr const char *kStdintHeader =
    "typedef signed char int8_t;\n"
    "typedef short int16_t;\n"
    "typedef int int32_t;\n"
    "typedef long long int64_t;\n"
    "typedef unsigned char uint8_t;\n"
    "typedef unsigned short uint16_t;\n"
    "typedef unsigned int uint32_t;\n"
    "typedef unsigned long long uint64_t;\n";

std::vector<std::string>
NvrtcCompiler::getCompileOptions(StringRef arch) const {
  std::vector<std::string> flags = {"--gpu-architecture=" + arch.str(),
                                    "--std=c++17"};
  for (const std::string &dir : options.includeDirs)
    flags.push_back("--include-path=" + dir);
  return flags;
}

std::string NvrtcCompiler::getCacheKey(StringRef source, StringRef arch) const {
  SHA256 hash;
  // Each part ends in a NUL, which none contains, so no two different lists
  // of parts hash the same bytes.
  auto add = [&](StringRef part) {
    hash.update(part);
    hash.update(ArrayRef<uint8_t>{0});
  };
  add("kiln-nvrtc-cache-1");
  add(library->version);
  add(arch);
  for (const std::string &flag : getCompileOptions(arch))
    add(flag);
  add(kStdintHeader);
  add(source);
  return toHex(hash.final(), /*LowerCase=*/true);
}

/// NVRTC's message for `code`.
static std::string describe(const NvrtcLibrary &library,
                            NvrtcResultCode code) {
  const char *text = library.getErrorString(code);
  return text ? text : "NVRTC error " + std::to_string(code);
}

/// Compiles `source` without the cache.
static Expected<std::vector<uint8_t>>
compileSource(const NvrtcLibrary &library, StringRef source,
              StringRef name, StringRef arch,
              const std::vector<std::string> &flags) {
  NvrtcProgram program = nullptr;
  std::string text = source.str(), file = name.str() + ".cu";
  const char *headers[] = {kStdintHeader};
  const char *headerNames[] = {"stdint.h"};
  if (NvrtcResultCode code = library.createProgram(
          &program, text.c_str(), file.c_str(), 1, headers, headerNames))
    return createStringError("NVRTC cannot create a program for '" + name +
                             "': " + describe(library, code));
  std::vector<const char *> argv;
  for (const std::string &flag : flags)
    argv.push_back(flag.c_str());
  NvrtcResultCode code = library.compileProgram(
      program, static_cast<int>(argv.size()), argv.data());
  Expected<std::vector<uint8_t>> result = std::vector<uint8_t>();
  if (code != 0) {
    size_t size = 0;
    std::string log;
    if (library.getProgramLogSize(program, &size) == 0 && size > 1) {
      log.resize(size);
      if (library.getProgramLog(program, log.data()) == 0)
        log.resize(size - 1);
      else
        log.clear();
    }
    result = createStringError("NVRTC failed to compile '" + name +
                               "' for " + arch + ": " +
                               describe(library, code) +
                               (log.empty() ? "" : "\n" + log));
  } else {
    size_t size = 0;
    if ((code = library.getCubinSize(program, &size)) == 0) {
      result->resize(size);
      code = library.getCubin(program, reinterpret_cast<char *>(result->data()));
    }
    if (code != 0)
      result = createStringError("NVRTC produced no cubin for '" + name +
                                 "': " + describe(library, code));
  }
  library.destroyProgram(&program);
  return result;
}

//===----------------------------------------------------------------------===//
// The cache
//===----------------------------------------------------------------------===//

static constexpr char kEntryMagic[8] = {'K', 'I', 'L', 'N',
                                        'C', 'U', 'B', 'N'};
static constexpr size_t kEntryHeaderSize = 8 + 8 + 32;

/// The cubin of the entry at `path`: std::nullopt when there is none,
/// an empty vector when it exists but is damaged.
static std::optional<std::vector<uint8_t>> readEntry(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return std::nullopt;
  StringRef bytes = (*buffer)->getBuffer();
  if (bytes.size() < kEntryHeaderSize ||
      std::memcmp(bytes.data(), kEntryMagic, sizeof(kEntryMagic)) != 0)
    return std::vector<uint8_t>();
  uint64_t size = 0;
  for (int i = 0; i < 8; ++i)
    size |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
  StringRef cubin = bytes.drop_front(kEntryHeaderSize);
  if (size == 0 || cubin.size() != size)
    return std::vector<uint8_t>();
  std::array<uint8_t, 32> digest = SHA256::hash(arrayRefFromStringRef(cubin));
  if (std::memcmp(digest.data(), bytes.data() + 16, digest.size()) != 0)
    return std::vector<uint8_t>();
  return std::vector<uint8_t>(cubin.bytes_begin(), cubin.bytes_end());
}

/// Stores `cubin` as the entry at `path`, through a temporary file in the
/// same folder and a rename.
static Error writeEntry(StringRef path, ArrayRef<uint8_t> cubin) {
  SmallString<128> temporary;
  int fd = -1;
  if (std::error_code error = sys::fs::createUniqueFile(
          path + "-%%%%%%%%.tmp", fd, temporary))
    return createStringError(error, "cannot create a file in the NVRTC "
                                    "cache folder for '" +
                                        path + "'");
  {
    raw_fd_ostream file(fd, /*shouldClose=*/true);
    file.write(kEntryMagic, sizeof(kEntryMagic));
    uint64_t size = cubin.size();
    for (int i = 0; i < 8; ++i)
      file << static_cast<char>(size >> (8 * i));
    std::array<uint8_t, 32> digest = SHA256::hash(cubin);
    file.write(reinterpret_cast<const char *>(digest.data()), digest.size());
    file.write(reinterpret_cast<const char *>(cubin.data()), cubin.size());
    file.close();
    if (file.has_error()) {
      std::error_code error = file.error();
      file.clear_error();
      sys::fs::remove(temporary);
      return createStringError(error, "cannot write the NVRTC cache entry '" +
                                          temporary + "'");
    }
  }
  if (std::error_code error = sys::fs::rename(temporary, path)) {
    sys::fs::remove(temporary);
    return createStringError(error, "cannot store the NVRTC cache entry '" +
                                        path + "'");
  }
  return Error::success();
}

Expected<NvrtcResult> NvrtcCompiler::compile(StringRef source, StringRef name,
                                             StringRef arch) const {
  if (arch != "sm_80" && arch != "sm_90a")
    return createStringError("unknown CUDA architecture '" + arch +
                             "' (expected sm_80 or sm_90a)");
  std::vector<std::string> flags = getCompileOptions(arch);
  NvrtcResult result;
  if (options.cacheDir.empty()) {
    Expected<std::vector<uint8_t>> cubin =
        compileSource(*library, source, name, arch, flags);
    if (!cubin)
      return cubin.takeError();
    result.cubin = std::move(*cubin);
    return result;
  }

  // 1. The cached entry, when there is an intact one.
  if (std::error_code error = sys::fs::create_directories(options.cacheDir))
    return createStringError(error, "cannot create the NVRTC cache folder '" +
                                        options.cacheDir + "'");
  SmallString<128> path(options.cacheDir);
  sys::path::append(path, getCacheKey(source, arch) + ".cubin");
  std::optional<std::vector<uint8_t>> cached = readEntry(path);
  if (cached && !cached->empty()) {
    result.cubin = std::move(*cached);
    result.cache = NvrtcCacheOutcome::Hit;
    return result;
  }

  // 2. Otherwise compile, and store what was compiled.
  Expected<std::vector<uint8_t>> cubin =
      compileSource(*library, source, name, arch, flags);
  if (!cubin)
    return cubin.takeError();
  if (Error error = writeEntry(path, *cubin))
    return std::move(error);
  result.cubin = std::move(*cubin);
  result.cache = cached ? NvrtcCacheOutcome::Rebuilt : NvrtcCacheOutcome::Miss;
  return result;
}

} // namespace kiln::codegen
