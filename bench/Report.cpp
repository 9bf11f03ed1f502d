//===- Report.cpp - The results of one `kiln bench` run ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "bench/Report.h"

#include "runtime/FileBytes.h"
#include "runtime/MachinePeaks.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>

namespace kiln::bench {

using nlohmann::json;
using nlohmann::ordered_json;

const BenchResult *BenchReport::find(const std::string &name) const {
  for (const BenchResult &result : benchmarks)
    if (result.name == name)
      return &result;
  return nullptr;
}

Rates getRates(const BenchResult &result, const MachineInfo &machine) {
  Rates rates;
  double median = result.getSummary().median;
  if (median <= 0)
    return rates;
  rates.gflops = static_cast<double>(result.flops) / median * 1e-9;
  rates.gbytesPerSecond = static_cast<double>(result.bytes) / median * 1e-9;
  MachinePeaks peaks;
  peaks.flopsPerSecond = machine.peakFlopsPerSecond;
  peaks.bytesPerSecond = machine.streamBytesPerSecond;
  rates.rooflineFraction =
      peaks.getMinSeconds(result.flops, result.bytes) / median;
  return rates;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

std::string writeReportJson(const BenchReport &report) {
  // Keys in the order of bench/SCHEMA.md, for the people reading the file.
  ordered_json root;
  root["schema"] = "kiln-bench";
  root["schema_version"] = kReportSchemaVersion;
  root["compiler_version"] = report.compilerVersion;
  root["date"] = report.date;
  root["suite"] = report.suite;
  root["counts"] = report.counts;
  const MachineInfo &machine = report.machine;
  root["machine"] = {{"fingerprint", machine.fingerprint},
                     {"cpu", machine.cpu},
                     {"threads", machine.threads},
                     {"peak_gflops", machine.peakFlopsPerSecond * 1e-9},
                     {"stream_gbps", machine.streamBytesPerSecond * 1e-9}};
  root["benchmarks"] = ordered_json::array();
  for (const BenchResult &result : report.benchmarks) {
    autotune::Summary summary = result.getSummary();
    Rates rates = getRates(result, machine);
    ordered_json entry = {{"name", result.name},
                  {"suite", result.suite},
                  {"kernel", result.kernel},
                  {"shape", result.shape},
                  {"implementation", result.implementation},
                  {"flops", result.flops},
                  {"bytes", result.bytes},
                  {"samples", result.samples},
                  {"calls_per_sample", result.callsPerSample},
                  {"median", summary.median},
                  {"q1", summary.q1},
                  {"q3", summary.q3},
                  {"iqr", summary.relativeSpread},
                  {"stable", result.stable},
                  {"gflops", rates.gflops},
                  {"gbps", rates.gbytesPerSecond},
                  {"roofline_fraction", rates.rooflineFraction}};
    entry["instructions"] =
        result.instructions ? ordered_json(*result.instructions)
                           : ordered_json(nullptr);
    if (result.model) {
      const BenchResult::ModelFacts &facts = *result.model;
      entry["model"] = ordered_json{
          {"kernel_calls", facts.kernelCalls},
          {"kernels_per_block", facts.kernelsPerBlock
                                    ? ordered_json(*facts.kernelsPerBlock)
                                    : ordered_json(nullptr)},
          {"arena_bytes", facts.arenaBytes},
          {"unplanned_bytes", facts.unplannedBytes}};
    }
    root["benchmarks"].push_back(std::move(entry));
  }
  return root.dump(2) + "\n";
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

namespace {
/// Reads required fields of one JSON object, remembering the first problem
/// as "<source>: <where>: ..." so that a parse reports only that.
class FieldReader {
public:
  FieldReader(const json &object, std::string where, std::string &error)
      : object(object), where(std::move(where)), error(error) {}

  /// The field `key`, or null (and an error) when it is missing or is not
  /// of the type `isType` accepts.
  const json *get(const char *key, bool (json::*isType)() const,
                  const char *typeName) {
    if (!error.empty())
      return nullptr;
    auto found = object.find(key);
    if (found == object.end()) {
      error = where + ": missing field '" + key + "'";
      return nullptr;
    }
    if (!((*found).*isType)()) {
      error = where + ": field '" + key + "' is not " + typeName;
      return nullptr;
    }
    return &*found;
  }
  void read(const char *key, std::string &value) {
    if (const json *field = get(key, &json::is_string, "a string"))
      value = field->get<std::string>();
  }
  void read(const char *key, double &value) {
    if (const json *field = get(key, &json::is_number, "a number"))
      value = field->get<double>();
  }
  void read(const char *key, int64_t &value) {
    if (const json *field =
            get(key, &json::is_number_integer, "an integer"))
      value = field->get<int64_t>();
  }
  void read(const char *key, int &value) {
    int64_t wide = 0;
    read(key, wide);
    value = static_cast<int>(wide);
  }
  void read(const char *key, bool &value) {
    if (const json *field = get(key, &json::is_boolean, "a boolean"))
      value = field->get<bool>();
  }

private:
  const json &object;
  std::string where;
  std::string &error;
};
} // namespace

/// Reads benchmark `index` from `entry` into `result`; errors as FieldReader.
static void readBenchmark(const json &entry, size_t index,
                          const std::string &source, BenchResult &result,
                          std::string &error) {
  std::string where = source + ": benchmarks[" + std::to_string(index) + "]";
  if (!entry.is_object()) {
    error = where + ": not an object";
    return;
  }
  FieldReader fields(entry, where, error);
  fields.read("name", result.name);
  fields.read("suite", result.suite);
  fields.read("kernel", result.kernel);
  fields.read("shape", result.shape);
  fields.read("implementation", result.implementation);
  fields.read("flops", result.flops);
  fields.read("bytes", result.bytes);
  fields.read("calls_per_sample", result.callsPerSample);
  fields.read("stable", result.stable);
  if (const json *samples = fields.get("samples", &json::is_array, "an array"))
    for (const json &sample : *samples) {
      if (!sample.is_number() || sample.get<double>() < 0) {
        error = where + ": field 'samples' holds a value that is not a "
                        "non-negative number";
        return;
      }
      result.samples.push_back(sample.get<double>());
    }
  auto instructions = entry.find("instructions");
  if (error.empty() && instructions != entry.end() && !instructions->is_null()) {
    if (!instructions->is_number_integer()) {
      error = where + ": field 'instructions' is not an integer or null";
      return;
    }
    result.instructions = instructions->get<int64_t>();
  }
  auto model = entry.find("model");
  if (error.empty() && model != entry.end() && !model->is_null()) {
    std::string modelWhere = where + ": field 'model'";
    if (!model->is_object()) {
      error = modelWhere + " is not an object or null";
      return;
    }
    BenchResult::ModelFacts facts;
    FieldReader modelFields(*model, modelWhere, error);
    modelFields.read("kernel_calls", facts.kernelCalls);
    modelFields.read("arena_bytes", facts.arenaBytes);
    modelFields.read("unplanned_bytes", facts.unplannedBytes);
    auto perBlock = model->find("kernels_per_block");
    if (error.empty() && perBlock != model->end() && !perBlock->is_null()) {
      if (!perBlock->is_number()) {
        error = modelWhere + ": field 'kernels_per_block' is not a number or "
                             "null";
        return;
      }
      facts.kernelsPerBlock = perBlock->get<double>();
    }
    if (error.empty())
      result.model = facts;
  }
}

std::optional<BenchReport> parseReportJson(const std::string &text,
                                           const std::string &source,
                                           std::string &error) {
  error.clear();
  json root = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    error = source + ": not valid JSON";
    return std::nullopt;
  }
  auto schema = root.is_object() ? root.find("schema") : root.end();
  if (schema == root.end() || !schema->is_string() ||
      schema->get<std::string>() != "kiln-bench") {
    error = source + ": not a kiln bench report (expected \"schema\": "
                     "\"kiln-bench\")";
    return std::nullopt;
  }
  BenchReport report;
  FieldReader fields(root, source, error);
  int64_t version = 0;
  fields.read("schema_version", version);
  if (error.empty() && version != kReportSchemaVersion)
    error = source + ": schema version " + std::to_string(version) +
            ", but this kiln reads version " +
            std::to_string(kReportSchemaVersion);
  fields.read("compiler_version", report.compilerVersion);
  fields.read("date", report.date);
  fields.read("suite", report.suite);
  fields.read("counts", report.counts);
  if (const json *machine =
          fields.get("machine", &json::is_object, "an object")) {
    FieldReader machineFields(*machine, source + ": machine", error);
    machineFields.read("fingerprint", report.machine.fingerprint);
    machineFields.read("cpu", report.machine.cpu);
    machineFields.read("threads", report.machine.threads);
    machineFields.read("peak_gflops", report.machine.peakFlopsPerSecond);
    machineFields.read("stream_gbps", report.machine.streamBytesPerSecond);
    report.machine.peakFlopsPerSecond *= 1e9;
    report.machine.streamBytesPerSecond *= 1e9;
  }
  if (const json *benchmarks =
          fields.get("benchmarks", &json::is_array, "an array"))
    for (size_t i = 0; i < benchmarks->size() && error.empty(); ++i) {
      BenchResult result;
      readBenchmark((*benchmarks)[i], i, source, result, error);
      if (error.empty() && report.find(result.name))
        error = source + ": benchmark '" + result.name + "' appears twice";
      report.benchmarks.push_back(std::move(result));
    }
  if (!error.empty())
    return std::nullopt;
  return report;
}

std::optional<BenchReport> readReportFile(const std::string &path,
                                          std::string &error) {
  std::vector<uint8_t> bytes;
  std::string message;
  if (!readFileBytes(path, bytes, message)) {
    error = path + ": " + message;
    return std::nullopt;
  }
  return parseReportJson(std::string(bytes.begin(), bytes.end()), path, error);
}

//===----------------------------------------------------------------------===//
// Text
//===----------------------------------------------------------------------===//

std::string formatSeconds(double seconds) {
  char text[32];
  if (seconds < 1e-3)
    std::snprintf(text, sizeof(text), "%.2f us", seconds * 1e6);
  else if (seconds < 1)
    std::snprintf(text, sizeof(text), "%.3f ms", seconds * 1e3);
  else
    std::snprintf(text, sizeof(text), "%.3f s", seconds);
  return text;
}

std::string renderReportText(const BenchReport &report) {
  const MachineInfo &machine = report.machine;
  char line[256];
  std::string text;
  std::snprintf(line, sizeof(line),
                "machine: %s (%s), %d threads: FMA peak %.1f GFLOP/s, STREAM "
                "%.1f GB/s\ncompiler %s, %s, counts: %s\n\n",
                machine.fingerprint.c_str(), machine.cpu.c_str(),
                machine.threads, machine.peakFlopsPerSecond * 1e-9,
                machine.streamBytesPerSecond * 1e-9,
                report.compilerVersion.c_str(), report.date.c_str(),
                report.counts.c_str());
  text += line;
  std::snprintf(line, sizeof(line), "%-40s %12s %7s %10s %9s %9s %14s\n",
                "benchmark", "median", "iqr", "GFLOP/s", "GB/s", "roofline",
                "instructions");
  text += line;
  for (const BenchResult &result : report.benchmarks) {
    autotune::Summary summary = result.getSummary();
    Rates rates = getRates(result, machine);
    std::string instructions =
        result.instructions ? std::to_string(*result.instructions) : "-";
    std::snprintf(line, sizeof(line),
                  "%-40s %12s %6.1f%% %10.2f %9.2f %8.1f%% %14s%s\n",
                  result.name.c_str(), formatSeconds(summary.median).c_str(),
                  summary.relativeSpread * 100, rates.gflops,
                  rates.gbytesPerSecond, rates.rooflineFraction * 100,
                  instructions.c_str(), result.stable ? "" : "  (noisy)");
    text += line;
  }
  return text;
}

std::string getCurrentDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

} // namespace kiln::bench
