// The frame every fuzz harness shares. A harness is one function of (data, size), declared
// with DS_FUZZ_TARGET(name). The same source is built twice:
//  - by clang with -DDS_LIBFUZZER (scripts/fuzz.sh, build-fuzz): the function becomes the
//    libFuzzer entry point of the executable fuzz_<name>;
//  - by the normal build: the function registers itself under `name`, and test_fuzz_replay
//    feeds it every committed input in fuzz/corpus/<name> and fuzz/regressions/<name>.
// A harness catches only the errors its reader documents; anything else propagates and is a
// finding (a crash under libFuzzer, a failed test in the replay).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::fuzz {

using Target = int (*)(const uint8_t* data, size_t size);

struct NamedTarget {
  std::string name;
  Target fn;
};

// Registered harnesses (replay build only), in registration order.
std::vector<NamedTarget>& targets();
bool register_target(const char* name, Target fn);

// A harness calls note_accepted() when its reader accepted the input. The replay test requires
// that of every seed: a seed the reader refuses would only lead the fuzzer into one error path.
void note_accepted();
bool take_accepted();  // whether note_accepted() was called since the last take_accepted()

// A per-process scratch folder (created on first use, removed at exit), for readers that take
// paths. Writes `size` bytes to <folder>/<name> and returns the path.
std::string write_temp_file(const std::string& name, const uint8_t* data, size_t size);

}  // namespace ds::fuzz

#ifdef DS_LIBFUZZER
#define DS_FUZZ_ENTRY_(name)                                                  \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return ds_fuzz_##name(data, size);                                      \
  }
#else
#define DS_FUZZ_ENTRY_(name) \
  [[maybe_unused]] static const bool ds_fuzz_registered_##name = ::ds::fuzz::register_target(#name, ds_fuzz_##name);
#endif

#define DS_FUZZ_TARGET(name)                                   \
  static int ds_fuzz_##name(const uint8_t* data, size_t size); \
  DS_FUZZ_ENTRY_(name)                                         \
  static int ds_fuzz_##name(const uint8_t* data, size_t size)
