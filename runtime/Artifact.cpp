//===- Artifact.cpp - The compiled-model file, model.kiln -------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Artifacts are shipped between machines, so the reader trusts nothing: it
// checks every offset and size against the real file size before using it,
// and every checksum before parsing what it covers. The file is read whole;
// its sections are then slices of that one buffer.
//
// TODO(#3): read the weights straight into their tensors instead, which
// would halve the peak memory of loading a large model.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"

#include "runtime/FileBytes.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace kiln {

static constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'A', 'R', 'T', '\0'};
static constexpr size_t kPreambleSize = 16;
static constexpr size_t kNameSize = 16;
static constexpr size_t kEntrySize = kNameSize + 3 * 8;
static constexpr uint32_t kMaxSections = 16;
/// A manifest larger than this is not a real model's; refusing it bounds the
/// JSON parser's time and memory on hostile files.
static constexpr uint64_t kMaxManifestBytes = uint64_t(64) << 20;

static constexpr const char *kManifestSection = "manifest";
static constexpr const char *kCodeSection = "code";
static constexpr const char *kWeightsSection = "weights";
static constexpr const char *kGraphSection = "graph";
static constexpr const char *kCudaSection = "cuda";
/// The container versions that introduced the graph and cuda sections.
static constexpr uint32_t kGraphVersion = 2;
static constexpr uint32_t kCudaVersion = 3;

uint64_t fnv1a64(const uint8_t *data, size_t size) {
  uint64_t hash = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i)
    hash = (hash ^ data[i]) * 1099511628211ull;
  return hash;
}

namespace {
/// One entry of the section table.
struct SectionEntry {
  std::string name;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t checksum = 0;
};

/// A section to write: its name and bytes.
struct SectionBytes {
  const char *name;
  const uint8_t *data;
  size_t size;
};
} // namespace

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

/// The preamble, section table and table checksum for `sections`, which
/// follow back to back.
static std::vector<uint8_t>
buildHeader(const std::vector<SectionBytes> &sections, uint32_t version) {
  std::vector<uint8_t> header(kMagic, kMagic + sizeof(kMagic));
  appendLittleEndian(header, version, 4);
  appendLittleEndian(header, sections.size(), 4);
  uint64_t offset = kPreambleSize + kEntrySize * sections.size() + 8;
  for (const SectionBytes &section : sections) {
    char name[kNameSize] = {};
    std::memcpy(name, section.name,
                std::min(std::strlen(section.name), kNameSize));
    header.insert(header.end(), name, name + kNameSize);
    appendLittleEndian(header, offset, 8);
    appendLittleEndian(header, section.size, 8);
    appendLittleEndian(header, fnv1a64(section.data, section.size), 8);
    offset += section.size;
  }
  appendLittleEndian(header, fnv1a64(header.data(), header.size()), 8);
  return header;
}

static bool writeFile(const std::string &path,
                      const std::vector<SectionBytes> &sections,
                      uint32_t version, std::string &message) {
  std::vector<uint8_t> header = buildHeader(sections, version);
  errno = 0;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    message = "cannot open file for writing" + describeErrno(errno);
    return false;
  }
  file.write(reinterpret_cast<const char *>(header.data()),
             static_cast<std::streamsize>(header.size()));
  for (const SectionBytes &section : sections)
    file.write(reinterpret_cast<const char *>(section.data),
               static_cast<std::streamsize>(section.size));
  file.close();
  if (!file) {
    message = "cannot write file" + describeErrno(errno);
    return false;
  }
  return true;
}

/// Validates and serializes `contents`, then writes the file.
static bool writeContents(const std::string &path,
                          const ArtifactContents &contents,
                          std::string &message) {
  if (!validateManifest(contents.manifest, contents.weights, message)) {
    message = "invalid manifest: " + message;
    return false;
  }
  std::vector<uint8_t> cuda;
  if (contents.cuda) {
    if (!contents.code.empty()) {
      message = "a model compiled for CUDA has no code section";
      return false;
    }
    if (!validateCudaProgram(*contents.cuda, contents.manifest, message) ||
        !encodeCudaSection(*contents.cuda, cuda, message)) {
      message = "invalid CUDA kernels: " + message;
      return false;
    }
  } else if (contents.code.empty()) {
    message = "the code section is empty";
    return false;
  }
  std::string manifest;
  if (!formatManifest(contents.manifest, manifest, message)) {
    message = "invalid manifest: " + message;
    return false;
  }
  std::vector<uint8_t> weights;
  if (!writeSafetensorsToMemory(contents.weights, weights, message))
    return false;
  std::vector<SectionBytes> sections = {
      {kManifestSection, reinterpret_cast<const uint8_t *>(manifest.data()),
       manifest.size()},
      contents.cuda
          ? SectionBytes{kCudaSection, cuda.data(), cuda.size()}
          : SectionBytes{kCodeSection, contents.code.data(),
                         contents.code.size()},
      {kWeightsSection, weights.data(), weights.size()}};
  // The oldest version that holds the contents, for older runtimes.
  uint32_t version = contents.cuda ? kCudaVersion : 1;
  if (!contents.graph.empty()) {
    sections.push_back(
        {kGraphSection,
         reinterpret_cast<const uint8_t *>(contents.graph.data()),
         contents.graph.size()});
    version = std::max(version, kGraphVersion);
  }
  return writeFile(path, sections, version, message);
}

bool writeArtifact(const std::string &path, const ArtifactContents &contents,
                   std::string &error) {
  std::string message;
  bool ok = false;
  try {
    ok = writeContents(path, contents, message);
  } catch (const std::exception &e) {
    // Only allocation failures are expected here; report rather than throw.
    message = std::string("unexpected error: ") + e.what();
    ok = false;
  }
  if (!ok)
    error = "failed to write artifact '" + path + "': " + message;
  return ok;
}

//===----------------------------------------------------------------------===//
// Reading the container
//===----------------------------------------------------------------------===//

/// Checks the magic and version and reads the section count.
static bool parsePreamble(const std::vector<uint8_t> &bytes, uint32_t &version,
                          uint32_t &numSections, std::string &message) {
  if (bytes.size() < kPreambleSize) {
    message = "file is " + std::to_string(bytes.size()) +
              " bytes, too short for the " + std::to_string(kPreambleSize) +
              "-byte artifact header";
    return false;
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    message = "not a Kiln artifact (bad magic)";
    return false;
  }
  version = static_cast<uint32_t>(readLittleEndian(bytes.data() + 8, 4));
  if (version < 1 || version > kArtifactFormatVersion) {
    message = "unsupported artifact format version " + std::to_string(version) +
              " (this runtime reads versions 1 to " +
              std::to_string(kArtifactFormatVersion) + ")";
    return false;
  }
  numSections = static_cast<uint32_t>(readLittleEndian(bytes.data() + 12, 4));
  if (numSections == 0 || numSections > kMaxSections) {
    message = "section count " + std::to_string(numSections) +
              " is invalid (expected 1 to " + std::to_string(kMaxSections) +
              ")";
    return false;
  }
  return true;
}

/// Reads a NUL-padded section name; fails unless it is printable ASCII.
static bool parseName(const uint8_t *field, std::string &name) {
  size_t length = 0;
  while (length < kNameSize && field[length] != 0)
    ++length;
  if (length == 0 || !std::all_of(field, field + length, [](uint8_t c) {
        return c > ' ' && c < 0x7f;
      }))
    return false;
  name.assign(reinterpret_cast<const char *>(field), length);
  return std::all_of(field + length, field + kNameSize,
                     [](uint8_t c) { return c == 0; });
}

static bool isKnownSection(const std::string &name, uint32_t version) {
  return name == kManifestSection || name == kCodeSection ||
         name == kWeightsSection ||
         (name == kGraphSection && version >= kGraphVersion) ||
         (name == kCudaSection && version >= kCudaVersion);
}

/// Reads the table after checking its checksum, and checks each entry's
/// name and bounds.
static bool parseTable(const std::vector<uint8_t> &bytes, uint32_t version,
                       uint32_t numSections, std::vector<SectionEntry> &entries,
                       std::string &message) {
  // 1. The table and its checksum must fit, and match.
  uint64_t tableEnd = kPreambleSize + uint64_t(kEntrySize) * numSections;
  if (tableEnd + 8 > bytes.size()) {
    message = "the section table (" + std::to_string(numSections) +
              " entries) extends beyond the end of the file (" +
              std::to_string(bytes.size()) + " bytes); the file is truncated";
    return false;
  }
  if (fnv1a64(bytes.data(), tableEnd) != readLittleEndian(bytes.data() + tableEnd, 8)) {
    message = "the section table checksum does not match; the header is "
              "corrupt";
    return false;
  }

  // 2. Each entry on its own.
  for (uint32_t i = 0; i < numSections; ++i) {
    const uint8_t *field = bytes.data() + kPreambleSize + kEntrySize * i;
    SectionEntry entry;
    if (!parseName(field, entry.name)) {
      message = "section " + std::to_string(i) + " has an invalid name";
      return false;
    }
    if (!isKnownSection(entry.name, version)) {
      message = "unknown section '" + entry.name + "'";
      return false;
    }
    if (std::any_of(entries.begin(), entries.end(), [&](const SectionEntry &e) {
          return e.name == entry.name;
        })) {
      message = "section '" + entry.name + "' appears more than once";
      return false;
    }
    entry.offset = readLittleEndian(field + kNameSize, 8);
    entry.size = readLittleEndian(field + kNameSize + 8, 8);
    entry.checksum = readLittleEndian(field + kNameSize + 16, 8);
    if (entry.offset > bytes.size() ||
        entry.size > bytes.size() - entry.offset) {
      message = "section '" + entry.name + "' (offset " +
                std::to_string(entry.offset) + ", " +
                std::to_string(entry.size) +
                " bytes) extends beyond the end of the file (" +
                std::to_string(bytes.size()) + " bytes); the file is truncated";
      return false;
    }
    entries.push_back(std::move(entry));
  }
  return true;
}

/// Checks that the sections tile the bytes after the table exactly: no
/// overlap, no gap and nothing after the last one.
static bool checkCoverage(std::vector<SectionEntry> entries, uint64_t fileSize,
                          uint32_t numSections, std::string &message) {
  std::sort(entries.begin(), entries.end(),
            [](const SectionEntry &a, const SectionEntry &b) {
              return a.offset < b.offset;
            });
  uint64_t cursor = kPreambleSize + uint64_t(kEntrySize) * numSections + 8;
  std::string previous = "section table";
  for (const SectionEntry &entry : entries) {
    if (entry.offset < cursor) {
      message = "section '" + entry.name + "' overlaps the " + previous;
      return false;
    }
    if (entry.offset > cursor) {
      message = std::to_string(entry.offset - cursor) +
                " bytes before section '" + entry.name +
                "' belong to no section";
      return false;
    }
    cursor = entry.offset + entry.size;
    previous = "section '" + entry.name + "'";
  }
  if (cursor != fileSize) {
    message = std::to_string(fileSize - cursor) +
              " bytes at the end of the file belong to no section";
    return false;
  }
  return true;
}

/// Checks each section's checksum and that the required ones are present.
static bool checkSections(const std::vector<uint8_t> &bytes,
                          const std::vector<SectionEntry> &entries,
                          std::string &message) {
  for (const SectionEntry &entry : entries) {
    if (fnv1a64(bytes.data() + entry.offset, entry.size) != entry.checksum) {
      message = "section '" + entry.name +
                "' checksum does not match; the file is corrupt";
      return false;
    }
  }
  auto has = [&](const char *name) {
    return std::any_of(entries.begin(), entries.end(),
                       [&](const SectionEntry &e) { return e.name == name; });
  };
  for (const char *name : {kManifestSection, kWeightsSection}) {
    if (!has(name)) {
      message = std::string("missing section '") + name + "'";
      return false;
    }
  }
  if (has(kCodeSection) == has(kCudaSection)) {
    message = has(kCodeSection)
                  ? "both a 'code' and a 'cuda' section (expected one)"
                  : "missing section 'code'";
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Reading the contents
//===----------------------------------------------------------------------===//

static const SectionEntry *findSection(const std::vector<SectionEntry> &entries,
                                       const char *name) {
  auto found =
      std::find_if(entries.begin(), entries.end(),
                   [&](const SectionEntry &e) { return e.name == name; });
  return found == entries.end() ? nullptr : &*found;
}

/// Decodes the checked sections and validates the manifest against the
/// weights.
static std::optional<Artifact>
decodeSections(const std::vector<uint8_t> &bytes,
               const std::vector<SectionEntry> &entries, std::string &message) {
  Artifact artifact;

  // 1. The manifest's schema.
  const SectionEntry &manifest = *findSection(entries, kManifestSection);
  if (manifest.size > kMaxManifestBytes) {
    message = "the manifest section (" + std::to_string(manifest.size) +
              " bytes) is absurdly large";
    return std::nullopt;
  }
  std::optional<Manifest> parsed = parseManifest(
      std::string_view(reinterpret_cast<const char *>(bytes.data()) +
                           manifest.offset,
                       manifest.size),
      message);
  if (!parsed) {
    message = "invalid manifest: " + message;
    return std::nullopt;
  }
  artifact.manifest = std::move(*parsed);

  // 2. The code, which only the loader can check further, or the CUDA
  //    kernels.
  if (const SectionEntry *code = findSection(entries, kCodeSection)) {
    if (code->size == 0) {
      message = "the code section is empty";
      return std::nullopt;
    }
    artifact.code.assign(bytes.begin() + code->offset,
                         bytes.begin() + code->offset + code->size);
  } else {
    const SectionEntry &cuda = *findSection(entries, kCudaSection);
    artifact.cuda =
        decodeCudaSection(bytes.data() + cuda.offset, cuda.size, message);
    if (!artifact.cuda) {
      message = "in section 'cuda': " + message;
      return std::nullopt;
    }
  }

  // 3. The weights.
  const SectionEntry &weights = *findSection(entries, kWeightsSection);
  std::optional<TensorMap> tensors =
      readSafetensorsFromMemory(bytes.data() + weights.offset, weights.size,
                                "in section 'weights'", message);
  if (!tensors)
    return std::nullopt;
  artifact.weights = std::move(*tensors);

  // 4. The graph, opaque to the runtime.
  if (const SectionEntry *graph = findSection(entries, kGraphSection))
    artifact.graph.assign(reinterpret_cast<const char *>(bytes.data()) +
                              graph->offset,
                          graph->size);

  // 5. What the manifest means, now that the weights are known, and what
  //    the CUDA kernels mean for it.
  if (!validateManifest(artifact.manifest, artifact.weights, message)) {
    message = "invalid manifest: " + message;
    return std::nullopt;
  }
  if (artifact.cuda &&
      !validateCudaProgram(*artifact.cuda, artifact.manifest, message)) {
    message = "invalid CUDA kernels: " + message;
    return std::nullopt;
  }
  return artifact;
}

static std::optional<Artifact> readContents(const std::string &path,
                                            std::string &message) {
  std::vector<uint8_t> bytes;
  uint32_t version, numSections;
  std::vector<SectionEntry> entries;
  if (!readFileBytes(path, bytes, message) ||
      !parsePreamble(bytes, version, numSections, message) ||
      !parseTable(bytes, version, numSections, entries, message) ||
      !checkCoverage(entries, bytes.size(), numSections, message) ||
      !checkSections(bytes, entries, message))
    return std::nullopt;
  return decodeSections(bytes, entries, message);
}

std::optional<Artifact> readArtifact(const std::string &path,
                                     std::string &error) {
  std::string message;
  std::optional<Artifact> artifact;
  try {
    artifact = readContents(path, message);
  } catch (const std::exception &e) {
    // Parsers report their errors as messages; this catches what is left,
    // such as running out of memory, so that no exception escapes.
    message = std::string("unexpected error: ") + e.what();
    artifact.reset();
  }
  if (!artifact)
    error = "failed to read artifact '" + path + "': " + message;
  return artifact;
}

} // namespace kiln
