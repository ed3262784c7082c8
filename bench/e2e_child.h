// The child side of bench_e2e's protocol, shared by every contender process: bench_e2e itself
// (libtorch contenders), bench_e2e_engine (the engine, without libtorch, so its peak memory is the
// engine's own) and bench/ort_child.js (ONNX Runtime, which speaks the same lines from node).
//
// The parent writes commands on fd 3 and reads replies on fd 4, one line each:
//   first reply     "ready INFO" once the contender is built (or "error MESSAGE")
//   "run N [warm]"  -> milliseconds per run over N back-to-back runs ("warm": one untimed run first)
//   "mem"           -> "VmHWM_kB VmRSS_kB"
//   "quit" or EOF   -> the child exits
// The high-water mark is reset after the contender is built, so it counts the resident model and
// the inference, not the construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace ds::bench::e2e {

constexpr int kCmdFd = 3, kReplyFd = 4;

// The networks bench_e2e measures: input shape and classes (one table for every process).
struct NetShape {
  const char* name;
  int c, h, w, classes;
};
// Throws std::invalid_argument listing the names for an unknown one.
const NetShape& net_shape(const std::string& name);
std::string net_names();  // "resnet18, resnet20"

class Runner {
 public:
  virtual ~Runner() = default;
  virtual void run() = 0;
  virtual std::string info() const { return ""; }
};

class IdleRunner : public Runner {
 public:
  void run() override {}
};

// The contenders' input: N(0, 1) noise (a normalized image's statistics) from a fixed seed, or
// 0.5 everywhere ("grey", as build/bench/engine_bench feeds it).
std::vector<float> input_values(size_t n, bool grey);

bool write_all(int fd, const std::string& s);
bool read_line(int fd, std::string& line);
long status_kb(const char* field);  // a field of /proc/self/status in kB, -1 if absent
bool reset_peak_rss();              // VmHWM := VmRSS (Linux >= 4.0); false where not allowed

// Answers the parent's commands with `r` until "quit"; `r` null: replies "error WHY" and returns 1.
int serve(std::unique_ptr<Runner> r, const std::string& why_null = "");

}  // namespace ds::bench::e2e
