//===- Manifest.cpp - What a compiled model runs and where ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Parsing checks the JSON shape of the manifest; validation checks what the
// values mean. The writer validates too, so the compiler cannot ship an
// artifact the runtime would refuse. nlohmann-json reports errors by
// exception; they are caught here, so callers never see one.
//
//===----------------------------------------------------------------------===//

#include "runtime/Manifest.h"

#include "runtime/MemoryPlan.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>

namespace kiln {

using nlohmann::json;

/// Sanity limits: a manifest beyond them is corrupt, not a real model.
/// Checking them first keeps later arithmetic and allocations small.
static constexpr int64_t kMaxBytes = int64_t(1) << 40;
static constexpr int64_t kMaxRank = 32;
static constexpr int64_t kMaxTiles = int64_t(1) << 32;
static constexpr size_t kMaxBuffers = size_t(1) << 14;
static constexpr size_t kMaxStepArgs = size_t(1) << 10;
/// nlohmann-json's dump() recurses once per level of nesting, so echoing
/// deeply nested input could overflow the stack; the schema needs 5 levels.
static constexpr int kMaxJsonDepth = 64;

std::string_view stepArgKindName(StepArgKind kind) {
  switch (kind) {
  case StepArgKind::Input:
    return "input";
  case StepArgKind::Output:
    return "output";
  case StepArgKind::Weight:
    return "weight";
  case StepArgKind::Buffer:
    return "buffer";
  }
  return "";
}

static std::optional<StepArgKind> parseStepArgKind(std::string_view name) {
  for (StepArgKind kind : {StepArgKind::Input, StepArgKind::Output,
                           StepArgKind::Weight, StepArgKind::Buffer})
    if (stepArgKindName(kind) == name)
      return kind;
  return std::nullopt;
}

/// The field that holds a step argument's reference, by kind.
static const char *getReferenceField(StepArgKind kind) {
  switch (kind) {
  case StepArgKind::Input:
  case StepArgKind::Output:
    return "index";
  case StepArgKind::Weight:
    return "name";
  case StepArgKind::Buffer:
    return "id";
  }
  return "";
}

//===----------------------------------------------------------------------===//
// Formatting
//===----------------------------------------------------------------------===//

static json formatTensorSpec(const TensorSpec &spec) {
  return {{"name", spec.name},
          {"dtype", std::string(elementTypeName(spec.type))},
          {"shape", spec.shape}};
}

static json formatStep(const Step &step) {
  json args = json::array();
  for (const StepArg &arg : step.args) {
    json entry = {{"kind", std::string(stepArgKindName(arg.kind))}};
    if (arg.kind == StepArgKind::Weight)
      entry["name"] = arg.name;
    else
      entry[getReferenceField(arg.kind)] = arg.index;
    args.push_back(std::move(entry));
  }
  return {{"kernel", step.kernel},      {"symbol", step.symbol},
          {"args", std::move(args)},    {"tiles", step.tiles},
          {"fused_ops", step.fusedOps}, {"flops", step.flops},
          {"bytes", step.bytes}};
}

static json formatManifestJson(const Manifest &manifest, const json &target) {
  json inputs = json::array(), outputs = json::array();
  for (const TensorSpec &spec : manifest.inputs)
    inputs.push_back(formatTensorSpec(spec));
  for (const TensorSpec &spec : manifest.outputs)
    outputs.push_back(formatTensorSpec(spec));
  json buffers = json::array();
  for (const BufferSpec &buffer : manifest.buffers)
    buffers.push_back({{"id", buffer.id},
                       {"bytes", buffer.bytes},
                       {"offset", buffer.offset}});
  json steps = json::array();
  for (const Step &step : manifest.steps)
    steps.push_back(formatStep(step));
  return {{"format_version", kManifestFormatVersion},
          {"compiler_version", manifest.compilerVersion},
          {"target", target},
          {"inputs", std::move(inputs)},
          {"outputs", std::move(outputs)},
          {"buffers", std::move(buffers)},
          {"steps", std::move(steps)},
          {"arena_bytes", manifest.arenaBytes},
          {"unplanned_bytes", manifest.unplannedBytes}};
}

/// Parses `text`, refusing JSON nested deeper than kMaxJsonDepth. On
/// failure returns std::nullopt and sets `error`.
static std::optional<json> parseJson(std::string_view text,
                                     std::string &error) {
  int maxDepth = 0;
  json value;
  try {
    value = json::parse(text.begin(), text.end(),
                        [&](int depth, json::parse_event_t, json &) {
                          maxDepth = std::max(maxDepth, depth);
                          return true;
                        });
  } catch (const json::exception &e) {
    error = std::string("not valid JSON: ") + e.what();
    return std::nullopt;
  }
  if (maxDepth > kMaxJsonDepth) {
    error =
        "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return std::nullopt;
  }
  return value;
}

/// Parses the target text; on failure sets `error`, naming the target.
static std::optional<json> parseTarget(const std::string &text,
                                       std::string &error) {
  std::optional<json> target = parseJson(text, error);
  if (target && !target->is_object()) {
    error = "not a JSON object";
    target.reset();
  }
  if (!target)
    error = "target: " + error;
  return target;
}

bool formatManifest(const Manifest &manifest, std::string &text,
                    std::string &error) {
  try {
    std::optional<json> target = parseTarget(manifest.target, error);
    if (!target)
      return false;
    text = formatManifestJson(manifest, *target).dump(/*indent=*/2);
    return true;
  } catch (const json::type_error &) {
    // dump() rejects strings that are not valid UTF-8, as JSON requires.
    error = "a name is not valid UTF-8";
  } catch (const std::exception &e) {
    error = std::string("unexpected error: ") + e.what();
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

/// Sets `error` to "<path>: <what>", or `what` at the top level, and returns
/// false.
static bool fail(const std::string &path, const std::string &what,
                 std::string &error) {
  error = path.empty() ? what : path + ": " + what;
  return false;
}

static std::string fieldPath(const std::string &path, const char *field) {
  return path.empty() ? field : path + "." + field;
}

static std::string elementPath(const std::string &path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

/// `value` for messages: short JSON text for a primitive, the kind of value
/// for an array or object.
static std::string quote(const json &value) {
  if (value.is_array())
    return "an array";
  if (value.is_object())
    return "an object";
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true);
  return text.size() <= 40 ? text : text.substr(0, 37) + "...";
}

/// Checks that `value` is an object with exactly the keys `fields`.
static bool checkObject(const json &value, const std::string &path,
                        std::initializer_list<const char *> fields,
                        std::string &error) {
  if (!value.is_object())
    return fail(path, "expected an object, got " + quote(value), error);
  for (const char *field : fields)
    if (!value.contains(field))
      return fail(path, std::string("missing field '") + field + "'", error);
  for (const auto &item : value.items())
    if (std::none_of(fields.begin(), fields.end(),
                     [&](const char *field) { return item.key() == field; }))
      return fail(path, "unknown field '" + item.key() + "'", error);
  return true;
}

static bool readInt(const json &value, const std::string &path, int64_t &out,
                    std::string &error) {
  if (!value.is_number_integer())
    return fail(path, "expected an integer, got " + quote(value), error);
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() >
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return fail(path, quote(value) + " is too large", error);
  out = value.get<int64_t>();
  return true;
}

static bool readString(const json &value, const std::string &path,
                       std::string &out, std::string &error) {
  if (!value.is_string())
    return fail(path, "expected a string, got " + quote(value), error);
  out = value.get<std::string>();
  return true;
}

static bool checkArray(const json &value, const std::string &path,
                       std::string &error) {
  if (!value.is_array())
    return fail(path, "expected an array, got " + quote(value), error);
  return true;
}

static bool readTensorSpec(const json &value, const std::string &path,
                           TensorSpec &spec, std::string &error) {
  if (!checkObject(value, path, {"name", "dtype", "shape"}, error) ||
      !readString(value["name"], fieldPath(path, "name"), spec.name, error))
    return false;
  std::string dtype;
  if (!readString(value["dtype"], fieldPath(path, "dtype"), dtype, error))
    return false;
  std::optional<ElementType> type = parseElementType(dtype);
  if (!type)
    return fail(fieldPath(path, "dtype"),
                "unknown element type '" + dtype +
                    "' (expected f32, bf16, f16, i32 or i64)",
                error);
  spec.type = *type;
  std::string shapePath = fieldPath(path, "shape");
  if (!checkArray(value["shape"], shapePath, error))
    return false;
  spec.shape.resize(value["shape"].size());
  for (size_t i = 0; i < spec.shape.size(); ++i)
    if (!readInt(value["shape"][i], elementPath(shapePath, i), spec.shape[i],
                 error))
      return false;
  return true;
}

static bool readTensorSpecs(const json &value, const std::string &path,
                            std::vector<TensorSpec> &specs,
                            std::string &error) {
  if (!checkArray(value, path, error))
    return false;
  specs.resize(value.size());
  for (size_t i = 0; i < specs.size(); ++i)
    if (!readTensorSpec(value[i], elementPath(path, i), specs[i], error))
      return false;
  return true;
}

static bool readBuffer(const json &value, const std::string &path,
                       BufferSpec &buffer, std::string &error) {
  return checkObject(value, path, {"id", "bytes", "offset"}, error) &&
         readInt(value["id"], fieldPath(path, "id"), buffer.id, error) &&
         readInt(value["bytes"], fieldPath(path, "bytes"), buffer.bytes,
                 error) &&
         readInt(value["offset"], fieldPath(path, "offset"), buffer.offset,
                 error);
}

static bool readStepArg(const json &value, const std::string &path,
                        StepArg &arg, std::string &error) {
  if (!value.is_object() || !value.contains("kind"))
    return checkObject(value, path, {"kind"}, error);
  std::string kind;
  if (!readString(value["kind"], fieldPath(path, "kind"), kind, error))
    return false;
  std::optional<StepArgKind> parsed = parseStepArgKind(kind);
  if (!parsed)
    return fail(fieldPath(path, "kind"),
                "unknown kind '" + kind +
                    "' (expected input, output, weight or buffer)",
                error);
  arg.kind = *parsed;
  const char *field = getReferenceField(arg.kind);
  if (!checkObject(value, path, {"kind", field}, error))
    return false;
  if (arg.kind == StepArgKind::Weight)
    return readString(value[field], fieldPath(path, field), arg.name, error);
  return readInt(value[field], fieldPath(path, field), arg.index, error);
}

static bool readStep(const json &value, const std::string &path, Step &step,
                     std::string &error) {
  if (!checkObject(
          value, path,
          {"kernel", "symbol", "args", "tiles", "fused_ops", "flops", "bytes"},
          error) ||
      !readString(value["kernel"], fieldPath(path, "kernel"), step.kernel,
                  error) ||
      !readString(value["symbol"], fieldPath(path, "symbol"), step.symbol,
                  error) ||
      !readInt(value["tiles"], fieldPath(path, "tiles"), step.tiles, error) ||
      !readInt(value["flops"], fieldPath(path, "flops"), step.flops, error) ||
      !readInt(value["bytes"], fieldPath(path, "bytes"), step.bytes, error))
    return false;

  std::string argsPath = fieldPath(path, "args");
  if (!checkArray(value["args"], argsPath, error))
    return false;
  step.args.resize(value["args"].size());
  for (size_t i = 0; i < step.args.size(); ++i)
    if (!readStepArg(value["args"][i], elementPath(argsPath, i), step.args[i],
                     error))
      return false;

  std::string opsPath = fieldPath(path, "fused_ops");
  if (!checkArray(value["fused_ops"], opsPath, error))
    return false;
  step.fusedOps.resize(value["fused_ops"].size());
  for (size_t i = 0; i < step.fusedOps.size(); ++i)
    if (!readString(value["fused_ops"][i], elementPath(opsPath, i),
                    step.fusedOps[i], error))
      return false;
  return true;
}

/// Reads the top-level fields of `root` into `manifest`.
static bool readManifest(const json &root, Manifest &manifest,
                         std::string &error) {
  if (!checkObject(root, "",
                   {"format_version", "compiler_version", "target", "inputs",
                    "outputs", "buffers", "steps", "arena_bytes",
                    "unplanned_bytes"},
                   error))
    return false;

  // 1. The version first: a newer manifest may differ in any other field.
  int64_t version;
  if (!readInt(root["format_version"], "format_version", version, error))
    return false;
  if (version != kManifestFormatVersion)
    return fail("format_version",
                "unsupported manifest version " + std::to_string(version) +
                    " (this runtime reads version " +
                    std::to_string(kManifestFormatVersion) + ")",
                error);

  // 2. The rest, in schema order.
  if (!readString(root["compiler_version"], "compiler_version",
                  manifest.compilerVersion, error))
    return false;
  if (!root["target"].is_object())
    return fail("target", "expected an object, got " + quote(root["target"]),
                error);
  manifest.target = root["target"].dump();
  if (!readTensorSpecs(root["inputs"], "inputs", manifest.inputs, error) ||
      !readTensorSpecs(root["outputs"], "outputs", manifest.outputs, error) ||
      !checkArray(root["buffers"], "buffers", error))
    return false;
  manifest.buffers.resize(root["buffers"].size());
  for (size_t i = 0; i < manifest.buffers.size(); ++i)
    if (!readBuffer(root["buffers"][i], elementPath("buffers", i),
                    manifest.buffers[i], error))
      return false;
  if (!checkArray(root["steps"], "steps", error))
    return false;
  manifest.steps.resize(root["steps"].size());
  for (size_t i = 0; i < manifest.steps.size(); ++i)
    if (!readStep(root["steps"][i], elementPath("steps", i), manifest.steps[i],
                  error))
      return false;
  return readInt(root["arena_bytes"], "arena_bytes", manifest.arenaBytes,
                 error) &&
         readInt(root["unplanned_bytes"], "unplanned_bytes",
                 manifest.unplannedBytes, error);
}

std::optional<Manifest> parseManifest(std::string_view text,
                                      std::string &error) {
  try {
    std::optional<json> root = parseJson(text, error);
    Manifest manifest;
    if (!root || !readManifest(*root, manifest, error))
      return std::nullopt;
    return manifest;
  } catch (const std::exception &e) {
    // Only allocation failures are expected here; report rather than throw.
    error = std::string("unexpected error: ") + e.what();
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

static bool isCIdentifier(const std::string &name) {
  if (name.empty() || name.size() > 1024 || (name[0] >= '0' && name[0] <= '9'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  });
}

/// Checks one input or output: its rank, dimensions and byte size.
static bool validateTensorSpec(const TensorSpec &spec, const std::string &path,
                               std::string &error) {
  std::string name = path + " ('" + spec.name + "')";
  if (spec.name.empty())
    return fail(path, "empty name", error);
  if (static_cast<int64_t>(spec.shape.size()) > kMaxRank)
    return fail(name,
                "rank " + std::to_string(spec.shape.size()) +
                    " is absurd (the limit is " + std::to_string(kMaxRank) +
                    ")",
                error);
  int64_t bytes = static_cast<int64_t>(elementSize(spec.type));
  for (int64_t dim : spec.shape) {
    if (dim < 0)
      return fail(name, "negative dimension " + std::to_string(dim), error);
    // Checking each dimension too rejects [0, 2^62]-style shapes, empty but
    // absurd all the same.
    if (dim > kMaxBytes || __builtin_mul_overflow(bytes, dim, &bytes) ||
        bytes > kMaxBytes)
      return fail(name,
                  "size of " + formatTensorType(spec.type, spec.shape) +
                      " is absurd (the limit is " + std::to_string(kMaxBytes) +
                      " bytes)",
                  error);
  }
  return true;
}

static bool validateTensorSpecs(const std::vector<TensorSpec> &specs,
                                const char *list, std::string &error) {
  std::set<std::string> names;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string path = elementPath(list, i);
    if (!validateTensorSpec(specs[i], path, error))
      return false;
    if (!names.insert(specs[i].name).second)
      return fail(path, "name '" + specs[i].name + "' is used twice", error);
  }
  return true;
}

/// Checks the buffers on their own and maps each id to its position.
static bool validateBuffers(const Manifest &manifest,
                            std::map<int64_t, size_t> &positions,
                            std::string &error) {
  if (manifest.buffers.size() > kMaxBuffers)
    return fail("buffers",
                std::to_string(manifest.buffers.size()) +
                    " buffers is absurd (the limit is " +
                    std::to_string(kMaxBuffers) + ")",
                error);
  if (manifest.arenaBytes < 0 || manifest.arenaBytes > kMaxBytes)
    return fail("arena_bytes",
                std::to_string(manifest.arenaBytes) +
                    " is negative or absurd (the limit is " +
                    std::to_string(kMaxBytes) + ")",
                error);
  for (size_t i = 0; i < manifest.buffers.size(); ++i) {
    const BufferSpec &buffer = manifest.buffers[i];
    std::string path = elementPath("buffers", i);
    if (buffer.id < 0)
      return fail(path, "negative id " + std::to_string(buffer.id), error);
    if (!positions.emplace(buffer.id, i).second)
      return fail(path, "id " + std::to_string(buffer.id) + " is used twice",
                  error);
    if (buffer.bytes < 0 || buffer.bytes > kMaxBytes)
      return fail(path,
                  "size " + std::to_string(buffer.bytes) +
                      " is negative or absurd",
                  error);
  }
  return true;
}

/// Checks that argument `arg` of a step refers to something that exists.
static bool validateStepArg(const StepArg &arg, const std::string &path,
                            const Manifest &manifest, const TensorMap &weights,
                            const std::map<int64_t, size_t> &bufferPositions,
                            std::string &error) {
  auto missing = [&](const std::string &what) {
    return fail(path, "refers to " + what + ", which does not exist", error);
  };
  switch (arg.kind) {
  case StepArgKind::Input:
    if (arg.index < 0 ||
        static_cast<uint64_t>(arg.index) >= manifest.inputs.size())
      return missing("input " + std::to_string(arg.index));
    return true;
  case StepArgKind::Output:
    if (arg.index < 0 ||
        static_cast<uint64_t>(arg.index) >= manifest.outputs.size())
      return missing("output " + std::to_string(arg.index));
    return true;
  case StepArgKind::Weight:
    if (!weights.count(arg.name))
      return missing("weight '" + arg.name + "'");
    return true;
  case StepArgKind::Buffer:
    if (!bufferPositions.count(arg.index))
      return missing("buffer " + std::to_string(arg.index));
    return true;
  }
  return fail(path, "has an unknown kind", error);
}

static bool validateStep(const Step &step, size_t index,
                         const Manifest &manifest, const TensorMap &weights,
                         const std::map<int64_t, size_t> &bufferPositions,
                         std::string &error) {
  std::string path = elementPath("steps", index);
  if (step.kernel.empty())
    return fail(path, "empty kernel name", error);
  path += " ('" + step.kernel + "')";
  if (!isCIdentifier(step.symbol))
    return fail(path, "symbol '" + step.symbol + "' is not a C identifier",
                error);
  if (step.tiles < 0 || step.tiles > kMaxTiles)
    return fail(path,
                "tile count " + std::to_string(step.tiles) +
                    " is negative or absurd",
                error);
  if (step.flops < 0 || step.bytes < 0)
    return fail(path, "negative flops or bytes", error);
  if (step.args.size() > kMaxStepArgs)
    return fail(path,
                std::to_string(step.args.size()) +
                    " arguments is absurd (the limit is " +
                    std::to_string(kMaxStepArgs) + ")",
                error);
  for (size_t i = 0; i < step.args.size(); ++i)
    if (!validateStepArg(step.args[i], path + ": argument " + std::to_string(i),
                         manifest, weights, bufferPositions, error))
      return false;
  return true;
}

/// Derives each buffer's lifetime from the steps that use it; fails for a
/// buffer that no step uses.
static bool getLifetimes(const Manifest &manifest,
                         const std::map<int64_t, size_t> &bufferPositions,
                         std::vector<BufferLifetime> &lifetimes,
                         std::string &error) {
  lifetimes.assign(manifest.buffers.size(), BufferLifetime());
  std::vector<bool> used(manifest.buffers.size(), false);
  for (size_t step = 0; step < manifest.steps.size(); ++step) {
    for (const StepArg &arg : manifest.steps[step].args) {
      if (arg.kind != StepArgKind::Buffer)
        continue;
      size_t position = bufferPositions.at(arg.index);
      BufferLifetime &lifetime = lifetimes[position];
      if (!used[position])
        lifetime.firstStep = static_cast<int64_t>(step);
      lifetime.lastStep = static_cast<int64_t>(step);
      used[position] = true;
    }
  }
  for (size_t i = 0; i < manifest.buffers.size(); ++i) {
    if (!used[i])
      return fail(elementPath("buffers", i),
                  "buffer " + std::to_string(manifest.buffers[i].id) +
                      " is used by no step",
                  error);
    lifetimes[i].id = manifest.buffers[i].id;
    lifetimes[i].bytes = manifest.buffers[i].bytes;
  }
  return true;
}

/// Checks that every output is an argument of some step: otherwise nothing
/// would ever write it.
static bool validateOutputsWritten(const Manifest &manifest,
                                   std::string &error) {
  std::vector<bool> written(manifest.outputs.size(), false);
  for (const Step &step : manifest.steps)
    for (const StepArg &arg : step.args)
      if (arg.kind == StepArgKind::Output)
        written[static_cast<size_t>(arg.index)] = true;
  for (size_t i = 0; i < written.size(); ++i)
    if (!written[i])
      return fail(elementPath("outputs", i),
                  "output '" + manifest.outputs[i].name +
                      "' is written by no step",
                  error);
  return true;
}

/// Checks the memory plan against the lifetimes the steps imply.
static bool validatePlan(const Manifest &manifest,
                         const std::map<int64_t, size_t> &bufferPositions,
                         std::string &error) {
  std::vector<BufferLifetime> lifetimes;
  if (!getLifetimes(manifest, bufferPositions, lifetimes, error))
    return false;
  MemoryPlan plan;
  plan.arenaBytes = manifest.arenaBytes;
  plan.unplannedBytes = manifest.unplannedBytes;
  for (const BufferSpec &buffer : manifest.buffers)
    plan.offsets.push_back(buffer.offset);
  std::string message;
  if (!verifyPlan(lifetimes, plan, message))
    return fail("buffers", "invalid memory plan: " + message, error);
  return true;
}

bool validateManifest(const Manifest &manifest, const TensorMap &weights,
                      std::string &error) {
  try {
    if (!parseTarget(manifest.target, error))
      return false;
    std::map<int64_t, size_t> bufferPositions;
    if (!validateTensorSpecs(manifest.inputs, "inputs", error) ||
        !validateTensorSpecs(manifest.outputs, "outputs", error) ||
        !validateBuffers(manifest, bufferPositions, error))
      return false;
    for (size_t i = 0; i < manifest.steps.size(); ++i)
      if (!validateStep(manifest.steps[i], i, manifest, weights,
                        bufferPositions, error))
        return false;
    return validateOutputsWritten(manifest, error) &&
           validatePlan(manifest, bufferPositions, error);
  } catch (const std::exception &e) {
    // Only allocation failures are expected here; report rather than throw.
    error = std::string("unexpected error: ") + e.what();
    return false;
  }
}

} // namespace kiln
