// A small tmpfs mounted on a fresh folder, for tests of what happens when the disk fills up.
// Mounting needs CAP_SYS_ADMIN (root, or a container that grants it): where it is refused,
// reason() says why and the test skips with it. Unmounted and removed on destruction.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "common/temp_dir.h"

namespace ds::testing {

class SmallTmpfs {
 public:
  explicit SmallTmpfs(size_t bytes) : dir_("denseshift_tmpfs") {
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir_.path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) == 0) {
      mounted_ = true;
    } else {
      reason_ = "cannot mount a tmpfs on " + dir_.path.string() + ": " + std::strerror(errno) +
                " (needs root or CAP_SYS_ADMIN)";
    }
  }
  ~SmallTmpfs() {
    // MNT_DETACH: a file a failed test left open must not keep the mount (and the folder) alive.
    if (mounted_) ::umount2(dir_.path.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& reason() const { return reason_; }
  std::string str(const std::string& rel = "") const { return dir_.str(rel); }

  // Writes "filler" until the file system refuses more; returns the errno that stopped it
  // (ENOSPC when the disk is really full).
  int fill() const {
    const int fd = ::open(str("filler").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    const std::vector<char> block(4096, 'f');
    int e = 0;
    for (size_t chunk = block.size(); e == 0;) {
      const ssize_t n = ::write(fd, block.data(), chunk);
      if (n < 0) {
        if (errno != ENOSPC || chunk == 1) e = errno;
        else chunk = 1;  // top off the last partial page byte by byte
      }
    }
    ::close(fd);
    return e;
  }

  // Names in the folder other than "filler".
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path))
      if (e.path().filename() != "filler") out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  TempDirBase dir_;
  bool mounted_ = false;
  std::string reason_;
};

}  // namespace ds::testing
