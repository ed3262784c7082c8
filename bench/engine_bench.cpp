// engine_bench: times the engine on a .dsm model without libtorch, for ARM boards where the
// `denseshift bench` CLI (which links libtorch) is not built. See docs/arm.md.
// Usage: engine_bench MODEL.dsm [KERNEL] [THREADS] [BATCH] [REPS]
// DS_BENCH_TIMES=FILE writes each timed run's ms to FILE, one per line, in order; DS_PROFILE=1
// prints the engine's per-layer times (runtime/engine.cpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.dsm [KERNEL] [THREADS] [BATCH] [REPS]\n", argv[0]);
    return 2;
  }
  try {
    const ds::rt::EngineOptions opt{argc > 2 ? argv[2] : "", argc > 3 ? std::atoi(argv[3]) : 0};
    const int batch = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
    const int reps = argc > 5 ? std::max(1, std::atoi(argv[5])) : 50;
    const ds::rt::Engine e = ds::rt::Engine::load(argv[1], opt);
    const auto& in = e.info();
    // Mid-grey images: the timing does not depend on the pixel values (no data-dependent
    // branches in the NEON kernels), only on shapes.
    std::vector<float> x(size_t(batch) * in.in_c * in.in_h * in.in_w, 0.5f);
    e.run(x.data(), batch);  // warm-up: scratch buffers, threads
    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      e.run(x.data(), batch);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (const char* file = std::getenv("DS_BENCH_TIMES")) {  // each run's time, in order (scripts/speed_modes.sh)
      FILE* f = std::fopen(file, "w");
      if (!f) throw std::runtime_error(std::string("cannot write ") + file);
      for (double v : ms) std::fprintf(f, "%.4f\n", v);
      std::fclose(f);
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2], p90 = ms[ms.size() * 9 / 10];
    std::printf("%s batch %d: median %.3f ms, p90 %.3f ms, %.1f images/s\n", e.kernel().name, batch,
                med, p90, 1000.0 * batch / med);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "engine_bench: %s\n", ex.what());
    return 1;
  }
  return 0;
}
