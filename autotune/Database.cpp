//===- Database.cpp - The tuning database ----------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Database.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace kiln::autotune {

namespace fs = std::filesystem;

/// How long a writer waits for another one before giving up.
static constexpr int kBusyTimeoutMs = 30000;

static const char *const kSchema = R"sql(
  CREATE TABLE IF NOT EXISTS tunings (
    signature TEXT NOT NULL,
    target TEXT NOT NULL,
    compiler_version TEXT NOT NULL,
    threads INTEGER NOT NULL,
    kernel TEXT NOT NULL,
    config TEXT NOT NULL,
    median_seconds REAL NOT NULL,
    iqr_seconds REAL NOT NULL,
    samples INTEGER NOT NULL,
    default_seconds REAL NOT NULL,
    trials INTEGER NOT NULL,
    date TEXT NOT NULL,
    PRIMARY KEY (signature, target, compiler_version, threads)
  );
)sql";

static const char *const kColumns =
    "signature, target, compiler_version, threads, kernel, config, "
    "median_seconds, iqr_seconds, samples, default_seconds, trials, date";

std::string getCurrentDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

namespace {
/// A prepared statement, finalized when it goes out of scope.
class Statement {
public:
  Statement(sqlite3 *db, const char *sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
      stmt = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(const Statement &) = delete;
  Statement &operator=(const Statement &) = delete;

  explicit operator bool() const { return stmt != nullptr; }
  sqlite3_stmt *get() const { return stmt; }

  void bind(int index, const std::string &text) {
    sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
  }
  void bind(int index, double value) {
    sqlite3_bind_double(stmt, index, value);
  }
  void bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt, index, value);
  }
  std::string text(int column) const {
    const unsigned char *value = sqlite3_column_text(stmt, column);
    return value ? reinterpret_cast<const char *>(value) : "";
  }

private:
  sqlite3_stmt *stmt = nullptr;
};
} // namespace

/// Runs `sql`, which returns no rows; sets `error` on failure.
static bool execute(sqlite3 *db, const char *sql, std::string &error) {
  char *message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK)
    return true;
  error = message ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return false;
}

/// The single text value that `sql` returns, or nullopt when it fails.
static std::optional<std::string> queryText(sqlite3 *db, const char *sql) {
  Statement statement(db, sql);
  if (!statement || sqlite3_step(statement.get()) != SQLITE_ROW)
    return std::nullopt;
  return statement.text(0);
}

static TuningRecord readRecord(const Statement &row) {
  TuningRecord record;
  sqlite3_stmt *stmt = row.get();
  record.key.signature = row.text(0);
  record.key.target = row.text(1);
  record.key.compilerVersion = row.text(2);
  record.key.threads = sqlite3_column_int64(stmt, 3);
  record.kernel = row.text(4);
  record.config = row.text(5);
  record.medianSeconds = sqlite3_column_double(stmt, 6);
  record.iqrSeconds = sqlite3_column_double(stmt, 7);
  record.samples = sqlite3_column_int64(stmt, 8);
  record.defaultSeconds = sqlite3_column_double(stmt, 9);
  record.trials = sqlite3_column_int64(stmt, 10);
  record.date = row.text(11);
  return record;
}

//===----------------------------------------------------------------------===//
// Opening, checking and rebuilding
//===----------------------------------------------------------------------===//

/// Why the file at `path` is not a usable tuning database; empty when it is
/// (or does not exist yet). Leaves `db` open on success.
static std::string checkDatabase(const std::string &path, sqlite3 *&db) {
  // 1. The header: every SQLite file starts with these 16 bytes, and no
  //    database is shorter than one 100-byte header.
  std::error_code code;
  uintmax_t size = fs::exists(path, code) ? fs::file_size(path, code) : 0;
  if (size > 0) {
    static const char kMagic[] = "SQLite format 3";
    char header[16] = {};
    std::ifstream file(path, std::ios::binary);
    file.read(header, sizeof(header));
    if (size < 100 || !std::equal(header, header + 16, kMagic))
      return "not an SQLite database";
  }
  // 2. Open it, in WAL mode, and let SQLite check its pages and indexes.
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    return sqlite3_errmsg(db);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  std::optional<std::string> mode = queryText(db, "PRAGMA journal_mode=WAL");
  if (!mode)
    return sqlite3_errmsg(db);
  // In WAL mode a process killed mid-write loses no committed transaction
  // without a sync per commit; only a power cut may lose the last ones.
  std::string error;
  if (!execute(db, "PRAGMA synchronous=NORMAL", error))
    return error;
  std::optional<std::string> check = queryText(db, "PRAGMA quick_check");
  if (check != "ok")
    return check ? "quick check: " + *check : sqlite3_errmsg(db);
  // 3. The schema: a new file gets ours, another version is not ours.
  std::optional<std::string> version = queryText(db, "PRAGMA user_version");
  if (!version)
    return sqlite3_errmsg(db);
  if (*version == "0") {
    std::string create =
        std::string("BEGIN IMMEDIATE;") + kSchema + "PRAGMA user_version=" +
        std::to_string(TuningDatabase::kSchemaVersion) + ";COMMIT;";
    if (!execute(db, create.c_str(), error)) {
      execute(db, "ROLLBACK", error);
      return error;
    }
  } else if (*version != std::to_string(TuningDatabase::kSchemaVersion)) {
    return "schema version " + *version + ", expected " +
           std::to_string(TuningDatabase::kSchemaVersion);
  }
  return "";
}

/// Moves the database at `path` and its WAL aside; returns the new name.
static std::string moveAside(const std::string &path) {
  std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  std::string aside = path + ".corrupt-" + stamp;
  std::error_code code;
  for (int n = 1; fs::exists(aside, code); ++n)
    aside = path + ".corrupt-" + stamp + "-" + std::to_string(n);
  fs::rename(path, aside, code);
  // The WAL belongs to the old file: replayed into a new one it would
  // corrupt it. The shared-memory index is rebuilt from the WAL.
  if (fs::exists(path + "-wal", code))
    fs::rename(path + "-wal", aside + "-wal", code);
  fs::remove(path + "-shm", code);
  return aside;
}

std::unique_ptr<TuningDatabase>
TuningDatabase::open(const std::string &path,
                     std::vector<std::string> &warnings, std::string &error) {
  std::error_code code;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty())
    fs::create_directories(parent, code);
  if (code) {
    error = "cannot create the folder of the tuning database '" + path +
            "': " + code.message();
    return nullptr;
  }
  // Once moved aside, a second failure is not the file's fault.
  for (int attempt = 0; attempt < 2; ++attempt) {
    sqlite3 *db = nullptr;
    std::string problem = checkDatabase(path, db);
    if (problem.empty())
      return std::unique_ptr<TuningDatabase>(new TuningDatabase(path, db));
    sqlite3_close(db);
    error = problem;
    if (attempt == 1 || !fs::exists(path, code))
      break;
    std::string aside = moveAside(path);
    warnings.push_back("the tuning database '" + path + "' is unusable (" +
                       problem + "); moved it to '" + aside +
                       "' and started a new one");
  }
  error = "cannot open the tuning database '" + path + "': " + error;
  return nullptr;
}

TuningDatabase::~TuningDatabase() { sqlite3_close(db); }

//===----------------------------------------------------------------------===//
// Reading and writing
//===----------------------------------------------------------------------===//

std::optional<TuningRecord> TuningDatabase::lookup(const TuningKey &key) {
  std::string sql = std::string("SELECT ") + kColumns +
                    " FROM tunings WHERE signature = ?1 AND target = ?2 AND "
                    "compiler_version = ?3 AND threads = ?4";
  Statement statement(db, sql.c_str());
  if (!statement)
    return std::nullopt;
  statement.bind(1, key.signature);
  statement.bind(2, key.target);
  statement.bind(3, key.compilerVersion);
  statement.bind(4, key.threads);
  if (sqlite3_step(statement.get()) != SQLITE_ROW)
    return std::nullopt;
  return readRecord(statement);
}

bool TuningDatabase::put(const TuningRecord &record, std::string &error) {
  std::string sql =
      std::string("INSERT INTO tunings (") + kColumns +
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (signature, target, compiler_version, threads) DO UPDATE "
      "SET "
      "kernel = excluded.kernel, config = excluded.config, "
      "median_seconds = excluded.median_seconds, "
      "iqr_seconds = excluded.iqr_seconds, samples = excluded.samples, "
      "default_seconds = excluded.default_seconds, trials = excluded.trials, "
      "date = excluded.date "
      "WHERE excluded.median_seconds < tunings.median_seconds";
  Statement statement(db, sql.c_str());
  if (!statement) {
    error = sqlite3_errmsg(db);
    return false;
  }
  statement.bind(1, record.key.signature);
  statement.bind(2, record.key.target);
  statement.bind(3, record.key.compilerVersion);
  statement.bind(4, record.key.threads);
  statement.bind(5, record.kernel);
  statement.bind(6, record.config);
  statement.bind(7, record.medianSeconds);
  statement.bind(8, record.iqrSeconds);
  statement.bind(9, record.samples);
  statement.bind(10, record.defaultSeconds);
  statement.bind(11, record.trials);
  statement.bind(12, record.date.empty() ? getCurrentDate() : record.date);
  if (sqlite3_step(statement.get()) != SQLITE_DONE) {
    error = "cannot store a tuning in '" + path + "': " + sqlite3_errmsg(db);
    return false;
  }
  return sqlite3_changes(db) > 0;
}

std::vector<TuningRecord> TuningDatabase::list() {
  std::string sql = std::string("SELECT ") + kColumns +
                    " FROM tunings ORDER BY signature, target, "
                    "compiler_version, threads";
  Statement statement(db, sql.c_str());
  std::vector<TuningRecord> records;
  while (statement && sqlite3_step(statement.get()) == SQLITE_ROW)
    records.push_back(readRecord(statement));
  return records;
}

int64_t TuningDatabase::prune(const std::string &keepCompilerVersion,
                              const std::string &olderThan,
                              std::string &error) {
  Statement statement(db, "DELETE FROM tunings WHERE (?1 != '' AND "
                          "compiler_version != ?1) OR (?2 != '' AND date < ?2)");
  if (!statement) {
    error = sqlite3_errmsg(db);
    return -1;
  }
  statement.bind(1, keepCompilerVersion);
  statement.bind(2, olderThan);
  if (sqlite3_step(statement.get()) != SQLITE_DONE) {
    error = "cannot prune '" + path + "': " + sqlite3_errmsg(db);
    return -1;
  }
  return sqlite3_changes(db);
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

/// The JSON document's format marker and version.
static constexpr const char *kJsonFormat = "kiln-tuning-database";
static constexpr int kJsonVersion = 2;

std::string TuningDatabase::exportJson() {
  nlohmann::json records = nlohmann::json::array();
  for (const TuningRecord &record : list())
    records.push_back({{"signature", record.key.signature},
                       {"target", record.key.target},
                       {"compiler_version", record.key.compilerVersion},
                       {"threads", record.key.threads},
                       {"kernel", record.kernel},
                       {"config", record.config},
                       {"median_seconds", record.medianSeconds},
                       {"iqr_seconds", record.iqrSeconds},
                       {"samples", record.samples},
                       {"default_seconds", record.defaultSeconds},
                       {"trials", record.trials},
                       {"date", record.date}});
  nlohmann::json root = {{"format", kJsonFormat},
                         {"version", kJsonVersion},
                         {"records", std::move(records)}};
  return root.dump(2) + "\n";
}

/// The record of one JSON entry; sets `error` naming the bad field.
static std::optional<TuningRecord> parseRecord(const nlohmann::json &entry,
                                               std::string &error) {
  TuningRecord record;
  auto text = [&](const char *name, std::string &out) {
    auto it = entry.find(name);
    if (it == entry.end() || !it->is_string() ||
        it->get_ref<const std::string &>().empty()) {
      error = std::string("expected a non-empty string '") + name + "'";
      return false;
    }
    out = it->get<std::string>();
    return true;
  };
  auto number = [&](const char *name, auto &out) {
    auto it = entry.find(name);
    if (it == entry.end() || !it->is_number() || it->get<double>() < 0) {
      error = std::string("expected a non-negative number '") + name + "'";
      return false;
    }
    out = it->get<std::remove_reference_t<decltype(out)>>();
    return true;
  };
  if (!entry.is_object()) {
    error = "expected an object";
    return std::nullopt;
  }
  if (!text("signature", record.key.signature) ||
      !text("target", record.key.target) ||
      !text("compiler_version", record.key.compilerVersion) ||
      !number("threads", record.key.threads) ||
      !text("kernel", record.kernel) || !text("config", record.config) ||
      !number("median_seconds", record.medianSeconds) ||
      !number("iqr_seconds", record.iqrSeconds) ||
      !number("samples", record.samples) ||
      !number("default_seconds", record.defaultSeconds) ||
      !number("trials", record.trials) || !text("date", record.date))
    return std::nullopt;
  if (record.key.threads < 1) {
    error = "expected a positive number 'threads'";
    return std::nullopt;
  }
  return record;
}

int64_t TuningDatabase::importJson(const std::string &json,
                                   std::string &error) {
  nlohmann::json root = nlohmann::json::parse(json, nullptr,
                                              /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object() ||
      root.value("format", "") != kJsonFormat) {
    error = std::string("not a Kiln tuning export (expected a JSON object "
                        "with \"format\": \"") +
            kJsonFormat + "\")";
    return -1;
  }
  if (root.value("version", 0) != kJsonVersion || !root.contains("records") ||
      !root["records"].is_array()) {
    error = "unsupported tuning export version (expected " +
            std::to_string(kJsonVersion) + " with a \"records\" array)";
    return -1;
  }
  std::vector<TuningRecord> records;
  for (const nlohmann::json &entry : root["records"]) {
    std::optional<TuningRecord> record = parseRecord(entry, error);
    if (!record) {
      error = "record " + std::to_string(records.size()) + ": " + error;
      return -1;
    }
    records.push_back(std::move(*record));
  }
  // All or nothing: one transaction.
  if (!execute(db, "BEGIN IMMEDIATE", error))
    return -1;
  int64_t stored = 0;
  for (const TuningRecord &record : records) {
    std::string putError;
    bool wasStored = put(record, putError);
    if (!putError.empty()) {
      error = putError;
      execute(db, "ROLLBACK", putError);
      return -1;
    }
    stored += wasStored;
  }
  if (!execute(db, "COMMIT", error))
    return -1;
  return stored;
}

} // namespace kiln::autotune
