// A one-line progress bar with ETA, throughput, loss and running accuracy (no libtorch).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace ds {

std::string format_duration(double seconds);  // "1:02:03" or "02:03"

class Progress {
 public:
  // total: steps in this phase; label: e.g. "epoch 3/200 train". Writes to `out` (stderr).
  Progress(std::string label, size_t total, std::FILE* out = stderr);
  // Called after each step with cumulative images, mean loss and accuracy (percent) so far.
  void update(size_t step, size_t images, double loss, double acc);
  // Final line (always printed) and newline.
  void finish(size_t images, double loss, double acc);
  double elapsed() const;

 private:
  void draw(size_t step, size_t images, double loss, double acc, bool final);
  std::string label_;
  size_t total_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
};

}  // namespace ds
