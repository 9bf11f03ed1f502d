//===- ArtifactTest.cpp - Tests for the model.kiln artifact -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Round trips an artifact, checks the bytes against the documented layout,
// then damages it every way a shipped file can be damaged: every truncation,
// every single-byte change, a bad container, bad JSON and one manifest per
// schema or meaning rule. Each must fail with a message naming the file and
// the problem. Hostile containers are built here from the documented layout,
// independently of the writer.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"
#include "SmallModelArtifact.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

using namespace kiln;
using nlohmann::json;

namespace {
/// Gives each test its own file under GoogleTest's temporary directory.
class ArtifactTest : public ::testing::Test {
protected:
  std::string path(const std::string &suffix = "") const {
    const ::testing::TestInfo *info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    return ::testing::TempDir() + "kiln_artifact_" + info->name() + suffix +
           ".kiln";
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(file.good()) << "cannot write " << path;
}

static std::string readBytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

static uint64_t checksum(const std::string &bytes) {
  return fnv1a64(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
}

static uint64_t getInt(const std::string &bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[offset + i]))
             << (8 * i);
  return value;
}

static void putInt(std::string &bytes, size_t offset, uint64_t value,
                   int width) {
  for (int i = 0; i < width; ++i)
    bytes[offset + i] = static_cast<char>(value >> (8 * i));
}

using Sections = std::vector<std::pair<std::string, std::string>>;

/// A container with `sections` back to back, built from the documented
/// layout.
static std::string buildContainer(const Sections &sections) {
  std::string bytes("KILNART\0", 8);
  bytes.append(8, '\0');
  putInt(bytes, 8, 1, 4);
  putInt(bytes, 12, sections.size(), 4);
  uint64_t offset = 16 + 40 * sections.size() + 8;
  for (const auto &[name, data] : sections) {
    std::string entry(40, '\0');
    entry.replace(0, name.size(), name);
    putInt(entry, 16, offset, 8);
    putInt(entry, 24, data.size(), 8);
    putInt(entry, 32, checksum(data), 8);
    bytes += entry;
    offset += data.size();
  }
  std::string tableChecksum(8, '\0');
  putInt(tableChecksum, 0, checksum(bytes), 8);
  bytes += tableChecksum;
  for (const auto &section : sections)
    bytes += section.second;
  return bytes;
}

/// The table's checksum, recomputed after the test edited the table.
static void resealTable(std::string &bytes) {
  size_t tableEnd = 16 + 40 * getInt(bytes, 12, 4);
  putInt(bytes, tableEnd, checksum(bytes.substr(0, tableEnd)), 8);
}

/// The small model: x -> add w -> add x -> relu -> y, through two buffers
/// that are live together at step 1.
static Artifact makeArtifact() {
  Artifact artifact = test::makeSmallModelArtifact(
      R"({"arch":"x86-64","features":["avx2","fma"]})", /*threads=*/2);
  const char code[] = "\x7f"
                      "ELF stand-in for kernel code";
  artifact.code.assign(code, code + sizeof(code) - 1);
  return artifact;
}

/// The manifest of `makeArtifact` as JSON, to be edited.
static json getManifestJson() {
  std::string text, error;
  EXPECT_TRUE(formatManifest(makeArtifact().manifest, text, error)) << error;
  return json::parse(text);
}

/// The three sections of `makeArtifact`, with `manifest` as the manifest.
static Sections makeSections(const std::string &manifest) {
  Artifact artifact = makeArtifact();
  std::vector<uint8_t> weights;
  std::string error;
  EXPECT_TRUE(writeSafetensorsToMemory(artifact.weights, weights, error))
      << error;
  return {{"manifest", manifest},
          {"code", std::string(artifact.code.begin(), artifact.code.end())},
          {"weights", std::string(weights.begin(), weights.end())}};
}

/// Writes `bytes` to `path` and checks that reading it fails with a message
/// naming the file and containing each of `words`.
static void expectReadError(const std::string &path, const std::string &bytes,
                            std::initializer_list<std::string> words) {
  writeBytes(path, bytes);
  std::string error;
  EXPECT_FALSE(readArtifact(path, error).has_value());
  EXPECT_NE(error.find("'" + path + "'"), std::string::npos) << error;
  for (const std::string &word : words)
    EXPECT_NE(error.find(word), std::string::npos)
        << "expected '" << word << "' in: " << error;
}

//===----------------------------------------------------------------------===//
// Round trip and layout
//===----------------------------------------------------------------------===//

TEST(ArtifactChecksumTest, IsFnv1a64) {
  // Reference values of the 64-bit FNV-1a hash.
  EXPECT_EQ(checksum(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(checksum("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(checksum("foobar"), 0x85944171f73967e8ull);
}

TEST_F(ArtifactTest, RoundTrips) {
  Artifact original = makeArtifact();
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), original, error)) << error;
  std::optional<Artifact> read = readArtifact(path(), error);
  ASSERT_TRUE(read.has_value()) << error;

  const Manifest &expected = original.manifest, &actual = read->manifest;
  EXPECT_EQ(actual.compilerVersion, expected.compilerVersion);
  EXPECT_EQ(json::parse(actual.target), json::parse(expected.target));
  ASSERT_EQ(actual.inputs.size(), 1u);
  EXPECT_EQ(actual.inputs[0].name, "x");
  EXPECT_EQ(actual.inputs[0].type, ElementType::F32);
  EXPECT_EQ(actual.inputs[0].shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(actual.outputs.size(), 1u);
  EXPECT_EQ(actual.outputs[0].name, "y");
  ASSERT_EQ(actual.buffers.size(), 2u);
  EXPECT_EQ(actual.buffers[1].id, 1);
  EXPECT_EQ(actual.buffers[1].bytes, 24);
  EXPECT_EQ(actual.buffers[1].offset, 64);
  ASSERT_EQ(actual.steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    const Step &a = actual.steps[i], &e = expected.steps[i];
    EXPECT_EQ(a.kernel, e.kernel);
    EXPECT_EQ(a.symbol, e.symbol);
    EXPECT_EQ(a.tiles, e.tiles);
    EXPECT_EQ(a.fusedOps, e.fusedOps);
    EXPECT_EQ(a.flops, e.flops);
    EXPECT_EQ(a.bytes, e.bytes);
    ASSERT_EQ(a.args.size(), e.args.size());
    for (size_t j = 0; j < a.args.size(); ++j) {
      EXPECT_EQ(a.args[j].kind, e.args[j].kind) << j;
      EXPECT_EQ(a.args[j].index, e.args[j].index) << j;
      EXPECT_EQ(a.args[j].name, e.args[j].name) << j;
    }
  }
  EXPECT_EQ(actual.arenaBytes, 88);
  EXPECT_EQ(actual.unplannedBytes, 48);
  EXPECT_EQ(read->code, original.code);
  ASSERT_EQ(read->weights.count("w"), 1u);
  EXPECT_EQ(read->weights.at("w").checksum(),
            original.weights.at("w").checksum());
}

TEST_F(ArtifactTest, WritesTheDocumentedLayout) {
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), makeArtifact(), error)) << error;
  std::string bytes = readBytes(path());
  ASSERT_GE(bytes.size(), 16u + 3 * 40 + 8);
  EXPECT_EQ(bytes.substr(0, 8), std::string("KILNART\0", 8));
  EXPECT_EQ(getInt(bytes, 8, 4), 1u);
  ASSERT_EQ(getInt(bytes, 12, 4), 3u);
  EXPECT_EQ(getInt(bytes, 16 + 3 * 40, 8), checksum(bytes.substr(0, 136)));

  // Sections back to back in the order manifest, code, weights, each with
  // its checksum, ending the file.
  uint64_t offset = 16 + 3 * 40 + 8;
  const char *names[] = {"manifest", "code", "weights"};
  Sections sections;
  for (size_t i = 0; i < 3; ++i) {
    std::string entry = bytes.substr(16 + 40 * i, 40);
    EXPECT_EQ(entry.substr(0, 16),
              std::string(names[i]) +
                  std::string(16 - std::strlen(names[i]), '\0'));
    EXPECT_EQ(getInt(entry, 16, 8), offset) << names[i];
    uint64_t size = getInt(entry, 24, 8);
    std::string data = bytes.substr(offset, size);
    EXPECT_EQ(getInt(entry, 32, 8), checksum(data)) << names[i];
    sections.emplace_back(names[i], data);
    offset += size;
  }
  EXPECT_EQ(offset, bytes.size());

  // The sections hold what the header promises, and this test's own
  // container builder reproduces the writer's bytes exactly.
  EXPECT_EQ(json::parse(sections[0].second)["format_version"], 1);
  std::vector<uint8_t> code = makeArtifact().code;
  EXPECT_EQ(sections[1].second, std::string(code.begin(), code.end()));
  std::string weightsError;
  EXPECT_TRUE(readSafetensorsFromMemory(
                  reinterpret_cast<const uint8_t *>(sections[2].second.data()),
                  sections[2].second.size(), "weights", weightsError)
                  .has_value())
      << weightsError;
  EXPECT_EQ(buildContainer(sections), bytes);
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

TEST_F(ArtifactTest, WriterRefusesWhatTheReaderWouldRefuse) {
  Artifact artifact = makeArtifact();
  artifact.manifest.steps[0].args[1].name = "missing";
  std::string error;
  EXPECT_FALSE(writeArtifact(path(), artifact, error));
  EXPECT_NE(error.find(path()), std::string::npos) << error;
  EXPECT_NE(error.find("weight 'missing'"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(path()));

  artifact = makeArtifact();
  artifact.code.clear();
  error.clear();
  EXPECT_FALSE(writeArtifact(path(), artifact, error));
  EXPECT_NE(error.find("code section is empty"), std::string::npos) << error;

  artifact = makeArtifact();
  artifact.manifest.inputs[0].name = "\xff";
  error.clear();
  EXPECT_FALSE(writeArtifact(path(), artifact, error));
  EXPECT_NE(error.find("UTF-8"), std::string::npos) << error;
}

TEST_F(ArtifactTest, WriterReportsUnwritablePath) {
  std::string bad = ::testing::TempDir() + "kiln_no_such_dir/model.kiln";
  std::string error;
  EXPECT_FALSE(writeArtifact(bad, makeArtifact(), error));
  EXPECT_NE(error.find(bad), std::string::npos) << error;
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Damaged containers
//===----------------------------------------------------------------------===//

TEST_F(ArtifactTest, MissingFile) {
  std::string error;
  EXPECT_FALSE(readArtifact(path(), error).has_value());
  EXPECT_NE(error.find(path()), std::string::npos) << error;
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

TEST_F(ArtifactTest, EveryTruncationFails) {
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), makeArtifact(), error)) << error;
  std::string bytes = readBytes(path());
  std::string truncated = path("_truncated");
  for (size_t length = 0; length < bytes.size(); ++length) {
    writeBytes(truncated, bytes.substr(0, length));
    error.clear();
    ASSERT_FALSE(readArtifact(truncated, error).has_value())
        << "length " << length;
    ASSERT_NE(error.find(truncated), std::string::npos) << error;
    ASSERT_TRUE(error.find("truncated") != std::string::npos ||
                error.find("too short") != std::string::npos)
        << "length " << length << ": " << error;
  }
}

TEST_F(ArtifactTest, EveryChangedByteFails) {
  // Every byte belongs to the checksummed table or to a checksummed
  // section, so no single change can go unnoticed.
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), makeArtifact(), error)) << error;
  std::string bytes = readBytes(path());
  std::string corrupt = path("_corrupt");
  for (size_t position = 0; position < bytes.size(); ++position) {
    for (uint8_t mask : {0x01, 0x80}) {
      std::string changed = bytes;
      changed[position] = static_cast<char>(changed[position] ^ mask);
      writeBytes(corrupt, changed);
      error.clear();
      ASSERT_FALSE(readArtifact(corrupt, error).has_value())
          << "byte " << position << " ^ " << int(mask);
      ASSERT_NE(error.find(corrupt), std::string::npos) << error;
    }
  }
}

TEST_F(ArtifactTest, ChangedSectionIsNamed) {
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), makeArtifact(), error)) << error;
  std::string bytes = readBytes(path());
  for (size_t i = 0; i < 3; ++i) {
    std::string name = bytes.substr(16 + 40 * i, 16).c_str();
    SCOPED_TRACE(name);
    uint64_t offset = getInt(bytes, 16 + 40 * i + 16, 8);
    uint64_t size = getInt(bytes, 16 + 40 * i + 24, 8);
    std::string changed = bytes;
    changed[offset + size / 2] ^= 0x10;
    expectReadError(path("_changed"), changed,
                    {"section '" + name + "'", "checksum does not match"});
  }
}

TEST_F(ArtifactTest, BadMagic) {
  expectReadError(path(), "this is a text file, not a model\n",
                  {"not a Kiln artifact"});
  std::string bytes = buildContainer(makeSections(getManifestJson().dump()));
  bytes[3] = 'X';
  expectReadError(path(), bytes, {"bad magic"});
}

TEST_F(ArtifactTest, UnsupportedVersion) {
  std::string bytes = buildContainer(makeSections(getManifestJson().dump()));
  for (uint64_t version : {0u, 4u}) {
    putInt(bytes, 8, version, 4);
    resealTable(bytes);
    expectReadError(
        path(), bytes,
        {"unsupported artifact format version " + std::to_string(version),
         "versions 1 to 3"});
  }
}

TEST_F(ArtifactTest, GraphSectionRoundTripsAsVersion2) {
  Artifact original = makeArtifact();
  original.graph = "module {}\n";
  std::string error;
  ASSERT_TRUE(writeArtifact(path(), original, error)) << error;
  std::string bytes = readBytes(path());
  EXPECT_EQ(getInt(bytes, 8, 4), 2u);
  ASSERT_EQ(getInt(bytes, 12, 4), 4u);
  EXPECT_EQ(bytes.substr(16 + 3 * 40, 6), std::string("graph\0", 6));
  std::optional<Artifact> read = readArtifact(path(), error);
  ASSERT_TRUE(read.has_value()) << error;
  EXPECT_EQ(read->graph, original.graph);

  // Without a graph the writer keeps version 1, and the graph reads empty.
  ASSERT_TRUE(writeArtifact(path(), makeArtifact(), error)) << error;
  EXPECT_EQ(getInt(readBytes(path()), 8, 4), 1u);
  read = readArtifact(path(), error);
  ASSERT_TRUE(read.has_value()) << error;
  EXPECT_TRUE(read->graph.empty());
}

TEST_F(ArtifactTest, GraphSectionNeedsVersion2) {
  Sections sections = makeSections(getManifestJson().dump());
  sections.emplace_back("graph", "module {}");
  expectReadError(path(), buildContainer(sections),
                  {"unknown section 'graph'"});
}

TEST_F(ArtifactTest, InvalidSectionCount) {
  std::string bytes = buildContainer(makeSections(getManifestJson().dump()));
  for (uint64_t count : {0u, 17u, 0xffffffffu}) {
    std::string changed = bytes;
    putInt(changed, 12, count, 4);
    expectReadError(path(), changed,
                    {"section count " + std::to_string(count)});
  }
}

TEST_F(ArtifactTest, TableChecksumMismatch) {
  std::string bytes = buildContainer(makeSections(getManifestJson().dump()));
  bytes[16 + 3 * 40] ^= 1;
  expectReadError(path(), bytes, {"section table checksum"});
}

TEST_F(ArtifactTest, UnknownDuplicateAndMissingSections) {
  Sections sections = makeSections(getManifestJson().dump());
  Sections unknown = sections;
  unknown.emplace_back("debug", "x");
  expectReadError(path(), buildContainer(unknown), {"unknown section 'debug'"});

  Sections duplicate = sections;
  duplicate.push_back(sections[1]);
  expectReadError(path(), buildContainer(duplicate),
                  {"section 'code' appears more than once"});

  Sections missing(sections.begin(), sections.begin() + 2);
  expectReadError(path(), buildContainer(missing),
                  {"missing section 'weights'"});

  Sections unnamed = sections;
  unnamed[1].first = "co de";
  expectReadError(path(), buildContainer(unnamed),
                  {"section 1 has an invalid name"});
}

TEST_F(ArtifactTest, SectionsMustTileTheFile) {
  std::string bytes = buildContainer(makeSections(getManifestJson().dump()));
  size_t code = 16 + 40; // The code section's table entry.
  uint64_t offset = getInt(bytes, code + 16, 8);
  uint64_t size = getInt(bytes, code + 24, 8);

  std::string overlap = bytes;
  putInt(overlap, code + 16, offset - 1, 8);
  putInt(overlap, code + 24, size + 1, 8);
  resealTable(overlap);
  expectReadError(path(), overlap,
                  {"section 'code' overlaps the section 'manifest'"});

  std::string gap = bytes;
  putInt(gap, code + 16, offset + 1, 8);
  putInt(gap, code + 24, size - 1, 8);
  resealTable(gap);
  expectReadError(path(), gap,
                  {"1 bytes before section 'code' belong to no section"});

  expectReadError(path(), bytes + "tail",
                  {"4 bytes at the end of the file belong to no section"});

  std::string intoTable = bytes;
  putInt(intoTable, 16 + 16, 0, 8); // The manifest starts at offset 0.
  resealTable(intoTable);
  expectReadError(path(), intoTable,
                  {"section 'manifest' overlaps the section table"});

  std::string beyond = bytes;
  putInt(beyond, code + 24, ~uint64_t(0) - 2, 8); // offset + size wraps.
  resealTable(beyond);
  expectReadError(path(), beyond, {"section 'code'", "truncated"});
}

TEST_F(ArtifactTest, EmptyCodeSection) {
  Sections sections = makeSections(getManifestJson().dump());
  sections[1].second.clear();
  expectReadError(path(), buildContainer(sections), {"code section is empty"});
}

TEST_F(ArtifactTest, BadWeights) {
  Sections sections = makeSections(getManifestJson().dump());
  sections[2].second = "not safetensors at all";
  expectReadError(path(), buildContainer(sections),
                  {"safetensors", "section 'weights'", "header length"});
}

//===----------------------------------------------------------------------===//
// Bad manifests
//===----------------------------------------------------------------------===//

TEST_F(ArtifactTest, ManifestNotJson) {
  expectReadError(path(), buildContainer(makeSections("{\"steps\": [")),
                  {"invalid manifest", "not valid JSON"});
  expectReadError(path(), buildContainer(makeSections("")),
                  {"invalid manifest", "not valid JSON"});
  expectReadError(path(), buildContainer(makeSections("[1, 2]")),
                  {"invalid manifest", "expected an object"});
}

TEST_F(ArtifactTest, DeeplyNestedJsonIsRefused) {
  // Echoing such JSON in a message would recurse once per level.
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expectReadError(path(), buildContainer(makeSections(deep)),
                  {"invalid manifest", "nested deeper than 64 levels"});
  // Deep inside an otherwise valid manifest (spliced in as text: dumping it
  // here would recurse just the same).
  json manifest = getManifestJson();
  manifest["steps"][0]["tiles"] = "DEEP";
  std::string text = manifest.dump();
  text.replace(text.find("\"DEEP\""), 6, deep);
  expectReadError(path(), buildContainer(makeSections(text)),
                  {"nested deeper than 64 levels"});

  // The writer refuses a deep target too.
  Artifact artifact = makeArtifact();
  artifact.manifest.target = std::string(1000, '[') + std::string(1000, ']');
  std::string error;
  EXPECT_FALSE(writeArtifact(path(), artifact, error));
  EXPECT_NE(error.find("target: JSON nested deeper than 64 levels"),
            std::string::npos)
      << error;
  artifact.manifest.target = "[1]";
  EXPECT_FALSE(writeArtifact(path(), artifact, error));
  EXPECT_NE(error.find("target: not a JSON object"), std::string::npos)
      << error;
}

TEST_F(ArtifactTest, ManifestTooLarge) {
  std::string huge = getManifestJson().dump();
  huge.append((size_t(64) << 20) + 1 - huge.size(), ' ');
  expectReadError(path(), buildContainer(makeSections(huge)),
                  {"manifest section", "absurdly large"});
}

namespace {
/// One damaged manifest and the words its error must contain.
struct ManifestCase {
  const char *name;
  std::function<void(json &)> damage;
  std::vector<std::string> words;
};
} // namespace

TEST_F(ArtifactTest, ManifestSchemaAndMeaning) {
  const int64_t huge = int64_t(1) << 41;
  std::vector<ManifestCase> cases = {
      // The schema: fields and their JSON types.
      {"missing field",
       [](json &m) { m.erase("steps"); },
       {"missing field 'steps'"}},
      {"unknown field",
       [](json &m) { m["step"] = json::array(); },
       {"unknown field 'step'"}},
      {"newer version",
       [](json &m) { m["format_version"] = 2; },
       {"unsupported manifest version 2"}},
      {"string for integer",
       [](json &m) { m["arena_bytes"] = "88"; },
       {"arena_bytes", "expected an integer"}},
      {"float for integer",
       [](json &m) { m["steps"][0]["tiles"] = 2.5; },
       {"steps[0].tiles", "expected an integer, got 2.5"}},
      {"integer beyond int64",
       [](json &m) {
         m["buffers"][0]["id"] = std::numeric_limits<uint64_t>::max();
       },
       {"buffers[0].id", "too large"}},
      {"target not an object",
       [](json &m) { m["target"] = "x86"; },
       {"target", "expected an object"}},
      {"inputs not an array",
       [](json &m) { m["inputs"] = json::object(); },
       {"inputs", "expected an array"}},
      {"unknown dtype",
       [](json &m) { m["inputs"][0]["dtype"] = "f64"; },
       {"inputs[0].dtype", "unknown element type 'f64'"}},
      {"shape of strings",
       [](json &m) { m["outputs"][0]["shape"] = {"2"}; },
       {"outputs[0].shape[0]", "expected an integer"}},
      {"unknown arg kind",
       [](json &m) { m["steps"][1]["args"][0]["kind"] = "tensor"; },
       {"steps[1].args[0].kind", "unknown kind 'tensor'"}},
      {"arg with the wrong reference field",
       [](json &m) {
         m["steps"][0]["args"][1] = {{"kind", "weight"}, {"index", 0}};
       },
       {"steps[0].args[1]", "missing field 'name'"}},
      {"fused op not a string",
       [](json &m) { m["steps"][2]["fused_ops"][0] = 1; },
       {"steps[2].fused_ops[0]", "expected a string"}},

      // What the values mean.
      {"negative dimension",
       [](json &m) {
         m["inputs"][0]["shape"] = {2, -3};
       },
       {"inputs[0] ('x')", "negative dimension -3"}},
      {"absurd tensor",
       [](json &m) {
         m["inputs"][0]["shape"] = {1 << 20, 1 << 20, 1 << 20};
       },
       {"inputs[0] ('x')", "absurd"}},
      {"absurd rank",
       [](json &m) { m["inputs"][0]["shape"] = std::vector<int>(33, 1); },
       {"rank 33 is absurd"}},
      {"duplicate input name",
       [](json &m) { m["inputs"].push_back(m["inputs"][0]); },
       {"inputs[1]", "name 'x' is used twice"}},
      {"empty output name",
       [](json &m) { m["outputs"][0]["name"] = ""; },
       {"outputs[0]", "empty name"}},
      {"missing input",
       [](json &m) { m["steps"][0]["args"][0]["index"] = 1; },
       {"steps[0] ('add')", "argument 0", "input 1", "does not exist"}},
      {"missing output",
       [](json &m) { m["steps"][2]["args"][1]["index"] = -1; },
       {"steps[2] ('relu')", "output -1", "does not exist"}},
      {"missing weight",
       [](json &m) { m["steps"][0]["args"][1]["name"] = "v"; },
       {"steps[0] ('add')", "weight 'v'", "does not exist"}},
      {"missing buffer",
       [](json &m) { m["steps"][1]["args"][2]["id"] = 9; },
       {"steps[1] ('add')", "argument 2", "buffer 9", "does not exist"}},
      {"bad symbol",
       [](json &m) { m["steps"][2]["symbol"] = "kiln relu"; },
       {"steps[2] ('relu')", "'kiln relu' is not a C identifier"}},
      {"symbol starting with a digit",
       [](json &m) { m["steps"][2]["symbol"] = "0relu"; },
       {"not a C identifier"}},
      {"empty kernel name",
       [](json &m) { m["steps"][0]["kernel"] = ""; },
       {"steps[0]", "empty kernel name"}},
      {"negative tiles",
       [](json &m) { m["steps"][0]["tiles"] = -1; },
       {"tile count -1"}},
      {"absurd tiles",
       [&](json &m) { m["steps"][0]["tiles"] = huge; },
       {"tile count", "absurd"}},
      {"negative flops",
       [](json &m) { m["steps"][0]["flops"] = -6; },
       {"negative flops"}},
      {"duplicate buffer id",
       [](json &m) { m["buffers"][1]["id"] = 0; },
       {"buffers[1]", "id 0 is used twice"}},
      {"negative buffer id",
       [](json &m) { m["buffers"][1]["id"] = -1; },
       {"buffers[1]", "negative id"}},
      {"absurd buffer",
       [&](json &m) { m["buffers"][1]["bytes"] = huge; },
       {"buffers[1]", "absurd"}},
      {"absurd arena",
       [&](json &m) { m["arena_bytes"] = huge; },
       {"arena_bytes", "absurd"}},
      {"unused buffer",
       [](json &m) {
         m["buffers"].push_back({{"id", 7}, {"bytes", 8}, {"offset", 0}});
         m["unplanned_bytes"] = 56;
       },
       {"buffer 7 is used by no step"}},
      {"unwritten output",
       [](json &m) {
         m["outputs"].push_back(m["outputs"][0]);
         m["outputs"][1]["name"] = "z";
       },
       {"outputs[1]", "output 'z' is written by no step"}},
      {"misaligned offset",
       [](json &m) { m["buffers"][1]["offset"] = 32; },
       {"invalid memory plan", "buffer 1: offset 32"}},
      {"buffer beyond the arena",
       [](json &m) { m["arena_bytes"] = 87; },
       {"invalid memory plan", "beyond the arena (87 bytes)"}},
      {"live buffers sharing bytes",
       [](json &m) { m["buffers"][1]["offset"] = 0; },
       {"invalid memory plan", "buffers 0 and 1 share arena bytes", "step 1"}},
      {"wrong unplanned size",
       [](json &m) { m["unplanned_bytes"] = 47; },
       {"invalid memory plan", "unplanned size (47 bytes)"}},
  };
  for (const ManifestCase &c : cases) {
    SCOPED_TRACE(c.name);
    json manifest = getManifestJson();
    c.damage(manifest);
    writeBytes(path(), buildContainer(makeSections(manifest.dump())));
    std::string error;
    EXPECT_FALSE(readArtifact(path(), error).has_value());
    EXPECT_NE(error.find("'" + path() + "'"), std::string::npos) << error;
    EXPECT_NE(error.find("invalid manifest"), std::string::npos) << error;
    for (const std::string &word : c.words)
      EXPECT_NE(error.find(word), std::string::npos)
          << "expected '" << word << "' in: " << error;
  }
}

TEST_F(ArtifactTest, UnchangedManifestJsonReads) {
  // The cases above start from this manifest, so it must be valid: each of
  // their errors comes from its damage alone.
  writeBytes(path(), buildContainer(makeSections(getManifestJson().dump())));
  std::string error;
  EXPECT_TRUE(readArtifact(path(), error).has_value()) << error;
}
