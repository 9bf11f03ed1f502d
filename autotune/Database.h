//===- Database.h - The tuning database ------------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Kiln remembers the best config found for each kernel on each machine in an
// SQLite file: one row per (kernel signature hash, target fingerprint,
// compiler version, thread count), holding the config as attribute text
// (replayable by parsing it) and the statistics it was measured with. The
// thread count is part of the key because the best tiles differ: a tile
// count that keeps one core busy can leave the second idle.
//
// Several tuners on one machine may share a file: it is opened in WAL mode,
// every write is one transaction that waits (busy timeout) for the others,
// and a row is only replaced by a faster one. A file that is not a readable
// database (truncated, overwritten, failing SQLite's quick check) is moved
// aside to `<path>.corrupt-<timestamp>` and a new one is built, with a
// warning: a lost cache costs tuning time, never a compile.
//
// No MLIR dependency; the library reads no environment variables (the tool
// computes the default path).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_AUTOTUNE_DATABASE_H_
#define KILN_AUTOTUNE_DATABASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace kiln::autotune {

/// What a tuning is stored under.
struct TuningKey {
  /// The kernel's signature hash (autotune/KernelSignature.h).
  std::string signature;
  /// The machine and code-generation target (codegen/Common/Target.h).
  std::string target;
  std::string compilerVersion;
  /// The threads that share each call of the kernel.
  int64_t threads = 1;

  bool operator==(const TuningKey &other) const {
    return signature == other.signature && target == other.target &&
           compilerVersion == other.compilerVersion && threads == other.threads;
  }
};

/// One stored tuning.
struct TuningRecord {
  TuningKey key;
  /// The kernel's name where it was tuned, for listings only.
  std::string kernel;
  /// The config attribute as text, e.g. "#kiln.cpu_config<...>".
  std::string config;
  /// The config's time per call, in seconds: median, interquartile range
  /// and the number of samples.
  double medianSeconds = 0;
  double iqrSeconds = 0;
  int64_t samples = 0;
  /// The default config's median, for the speedup; 0 when unknown.
  double defaultSeconds = 0;
  /// Candidates measured to find it.
  int64_t trials = 0;
  /// When it was stored, as UTC "YYYY-MM-DDTHH:MM:SSZ".
  std::string date;
};

/// An open tuning database.
class TuningDatabase {
public:
  /// The schema version this code reads and writes (PRAGMA user_version).
  static constexpr int kSchemaVersion = 2;

  ~TuningDatabase();
  TuningDatabase(const TuningDatabase &) = delete;
  TuningDatabase &operator=(const TuningDatabase &) = delete;

  /// Opens or creates the database at `path`, creating its folder. A corrupt
  /// file, or one of another schema version, is moved aside and rebuilt,
  /// and a line saying so is appended to `warnings`. Returns null and sets
  /// `error` when no database can be had there at all.
  static std::unique_ptr<TuningDatabase>
  open(const std::string &path, std::vector<std::string> &warnings,
       std::string &error);

  const std::string &getPath() const { return path; }

  /// The record stored under `key`, if any.
  std::optional<TuningRecord> lookup(const TuningKey &key);

  /// Stores `record` unless a record under its key is at least as fast.
  /// Returns whether it was stored; on failure sets `error` and returns
  /// false.
  bool put(const TuningRecord &record, std::string &error);

  /// Every record, ordered by key.
  std::vector<TuningRecord> list();

  /// Deletes, when `keepCompilerVersion` is not empty, the records of other
  /// compiler versions and, when `olderThan` is not empty, those stored
  /// before that date (same format as TuningRecord::date). Returns how many
  /// were deleted, or -1 with `error` set.
  int64_t prune(const std::string &keepCompilerVersion,
                const std::string &olderThan, std::string &error);

  /// All records as a JSON document.
  std::string exportJson();

  /// Stores the records of a JSON document written by exportJson (each as
  /// `put` does). Returns how many were stored, or -1 with `error` set and
  /// nothing stored.
  int64_t importJson(const std::string &json, std::string &error);

private:
  TuningDatabase(std::string path, sqlite3 *db)
      : path(std::move(path)), db(db) {}

  std::string path;
  sqlite3 *db;
};

/// The current UTC time as TuningRecord::date expects it.
std::string getCurrentDate();

} // namespace kiln::autotune

#endif // KILN_AUTOTUNE_DATABASE_H_
