//===- Counters.cpp - Deterministic instruction counts ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "bench/Counters.h"

#include "runtime/FileBytes.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace kiln::bench {

std::optional<InstructionCounter>
InstructionCounter::open(std::string &whyNot) {
  perf_event_attr attributes;
  std::memset(&attributes, 0, sizeof(attributes));
  attributes.size = sizeof(attributes);
  attributes.type = PERF_TYPE_HARDWARE;
  attributes.config = PERF_COUNT_HW_INSTRUCTIONS;
  attributes.disabled = 1;
  // User space only: what paranoid level 2 allows without privileges, and
  // the kernel's share is not the kernel's (Kiln's) doing anyway.
  attributes.exclude_kernel = 1;
  attributes.exclude_hv = 1;
  long fd = syscall(SYS_perf_event_open, &attributes, /*pid=*/0, /*cpu=*/-1,
                    /*group_fd=*/-1, /*flags=*/0);
  if (fd < 0) {
    whyNot = "perf_event_open" + describeErrno(errno);
    return std::nullopt;
  }
  return InstructionCounter(static_cast<int>(fd));
}

InstructionCounter::InstructionCounter(InstructionCounter &&other) noexcept
    : fd(other.fd) {
  other.fd = -1;
}

InstructionCounter &
InstructionCounter::operator=(InstructionCounter &&other) noexcept {
  std::swap(fd, other.fd);
  return *this;
}

InstructionCounter::~InstructionCounter() {
  if (fd >= 0)
    close(fd);
}

int64_t InstructionCounter::count(const std::function<void()> &work) {
  ioctl(fd, PERF_EVENT_IOC_RESET, 0);
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  work();
  ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
  uint64_t value = 0;
  if (read(fd, &value, sizeof(value)) != sizeof(value))
    return 0;
  return static_cast<int64_t>(value);
}

//===----------------------------------------------------------------------===//
// callgrind
//===----------------------------------------------------------------------===//

void runCountedRegion(const std::function<void()> &work) {
  // Instrumentation, off until here, makes the code under callgrind about
  // fifty times slower: switched on for the work alone, it leaves the
  // compile before it at near native speed. Outside valgrind these are a
  // few no-op instructions.
  CALLGRIND_START_INSTRUMENTATION;
  CALLGRIND_TOGGLE_COLLECT;
  work();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_STOP_INSTRUMENTATION;
}

std::vector<std::string> getCallgrindArguments(const std::string &outputFile) {
  return {"--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
          "--callgrind-out-file=" + outputFile};
}

std::optional<int64_t> readCallgrindTotal(const std::string &outputFile,
                                          std::string &error) {
  std::vector<uint8_t> bytes;
  std::string message;
  if (!readFileBytes(outputFile, bytes, message)) {
    error = outputFile + ": " + message;
    return std::nullopt;
  }
  // "totals: <Ir>" near the end; old versions write only "summary: <Ir>",
  // which newer ones write too, as 0 when collection started off.
  std::istringstream lines(std::string(bytes.begin(), bytes.end()));
  std::optional<int64_t> totals, summary;
  std::string line;
  while (std::getline(lines, line))
    for (auto [key, value] : {std::pair{"totals: ", &totals},
                              std::pair{"summary: ", &summary}})
      if (line.rfind(key, 0) == 0)
        *value = std::strtoll(line.c_str() + std::strlen(key), nullptr, 10);
  if (totals)
    return totals;
  if (summary)
    return summary;
  error = outputFile + ": no 'totals:' line";
  return std::nullopt;
}

} // namespace kiln::bench
