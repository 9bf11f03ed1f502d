//===- CudaRuntimeTest.cpp - The GPU runtime without a GPU -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Everything of the CUDA runtime that is not the GPU: the artifact's "cuda"
// section (round trip, damage, validation), the device layout and launch
// list, argument packing, and the model's load and run sequence against a
// fake driver (FakeCudaDriver.h) whose kernels compute real outputs.
//
//===----------------------------------------------------------------------===//

#include "runtime/Artifact.h"
#include "runtime/CUDA/CudaModel.h"
#include "runtime/CUDA/EventTimer.h"
#include "runtime/CUDA/LaunchPlan.h"
#include "runtime/Executor.h"
#include "FakeCudaDriver.h"
#include "SmallModelArtifact.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

using namespace kiln;
using namespace kiln::cuda;
using namespace kiln::test;

namespace {

//===----------------------------------------------------------------------===//
// A small CUDA model
//===----------------------------------------------------------------------===//

/// A stand-in cubin: an ELF magic and a tag.
std::vector<uint8_t> makeCubin(const std::string &tag) {
  std::vector<uint8_t> bytes = {0x7f, 'E', 'L', 'F'};
  bytes.insert(bytes.end(), tag.begin(), tag.end());
  return bytes;
}

/// The runtime tests' small model (SmallModelArtifact.h), with its kernels
/// as cubins for sm_90a.
Artifact makeCudaArtifact() {
  Artifact artifact = test::makeSmallModelArtifact(
      R"({"name":"sm_90a","kind":"cuda"})", /*threads=*/1);
  CudaProgram program;
  program.arch = "sm_90a";
  program.kernels = {
      {"kiln_add", 3, {1, 1, 1}, {256, 1, 1}, 0, "#kiln.cuda_config<add>",
       makeCubin("add")},
      {"kiln_relu", 2, {2, 1, 1}, {128, 1, 1}, 0, "#kiln.cuda_config<relu>",
       makeCubin("relu")}};
  artifact.cuda = std::move(program);
  return artifact;
}

/// y = relu((x + w) + x), the model's reference.
std::vector<float> expectedOutput(const std::vector<float> &x,
                                  const HostTensor &w) {
  std::vector<float> y;
  for (size_t i = 0; i < x.size(); ++i)
    y.push_back(std::max(0.0f, x[i] + w.getFloat(i) + x[i]));
  return y;
}

std::string readBytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "kiln_cuda_" + name + ".kiln";
}

//===----------------------------------------------------------------------===//
// The "cuda" section
//===----------------------------------------------------------------------===//

TEST(CudaSectionTest, RoundTrips) {
  CudaProgram program = *makeCudaArtifact().cuda;
  program.kernels[1].workspaceBytes = 4096;
  program.kernels[0].tensorMaps = {{1, "bf16", {512, 256}, {64, 128}},
                                   {0, "f16", {8, 3}, {8, 1}}};
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(encodeCudaSection(program, bytes, error)) << error;
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "KILNCUDA");
  std::optional<CudaProgram> read =
      decodeCudaSection(bytes.data(), bytes.size(), error);
  ASSERT_TRUE(read) << error;
  EXPECT_EQ(read->arch, "sm_90a");
  ASSERT_EQ(read->kernels.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const CudaKernelImage &a = program.kernels[i], &b = read->kernels[i];
    EXPECT_EQ(a.symbol, b.symbol);
    EXPECT_EQ(a.numParams, b.numParams);
    EXPECT_EQ(a.grid, b.grid);
    EXPECT_EQ(a.block, b.block);
    EXPECT_EQ(a.sharedBytes, b.sharedBytes);
    EXPECT_EQ(a.workspaceBytes, b.workspaceBytes);
    EXPECT_EQ(a.tensorMaps, b.tensorMaps);
    EXPECT_EQ(a.config, b.config);
    EXPECT_EQ(a.cubin, b.cubin);
  }
}

/// Decodes `bytes`, expecting failure with `word` in the message.
void expectDecodeError(const std::vector<uint8_t> &bytes,
                       const std::string &word) {
  std::string error;
  EXPECT_FALSE(decodeCudaSection(bytes.data(), bytes.size(), error));
  EXPECT_NE(error.find(word), std::string::npos)
      << "expected '" << word << "' in: " << error;
}

TEST(CudaSectionTest, HostileSectionsAreRejected) {
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(encodeCudaSection(*makeCudaArtifact().cuda, bytes, error));
  // 1. Every truncation.
  for (size_t size = 0; size < bytes.size(); ++size) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + size);
    EXPECT_FALSE(decodeCudaSection(cut.data(), cut.size(), error)) << size;
  }
  // 2. Header fields.
  std::vector<uint8_t> magic = bytes;
  magic[0] = 'X';
  expectDecodeError(magic, "bad magic");
  std::vector<uint8_t> version = bytes;
  version[8] = 1;
  expectDecodeError(version, "unsupported CUDA section version 1");
  std::vector<uint8_t> index = bytes;
  index[23] = 0x7f;
  expectDecodeError(index, "extends beyond the section");
  // 3. Trailing bytes.
  std::vector<uint8_t> trailing = bytes;
  trailing.push_back(0);
  expectDecodeError(trailing, "1 bytes at the end of the section");
}

TEST(CudaSectionTest, IndexSchemaIsChecked) {
  auto encodeIndex = [](const std::string &index) {
    std::vector<uint8_t> bytes = {'K', 'I', 'L', 'N', 'C', 'U', 'D', 'A',
                                  2,   0,   0,   0,   0,   0,   0,   0};
    for (int i = 0; i < 8; ++i)
      bytes.push_back(static_cast<uint8_t>(index.size() >> (8 * i)));
    bytes.insert(bytes.end(), index.begin(), index.end());
    return bytes;
  };
  expectDecodeError(encodeIndex("{"), "not valid JSON");
  expectDecodeError(encodeIndex(R"({"arch": "sm_80"})"),
                    "index: missing field 'kernels'");
  expectDecodeError(encodeIndex(R"({"arch": "sm_80", "kernels": [], "x": 1})"),
                    "index: unknown field 'x'");
  std::string kernel = R"({"symbol": "k", "params": 1, "grid": [1, 1],
      "block": [32, 1, 1], "shared_bytes": 0,
      "workspace_bytes": 0, "tensor_maps": [], "config": "", "cubin_size": 0})";
  expectDecodeError(
      encodeIndex(R"({"arch": "sm_80", "kernels": [)" + kernel + "]}"),
      "kernels[0].grid: expected 3 integers");
  std::string negative = R"({"symbol": "k", "params": -1, "grid": [1, 1, 1],
      "block": [32, 1, 1], "shared_bytes": 0,
      "workspace_bytes": 0, "tensor_maps": [], "config": "", "cubin_size": 0})";
  expectDecodeError(
      encodeIndex(R"({"arch": "sm_80", "kernels": [)" + negative + "]}"),
      "kernels[0].params: expected a non-negative integer");
  std::string huge = R"({"symbol": "k", "params": 1, "grid": [1, 1, 1],
      "block": [32, 1, 1], "shared_bytes": 0,
      "workspace_bytes": 0, "tensor_maps": [], "config": "",
      "cubin_size": 1000})";
  expectDecodeError(
      encodeIndex(R"({"arch": "sm_80", "kernels": [)" + huge + "]}"),
      "the cubin of kernel 'k' extends beyond the section");
  std::string map = R"({"symbol": "k", "params": 1, "grid": [1, 1, 1],
      "block": [32, 1, 1], "shared_bytes": 0, "workspace_bytes": 0,
      "tensor_maps": [{"param": 0, "type": "bf16", "dims": [8],
                       "box": [8, 1]}], "config": "", "cubin_size": 0})";
  expectDecodeError(
      encodeIndex(R"({"arch": "sm_80", "kernels": [)" + map + "]}"),
      "kernels[0].tensor_maps[0].dims: expected 2 integers");
}

/// Validates `program` against the model's manifest, expecting `word`.
void expectInvalid(const CudaProgram &program, const std::string &word) {
  std::string error;
  EXPECT_FALSE(
      validateCudaProgram(program, makeCudaArtifact().manifest, error));
  EXPECT_NE(error.find(word), std::string::npos)
      << "expected '" << word << "' in: " << error;
}

TEST(CudaSectionTest, ValidationNamesTheKernelAtFault) {
  const CudaProgram valid = *makeCudaArtifact().cuda;
  std::string error;
  EXPECT_TRUE(validateCudaProgram(valid, makeCudaArtifact().manifest, error))
      << error;

  CudaProgram arch = valid;
  arch.arch = "sm_75";
  expectInvalid(arch, "unknown CUDA architecture 'sm_75'");
  CudaProgram threads = valid;
  threads.kernels[0].block = {1024, 2, 1};
  expectInvalid(threads, "kernel 'kiln_add': 2048 threads per block");
  CudaProgram grid = valid;
  grid.kernels[1].grid = {1, 70000, 1};
  expectInvalid(grid, "kernel 'kiln_relu': grid exceeds");
  CudaProgram shared = valid;
  shared.kernels[0].sharedBytes = 300000;
  expectInvalid(shared, "300000 bytes of shared memory");
  CudaProgram workspace = valid;
  workspace.kernels[1].workspaceBytes = uint64_t(1) << 40;
  expectInvalid(workspace, "kernel 'kiln_relu': a workspace of");
  CudaProgram mapParam = valid;
  mapParam.kernels[1].tensorMaps = {{2, "bf16", {8, 1}, {8, 1}}};
  expectInvalid(mapParam,
                "kernel 'kiln_relu': tensor map 0 views parameter 2 of 2");
  CudaProgram mapType = valid;
  mapType.kernels[0].tensorMaps = {{0, "f32", {8, 1}, {8, 1}}};
  expectInvalid(mapType, "tensor map 0 has type 'f32'");
  CudaProgram mapRow = valid;
  mapRow.kernels[0].tensorMaps = {{0, "bf16", {12, 1}, {8, 1}}};
  expectInvalid(mapRow, "tensor map 0 has dims 12x1");
  CudaProgram mapBox = valid;
  mapBox.kernels[0].tensorMaps = {{0, "bf16", {64, 64}, {128, 1}}};
  expectInvalid(mapBox, "tensor map 0 has box 128x1");
  CudaProgram elf = valid;
  elf.kernels[1].cubin = {'n', 'o', 'p', 'e'};
  expectInvalid(elf, "kernel 'kiln_relu': the cubin is not an ELF image");
  CudaProgram duplicate = valid;
  duplicate.kernels.push_back(valid.kernels[0]);
  expectInvalid(duplicate, "kernel 'kiln_add' appears more than once");
  CudaProgram missing = valid;
  missing.kernels.pop_back();
  expectInvalid(missing, "steps[2] calls kernel 'kiln_relu', which the CUDA "
                         "section does not hold");
  CudaProgram params = valid;
  params.kernels[0].numParams = 2;
  expectInvalid(params, "steps[0] passes 3 arguments to kernel 'kiln_add', "
                        "which takes 2");
  CudaProgram unused = valid;
  unused.kernels.push_back(valid.kernels[0]);
  unused.kernels.back().symbol = "kiln_unused";
  expectInvalid(unused, "kernel 'kiln_unused' is never called");
}

//===----------------------------------------------------------------------===//
// The artifact
//===----------------------------------------------------------------------===//

TEST(CudaArtifactTest, RoundTripsAsVersion3WithoutCode) {
  std::string path = tempPath("round_trip"), error;
  Artifact original = makeCudaArtifact();
  ASSERT_TRUE(writeArtifact(path, original, error)) << error;
  std::string bytes = readBytes(path);
  EXPECT_EQ(static_cast<uint8_t>(bytes[8]), 3);
  EXPECT_EQ(bytes.substr(16 + 40, 5), std::string("cuda\0", 5));
  std::optional<Artifact> read = readArtifact(path, error);
  ASSERT_TRUE(read) << error;
  EXPECT_TRUE(read->code.empty());
  ASSERT_TRUE(read->cuda);
  EXPECT_EQ(read->cuda->kernels.size(), 2u);
  EXPECT_EQ(read->cuda->kernels[1].cubin, original.cuda->kernels[1].cubin);
}

TEST(CudaArtifactTest, WriterRejectsInvalidKernels) {
  std::string path = tempPath("invalid"), error;
  Artifact withCode = makeCudaArtifact();
  withCode.code = {1, 2, 3};
  EXPECT_FALSE(writeArtifact(path, withCode, error));
  EXPECT_NE(error.find("has no code section"), std::string::npos) << error;
  Artifact unknown = makeCudaArtifact();
  unknown.cuda->kernels[0].numParams = 5;
  EXPECT_FALSE(writeArtifact(path, unknown, error));
  EXPECT_NE(error.find("invalid CUDA kernels: steps[0] passes 3 arguments"),
            std::string::npos)
      << error;
}

TEST(CudaArtifactTest, EveryDamagedByteOfTheCudaSectionIsDetected) {
  std::string path = tempPath("damaged"), error;
  ASSERT_TRUE(writeArtifact(path, makeCudaArtifact(), error)) << error;
  std::string bytes = readBytes(path);
  uint64_t offset = 0, size = 0;
  for (int i = 0; i < 8; ++i) {
    offset |= uint64_t(uint8_t(bytes[16 + 40 + 16 + i])) << (8 * i);
    size |= uint64_t(uint8_t(bytes[16 + 40 + 24 + i])) << (8 * i);
  }
  for (uint64_t at = offset; at < offset + size; ++at) {
    std::string changed = bytes;
    changed[at] ^= 0x01;
    writeBytes(path, changed);
    EXPECT_FALSE(readArtifact(path, error)) << at;
    EXPECT_NE(error.find("section 'cuda' checksum does not match"),
              std::string::npos)
        << error;
  }
}

TEST(CudaArtifactTest, CpuExecutorRefusesACudaArtifact) {
  std::string error;
  EXPECT_FALSE(
      CompiledModel::load(makeCudaArtifact(), "m.kiln", LoadOptions(), error));
  EXPECT_NE(error.find("compiled for CUDA (sm_90a), not for the CPU"),
            std::string::npos)
      << error;
}

//===----------------------------------------------------------------------===//
// Layout, launches and parameters
//===----------------------------------------------------------------------===//

TEST(LaunchPlanTest, OneAllocationWithAlignedDisjointRegions) {
  Artifact artifact = makeCudaArtifact();
  DeviceLayout layout =
      planDeviceLayout(artifact.manifest, artifact.weights, *artifact.cuda);
  // w (24 bytes), x (24), y (24), arena (88), each 256-aligned.
  EXPECT_EQ(layout.weightOffsets.at("w"), 0u);
  EXPECT_EQ(layout.inputOffsets, std::vector<uint64_t>{256});
  EXPECT_EQ(layout.outputOffsets, std::vector<uint64_t>{512});
  EXPECT_EQ(layout.arenaOffset, 768u);
  EXPECT_EQ(layout.totalBytes, 1024u);
}

TEST(LaunchPlanTest, LaunchesFollowTheStepsAndTheMemoryPlan) {
  Artifact artifact = makeCudaArtifact();
  DeviceLayout layout =
      planDeviceLayout(artifact.manifest, artifact.weights, *artifact.cuda);
  std::vector<KernelLaunch> launches =
      buildLaunches(artifact.manifest, *artifact.cuda, layout);
  ASSERT_EQ(launches.size(), 3u);
  EXPECT_EQ(launches[0].kernel, 0u);
  EXPECT_EQ(launches[2].kernel, 1u);
  EXPECT_EQ(launches[2].grid, (std::array<uint32_t, 3>{2, 1, 1}));
  EXPECT_EQ(launches[2].block, (std::array<uint32_t, 3>{128, 1, 1}));
  // x, w, buffer 0 (arena + 0); buffer 0, x, buffer 1 (arena + 64); buffer
  // 1, y.
  EXPECT_EQ(launches[0].argOffsets, (std::vector<uint64_t>{256, 0, 768}));
  EXPECT_EQ(launches[1].argOffsets, (std::vector<uint64_t>{768, 256, 832}));
  EXPECT_EQ(launches[2].argOffsets, (std::vector<uint64_t>{832, 512}));
}

TEST(LaunchPlanTest, WorkspacesFollowTheArenaOnePerKernel) {
  Artifact artifact = makeCudaArtifact();
  artifact.cuda->kernels[0].workspaceBytes = 1000;
  DeviceLayout layout =
      planDeviceLayout(artifact.manifest, artifact.weights, *artifact.cuda);
  // The arena ends at 768 + 88, aligned to 1024; only kiln_add has one.
  EXPECT_EQ(layout.workspaceOffsets, (std::map<size_t, uint64_t>{{0, 1024}}));
  EXPECT_EQ(layout.totalBytes, 2048u);
  std::vector<KernelLaunch> launches =
      buildLaunches(artifact.manifest, *artifact.cuda, layout);
  ASSERT_EQ(launches.size(), 3u);
  // Both steps of kiln_add pass its workspace last; kiln_relu has none.
  EXPECT_EQ(launches[0].argOffsets,
            (std::vector<uint64_t>{256, 0, 768, 1024}));
  EXPECT_EQ(launches[1].argOffsets,
            (std::vector<uint64_t>{768, 256, 832, 1024}));
  EXPECT_EQ(launches[2].argOffsets, (std::vector<uint64_t>{832, 512}));
}

TEST(LaunchPlanTest, ParamsPointAtTheDevicePointers) {
  KernelLaunch launch;
  launch.argOffsets = {0, 256, 832};
  launch.tensorMaps.resize(2);
  LaunchParams params(launch, /*base=*/0x7000000000ull);
  void **pointers = params.get();
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(*static_cast<CUdeviceptr *>(pointers[i]),
              0x7000000000ull + launch.argOffsets[i]);
  EXPECT_EQ(params.getValues().size(), 3u);
  // The tensor maps follow by value: pointers to the launch's own.
  EXPECT_EQ(pointers[3], &launch.tensorMaps[0]);
  EXPECT_EQ(pointers[4], &launch.tensorMaps[1]);
}

//===----------------------------------------------------------------------===//
// The model on a fake driver
//===----------------------------------------------------------------------===//

class CudaModelTest : public ::testing::Test {
protected:
  void SetUp() override {
    gpu = &fake;
    // The model's kernels on f32[6]: c = a + b, and y = max(x, 0).
    fake.kernels["kiln_add"] = {3, [](const std::vector<CUdeviceptr> &p) {
                                  for (int i = 0; i < 6; ++i)
                                    asFloats(p[2])[i] =
                                        asFloats(p[0])[i] + asFloats(p[1])[i];
                                }};
    fake.kernels["kiln_relu"] = {2, [](const std::vector<CUdeviceptr> &p) {
                                   for (int i = 0; i < 6; ++i)
                                     asFloats(p[1])[i] =
                                         std::max(0.0f, asFloats(p[0])[i]);
                                 }};
  }
  void TearDown() override { gpu = nullptr; }

  std::optional<CudaDevice> openDevice(std::string &error) {
    return openCudaDevice(makeFakeApi(), 0, error);
  }

  /// Loads the model, binds `x` and runs it, expecting success.
  std::optional<CudaModel> loadAndRun(const CudaLoadOptions &options,
                                      const std::vector<float> &x) {
    std::string error;
    std::optional<CudaDevice> device = openDevice(error);
    EXPECT_TRUE(device) << error;
    if (!device)
      return std::nullopt;
    std::optional<CudaModel> model =
        CudaModel::load(*device, makeCudaArtifact(), "m.kiln", options, error);
    EXPECT_TRUE(model) << error;
    if (!model)
      return std::nullopt;
    bindAndRun(*model, x);
    return model;
  }

  void bindAndRun(CudaModel &model, const std::vector<float> &x) {
    HostTensor input(ElementType::F32, {2, 3});
    for (int i = 0; i < 6; ++i)
      input.setFloat(i, x[i]);
    std::string error;
    ASSERT_TRUE(model.bindInput(0, input, error)) << error;
    ASSERT_TRUE(model.run(error)) << error;
    std::vector<float> expected =
        expectedOutput(x, makeCudaArtifact().weights.at("w"));
    for (int i = 0; i < 6; ++i)
      EXPECT_FLOAT_EQ(model.output(0).getFloat(i), expected[i]) << i;
  }

  FakeGpu fake;
};

TEST_F(CudaModelTest, DeviceQueryReadsTheDriver) {
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  EXPECT_EQ(device->info.name, "Fake GPU");
  EXPECT_EQ(device->info.getArch(), "sm_90");
  EXPECT_EQ(device->info.multiprocessors, 132);
  EXPECT_EQ(device->info.memoryBytes, uint64_t(80) << 30);
  EXPECT_TRUE(fake.contextRetained);
  device.reset();
  EXPECT_FALSE(fake.contextRetained);
}

TEST_F(CudaModelTest, CapturesOnceAndReplaysTheGraph) {
  std::optional<CudaModel> model =
      loadAndRun(CudaLoadOptions(), {1, -2, 3, -4, 5, -6});
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->usesGraph());
  bindAndRun(*model, {-1, 2, -3, 4, -5, 6});
  // Load: one allocation, the weight up, capture of the three launches
  // (none runs), instantiation. Each run: the input in, one graph launch,
  // the output out, one wait.
  std::vector<std::string> expected = {
      "alloc",       "htod",         "sync", "begin-capture",
      "end-capture", "instantiate",  "htod", "graph-launch",
      "dtoh",        "sync",         "htod", "graph-launch",
      "dtoh",        "sync"};
  EXPECT_EQ(fake.calls, expected);
  ASSERT_EQ(fake.captured.size(), 3u);
  EXPECT_EQ(fake.captured[0].symbol, "kiln_add");
  EXPECT_EQ(fake.captured[2].symbol, "kiln_relu");
  // Every module loaded from the artifact's cubins.
  EXPECT_EQ(fake.modules, (std::vector<std::string>{"add", "rel"}));
}

TEST_F(CudaModelTest, KernelsOverTheDefaultSharedMemoryOptIn) {
  Artifact artifact = makeCudaArtifact();
  artifact.cuda->kernels[0].sharedBytes = 96 * 1024;
  artifact.cuda->kernels[1].sharedBytes = kDefaultDynamicSharedBytes;
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  std::optional<CudaModel> model = CudaModel::load(
      *device, std::move(artifact), "m.kiln", CudaLoadOptions(), error);
  ASSERT_TRUE(model) << error;
  EXPECT_EQ(fake.sharedOptIn, (std::map<std::string, int>{{"kiln_add", 98304}}));
}

TEST_F(CudaModelTest, StreamLaunchesWithoutAGraph) {
  CudaLoadOptions options;
  options.useGraph = false;
  std::optional<CudaModel> model = loadAndRun(options, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(model);
  EXPECT_FALSE(model->usesGraph());
  std::vector<std::string> expected = {
      "alloc",           "htod",           "sync",
      "htod",            "launch kiln_add", "launch kiln_add",
      "launch kiln_relu", "dtoh",           "sync"};
  EXPECT_EQ(fake.calls, expected);
}

TEST_F(CudaModelTest, TensorMapsViewEachStepsTensorAndPassByValue) {
  Artifact artifact = makeCudaArtifact();
  // kiln_add views its second parameter: w in step 0, x in step 1.
  artifact.cuda->kernels[0].tensorMaps = {{1, "bf16", {8, 1}, {8, 1}}};
  fake.tensorMapParams["kiln_add"] = 1;
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  std::optional<CudaModel> model =
      CudaModel::load(*device, std::move(artifact), "m.kiln", {}, error);
  ASSERT_TRUE(model) << error;
  bindAndRun(*model, {1, 2, 3, 4, 5, 6});
  CUdeviceptr base =
      reinterpret_cast<uintptr_t>(fake.allocations.front().data());
  ASSERT_EQ(fake.encodes.size(), 2u);
  for (const FakeTensorMapEncode &call : fake.encodes) {
    EXPECT_EQ(call.dataType, 9); // CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
    EXPECT_EQ(call.rank, 2u);
    EXPECT_EQ(call.dims, (std::vector<uint64_t>{8, 1}));
    EXPECT_EQ(call.strides, (std::vector<uint64_t>{16}));
    EXPECT_EQ(call.box, (std::vector<unsigned>{8, 1}));
    EXPECT_EQ(call.elementStrides, (std::vector<unsigned>{1, 1}));
    EXPECT_EQ(call.interleave, 0);
    EXPECT_EQ(call.swizzle, 3);     // CU_TENSOR_MAP_SWIZZLE_128B
    EXPECT_EQ(call.l2Promotion, 2); // CU_TENSOR_MAP_L2_PROMOTION_L2_128B
    EXPECT_EQ(call.oobFill, 0);     // zeros out of bounds
  }
  // w at offset 0, x at 256 (LaunchPlanTest's layout).
  EXPECT_EQ(fake.encodes[0].address, base);
  EXPECT_EQ(fake.encodes[1].address, base + 256);
  // The captured launches carry each step's own map; relu has none.
  ASSERT_EQ(fake.captured.size(), 3u);
  EXPECT_EQ(fake.captured[0].tensorMaps, std::vector<uint64_t>{base});
  EXPECT_EQ(fake.captured[1].tensorMaps, std::vector<uint64_t>{base + 256});
  EXPECT_TRUE(fake.captured[2].tensorMaps.empty());
}

TEST_F(CudaModelTest, TensorMapEncodeFailureNamesTheKernel) {
  Artifact artifact = makeCudaArtifact();
  artifact.cuda->kernels[1].tensorMaps = {{0, "f16", {8, 1}, {8, 1}}};
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  device->api.tensorMapEncodeTiled =
      [](CudaTensorMap *, int, unsigned, void *, const uint64_t *,
         const uint64_t *, const unsigned *, const unsigned *, int, int, int,
         int) { return CUresult(1); };
  EXPECT_FALSE(
      CudaModel::load(*device, std::move(artifact), "m.kiln", {}, error));
  EXPECT_NE(error.find("encoding tensor map 0 of kernel 'kiln_relu' (step 2): "
                       "cuTensorMapEncodeTiled failed"),
            std::string::npos)
      << error;
}

TEST_F(CudaModelTest, ReleasesEverythingItCreated) {
  {
    std::optional<CudaModel> model =
        loadAndRun(CudaLoadOptions(), {1, 2, 3, 4, 5, 6});
    ASSERT_TRUE(model);
    EXPECT_EQ(fake.liveAllocations, 1);
    EXPECT_EQ(fake.liveModules, 2);
    EXPECT_EQ(fake.liveGraphs, 2);
  }
  EXPECT_EQ(fake.liveAllocations, 0);
  EXPECT_EQ(fake.liveModules, 0);
  EXPECT_EQ(fake.liveGraphs, 0);
  EXPECT_FALSE(fake.contextRetained);
}

TEST_F(CudaModelTest, NoDeviceIsReportedPlainly) {
  std::string error;
  fake.initResult = 100;
  EXPECT_FALSE(openDevice(error));
  EXPECT_EQ(error, "cuInit failed: CUDA_ERROR_NO_DEVICE (100)");
  fake.initResult = kCudaSuccess;
  fake.deviceCount = 0;
  EXPECT_FALSE(openDevice(error));
  EXPECT_EQ(error, "the driver reports no devices");
}

TEST_F(CudaModelTest, MissingDriverLibraryIsReportedPlainly) {
  std::string error;
  EXPECT_FALSE(loadCudaDriver("libkiln-no-such-cuda.so.1", error));
  EXPECT_EQ(error.rfind("cannot load libkiln-no-such-cuda.so.1: ", 0), 0u)
      << error;
}

TEST_F(CudaModelTest, ArchitectureMustMatchTheDevice) {
  fake.major = 8;
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  EXPECT_FALSE(CudaModel::load(*device, makeCudaArtifact(), "m.kiln",
                               CudaLoadOptions(), error));
  EXPECT_NE(error.find("compiled for sm_90a, which device 0 (Fake GPU, "
                       "sm_80) cannot run"),
            std::string::npos)
      << error;
  EXPECT_TRUE(canRunArch(device->info, "sm_80"));
  device->info.minor = 9;
  EXPECT_TRUE(canRunArch(device->info, "sm_80"));
  EXPECT_FALSE(canRunArch(device->info, "sm_90a"));
}

TEST_F(CudaModelTest, LaunchFailureNamesTheKernelAndStep) {
  fake.failingKernel = "kiln_relu";
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  CudaLoadOptions options;
  options.useGraph = false;
  std::optional<CudaModel> model =
      CudaModel::load(*device, makeCudaArtifact(), "m.kiln", options, error);
  ASSERT_TRUE(model) << error;
  HostTensor input(ElementType::F32, {2, 3});
  ASSERT_TRUE(model->bindInput(0, input, error)) << error;
  EXPECT_FALSE(model->run(error));
  EXPECT_EQ(error, "running model 'm.kiln' failed: launching kernel "
                   "'kiln_relu' (step 2): cuLaunchKernel failed: "
                   "CUDA_ERROR_LAUNCH_FAILED (719)");
  // During capture the same failure fails the load.
  EXPECT_FALSE(CudaModel::load(*device, makeCudaArtifact(), "m.kiln",
                               CudaLoadOptions(), error));
  EXPECT_NE(error.find("capturing the CUDA graph: launching kernel "
                       "'kiln_relu'"),
            std::string::npos)
      << error;
  EXPECT_FALSE(fake.capturing);
}

TEST_F(CudaModelTest, UnboundInputsAndWrongTensorsFail) {
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  std::optional<CudaModel> model = CudaModel::load(
      *device, makeCudaArtifact(), "m.kiln", CudaLoadOptions(), error);
  ASSERT_TRUE(model) << error;
  EXPECT_FALSE(model->run(error));
  EXPECT_EQ(error, "cannot run model 'm.kiln': input 'x' is not bound");
  EXPECT_FALSE(model->bindInput(0, HostTensor(ElementType::BF16, {2, 3}),
                                error));
  EXPECT_NE(error.find("expects 2x3xf32, got 2x3xbf16"), std::string::npos)
      << error;
  EXPECT_FALSE(model->bindInput(1, HostTensor(ElementType::F32, {2, 3}),
                                error));
  EXPECT_NE(error.find("has no input 1"), std::string::npos) << error;
}

TEST_F(CudaModelTest, LaunchIssuesTheKernelsWithoutCopies) {
  CudaLoadOptions options;
  options.useGraph = false;
  std::optional<CudaModel> model = loadAndRun(options, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(model);
  fake.calls.clear();
  std::string error;
  ASSERT_TRUE(model->launch(error)) << error;
  EXPECT_EQ(fake.calls,
            (std::vector<std::string>{"launch kiln_add", "launch kiln_add",
                                      "launch kiln_relu"}));
}

TEST_F(CudaModelTest, EventTimerLapsTheDeviceTimeOfTheStream) {
  fake.kernels["kiln_add"].seconds = 2e-3;
  fake.kernels["kiln_relu"].seconds = 1e-3;
  std::optional<CudaModel> model =
      loadAndRun(CudaLoadOptions(), {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(model);
  std::string error;
  std::optional<CudaEventTimer> timer =
      CudaEventTimer::create(makeFakeApi(), model->getStream(), error);
  ASSERT_TRUE(timer) << error;
  // One run is two adds and a relu; each lap covers only what came after
  // the previous one.
  double seconds = -1;
  ASSERT_TRUE(model->launch(error)) << error;
  ASSERT_TRUE(timer->lap(seconds, error)) << error;
  EXPECT_NEAR(seconds, 5e-3, 1e-7);
  ASSERT_TRUE(timer->lap(seconds, error)) << error;
  EXPECT_EQ(seconds, 0);
  ASSERT_TRUE(model->launch(error) && model->launch(error)) << error;
  ASSERT_TRUE(timer->lap(seconds, error)) << error;
  EXPECT_NEAR(seconds, 10e-3, 1e-7);
  EXPECT_EQ(fake.liveEvents, 2);
  timer.reset();
  EXPECT_EQ(fake.liveEvents, 0);
}

TEST_F(CudaModelTest, DeviceOutOfMemoryIsRecognized) {
  fake.allocResult = kCudaErrorOutOfMemory;
  std::string error;
  ASSERT_FALSE(CudaModel::load(*openDevice(error), makeCudaArtifact(),
                               "m.kiln", CudaLoadOptions(), error));
  EXPECT_EQ(error, "cannot load model 'm.kiln' on the GPU: cuMemAlloc of 1024 "
                   "bytes failed: CUDA_ERROR_OUT_OF_MEMORY (2)");
  EXPECT_TRUE(reportsCudaOutOfMemory(error));
  EXPECT_FALSE(reportsCudaOutOfMemory(
      "cuLaunchKernel failed: CUDA_ERROR_LAUNCH_FAILED (719)"));
  EXPECT_FALSE(reportsCudaOutOfMemory("(2"));
}

TEST_F(CudaModelTest, MissingKernelInTheCubinFailsTheLoad) {
  fake.kernels.erase("kiln_relu");
  std::string error;
  std::optional<CudaDevice> device = openDevice(error);
  ASSERT_TRUE(device) << error;
  EXPECT_FALSE(CudaModel::load(*device, makeCudaArtifact(), "m.kiln",
                               CudaLoadOptions(), error));
  EXPECT_NE(error.find("cannot load model 'm.kiln' on the GPU: "
                       "cuModuleGetFunction('kiln_relu') failed"),
            std::string::npos)
      << error;
  EXPECT_EQ(fake.liveModules, 0);
  EXPECT_EQ(fake.liveAllocations, 0);
}

} // namespace
