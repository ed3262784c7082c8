// write_file_atomic and the model writer on top of it: a failed write says why and where,
// leaves the previous file intact and no temp file behind. The disk-full cases run on a small
// tmpfs (skipped, with the reason, where mounting is not permitted).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/small_tmpfs.h"
#include "core/atomic_file.h"
#include "core_test_util.h"

using namespace ds::core;
using namespace ds::core::testing;

namespace {

// A small valid model container; the weights' size sets the file's size.
ContainerWriter model(size_t weights, uint32_t seed) {
  ContainerWriter w;
  w.add("META", payload(16, seed));
  w.add("WGTS", payload(weights, seed + 1));
  return w;
}

}  // namespace

TEST(AtomicFile, ReplacesContentAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.str("f.bin");
  write_file_atomic(path, "first", 5);
  write_file_atomic(path, "second!", 7);
  const auto back = read_all(path);
  EXPECT_EQ(std::string(back.begin(), back.end()), "second!");
  EXPECT_FALSE(fs::exists(atomic_temp_path(path)));
  write_file_atomic(path, nullptr, 0);  // an empty file is a valid file
  EXPECT_EQ(fs::file_size(path), 0u);
}

TEST(AtomicFile, ReplacesATempFileLeftByACrashAndNeverFollowsASymlink) {
  TempDir dir;
  const std::string path = dir.str("f.bin"), victim = dir.str("victim");
  write_file(victim, {'v'});
  fs::create_symlink(victim, atomic_temp_path(path));
  write_file_atomic(path, "new", 3);
  EXPECT_EQ(read_all(victim), std::vector<uint8_t>{'v'});  // the link's target is untouched
  const auto back = read_all(path);
  EXPECT_EQ(std::string(back.begin(), back.end()), "new");
  EXPECT_FALSE(fs::exists(atomic_temp_path(path)));
}

TEST(AtomicFile, ErrorsNameTheFileAndTheReason) {
  TempDir dir;
  const std::string missing = dir.str("no/such/f.bin");
  try {
    write_file_atomic(missing, "x", 1);
    FAIL() << "write into a missing folder succeeded";
  } catch (const FileWriteError& e) {
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos) << e.what();
  }
  // The target is a folder: the rename fails and the temp file goes away with the error.
  const std::string folder = dir.str("folder");
  fs::create_directories(folder + "/inside");
  EXPECT_THROW(write_file_atomic(folder, "x", 1), FileWriteError);
  EXPECT_FALSE(fs::exists(atomic_temp_path(folder)));
  EXPECT_TRUE(fs::is_directory(folder + "/inside"));
}

// Disk full while writing a model: the error says so and names the file; the model written
// before is intact and still opens; no temp file is left to eat the space.
TEST(AtomicFile, DiskFullKeepsThePreviousModel) {
  ds::testing::SmallTmpfs disk(256 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << disk.reason();
  const std::string path = disk.str("model.dsm");
  model(50000, 1).write(path);
  const auto good = read_all(path);
  ASSERT_EQ(good, model(50000, 1).serialize());
  ASSERT_EQ(disk.fill(), ENOSPC);

  try {
    model(100000, 7).write(path);
    FAIL() << "a model bigger than the free space was written";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("disk is full"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  EXPECT_EQ(read_all(path), good);
  EXPECT_NO_THROW(Container::open(path));
  EXPECT_EQ(disk.files(), std::vector<std::string>{"model.dsm"});

  // The same through the raw helper, with the errno for callers that react to it.
  try {
    write_file_atomic(path, good.data(), good.size() * 2);
    FAIL() << "no error on a full disk";
  } catch (const FileWriteError& e) {
    EXPECT_EQ(e.code(), ENOSPC) << e.what();
  }
  EXPECT_EQ(read_all(path), good);
  EXPECT_EQ(disk.files(), std::vector<std::string>{"model.dsm"});
}
