#include "cli/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace ds::cli {
namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int s) { g_signal = s; }

// A port the kernel calls free right now. Another program could take it before rank 0 binds it;
// rank 0 then fails with a message naming the port, and setting MASTER_PORT avoids the race.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("cannot open a socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

int status_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

LaunchPlan plan_launch(int argc, char** argv) {
  LaunchPlan p;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    std::string value;
    if (a == "--nproc-per-node") {
      if (i + 1 >= argc) throw std::invalid_argument("--nproc-per-node needs a number");
      value = argv[++i];
    } else if (a.rfind("--nproc-per-node=", 0) == 0) {
      value = a.substr(17);
    } else {
      p.args.push_back(a);
      p.threads_given |= a == "--threads" || a.rfind("--threads=", 0) == 0;
      p.workers_given |= a == "--workers" || a.rfind("--workers=", 0) == 0;
      continue;
    }
    size_t used = 0;
    try {
      p.nproc = std::stoi(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || p.nproc < 1 || p.nproc > 1024)
      throw std::invalid_argument("--nproc-per-node expects a count of 1 to 1024, got '" + value + "'");
  }
  return p;
}

int run_workers(const LaunchPlan& plan) {
  const int n = plan.nproc;
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env && *port_env ? port_env : std::to_string(free_port());
  const char* addr_env = std::getenv("MASTER_ADDR");
  const std::string addr = addr_env && *addr_env ? addr_env : "127.0.0.1";
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  const std::string share = std::to_string(std::max(1, cores / n));

  std::vector<std::string> args = plan.args;
  if (!plan.threads_given) args.insert(args.end(), {"--threads", share});
  if (!plan.workers_given) args.insert(args.end(), {"--workers", share});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("cannot start a worker: ") + std::strerror(errno));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", addr.c_str(), 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "denseshift: cannot start worker %d: %s\n", r, std::strerror(errno));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  std::fprintf(stderr, "denseshift: %d workers on this machine (rendezvous %s:%s)\n", n, addr.c_str(), port.c_str());

  int result = 0, alive = n;
  bool stopping = false;
  auto stop_at = std::chrono::steady_clock::time_point::max();
  auto stop_others = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, sig);
  };
  while (alive > 0) {
    if (g_signal && !stopping) {  // Ctrl-C or a scheduler's SIGTERM: pass it on, then wait
      stop_others(int(g_signal));
      stopping = true, result = 128 + int(g_signal);
      stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(plan.grace_s);
    }
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      const auto it = std::find(pids.begin(), pids.end(), done);
      if (it == pids.end()) continue;
      const int rank = int(it - pids.begin());
      *it = -1, --alive;
      const int code = status_code(status);
      if (code != 0 && !stopping) {
        std::fprintf(stderr, "denseshift: worker %d (rank %d) failed with status %d; stopping the other %d\n", int(done),
                     rank, code, alive);
        result = code, stopping = true;
        stop_others(SIGTERM);
        stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(plan.grace_s);
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > stop_at) {
      stop_others(SIGKILL);
      stop_at = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

}  // namespace ds::cli
