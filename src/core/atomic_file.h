// Replacing a file so that readers, crashes and full disks never see a partial one. The one
// writer of every file the project produces in place (models, checkpoints, run metrics).
// No dependencies beyond the standard library and POSIX.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace ds::core {

// A failed write: the message names the file and the OS reason ("the disk is full" for
// ENOSPC); code() is the errno value for callers that react to a specific one.
class FileWriteError : public std::runtime_error {
 public:
  FileWriteError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Writes `size` bytes to "<path>.tmp" in the same folder, fsyncs and closes it, renames it over
// `path`, then fsyncs the folder (best effort: some file systems refuse it, and the file is
// complete under its name either way). A reader, or a crash at any moment, sees the old file
// or the new one, never a mix. On every failure the temp file is removed and `path` is left as
// it was. A crash (kill -9, power loss) can leave "<path>.tmp" behind; the next write replaces it.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// The temp file write_file_atomic uses for `path` (tests poll for it).
std::string atomic_temp_path(const std::string& path);

}  // namespace ds::core
