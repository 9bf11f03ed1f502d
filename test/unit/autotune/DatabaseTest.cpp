//===- DatabaseTest.cpp - The tuning database ------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Stores and finds, keeps the faster of two tunings, survives a writer
// killed mid-write, two concurrent writers and a corrupted or truncated
// file, and round-trips through JSON.
//
//===----------------------------------------------------------------------===//

#include "autotune/Database.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace kiln::autotune;
namespace fs = std::filesystem;

namespace {

class DatabaseTest : public ::testing::Test {
protected:
  void SetUp() override {
    folder = fs::temp_directory_path() /
             ("kiln-db-test-" + std::to_string(getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(folder);
    path = (folder / "cache" / "tuning.db").string();
  }
  void TearDown() override { fs::remove_all(folder); }

  std::unique_ptr<TuningDatabase> open() {
    std::string error;
    std::unique_ptr<TuningDatabase> db =
        TuningDatabase::open(path, warnings, error);
    EXPECT_TRUE(db) << error;
    return db;
  }

  static TuningRecord record(const std::string &signature, double median) {
    TuningRecord r;
    r.key = {signature, "x86_64/znver4/avx512", "0.1.0", /*threads=*/2};
    r.kernel = "kernel_" + signature;
    r.config = "#kiln.cpu_config<tile_sizes = [64, 128], vector_width = 16>";
    r.medianSeconds = median;
    r.iqrSeconds = median / 100;
    r.samples = 9;
    r.defaultSeconds = 2 * median;
    r.trials = 17;
    return r;
  }

  /// The files in the database's folder whose names contain `part`.
  int countFiles(const std::string &part) {
    int count = 0;
    for (const auto &entry : fs::directory_iterator(folder / "cache"))
      count += entry.path().filename().string().find(part) != std::string::npos;
    return count;
  }

  fs::path folder;
  std::string path;
  std::vector<std::string> warnings;
};

TEST_F(DatabaseTest, StoresAndFindsByTheWholeKey) {
  auto db = open();
  std::string error;
  EXPECT_TRUE(db->put(record("a1", 1e-3), error)) << error;
  std::optional<TuningRecord> found = db->lookup(record("a1", 0).key);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->config, record("a1", 0).config);
  EXPECT_DOUBLE_EQ(found->medianSeconds, 1e-3);
  EXPECT_EQ(found->trials, 17);
  EXPECT_FALSE(found->date.empty());
  // Any part of the key differing misses.
  TuningKey other = record("a1", 0).key;
  other.compilerVersion = "0.2.0";
  EXPECT_FALSE(db->lookup(other));
  other = record("a1", 0).key;
  other.target = "x86_64/x86-64-v3/avx2";
  EXPECT_FALSE(db->lookup(other));
  other = record("a1", 0).key;
  other.threads = 1;
  EXPECT_FALSE(db->lookup(other));
  EXPECT_FALSE(db->lookup(record("a2", 0).key));
  EXPECT_TRUE(warnings.empty());
}

TEST_F(DatabaseTest, KeepsOneRowPerThreadCount) {
  auto db = open();
  std::string error;
  TuningRecord one = record("a1", 3e-3);
  one.key.threads = 1;
  one.config = "#kiln.cpu_config<tile_sizes = [256, 256], vector_width = 16>";
  // Slower on one thread, yet not replaced by the two-thread row.
  EXPECT_TRUE(db->put(one, error)) << error;
  EXPECT_TRUE(db->put(record("a1", 1e-3), error)) << error;
  ASSERT_EQ(db->list().size(), 2u);
  EXPECT_EQ(db->lookup(one.key)->config, one.config);
  EXPECT_EQ(db->lookup(record("a1", 0).key)->config, record("a1", 0).config);
}

TEST_F(DatabaseTest, KeepsTheFasterTuning) {
  auto db = open();
  std::string error;
  EXPECT_TRUE(db->put(record("a1", 2e-3), error));
  EXPECT_FALSE(db->put(record("a1", 3e-3), error));
  EXPECT_TRUE(error.empty());
  EXPECT_DOUBLE_EQ(db->lookup(record("a1", 0).key)->medianSeconds, 2e-3);
  EXPECT_TRUE(db->put(record("a1", 1e-3), error));
  EXPECT_DOUBLE_EQ(db->lookup(record("a1", 0).key)->medianSeconds, 1e-3);
  EXPECT_EQ(db->list().size(), 1u);
}

TEST_F(DatabaseTest, PersistsAcrossOpens) {
  std::string error;
  EXPECT_TRUE(open()->put(record("a1", 1e-3), error));
  EXPECT_TRUE(open()->lookup(record("a1", 0).key));
}

TEST_F(DatabaseTest, PrunesOtherCompilerVersionsAndOldRecords) {
  auto db = open();
  std::string error;
  TuningRecord old = record("a1", 1e-3);
  old.key.compilerVersion = "0.0.9";
  TuningRecord dated = record("a2", 1e-3);
  dated.date = "2020-01-01T00:00:00Z";
  db->put(old, error);
  db->put(dated, error);
  db->put(record("a3", 1e-3), error);
  // No version to keep: only the date counts.
  EXPECT_EQ(db->prune("", "2019-01-01T00:00:00Z", error), 0);
  EXPECT_EQ(db->prune("0.1.0", "", error), 1);
  EXPECT_EQ(db->prune("0.1.0", "2024-01-01T00:00:00Z", error), 1);
  ASSERT_EQ(db->list().size(), 1u);
  EXPECT_EQ(db->list()[0].key.signature, "a3");
}

TEST_F(DatabaseTest, RoundTripsThroughJson) {
  std::string error;
  std::string json;
  {
    auto db = open();
    db->put(record("a1", 1e-3), error);
    db->put(record("b2", 5e-4), error);
    json = db->exportJson();
  }
  fs::remove_all(folder);
  auto db = open();
  EXPECT_EQ(db->importJson(json, error), 2) << error;
  std::vector<TuningRecord> records = db->list();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].key, record("b2", 0).key);
  EXPECT_DOUBLE_EQ(records[1].medianSeconds, 5e-4);
  EXPECT_EQ(db->exportJson(), json);
  // Importing again stores nothing new: the same times are not faster.
  EXPECT_EQ(db->importJson(json, error), 0);
}

TEST_F(DatabaseTest, RejectsABadImportWhole) {
  auto db = open();
  std::string error;
  EXPECT_EQ(db->importJson("{\"records\": []}", error), -1);
  EXPECT_NE(error.find("not a Kiln tuning export"), std::string::npos);
  std::string json = R"({"format": "kiln-tuning-database", "version": 2,
    "records": [)" + std::string("{}") +
                     "]}";
  EXPECT_EQ(db->importJson(json, error), -1);
  EXPECT_NE(error.find("record 0: expected a non-empty string 'signature'"),
            std::string::npos)
      << error;
  // A record without a thread count, as version 1 wrote them.
  nlohmann::json noThreads = nlohmann::json::parse(db->exportJson());
  TuningRecord r = record("a1", 1e-3);
  noThreads["records"] = {{{"signature", "a1"},
                           {"target", r.key.target},
                           {"compiler_version", r.key.compilerVersion},
                           {"threads", 0},
                           {"kernel", r.kernel},
                           {"config", r.config},
                           {"median_seconds", 1e-3},
                           {"iqr_seconds", 0},
                           {"samples", 3},
                           {"default_seconds", 0},
                           {"trials", 1},
                           {"date", "2024-01-01T00:00:00Z"}}};
  EXPECT_EQ(db->importJson(noThreads.dump(), error), -1);
  EXPECT_NE(error.find("record 0: expected a positive number 'threads'"),
            std::string::npos)
      << error;
  EXPECT_TRUE(db->list().empty());
}

TEST_F(DatabaseTest, RebuildsAGarbageFile) {
  fs::create_directories(folder / "cache");
  std::ofstream(path) << "this is not a database at all, just some text";
  auto db = open();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("not an SQLite database"), std::string::npos)
      << warnings[0];
  EXPECT_EQ(countFiles(".corrupt-"), 1);
  std::string error;
  EXPECT_TRUE(db->put(record("a1", 1e-3), error)) << error;
}

TEST_F(DatabaseTest, RebuildsATruncatedFile) {
  std::string error;
  {
    auto db = open();
    for (int i = 0; i < 300; ++i)
      db->put(record("sig" + std::to_string(i), 1e-3), error);
    // Move everything from the WAL into the file.
    ASSERT_TRUE(db->list().size() == 300);
  }
  uintmax_t size = fs::file_size(path);
  ASSERT_GT(size, 8192u);
  fs::resize_file(path, size / 2);
  auto db = open();
  ASSERT_EQ(warnings.size(), 1u) << "a truncated file went unnoticed";
  EXPECT_EQ(countFiles(".corrupt-"), 1);
  EXPECT_TRUE(db->list().empty());
  EXPECT_TRUE(db->put(record("a1", 1e-3), error)) << error;
}

TEST_F(DatabaseTest, RebuildsAFileWithCorruptPages) {
  std::string error;
  {
    auto db = open();
    for (int i = 0; i < 300; ++i)
      db->put(record("sig" + std::to_string(i), 1e-3), error);
  }
  // Overwrite the second page (a tree page) with noise, as a torn write
  // would.
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096);
    std::string noise(3000, '\x5a');
    file.write(noise.data(), noise.size());
  }
  auto db = open();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("moved it to"), std::string::npos);
  EXPECT_TRUE(db->put(record("a1", 1e-3), error)) << error;
}

TEST_F(DatabaseTest, RebuildsAnotherSchemaVersion) {
  { open(); }
  // A future Kiln's file: this one must not misread it.
  sqlite3 *raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(raw, "PRAGMA user_version=7", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(raw);
  open();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("schema version 7"), std::string::npos);
}

TEST_F(DatabaseTest, RebuildsAVersionOneFile) {
  // Version 1 keyed rows without the thread count: they cannot say which
  // thread count they are best for, so the file is set aside.
  fs::create_directories(folder / "cache");
  sqlite3 *raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "CREATE TABLE tunings (signature TEXT); "
                         "PRAGMA user_version=1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto db = open();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("schema version 1, expected 2"),
            std::string::npos)
      << warnings[0];
  std::string error;
  EXPECT_TRUE(db->put(record("a1", 1e-3), error)) << error;
}

/// Writes `count` records with signatures `<prefix><i>`, one transaction
/// each, then exits; runs in a forked child.
[[noreturn]] static void writeRecords(const std::string &path,
                                      const std::string &prefix, int count,
                                      double median) {
  std::vector<std::string> warnings;
  std::string error;
  auto db = TuningDatabase::open(path, warnings, error);
  int failures = db ? 0 : 1;
  for (int i = 0; db && i < count; ++i) {
    TuningRecord r;
    r.key = {prefix + std::to_string(i), "t", "v"};
    r.kernel = "k";
    r.config = "c";
    r.medianSeconds = median;
    r.samples = 1;
    error.clear();
    // put() declines a slower tuning without an error.
    db->put(r, error);
    failures += !error.empty();
  }
  _exit(failures == 0 ? 0 : 1);
}

TEST_F(DatabaseTest, SurvivesAWriterKilledMidWrite) {
  std::string error;
  open()->put(record("kept", 1e-3), error);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0)
    writeRecords(path, "w", 1000000, 1.0);
  // Let it commit some rows, then kill it wherever it is.
  usleep(150 * 1000);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto db = open();
  EXPECT_TRUE(warnings.empty()) << warnings[0];
  std::vector<TuningRecord> records = db->list();
  EXPECT_TRUE(db->lookup(record("kept", 0).key));
  EXPECT_GT(records.size(), 1u) << "the writer committed nothing";
  EXPECT_TRUE(db->put(record("after", 1e-3), error)) << error;
}

TEST_F(DatabaseTest, TwoConcurrentWritersLoseNothing) {
  open();
  pid_t first = fork();
  ASSERT_GE(first, 0);
  if (first == 0)
    writeRecords(path, "x", 300, 2.0);
  pid_t second = fork();
  ASSERT_GE(second, 0);
  if (second == 0)
    writeRecords(path, "x", 300, 1.0);
  for (pid_t child : {first, second}) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::vector<TuningRecord> records = open()->list();
  ASSERT_EQ(records.size(), 300u);
  // Whatever the interleaving, the faster writer's tunings win.
  for (const TuningRecord &r : records)
    EXPECT_DOUBLE_EQ(r.medianSeconds, 1.0) << r.key.signature;
}

} // namespace
