//===- Manifest.h - What a compiled model runs and where --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The manifest is the "manifest" section of a model.kiln artifact: a JSON
// object that lists the model's inputs and outputs, its intermediate buffers
// and their places in the arena, and the kernel calls to make in order.
// No MLIR dependency.
//
// Schema, version 1 (every field required, no others allowed; integers are
// JSON integers, never floats):
//
//   {
//     "format_version": 1,
//     "compiler_version": "0.1.0",
//     "target": {"arch": "x86-64", "features": ["avx2", "fma"]},
//     "inputs":  [{"name": "x", "dtype": "f32", "shape": [4, 16]}],
//     "outputs": [{"name": "y", "dtype": "f32", "shape": [4, 5]}],
//     "buffers": [{"id": 0, "bytes": 256, "offset": 0}],
//     "steps": [{
//       "kernel": "matmul_bias",            // display name
//       "symbol": "kiln_kernel_0",          // exported C symbol (KernelAbi.h)
//       "args": [{"kind": "input", "index": 0},
//                {"kind": "weight", "name": "w"},
//                {"kind": "buffer", "id": 0}],
//       "tiles": 4,                         // size of the tile space
//       "fused_ops": ["kiln.matmul", "kiln.add"],
//       "flops": 640,
//       "bytes": 1600
//     }],
//     "arena_bytes": 256,
//     "unplanned_bytes": 256
//   }
//
// - "target" is a free-form object describing the machine compiled for.
// - "dtype" is an MLIR element type spelling: f32, bf16, f16, i32 or i64.
// - "args" are the kernel's arguments in order (its inputs, then its
//   outputs). "input"/"output" take "index", a position in "inputs"/
//   "outputs"; "weight" takes "name", a tensor of the weights section;
//   "buffer" takes "id", an entry of "buffers".
// - "buffers" are the intermediate buffers. A buffer is live from the first
//   step that uses it to the last. Each "offset" is a multiple of 64, each
//   buffer lies inside [0, arena_bytes), and buffers live at the same step
//   never share bytes. "unplanned_bytes" is the sum of all buffer sizes (the
//   arena without reuse), kept for reports.
// - Every buffer is used by some step, and every output is an argument of
//   some step. Names of inputs, outputs and buffer ids are unique; symbols
//   are C identifiers.
// - Sanity limits: rank <= 32; every tensor, buffer and the arena <= 2^40
//   bytes; tiles <= 2^32; <= 16384 buffers; <= 1024 arguments per step; JSON
//   nesting <= 64 levels.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MANIFEST_H_
#define KILN_RUNTIME_MANIFEST_H_

#include "runtime/HostTensor.h"
#include "runtime/Safetensors.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// The manifest schema version this runtime reads and writes.
inline constexpr int64_t kManifestFormatVersion = 1;

/// The name and type of a model input or output.
struct TensorSpec {
  std::string name;
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
};

/// An intermediate buffer and its place in the arena.
struct BufferSpec {
  int64_t id = 0;
  int64_t bytes = 0;
  int64_t offset = 0;
};

enum class StepArgKind : uint8_t { Input, Output, Weight, Buffer };

/// One argument of a kernel call.
struct StepArg {
  StepArgKind kind = StepArgKind::Input;
  /// Input and output: the position in `Manifest::inputs`/`outputs`.
  /// Buffer: the buffer's id. Unused for weights.
  int64_t index = 0;
  /// Weight: the tensor's name in the weights. Unused otherwise.
  std::string name;
};

/// One kernel call.
struct Step {
  /// The kernel's display name.
  std::string kernel;
  /// The exported C symbol of the kernel in the code section.
  std::string symbol;
  std::vector<StepArg> args;
  /// The size of the kernel's tile space; the runtime splits [0, tiles).
  int64_t tiles = 1;
  /// The graph ops fused into this kernel, for reports.
  std::vector<std::string> fusedOps;
  /// Floating-point operations and bytes moved per call, for reports.
  int64_t flops = 0;
  int64_t bytes = 0;
};

/// The parsed manifest; the format version is implied.
struct Manifest {
  std::string compilerVersion;
  /// The "target" object as JSON text.
  std::string target = "{}";
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<BufferSpec> buffers;
  std::vector<Step> steps;
  int64_t arenaBytes = 0;
  int64_t unplannedBytes = 0;
};

/// "input", "output", "weight" or "buffer".
std::string_view stepArgKindName(StepArgKind kind);

/// Serializes `manifest` as indented JSON into `text`. Returns false and sets
/// `error` when it cannot be represented (a string that is not UTF-8, a
/// target that is not a JSON object or nests too deeply).
bool formatManifest(const Manifest &manifest, std::string &text,
                    std::string &error);

/// Parses manifest JSON, checking the schema: the fields, their JSON types
/// and that integers fit in int64. Does not check what `validateManifest`
/// checks. On failure returns std::nullopt and sets `error` to one message
/// naming the field at fault, e.g. "steps[2].args[0]: missing field 'kind'"
/// (the caller adds which manifest).
std::optional<Manifest> parseManifest(std::string_view text,
                                      std::string &error);

/// Checks that `manifest` describes a runnable model with these weights:
/// unique non-empty names and buffer ids; valid shapes and sizes within
/// sanity limits; C-identifier symbols; every step argument naming an
/// existing input, output, weight or buffer; every buffer used and every
/// output written; and a memory plan that keeps live buffers apart inside
/// the arena. On failure returns false and sets `error` to one message.
bool validateManifest(const Manifest &manifest, const TensorMap &weights,
                      std::string &error);

} // namespace kiln

#endif // KILN_RUNTIME_MANIFEST_H_
