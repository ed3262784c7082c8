// A fresh directory under the system temp folder, removed with everything in it. Shared by
// the test suites; the prefix names the suite so leftovers are easy to trace.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace ds::testing {

class TempDirBase {
 public:
  explicit TempDirBase(const std::string& prefix) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           (prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDirBase() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDirBase(const TempDirBase&) = delete;
  TempDirBase& operator=(const TempDirBase&) = delete;
  std::string str(const std::string& rel = "") const { return (path / rel).string(); }

  std::filesystem::path path;
};

}  // namespace ds::testing
