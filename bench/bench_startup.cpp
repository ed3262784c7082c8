// Start-up cost of a whole command, as a user sees it: wall time from fork to exit and the peak
// resident memory of the process (ru_maxrss from wait4), for one-image `infer` with the
// deployment CLI (denseshift-run) against the training CLI (denseshift, which links libtorch).
// Commands run interleaved, one after another in rotated order each round; the median over rounds
// is reported. Output goes to /dev/null; a command that fails stops the benchmark.
//
//   bench_startup [--rounds N] [--out FILE] NAME=COMMAND ARGS... [NAME=COMMAND ARGS...]
// Each NAME=... operand starts a contender; the words up to the next NAME=... operand are its
// arguments (no shell is involved, so the shell's own start-up is not counted).
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

struct Contender {
  std::string name;
  std::vector<std::string> argv;
  std::vector<double> ms, rss_kb;
};

// Runs argv once; returns false (with the reason in *why) if it cannot start or exits non-zero.
bool run_once(const std::vector<std::string>& argv, double* ms, double* rss_kb, std::string* why) {
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return *why = "fork failed", false;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::perror(("bench_startup: cannot run " + argv[0]).c_str());
    ::_exit(127);
  }
  int status = 0;
  rusage ru{};
  if (::wait4(pid, &status, 0, &ru) != pid) return *why = "wait4 failed", false;
  *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  *rss_kb = double(ru.ru_maxrss);  // Linux: kilobytes
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return *why = "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)), false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string out;
  std::vector<Contender> cs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (cs.empty() && a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (cs.empty() && a == "--out" && i + 1 < argc) out = argv[++i];
    else if (a.find('=') != std::string::npos && a[0] != '-' && a[0] != '/')
      cs.push_back({a.substr(0, a.find('=')), {a.substr(a.find('=') + 1)}, {}, {}});
    else if (!cs.empty()) cs.back().argv.push_back(a);
    else {
      std::fprintf(stderr, "usage: %s [--rounds N] [--out FILE] NAME=COMMAND ARGS... [NAME=COMMAND ARGS...]\n", argv[0]);
      return 2;
    }
  }
  if (cs.empty()) {
    std::fprintf(stderr, "bench_startup: no command given\n");
    return 2;
  }
  for (auto& c : cs) {  // one untimed run each: the binaries and model in the page cache, as on a serving machine
    double ms, kb;
    std::string why;
    if (!run_once(c.argv, &ms, &kb, &why)) {
      std::fprintf(stderr, "bench_startup: %s (%s) failed: %s\n", c.name.c_str(), c.argv[0].c_str(), why.c_str());
      return 1;
    }
  }
  for (int r = 0; r < rounds; ++r)
    for (size_t j = 0; j < cs.size(); ++j) {
      Contender& c = cs[(j + size_t(r)) % cs.size()];
      double ms, kb;
      std::string why;
      if (!run_once(c.argv, &ms, &kb, &why)) {
        std::fprintf(stderr, "bench_startup: %s failed in round %d: %s\n", c.name.c_str(), r + 1, why.c_str());
        return 1;
      }
      c.ms.push_back(ms), c.rss_kb.push_back(kb);
    }
  using ds::bench::json_str;
  using ds::bench::quantile;
  std::string json = "{\"rounds\": " + std::to_string(rounds) + ", \"records\": [";
  for (size_t i = 0; i < cs.size(); ++i) {
    const Contender& c = cs[i];
    std::string cmd;
    for (const auto& w : c.argv) cmd += (cmd.empty() ? "" : " ") + w;
    char buf[256];
    std::snprintf(buf, sizeof buf, "\"median_ms\": %.6g, \"p10_ms\": %.6g, \"p90_ms\": %.6g, \"peak_rss_kb\": %.0f}",
                  quantile(c.ms, 0.5), quantile(c.ms, 0.1), quantile(c.ms, 0.9), quantile(c.rss_kb, 0.5));
    json += std::string(i ? ", " : "") + "{\"name\": " + json_str(c.name) + ", \"command\": " + json_str(cmd) + ", " + buf;
    std::printf("[startup] %-28s median %8.1f ms (p10 %.1f, p90 %.1f)  peak RSS %7.1f MB   %s\n", c.name.c_str(),
                quantile(c.ms, 0.5), quantile(c.ms, 0.1), quantile(c.ms, 0.9), quantile(c.rss_kb, 0.5) / 1024, cmd.c_str());
  }
  json += "]}\n";
  if (!out.empty()) {
    FILE* f = std::fopen(out.c_str(), "w");
    if (!f || std::fputs(json.c_str(), f) < 0 || std::fclose(f) != 0) {
      std::perror(out.c_str());
      return 1;
    }
  }
  return 0;
}
