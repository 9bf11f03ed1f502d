//===- Worker.cpp - Measuring a candidate in a separate process -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "autotune/Worker.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kiln::autotune {

const char *getTrialStatusName(TrialStatus status) {
  switch (status) {
  case TrialStatus::Ok:
    return "ok";
  case TrialStatus::CompileError:
    return "compile-error";
  case TrialStatus::WrongResult:
    return "wrong-result";
  case TrialStatus::Crashed:
    return "crashed";
  case TrialStatus::TimedOut:
    return "timed-out";
  case TrialStatus::OutOfMemory:
    return "out-of-memory";
  case TrialStatus::Failed:
    return "failed";
  }
  return "failed";
}

nlohmann::json summaryToJson(const Summary &summary) {
  return {{"count", summary.count}, {"median", summary.median},
          {"q1", summary.q1},       {"q3", summary.q3},
          {"min", summary.min},     {"max", summary.max},
          {"mean", summary.mean},   {"spread", summary.relativeSpread}};
}

Summary summaryFromJson(const nlohmann::json &object) {
  Summary summary;
  summary.count = object.value("count", int64_t(0));
  summary.median = object.value("median", 0.0);
  summary.q1 = object.value("q1", 0.0);
  summary.q3 = object.value("q3", 0.0);
  summary.min = object.value("min", 0.0);
  summary.max = object.value("max", 0.0);
  summary.mean = object.value("mean", 0.0);
  summary.relativeSpread = object.value("spread", 0.0);
  return summary;
}

std::string formatTrialAnswer(const TrialResult &result) {
  if (!result.ok())
    return nlohmann::json{{"status", getTrialStatusName(result.status)},
                          {"reason", result.reason}}
        .dump();
  nlohmann::json answer = summaryToJson(result.seconds);
  answer["status"] = getTrialStatusName(result.status);
  answer["stable"] = result.stable;
  answer["remeasured"] = result.remeasured;
  if (result.remeasured)
    answer["discarded"] = summaryToJson(result.discardedSeconds);
  return answer.dump();
}

TrialResult parseTrialAnswer(const std::string &line) {
  TrialResult result;
  nlohmann::json answer =
      nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object() ||
      !answer.contains("status") || !answer["status"].is_string()) {
    result.reason = "the worker gave no answer";
    return result;
  }
  std::string status = answer["status"];
  for (TrialStatus candidate :
       {TrialStatus::Ok, TrialStatus::CompileError, TrialStatus::WrongResult,
        TrialStatus::Crashed, TrialStatus::TimedOut, TrialStatus::OutOfMemory,
        TrialStatus::Failed})
    if (status == getTrialStatusName(candidate))
      result.status = candidate;
  result.reason = answer.value("reason", "");
  if (!result.ok())
    return result;
  result.seconds = summaryFromJson(answer);
  const Summary &s = result.seconds;
  result.stable = answer.value("stable", false);
  result.remeasured = answer.value("remeasured", false);
  if (result.remeasured && answer.contains("discarded") &&
      answer["discarded"].is_object())
    result.discardedSeconds = summaryFromJson(answer["discarded"]);
  if (s.count <= 0 || !(s.median > 0)) {
    result.status = TrialStatus::Failed;
    result.reason = "the worker reported no timing";
  }
  return result;
}

/// Appends what is readable from `fd` to `text`; false at end of file.
static bool drain(int fd, std::string &text) {
  char buffer[4096];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  if (n > 0)
    text.append(buffer, n);
  return n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN));
}

/// The last `count` lines of `text` that are not empty, without their
/// newlines, in order; fewer when it has fewer.
static std::vector<std::string> lastLines(const std::string &text,
                                          size_t count) {
  std::vector<std::string> lines;
  size_t end = text.find_last_not_of("\n ");
  while (lines.size() < count && end != std::string::npos) {
    size_t begin = text.rfind('\n', end);
    begin = begin == std::string::npos ? 0 : begin + 1;
    lines.insert(lines.begin(), text.substr(begin, end + 1 - begin));
    end = begin == 0 ? std::string::npos
                     : text.find_last_not_of("\n ", begin - 1);
  }
  return lines;
}

/// The last line of `text` that is not empty, without the newline.
static std::string lastLine(const std::string &text) {
  std::vector<std::string> lines = lastLines(text, 1);
  return lines.empty() ? "" : lines.front();
}

/// Whether the worker's error output says it ran out of memory (LLVM's
/// handler and the C++ runtime say so before aborting).
static bool saysOutOfMemory(const std::string &errors) {
  return errors.find("out of memory") != std::string::npos ||
         errors.find("bad_alloc") != std::string::npos ||
         errors.find("Cannot allocate memory") != std::string::npos;
}

std::vector<TrialResult> runWorker(const WorkerOptions &options,
                                   size_t answers) {
  TrialResult result;
  if (options.command.empty()) {
    result.reason = "no worker command";
    return std::vector<TrialResult>(answers, result);
  }
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    result.reason = std::string("cannot create pipes: ") + strerror(errno);
    return std::vector<TrialResult>(answers, result);
  }
  std::vector<char *> argv;
  for (const std::string &arg : options.command)
    argv.push_back(const_cast<char *>(arg.c_str()));
  argv.push_back(nullptr);

  pid_t child = fork();
  if (child == 0) {
    // 1. In the child: its own process group (so a timeout kills the linker
    //    it may have started too), its memory limit, its pipes.
    setpgid(0, 0);
    if (options.memoryLimitBytes > 0) {
      rlimit limit{static_cast<rlim_t>(options.memoryLimitBytes),
                   static_cast<rlim_t>(options.memoryLimitBytes)};
      setrlimit(RLIMIT_AS, &limit);
    }
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    dprintf(STDERR_FILENO, "cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (child < 0) {
    close(out[0]);
    close(err[0]);
    result.reason = std::string("cannot start the worker: ") + strerror(errno);
    return std::vector<TrialResult>(answers, result);
  }
  setpgid(child, child);

  // 2. Collect its output until it closes both pipes or the time is up.
  using Clock = std::chrono::steady_clock;
  auto deadline =
      Clock::now() + std::chrono::duration<double>(options.timeoutSeconds);
  std::string answer, errors;
  bool outOpen = true, errOpen = true, timedOut = false;
  while (outOpen || errOpen) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - Clock::now())
                    .count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd fds[2] = {{outOpen ? out[0] : -1, POLLIN, 0},
                     {errOpen ? err[0] : -1, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000))) < 0 &&
        errno != EINTR)
      break;
    if (outOpen && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      outOpen = drain(out[0], answer);
    if (errOpen && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
      errOpen = drain(err[0], errors);
  }
  if (timedOut)
    kill(-child, SIGKILL);
  close(out[0]);
  close(err[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  if (!timedOut)
    kill(-child, SIGKILL); // Whatever it left behind in its group.

  // 3. Classify: a worker that did not end by itself leaves every candidate
  //    with that failure; one that did answers a line per candidate.
  std::string detail = lastLine(errors);
  if (timedOut) {
    result.status = TrialStatus::TimedOut;
    result.reason =
        "killed after " + std::to_string(options.timeoutSeconds) + " s";
    return std::vector<TrialResult>(answers, result);
  }
  if (WIFSIGNALED(status)) {
    int signal = WTERMSIG(status);
    result.status = saysOutOfMemory(errors) ? TrialStatus::OutOfMemory
                                            : TrialStatus::Crashed;
    result.reason = std::string("signal ") + std::to_string(signal) + " (" +
                    strsignal(signal) + ")" +
                    (detail.empty() ? "" : ": " + detail);
    return std::vector<TrialResult>(answers, result);
  }
  std::vector<std::string> lines = lastLines(answer, answers);
  lines.insert(lines.begin(), answers - lines.size(), "");
  std::vector<TrialResult> results;
  for (const std::string &line : lines) {
    result = parseTrialAnswer(line);
    if (result.status == TrialStatus::Failed && result.reason.empty())
      result.reason = "exit status " + std::to_string(WEXITSTATUS(status));
    if (result.status == TrialStatus::Failed && !detail.empty())
      result.reason += ": " + detail;
    if (result.status == TrialStatus::Failed && saysOutOfMemory(errors))
      result.status = TrialStatus::OutOfMemory;
    results.push_back(std::move(result));
  }
  return results;
}

TrialResult runWorker(const WorkerOptions &options) {
  return runWorker(options, 1).front();
}

} // namespace kiln::autotune
