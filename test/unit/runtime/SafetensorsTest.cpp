//===- SafetensorsTest.cpp - Tests for safetensors I/O ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Round trips every dtype, then feeds the reader one hostile file per kind of
// damage and checks that it answers with a message naming the problem. Run
// under ASan/UBSan, the truncation and corruption sweeps also check that no
// input makes the reader touch memory it should not.
//
//===----------------------------------------------------------------------===//

#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>

using namespace kiln;

namespace {
/// Gives each test its own file under GoogleTest's temporary directory.
class SafetensorsTest : public ::testing::Test {
protected:
  std::string path(const std::string &suffix = "") const {
    const ::testing::TestInfo *info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    return ::testing::TempDir() + "kiln_" + info->name() + suffix +
           ".safetensors";
  }
};
} // namespace

/// `header` behind its 8-byte little-endian length, followed by `data`.
static std::string makeFileBytes(const std::string &header,
                                 const std::string &data) {
  std::string bytes;
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<char>(length >> (8 * i)));
  return bytes + header + data;
}

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

/// Writes `bytes` to `path`, reads it back and checks that the read fails
/// with a message naming the file and containing each of `words`.
static void expectReadError(const std::string &path, const std::string &bytes,
                            std::initializer_list<std::string> words) {
  writeBytes(path, bytes);
  std::string error;
  std::optional<TensorMap> tensors = readSafetensors(path, error);
  EXPECT_FALSE(tensors.has_value());
  EXPECT_NE(error.find(path), std::string::npos) << error;
  for (const std::string &word : words)
    EXPECT_NE(error.find(word), std::string::npos)
        << "expected '" << word << "' in: " << error;
}

/// A header holding the single tensor `w` with the given entry.
static std::string oneTensor(const std::string &entry) {
  return R"({"w": )" + entry + "}";
}

//===----------------------------------------------------------------------===//
// Round trips
//===----------------------------------------------------------------------===//

static TensorMap makeAllDtypes() {
  TensorMap tensors;
  HostTensor f32(ElementType::F32, {2, 3});
  for (int64_t i = 0; i < 6; ++i)
    f32.setFloat(i, static_cast<float>(i) - 2.5f);
  tensors["a_f32"] = f32;
  HostTensor bf16(ElementType::BF16, {4});
  for (int64_t i = 0; i < 4; ++i)
    bf16.setFloat(i, 1.0f / static_cast<float>(i + 1));
  tensors["b_bf16"] = bf16;
  HostTensor f16(ElementType::F16, {2, 1, 2});
  for (int64_t i = 0; i < 4; ++i)
    f16.setFloat(i, -0.1f * static_cast<float>(i));
  tensors["c_f16"] = f16;
  HostTensor i32(ElementType::I32, {3});
  for (int64_t i = 0; i < 3; ++i)
    i32.setInt(i, -1000 * i);
  tensors["d_i32"] = i32;
  HostTensor scalar(ElementType::I64, {});
  scalar.setInt(0, (int64_t(1) << 50) + 3);
  tensors["e_i64_scalar"] = scalar;
  tensors["f_empty"] = HostTensor(ElementType::F32, {0, 5});
  HostTensor odd(ElementType::BF16, {3}); // 6 bytes: later data is unaligned.
  odd.setFloat(2, 7.0f);
  tensors["g_odd"] = odd;
  return tensors;
}

static void expectSameTensors(const TensorMap &expected,
                              const TensorMap &actual) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto &[name, tensor] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << name;
    EXPECT_EQ(it->second.getElementType(), tensor.getElementType()) << name;
    EXPECT_EQ(it->second.getShape(), tensor.getShape()) << name;
    ASSERT_EQ(it->second.getByteSize(), tensor.getByteSize()) << name;
    // memcmp must not see the null data() of an empty tensor.
    if (tensor.getByteSize() != 0) {
      EXPECT_EQ(
          std::memcmp(it->second.data(), tensor.data(), tensor.getByteSize()),
          0)
          << name;
    }
    EXPECT_EQ(it->second.checksum(), tensor.checksum()) << name;
  }
}

TEST_F(SafetensorsTest, RoundTripsAllDtypes) {
  TensorMap tensors = makeAllDtypes();
  std::string error;
  ASSERT_TRUE(writeSafetensors(path(), tensors, error)) << error;
  std::optional<TensorMap> read = readSafetensors(path(), error);
  ASSERT_TRUE(read.has_value()) << error;
  expectSameTensors(tensors, *read);
  EXPECT_EQ(read->at("a_f32").getFloat(5), 2.5f);
  EXPECT_EQ(read->at("e_i64_scalar").getInt(0), (int64_t(1) << 50) + 3);
  EXPECT_EQ(read->at("e_i64_scalar").getRank(), 0);
  EXPECT_EQ(read->at("f_empty").getShape(), (std::vector<int64_t>{0, 5}));
}

TEST_F(SafetensorsTest, WritesTheDocumentedLayout) {
  TensorMap tensors;
  HostTensor b(ElementType::I32, {1});
  b.setInt(0, 0x01020304);
  HostTensor a(ElementType::F16, {2});
  a.setFloat(0, 1.0f);
  tensors["b"] = b;
  tensors["a"] = a;
  std::string error;
  ASSERT_TRUE(writeSafetensors(path(), tensors, error)) << error;

  std::string bytes = readBytes(path());
  ASSERT_GE(bytes.size(), 8u);
  uint64_t headerLength = 0;
  for (int i = 0; i < 8; ++i)
    headerLength |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i]))
                    << (8 * i);
  EXPECT_EQ(headerLength % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + headerLength + 4 + 4);
  std::string header = bytes.substr(8, headerLength);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));

  nlohmann::json json = nlohmann::json::parse(header);
  EXPECT_EQ(json["a"]["dtype"], "F16");
  EXPECT_EQ(json["a"]["shape"], nlohmann::json({2}));
  EXPECT_EQ(json["a"]["data_offsets"], nlohmann::json({0, 4}));
  EXPECT_EQ(json["b"]["dtype"], "I32");
  EXPECT_EQ(json["b"]["data_offsets"], nlohmann::json({4, 8}));
  EXPECT_FALSE(json.contains("__metadata__"));
  // Name order: a's f16 1.0 (0x3c00), then b, both little-endian.
  std::string data = bytes.substr(8 + headerLength);
  EXPECT_EQ(data, std::string("\x00\x3c\x00\x00\x04\x03\x02\x01", 8));
}

TEST_F(SafetensorsTest, RoundTripsMetadata) {
  TensorMap tensors;
  tensors["x"] = HostTensor(ElementType::F32, {1});
  SafetensorsMetadata metadata = {{"format", "pt"}, {"kiln", "model \"v1\""}};
  std::string error;
  ASSERT_TRUE(writeSafetensors(path(), tensors, metadata, error)) << error;

  SafetensorsMetadata read = {{"stale", "entry"}};
  std::optional<TensorMap> readTensors = readSafetensors(path(), read, error);
  ASSERT_TRUE(readTensors.has_value()) << error;
  EXPECT_EQ(read, metadata);
  expectSameTensors(tensors, *readTensors);

  // The plain reader accepts and skips the metadata.
  std::optional<TensorMap> plain = readSafetensors(path(), error);
  ASSERT_TRUE(plain.has_value()) << error;
  EXPECT_EQ(plain->size(), 1u);
  EXPECT_EQ(plain->count("__metadata__"), 0u);
}

TEST_F(SafetensorsTest, RoundTripsAnEmptyMap) {
  std::string error;
  ASSERT_TRUE(writeSafetensors(path(), TensorMap(), error)) << error;
  EXPECT_EQ(readBytes(path()).size(), 16u); // "{}" padded to 8 bytes.
  SafetensorsMetadata metadata = {{"stale", "entry"}};
  std::optional<TensorMap> read = readSafetensors(path(), metadata, error);
  ASSERT_TRUE(read.has_value()) << error;
  EXPECT_TRUE(read->empty());
  EXPECT_TRUE(metadata.empty());
}

TEST_F(SafetensorsTest, ReadsFilesFromOtherWriters) {
  // Unpadded header, keys out of order, extra fields, a gap in the buffer.
  std::string header =
      R"({"z": {"shape": [2], "data_offsets": [8, 16], "dtype": "I32",)"
      R"( "extra": true}, "__metadata__": {"a": "b"}})";
  std::string data("\x01\x00\x00\x00\x02\x00\x00\x00"
                   "\xff\xff\xff\xff\x05\x00\x00\x00",
                   16);
  writeBytes(path(), makeFileBytes(header, data));
  std::string error;
  std::optional<TensorMap> read = readSafetensors(path(), error);
  ASSERT_TRUE(read.has_value()) << error;
  ASSERT_EQ(read->count("z"), 1u);
  EXPECT_EQ(read->at("z").getInt(0), -1);
  EXPECT_EQ(read->at("z").getInt(1), 5);
}

//===----------------------------------------------------------------------===//
// Write errors
//===----------------------------------------------------------------------===//

TEST_F(SafetensorsTest, WriteReportsUnwritablePath) {
  std::string bad = ::testing::TempDir() + "kiln_no_such_dir/x.safetensors";
  std::string error;
  EXPECT_FALSE(writeSafetensors(bad, TensorMap(), error));
  EXPECT_NE(error.find(bad), std::string::npos) << error;
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

TEST_F(SafetensorsTest, WriteRejectsReservedAndNonUtf8Names) {
  std::string error;
  TensorMap reserved;
  reserved["__metadata__"] = HostTensor(ElementType::F32, {1});
  EXPECT_FALSE(writeSafetensors(path(), reserved, error));
  EXPECT_NE(error.find("reserved"), std::string::npos) << error;

  TensorMap badName;
  badName["\xff\xfe"] = HostTensor(ElementType::F32, {1});
  error.clear();
  EXPECT_FALSE(writeSafetensors(path(), badName, error));
  EXPECT_NE(error.find("UTF-8"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Hostile files
//===----------------------------------------------------------------------===//

TEST_F(SafetensorsTest, MissingFile) {
  std::string error;
  EXPECT_FALSE(readSafetensors(path(), error).has_value());
  EXPECT_NE(error.find(path()), std::string::npos) << error;
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

TEST_F(SafetensorsTest, ShorterThanTheLength) {
  expectReadError(path(), "", {"0 bytes", "too short"});
  expectReadError(path(), std::string("\x02\x00\x00", 3),
                  {"3 bytes", "too short"});
}

TEST_F(SafetensorsTest, HeaderLengthBeyondTheFile) {
  std::string bytes = makeFileBytes("{}", "");
  bytes[0] = 100;
  expectReadError(path(), bytes, {"header length 100", "larger than the file"});
}

TEST_F(SafetensorsTest, AbsurdHeaderLength) {
  std::string bytes = makeFileBytes("{}", "");
  bytes[5] = 1; // 2^40 + 2.
  expectReadError(path(), bytes, {"header length", "absurd"});
  // All ones: must not wrap around when compared with the file size.
  expectReadError(path(), std::string(8, '\xff') + "{}", {"absurd"});
}

TEST_F(SafetensorsTest, InvalidJson) {
  expectReadError(path(), makeFileBytes("{\"w\": ", ""), {"not valid JSON"});
  expectReadError(path(), makeFileBytes("", ""), {"not valid JSON"});
  expectReadError(path(), makeFileBytes(std::string("{\0}", 3), ""),
                  {"not valid JSON"});
}

TEST_F(SafetensorsTest, HeaderNotAnObject) {
  expectReadError(path(), makeFileBytes("[1, 2]", ""), {"not a JSON object"});
  expectReadError(path(), makeFileBytes("\"w\"", ""), {"not a JSON object"});
}

TEST_F(SafetensorsTest, EntryMissingFields) {
  expectReadError(path(),
                  makeFileBytes(oneTensor(R"({"dtype": "F32", "shape": [1]})"),
                                std::string(4, '\0')),
                  {"tensor 'w'", "missing field 'data_offsets'"});
  expectReadError(
      path(),
      makeFileBytes(oneTensor(R"({"shape": [1], "data_offsets": [0, 4]})"),
                    std::string(4, '\0')),
      {"tensor 'w'", "missing field 'dtype'"});
  expectReadError(
      path(),
      makeFileBytes(oneTensor(R"({"dtype": "F32", "data_offsets": [0, 4]})"),
                    std::string(4, '\0')),
      {"tensor 'w'", "missing field 'shape'"});
}

TEST_F(SafetensorsTest, EntryWithWrongJsonTypes) {
  std::string data(4, '\0');
  expectReadError(path(), makeFileBytes(oneTensor("3"), data),
                  {"tensor 'w'", "not an object"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(R"({"dtype": 5, "shape": [1], "data_offsets": [0, 4]})"),
          data),
      {"tensor 'w'", "'dtype' is not a string"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": "1", "data_offsets": [0, 4]})"),
          data),
      {"tensor 'w'", "'shape' is not an array"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]})"),
          data),
      {"tensor 'w'", "1.5", "not an integer"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [[1]], "data_offsets": [0, 4]})"),
          data),
      {"tensor 'w'", "not an integer"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(R"({"dtype": "F32", "shape": [1], "data_offsets": "x"})"),
          data),
      {"tensor 'w'", "'data_offsets' is not a pair"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]})"),
          data),
      {"tensor 'w'", "'data_offsets' is not a pair"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F64", "shape": [1], "data_offsets": [0, 8]})"),
          std::string(8, '\0')),
      {"tensor 'w'", "unsupported dtype 'F64'"});
  // Dtypes are upper case in safetensors; the MLIR spelling is not one.
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "f32", "shape": [1], "data_offsets": [0, 4]})"),
          std::string(4, '\0')),
      {"unsupported dtype 'f32'"});
}

TEST_F(SafetensorsTest, NegativeDimension) {
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 0]})"),
          ""),
      {"tensor 'w'", "negative dimension -1"});
}

TEST_F(SafetensorsTest, ShapeProductOverflow) {
  expectReadError(
      path(),
      makeFileBytes(oneTensor(R"({"dtype": "F32",)"
                              R"( "shape": [4294967296, 4294967296],)"
                              R"( "data_offsets": [0, 0]})"),
                    ""),
      {"tensor 'w'", "overflows"});
  // A zero dimension makes the tensor empty, but the others still overflow
  // when multiplied in order.
  expectReadError(
      path(),
      makeFileBytes(oneTensor(R"({"dtype": "F32",)"
                              R"( "shape": [4294967296, 4294967296, 0],)"
                              R"( "data_offsets": [0, 0]})"),
                    ""),
      {"tensor 'w'", "overflows"});
  // Fits in int64 as elements, but not as bytes.
  expectReadError(path(),
                  makeFileBytes(oneTensor(R"({"dtype": "I64",)"
                                          R"( "shape": [2305843009213693952],)"
                                          R"( "data_offsets": [0, 0]})"),
                                ""),
                  {"tensor 'w'", "overflows"});
  // Larger than int64 in a single dimension.
  expectReadError(path(),
                  makeFileBytes(oneTensor(R"({"dtype": "F32",)"
                                          R"( "shape": [18446744073709551615],)"
                                          R"( "data_offsets": [0, 0]})"),
                                ""),
                  {"tensor 'w'", "overflows"});
}

TEST_F(SafetensorsTest, DataOffsetsNotAPair) {
  std::string data(4, '\0');
  for (const char *offsets : {"[0]", "[0, 4, 8]", "[]", "[-4, 4]", "{}"}) {
    SCOPED_TRACE(offsets);
    expectReadError(
        path(),
        makeFileBytes(oneTensor(std::string(R"({"dtype": "F32", "shape": [1],)"
                                            R"( "data_offsets": )") +
                                offsets + "}"),
                      data),
        {"tensor 'w'", "'data_offsets' is not a pair"});
  }
}

TEST_F(SafetensorsTest, BeginAfterEnd) {
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [1], "data_offsets": [8, 4]})"),
          std::string(8, '\0')),
      {"tensor 'w'", "begin (8)", "after its end (4)"});
}

TEST_F(SafetensorsTest, EndBeyondTheDataBuffer) {
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 8]})"),
          std::string(4, '\0')),
      {"tensor 'w'", "end (8)", "beyond the data buffer (4 bytes)"});
  // Empty tensors must still point inside the buffer.
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [0], "data_offsets": [99, 99]})"),
          ""),
      {"tensor 'w'", "beyond the data buffer"});
  // An offset near 2^64 must not wrap around when added to the data start.
  expectReadError(
      path(),
      makeFileBytes(oneTensor(R"({"dtype": "F32", "shape": [1],)"
                              R"( "data_offsets": [18446744073709551612,)"
                              R"( 18446744073709551615]})"),
                    std::string(4, '\0')),
      {"tensor 'w'"});
}

TEST_F(SafetensorsTest, ByteSizeMismatch) {
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 4]})"),
          std::string(24, '\0')),
      {"tensor 'w'", "span 4 bytes", "2x3xf32", "needs 24"});
  expectReadError(
      path(),
      makeFileBytes(
          oneTensor(
              R"({"dtype": "BF16", "shape": [], "data_offsets": [0, 4]})"),
          std::string(4, '\0')),
      {"tensor 'w'", "span 4 bytes", "needs 2"});
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  std::string header =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
      R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  expectReadError(path(), makeFileBytes(header, std::string(12, '\0')),
                  {"'a'", "'b'", "overlap"});
  // Identical ranges overlap too, whichever name sorts first.
  header = R"({"b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]},)"
           R"( "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  expectReadError(path(), makeFileBytes(header, std::string(4, '\0')),
                  {"overlap"});
  // Empty tensors occupy no bytes, so they overlap nothing.
  header = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
           R"( "e": {"dtype": "F32", "shape": [0], "data_offsets": [2, 2]}})";
  writeBytes(path(), makeFileBytes(header, std::string(4, '\0')));
  std::string error;
  EXPECT_TRUE(readSafetensors(path(), error).has_value()) << error;
}

TEST_F(SafetensorsTest, DuplicateTensorName) {
  std::string header =
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
      R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  expectReadError(path(), makeFileBytes(header, std::string(8, '\0')),
                  {"'w'", "more than once"});
}

TEST_F(SafetensorsTest, MalformedMetadata) {
  expectReadError(path(), makeFileBytes(R"({"__metadata__": [1]})", ""),
                  {"'__metadata__' is not an object"});
  expectReadError(path(), makeFileBytes(R"({"__metadata__": {"k": 1}})", ""),
                  {"'__metadata__'", "'k'", "not a string"});
}

TEST_F(SafetensorsTest, FailedReadLeavesMetadataAlone) {
  writeBytes(path(),
             makeFileBytes(R"({"__metadata__": {"k": "v"}, "w": 1})", ""));
  SafetensorsMetadata metadata = {{"kept", "yes"}};
  std::string error;
  EXPECT_FALSE(readSafetensors(path(), metadata, error).has_value());
  EXPECT_EQ(metadata, (SafetensorsMetadata{{"kept", "yes"}}));
}

TEST_F(SafetensorsTest, EveryTruncationFails) {
  std::string error;
  ASSERT_TRUE(writeSafetensors(path(), makeAllDtypes(), error)) << error;
  std::string bytes = readBytes(path());
  std::string truncatedPath = path("_truncated");
  // Every proper prefix loses either header bytes or tensor data (the last
  // tensor ends the file), so none may read successfully.
  for (size_t length = 0; length < bytes.size(); ++length) {
    writeBytes(truncatedPath, bytes.substr(0, length));
    error.clear();
    ASSERT_FALSE(readSafetensors(truncatedPath, error).has_value())
        << "length " << length;
    ASSERT_NE(error.find(truncatedPath), std::string::npos) << error;
  }
}

TEST_F(SafetensorsTest, CorruptedBytesNeverCrash) {
  std::string error;
  TensorMap original = makeAllDtypes();
  ASSERT_TRUE(writeSafetensors(path(), original, error)) << error;
  std::string bytes = readBytes(path());
  std::string corruptPath = path("_corrupt");
  // A fixed linear congruential sequence keeps the sweep reproducible.
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  int failures = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string corrupt = bytes;
    for (int flips = 0; flips < 3; ++flips)
      corrupt[next() % corrupt.size()] = static_cast<char>(next());
    writeBytes(corruptPath, corrupt);
    error.clear();
    std::optional<TensorMap> read = readSafetensors(corruptPath, error);
    if (read) {
      // Damage to data bytes alone still gives a well-formed file whose
      // tensors have the sizes their shapes promise.
      for (const auto &[name, tensor] : *read)
        ASSERT_EQ(tensor.getByteSize(),
                  static_cast<size_t>(tensor.getNumElements()) *
                      elementSize(tensor.getElementType()))
            << name;
    } else {
      ++failures;
      ASSERT_FALSE(error.empty());
    }
  }
  // Most flips land in the header, which is most of the file.
  EXPECT_GT(failures, 0);
}
