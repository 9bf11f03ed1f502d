//===- SafetensorsMemoryTest.cpp - In-memory safetensors --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The memory reader and writer share the file functions' parser and layout:
// the bytes must be identical, and the memory reader must refuse damaged
// bytes with a message naming where they came from.
//
//===----------------------------------------------------------------------===//

#include "runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

using namespace kiln;

static TensorMap makeTensors() {
  TensorMap tensors;
  HostTensor a(ElementType::F32, {2, 3});
  for (int64_t i = 0; i < 6; ++i)
    a.setFloat(i, static_cast<float>(i) * 1.5f);
  tensors["a"] = a;
  HostTensor b(ElementType::I64, {});
  b.setInt(0, -7);
  tensors["b"] = b;
  tensors["empty"] = HostTensor(ElementType::BF16, {0, 4});
  return tensors;
}

static std::optional<TensorMap> readBack(const std::vector<uint8_t> &bytes,
                                         std::string &error) {
  return readSafetensorsFromMemory(bytes.data(), bytes.size(), "'test bytes'",
                                   error);
}

TEST(SafetensorsMemoryTest, RoundTrips) {
  TensorMap tensors = makeTensors();
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(writeSafetensorsToMemory(tensors, bytes, error)) << error;
  std::optional<TensorMap> read = readBack(bytes, error);
  ASSERT_TRUE(read.has_value()) << error;
  ASSERT_EQ(read->size(), tensors.size());
  for (const auto &[name, tensor] : tensors) {
    ASSERT_EQ(read->count(name), 1u) << name;
    EXPECT_EQ(read->at(name).checksum(), tensor.checksum()) << name;
  }
  EXPECT_EQ(read->at("b").getInt(0), -7);
}

TEST(SafetensorsMemoryTest, BytesEqualTheFileWritersBytes) {
  TensorMap tensors = makeTensors();
  std::string path = ::testing::TempDir() + "kiln_memory_equals_file.st";
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(writeSafetensors(path, tensors, error)) << error;
  ASSERT_TRUE(writeSafetensorsToMemory(tensors, bytes, error)) << error;
  std::ifstream file(path, std::ios::binary);
  std::vector<uint8_t> fileBytes(std::istreambuf_iterator<char>(file), {});
  EXPECT_EQ(bytes, fileBytes);
}

TEST(SafetensorsMemoryTest, ErrorsNameTheSource) {
  std::string error;
  EXPECT_FALSE(
      readSafetensorsFromMemory(nullptr, 0, "'nothing'", error).has_value());
  EXPECT_EQ(error, "failed to read safetensors 'nothing': data is 0 bytes, "
                   "too short for the 8-byte header length");

  std::vector<uint8_t> bytes = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  EXPECT_FALSE(readBack(bytes, error).has_value());
  EXPECT_NE(error.find("'test bytes'"), std::string::npos) << error;
  EXPECT_NE(error.find("header length 100 is larger than the data (10 bytes)"),
            std::string::npos)
      << error;
}

TEST(SafetensorsMemoryTest, DeeplyNestedHeaderIsRefused) {
  // The message for a bad shape echoes the value; at this depth that would
  // overflow the stack.
  std::string header = R"({"w": {"dtype": "F32", "data_offsets": [0, 4],)"
                       R"( "shape": [)" +
                       std::string(100000, '[') + std::string(100000, ']') +
                       "]}}";
  std::vector<uint8_t> bytes(8, 0);
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(header.size() >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), 4, 0);
  std::string error;
  EXPECT_FALSE(readBack(bytes, error).has_value());
  EXPECT_NE(error.find("nested deeper than 64 levels"), std::string::npos)
      << error;
}

TEST(SafetensorsMemoryTest, EveryTruncationFails) {
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(writeSafetensorsToMemory(makeTensors(), bytes, error)) << error;
  // The last tensor with data ends the bytes, so every prefix loses some.
  for (size_t length = 0; length < bytes.size(); ++length) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + length);
    error.clear();
    ASSERT_FALSE(readBack(prefix, error).has_value()) << "length " << length;
    ASSERT_NE(error.find("'test bytes'"), std::string::npos) << error;
  }
}

TEST(SafetensorsMemoryTest, WriterFailureLeavesBytesAlone) {
  TensorMap reserved;
  reserved["__metadata__"] = HostTensor(ElementType::F32, {1});
  std::vector<uint8_t> bytes = {1, 2, 3};
  std::string error;
  EXPECT_FALSE(writeSafetensorsToMemory(reserved, bytes, error));
  EXPECT_NE(error.find("reserved"), std::string::npos) << error;
  EXPECT_EQ(bytes, (std::vector<uint8_t>{1, 2, 3}));
}
