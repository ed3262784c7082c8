#include "e2e_child.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace ds::bench::e2e {

namespace {
// ResNet-18 on ImageNet-sized inputs; ResNet-20 as the Fashion-MNIST models are trained (28x28 grey);
// ResNet-50 (bottleneck blocks: 1x1 stride-1 convolutions) for A/B runs of kernel forms.
constexpr NetShape kNets[] = {
    {.name = "resnet18", .c = 3, .h = 224, .w = 224, .classes = 1000},
    {.name = "resnet20", .c = 1, .h = 28, .w = 28, .classes = 10},
    {.name = "resnet50", .c = 3, .h = 224, .w = 224, .classes = 1000},
};
}  // namespace

const NetShape& net_shape(const std::string& name) {
  for (const auto& n : kNets)
    if (name == n.name) return n;
  throw std::invalid_argument("unknown model " + name + " (known: " + net_names() + ")");
}

std::string net_names() {
  std::string s;
  for (const auto& n : kNets) s += std::string(s.empty() ? "" : ", ") + n.name;
  return s;
}

std::vector<float> input_values(size_t n, bool grey) {
  std::vector<float> x(n, 0.5f);
  if (!grey) {
    std::mt19937 rng(3);
    std::normal_distribution<float> d;
    for (auto& v : x) v = d(rng);
  }
  return x;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

bool read_line(int fd, std::string& line) {
  line.clear();
  char c;
  while (true) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return false;
    if (c == '\n') return true;
    line += c;
  }
}

long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  return -1;
}

bool reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

int serve(std::unique_ptr<Runner> r, const std::string& why_null) {
  using Clock = std::chrono::steady_clock;
  if (!r) {
    write_all(kReplyFd, "error " + why_null + "\n");
    return 1;
  }
  const bool reset = reset_peak_rss();
  write_all(kReplyFd, "ready " + r->info() + (reset ? "" : " (peak includes construction)") + "\n");
  std::string cmd;
  while (read_line(kCmdFd, cmd)) {
    if (cmd.rfind("run ", 0) == 0) {
      const int n = std::max(1, std::atoi(cmd.c_str() + 4));
      if (cmd.find(" warm") != std::string::npos) r->run();  // untimed: caches and threads back after the others ran
      const auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) r->run();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / n;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.6f\n", ms);
      write_all(kReplyFd, buf);
    } else if (cmd == "mem") {
      write_all(kReplyFd, std::to_string(status_kb("VmHWM")) + " " + std::to_string(status_kb("VmRSS")) + "\n");
    } else {
      break;
    }
  }
  return 0;
}

}  // namespace ds::bench::e2e
