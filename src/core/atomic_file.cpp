#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ds::core {

namespace {

// The OS reason in words a user acts on: a full disk is the common case and strerror's
// "No space left on device" does not say which device or what to do.
std::string reason(int e) {
  if (e == ENOSPC) return "the disk is full (" + std::string(std::strerror(e)) + ")";
  if (e == EDQUOT) return "the disk quota is used up (" + std::string(std::strerror(e)) + ")";
  return e != 0 ? std::strerror(e) : "unknown error";
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string atomic_temp_path(const std::string& path) { return path + ".tmp"; }

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = atomic_temp_path(path);
  auto fail = [&](int e, const char* step, bool remove_tmp) {
    if (remove_tmp) ::unlink(tmp.c_str());
    throw FileWriteError("cannot write " + path + ": " + reason(e) + " (while " + step + " " + tmp + ")", e);
  };

  // A temp file left by a crash is replaced, and O_EXCL then makes sure the write goes to a
  // fresh file of ours, never through a symlink planted at that name.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(errno, "creating", false);
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : ENOSPC;  // a write of 0 bytes means no room was left
      ::close(fd);
      fail(e, "writing", true);
    }
    done += size_t(n);
  }
  // fsync before rename: otherwise a power loss can leave the new name on an empty or short
  // file. Some file systems (NFS) only report a full disk here or at close.
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    fail(e, "flushing", true);
  }
  if (::close(fd) != 0) fail(errno, "closing", true);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno, "renaming", true);

  // Make the rename itself durable (best effort, see the header).
  const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace ds::core
