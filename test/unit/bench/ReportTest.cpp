//===- ReportTest.cpp - The `kiln bench` JSON schema ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// A report survives writing and reading unchanged, and a file of another
// schema version, malformed JSON or a missing field is refused with a
// message naming what is wrong. The samples come from the timing loop under
// a fake clock, so they are exact.
//
//===----------------------------------------------------------------------===//

#include "bench/Report.h"

#include "autotune/Measure.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace kiln::bench;
using namespace kiln::autotune;

namespace {

class FakeClock : public Clock {
public:
  double now() override { return time; }
  double time = 0;
};

BenchReport makeReport() {
  FakeClock clock;
  int call = 0;
  MeasureOptions options;
  options.minSampleSeconds = 0;
  options.maxSamples = 9;
  options.maxSeconds = 100;
  Measurement measured = measure(
      [&] { clock.time += (call++ % 3 == 0) ? 2e-3 : 1e-3; }, options, clock);

  BenchReport report;
  report.compilerVersion = "0.1.0";
  report.date = "2025-01-31T12:00:00Z";
  report.suite = "kernels";
  report.counts = "perf";
  report.machine = {"x86_64/test/avx512", "Test CPU", 2, 400e9, 25e9};
  BenchResult result;
  result.name = "matmul/64x64x64/kiln";
  result.suite = "kernels";
  result.kernel = "matmul";
  result.shape = "64x64x64";
  result.flops = 2 * 64 * 64 * 64;
  result.bytes = 3 * 64 * 64 * 4;
  result.samples = measured.samples;
  result.callsPerSample = measured.callsPerSample;
  result.stable = measured.stable;
  result.instructions = 123456;
  report.benchmarks.push_back(result);
  result.name = "matmul/64x64x64/openblas";
  result.implementation = "openblas";
  result.instructions.reset();
  report.benchmarks.push_back(result);
  return report;
}

TEST(ReportTest, RoundTrip) {
  BenchReport report = makeReport();
  std::string error;
  std::optional<BenchReport> read =
      parseReportJson(writeReportJson(report), "r.json", error);
  ASSERT_TRUE(read) << error;
  EXPECT_EQ(read->compilerVersion, "0.1.0");
  EXPECT_EQ(read->date, report.date);
  EXPECT_EQ(read->suite, "kernels");
  EXPECT_EQ(read->counts, "perf");
  EXPECT_EQ(read->machine.fingerprint, report.machine.fingerprint);
  EXPECT_EQ(read->machine.cpu, "Test CPU");
  EXPECT_EQ(read->machine.threads, 2);
  EXPECT_DOUBLE_EQ(read->machine.peakFlopsPerSecond, 400e9);
  EXPECT_DOUBLE_EQ(read->machine.streamBytesPerSecond, 25e9);
  ASSERT_EQ(read->benchmarks.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const BenchResult &a = report.benchmarks[i], &b = read->benchmarks[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.kernel, b.kernel);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.implementation, b.implementation);
    EXPECT_EQ(a.flops, b.flops);
    EXPECT_EQ(a.bytes, b.bytes);
    EXPECT_EQ(a.samples, b.samples);
    EXPECT_EQ(a.callsPerSample, b.callsPerSample);
    EXPECT_EQ(a.stable, b.stable);
    EXPECT_EQ(a.instructions, b.instructions);
  }
  // Written and re-written, the text is the same.
  EXPECT_EQ(writeReportJson(*read), writeReportJson(report));
}

TEST(ReportTest, ModelFactsRoundTrip) {
  BenchReport report = makeReport();
  BenchResult::ModelFacts facts;
  facts.kernelCalls = 22;
  facts.kernelsPerBlock = 4.5;
  facts.arenaBytes = 32768;
  facts.unplannedBytes = 163840;
  report.benchmarks[0].model = facts;
  BenchResult::ModelFacts noBlocks = facts;
  noBlocks.kernelsPerBlock.reset();
  report.benchmarks[1].model = noBlocks;
  std::string error;
  std::optional<BenchReport> read =
      parseReportJson(writeReportJson(report), "r.json", error);
  ASSERT_TRUE(read) << error;
  ASSERT_TRUE(read->benchmarks[0].model);
  EXPECT_EQ(read->benchmarks[0].model->kernelCalls, 22);
  EXPECT_EQ(read->benchmarks[0].model->kernelsPerBlock, 4.5);
  EXPECT_EQ(read->benchmarks[0].model->arenaBytes, 32768);
  EXPECT_EQ(read->benchmarks[0].model->unplannedBytes, 163840);
  ASSERT_TRUE(read->benchmarks[1].model);
  EXPECT_FALSE(read->benchmarks[1].model->kernelsPerBlock);
  EXPECT_EQ(writeReportJson(*read), writeReportJson(report));

  nlohmann::json root = nlohmann::json::parse(writeReportJson(report));
  root["benchmarks"][0]["model"]["arena_bytes"] = "many";
  EXPECT_FALSE(parseReportJson(root.dump(), "r.json", error));
  EXPECT_NE(error.find("arena_bytes"), std::string::npos) << error;
}

TEST(ReportTest, DerivedFiguresAreWritten) {
  BenchReport report = makeReport();
  nlohmann::json root = nlohmann::json::parse(writeReportJson(report));
  EXPECT_EQ(root["schema_version"], kReportSchemaVersion);
  const nlohmann::json &first = root["benchmarks"][0];
  // 9 samples, every third 2 ms: median and quartiles 1 ms, one 2 ms above.
  EXPECT_DOUBLE_EQ(first["median"].get<double>(), 1e-3);
  EXPECT_DOUBLE_EQ(first["gflops"].get<double>(), 2.0 * 64 * 64 * 64 / 1e-3 * 1e-9);
  EXPECT_DOUBLE_EQ(first["gbps"].get<double>(), 3.0 * 64 * 64 * 4 / 1e-3 * 1e-9);
  // The roofline's least time is memory's: 49152 bytes at 25 GB/s take
  // longer than 524288 FLOP at 400 GFLOP/s.
  EXPECT_NEAR(first["roofline_fraction"].get<double>(), 49152 / 25e9 / 1e-3,
              1e-12);
  EXPECT_EQ(first["instructions"], 123456);
  EXPECT_TRUE(root["benchmarks"][1]["instructions"].is_null());
}

TEST(ReportTest, BadFilesAreRefused) {
  std::string error;
  EXPECT_FALSE(parseReportJson("{", "a.json", error));
  EXPECT_EQ(error, "a.json: not valid JSON");

  EXPECT_FALSE(parseReportJson("[1, 2]", "a.json", error));
  EXPECT_NE(error.find("not a kiln bench report"), std::string::npos);

  nlohmann::json root = nlohmann::json::parse(writeReportJson(makeReport()));
  root["schema_version"] = kReportSchemaVersion + 1;
  EXPECT_FALSE(parseReportJson(root.dump(), "a.json", error));
  EXPECT_EQ(error, "a.json: schema version 2, but this kiln reads version 1");

  root = nlohmann::json::parse(writeReportJson(makeReport()));
  root["benchmarks"][1].erase("samples");
  EXPECT_FALSE(parseReportJson(root.dump(), "a.json", error));
  EXPECT_EQ(error, "a.json: benchmarks[1]: missing field 'samples'");

  root = nlohmann::json::parse(writeReportJson(makeReport()));
  root["machine"]["threads"] = "two";
  EXPECT_FALSE(parseReportJson(root.dump(), "a.json", error));
  EXPECT_EQ(error, "a.json: machine: field 'threads' is not an integer");

  root = nlohmann::json::parse(writeReportJson(makeReport()));
  root["benchmarks"][1]["name"] = root["benchmarks"][0]["name"];
  EXPECT_FALSE(parseReportJson(root.dump(), "a.json", error));
  EXPECT_NE(error.find("appears twice"), std::string::npos);

  EXPECT_FALSE(readReportFile("/nonexistent/kiln-bench.json", error));
  EXPECT_NE(error.find("/nonexistent/kiln-bench.json: "), std::string::npos);
}

} // namespace
