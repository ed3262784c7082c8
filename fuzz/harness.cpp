// The harness registry and the scratch folder of harness.h.
#include "harness.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace ds::fuzz {

namespace fs = std::filesystem;

std::vector<NamedTarget>& targets() {
  static std::vector<NamedTarget> all;  // function-local: safe from static-init order
  return all;
}

bool register_target(const char* name, Target fn) {
  targets().push_back({name, fn});
  return true;
}

namespace {

bool g_accepted = false;  // harnesses run on one thread

}  // namespace

void note_accepted() { g_accepted = true; }

bool take_accepted() {
  const bool a = g_accepted;
  g_accepted = false;
  return a;
}

namespace {

fs::path make_scratch() {
  // $TMPDIR when set (scripts/fuzz.sh points it at a folder it removes afterwards, since a
  // crashing process never cleans up), else /dev/shm: a harness writes a file per
  // execution, and tmpfs keeps that off the disk.
  std::error_code ec;
  const char* tmpdir = std::getenv("TMPDIR");
  const fs::path base = tmpdir && *tmpdir ? fs::path(tmpdir)
                        : fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm")
                                                           : fs::temp_directory_path();
  std::string templ = (base / "denseshift_fuzz_XXXXXX").string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("fuzz: cannot create a scratch folder in " + base.string());
  return templ;
}

// Removed with everything in it when the process exits normally (a crash leaves it behind;
// scripts/fuzz.sh runs the fuzzers with TMPDIR on a folder it removes itself).
struct Scratch {
  fs::path dir = make_scratch();
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const fs::path& scratch() {
  static const Scratch s;
  return s.dir;
}

}  // namespace

std::string write_temp_file(const std::string& name, const uint8_t* data, size_t size) {
  const fs::path p = scratch() / name;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  f.close();
  if (!f) throw std::runtime_error("fuzz: cannot write " + p.string());
  return p.string();
}

}  // namespace ds::fuzz
