//===- Artifact.h - The compiled-model file, model.kiln ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A compiled model ships as one file holding three sections: "manifest" (the
// JSON described in runtime/Manifest.h), "code" (the kernels as one shared
// object exporting the KernelAbi.h functions) and "weights" (a safetensors
// blob); from version 2 on, optionally a fourth, "graph": the model's kiln
// graph as MLIR text, without its weights, so that a tool can check the
// compiled model against the reference evaluator. The runtime never reads the
// graph. From version 3 on, a model compiled for a GPU holds a "cuda"
// section (runtime/CUDA/CudaProgram.h: one cubin per kernel and its launch
// shape) instead of "code". No MLIR dependency.
//
// Layout, versions 1 to 3, all integers little-endian:
//
//   offset  size      field
//   0       8         magic "KILNART\0"
//   8       4         u32 format version (1; 2 with a graph; 3 with cuda)
//   12      4         u32 section count N (1..16)
//   16      40 * N    section table; per section:
//                       16  name, ASCII, NUL-padded
//                        8  u64 offset of the section's bytes in the file
//                        8  u64 size in bytes
//                        8  u64 FNV-1a-64 checksum of the bytes
//   16+40N  8         u64 FNV-1a-64 checksum of bytes [0, 16 + 40N)
//   ...               the sections' bytes
//
// Sections must not overlap and must cover every byte after the table
// checksum, so any damaged byte, anywhere, is detected. Exactly one of
// "code" and "cuda" is present. The writer puts the sections in the order
// manifest, code or cuda, weights (, graph), back to back, and writes the
// oldest version that holds them, so that an older runtime still reads
// every artifact that does not need a newer one.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_ARTIFACT_H_
#define KILN_RUNTIME_ARTIFACT_H_

#include "runtime/CUDA/CudaProgram.h"
#include "runtime/Manifest.h"
#include "runtime/Safetensors.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// The newest artifact container version this runtime reads and writes; it
/// reads every version from 1 up.
inline constexpr uint32_t kArtifactFormatVersion = 3;

/// Everything a model.kiln file holds.
struct Artifact {
  Manifest manifest;
  /// The bytes of the kernels' shared object; empty for a CUDA model.
  std::vector<uint8_t> code;
  /// The kernels of a model compiled for a GPU (version 3), instead of
  /// `code`.
  std::optional<CudaProgram> cuda;
  TensorMap weights;
  /// The kiln graph as MLIR text (version 2); empty when the artifact has
  /// none.
  std::string graph;
};

/// What `writeArtifact` takes: the same parts.
using ArtifactContents = Artifact;

/// FNV-1a-64 of `size` bytes at `data`, the artifact's checksum.
uint64_t fnv1a64(const uint8_t *data, size_t size);

/// Writes `contents` to `path` after checking it with `validateManifest` (and
/// `validateCudaProgram`), so that what is written can be loaded. Returns false and sets `error` to a
/// message naming the file on failure.
bool writeArtifact(const std::string &path, const ArtifactContents &contents,
                   std::string &error);

/// Reads and checks the artifact at `path`: the magic, versions, section
/// table (bounds, overlap, coverage, checksums), the manifest's schema and
/// meaning (`parseManifest`, `validateManifest`), the weights and the CUDA
/// kernels (`decodeCudaSection`, `validateCudaProgram`). On any
/// problem returns std::nullopt and sets `error` to one message naming the
/// file and what is wrong. Never throws; a truncated or corrupt file never
/// crashes it.
std::optional<Artifact> readArtifact(const std::string &path,
                                     std::string &error);

} // namespace kiln

#endif // KILN_RUNTIME_ARTIFACT_H_
