// The .dsm loader: Engine::from_bytes (container, META/GRPH/WGTS parsing, shape checks, layer
// preparation), then one image of zeros through the model, on a kernel picked by the input,
// when the model is small enough to run fast.
// Documented errors: core::FormatError.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "dsm_mutator.h"
#include "harness.h"
#include "runtime/engine.h"

namespace {

// Floats of every activation of one image, from the summary's "... -> CxHxW" lines (the
// engine exposes no other view of its shapes). A line in another form aborts, so a summary
// format change fails the replay test instead of silently disabling the run.
size_t activation_floats(const ds::rt::Engine& e) {
  size_t total = size_t(e.info().in_c) * e.info().in_h * e.info().in_w;
  std::istringstream lines(e.summary());
  for (std::string line; std::getline(lines, line);) {
    unsigned long c = 0, h = 0, w = 0;
    const size_t arrow = line.rfind("-> ");
    if (arrow == std::string::npos || std::sscanf(line.c_str() + arrow, "-> %lux%lux%lu", &c, &h, &w) != 3) {
      std::fprintf(stderr, "fuzz_dsm: unexpected summary line \"%s\"\n", line.c_str());
      std::abort();
    }
    total += c * h * w;
  }
  return total;
}

// Running costs about (activations x weights per output); a loaded file's weights are at most
// its size, so the product bounds the work of one execution.
constexpr size_t kMaxRunWork = size_t(1) << 26;

}  // namespace

DS_FUZZ_TARGET(dsm) {
  try {
    const std::vector<uint8_t> bytes(data, data + size);
    auto engine = ds::rt::Engine::from_bytes(bytes, "fuzz.dsm", {"", 1});
    ds::fuzz::note_accepted();
    const size_t acts = activation_floats(engine);
    if (acts * std::max<size_t>(size, 1) > kMaxRunWork) return 0;
    // Run on one of the kernels that can run these weights, chosen by the input's checksum (so a
    // finding replays on the same kernel): every kernel this CPU has gets odd shapes.
    const auto kernels = ds::kernels::kernels_for(engine.quantized_weights());
    if (!kernels.empty()) {
      const char* name = kernels[ds::core::crc32(data, size) % kernels.size()]->name;
      engine = ds::rt::Engine::from_bytes(bytes, "fuzz.dsm", {name, 1});
    }
    const auto& info = engine.info();
    const std::vector<float> zeros(size_t(info.in_c) * info.in_h * info.in_w, 0.f);
    if (engine.run(zeros.data(), 1).size() != info.num_classes) {
      std::fprintf(stderr, "fuzz_dsm: run() returned the wrong number of logits\n");
      std::abort();
    }
  } catch (const ds::core::FormatError&) {
  }
  return 0;
}

#ifdef DS_LIBFUZZER
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

// Three kinds of mutation, by the seed: mostly one section's payload mutated and the container
// rewritten around it (valid by construction, so the time goes to read_model() and the
// engine); else libFuzzer's byte mutation of the whole file, resealed (table, offsets, sizes);
// and one in 16 left with its broken checksums, so the container's own checks stay covered.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  if (seed % 16 == 0) return LLVMFuzzerMutate(data, size, max_size);
  if (seed % 4 != 1) {
    if (const size_t n = ds::fuzz::mutate_dsm_section(data, size, max_size, seed / 16, LLVMFuzzerMutate)) return n;
  }
  size = LLVMFuzzerMutate(data, size, max_size);
  ds::fuzz::reseal_dsm(data, size);
  return size;
}
#endif
