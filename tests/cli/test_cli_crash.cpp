// kill -9 at any moment, then --resume, until the run finishes: the result is the run that was
// never interrupted. Kills land at seeded random times and, on purpose, while a checkpoint is
// being written (its temp file exists); after each one the run folder's last.pt must load.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "core/atomic_file.h"
#include "train/checkpoint.h"
#include "train/same_tensors.h"
#include "train/synthetic_idx.h"

namespace ds::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A running `denseshift` with its output going to `log` (shown when a check fails).
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1), ::dup2(fd, 2);
      std::vector<char*> argv{const_cast<char*>(DS_CLI_BINARY)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(DS_CLI_BINARY, argv.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (running()) kill();
  }
  // Exit status, 128 + signal for a death by signal, or -1 while it runs.
  int poll() {
    if (status_ >= 0 || pid_ <= 0) return status_;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }
  bool running() { return poll() < 0; }
  void kill() {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = 128 + SIGKILL;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Identity of the file at `path` now: "" when absent, else inode and modification time.
std::string stamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

TEST(CliCrash, KilledAndResumedRunEqualsAnUninterruptedOne) {
  CliTempDir dir;
  write_quadrant_idx(dir.path, "train", 768, 1);
  write_quadrant_idx(dir.path, "t10k", 64, 2);
  constexpr int kEpochs = 6, kMaxKills = 8;
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"train", dir.str(), "--arch", "smallcnn", "--epochs", std::to_string(kEpochs),
                                    "--batch-size", "32", "--threads", "1", "--workers", "1", "--seed", "5",
                                    "--no-augment", "--quiet", "--out", out};
  };

  // The uninterrupted run, timed: the kills below are spread over that long.
  const auto t0 = Clock::now();
  const CliResult ref = run_cli(args(dir.str("ref")), 120);
  const double ref_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(ref.rc, 0) << ref.out;
  const Checkpoint want = load_checkpoint(dir.str("ref/last.pt"));
  ASSERT_EQ(want.epoch, kEpochs);

  const fs::path run = dir.path / "crash", last = run / "last.pt", log = dir.path / "crash.log";
  const std::vector<std::string> temps = {core::atomic_temp_path((run / "last.pt").string()),
                                          core::atomic_temp_path((run / "best.pt").string())};
  std::mt19937 rng(424242);
  int kills = 0, kills_mid_write = 0, starts = 0;
  bool finished = false;
  const auto deadline = Clock::now() + std::chrono::seconds(90);  // a generous bound for a loaded machine
  while (!finished && Clock::now() < deadline) {
    std::vector<std::string> a = args(run.string());
    if (fs::exists(last)) a.insert(a.end(), {"--resume", run.string()});
    std::ofstream(log, std::ios::app) << "---- start " << starts << ": " << (fs::exists(last) ? "resume" : "fresh")
                                      << "\n";
    // A temp file left by an earlier kill is not a write in progress: only a new one (another
    // inode or mtime, as write_file_atomic's unlink-and-create gives) is.
    const std::vector<std::string> stale = {stamp(temps[0]), stamp(temps[1])};
    auto writing = [&] {
      for (size_t i = 0; i < temps.size(); ++i) {
        const std::string now = stamp(temps[i]);
        if (!now.empty() && now != stale[i]) return true;
      }
      return false;
    };
    Child child(a, log.string());
    ++starts;
    // Each start is killed at a random moment within the first third of the reference run's
    // length (later moments let a loaded machine finish the run after two or three kills); odd
    // starts wait from there for a checkpoint write (a new temp file) and are killed during it.
    // After kMaxKills the run is left to finish.
    const bool at_write = starts % 2 == 1;
    const auto kill_at =
        Clock::now() + std::chrono::microseconds(long(std::uniform_real_distribution<>(0.05, 0.35)(rng) * ref_s * 1e6));
    bool killed = false;
    while (child.running()) {
      const bool mid_write = writing();
      const bool due = Clock::now() >= kill_at && (!at_write || mid_write);
      if (Clock::now() > deadline || (kills < kMaxKills && due)) {
        child.kill();
        killed = true;
        kills_mid_write += mid_write;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(at_write ? 50 : 2000));
    }
    if (!killed) {
      ASSERT_EQ(child.poll(), 0) << "the run failed on its own:\n" << slurp(log);
      finished = true;
    } else {
      ++kills;
    }
    // Whatever moment the kill hit, the run folder holds a loadable checkpoint or none yet.
    if (fs::exists(last)) {
      try {
        EXPECT_LE(load_checkpoint(last.string()).epoch, kEpochs);
      } catch (const std::exception& e) {
        FAIL() << "after kill " << kills << ": " << e.what() << "\n" << slurp(log);
      }
    }
  }
  ASSERT_TRUE(finished) << "did not finish in time after " << kills << " kills\n" << slurp(log);
  std::printf("%d kills (%d while a checkpoint was being written), %d starts, reference run %.1f s\n", kills,
              kills_mid_write, starts, ref_s);
  EXPECT_GE(kills, 4);
  EXPECT_GE(kills_mid_write, 1) << "no kill landed during a checkpoint write";

  const Checkpoint got = load_checkpoint(last.string());
  EXPECT_EQ(got.epoch, kEpochs);
  EXPECT_TRUE(same_tensors(got.model, want.model)) << "the resumed run's weights differ from the uninterrupted run's";
  EXPECT_TRUE(same_tensors(got.momentum, want.momentum));

  // One metrics line per epoch, 1..N in order: no line lost to a kill, none written twice.
  std::ifstream metrics(run / "metrics.jsonl");
  std::vector<int> epochs;
  for (std::string line; std::getline(metrics, line);) {
    try {
      epochs.push_back(nlohmann::json::parse(line).at("epoch").get<int>());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "bad metrics line '" << line << "': " << e.what();
    }
  }
  std::vector<int> want_epochs(kEpochs);
  for (int e = 0; e < kEpochs; ++e) want_epochs[size_t(e)] = e + 1;
  EXPECT_EQ(epochs, want_epochs) << slurp(run / "metrics.jsonl");
}

}  // namespace
}  // namespace ds::testing
