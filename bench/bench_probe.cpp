// The machine's limits for the benchmark report (issue 4): streaming memory bandwidth and FP32
// FMA peak, at 1 thread and at all cores. Every kernel's time in docs/benchmarks.md is set
// against the limit that binds it (bandwidth for matrix-vector, FMA peak for convolutions).
//
//   read   sum of a 1 GiB buffer with AVX2 loads (4 independent accumulators), bytes read / s
//   copy   512 MiB -> 512 MiB with AVX2 loads and stores, (read + written) bytes / s, as STREAM counts
//   fma    independent FMA chains on __m256 (and __m512 where the CPU has AVX-512F), 2 flops per lane
//   expadd the multiply-free kernels' product (f32_pgemm_expadd_*): an integer add of a weight's
//          exponent word to the bits of x, then a float add into an accumulator, in independent
//          chains; products per second (1 per lane), the rate no multiply-free kernel can pass.
//          Where integer and float adds share the FMA ports (Intel) it is half the FMA's rate of
//          multiply-adds; with separate adders (AMD Zen 3 and 4) it comes close (Zen 3: 42-45 G
//          products/s against 48 G FMAs a core, in a quiet round; see the rounds below).
//   tile   the 6x16 register tile of the panel kernels, FMA and exp-add, data in L1 (tile_avx2)
//   gather the one-add alternative to the exp-add: x * (+-2^p) precomputed for every code (copies
//          of the input), so a product is one float add with the chosen copy as a memory operand
//          and no register reuse; products per second from L1 (gather_avx2)
//
// Compiled without ISA flags: the SIMD functions carry target attributes and run after the CPU
// check. Each figure is the best of --reps runs (a limit is the most the machine gives). Threads split
// the buffer (or run their own chains) and start together behind a barrier.
// Run: build/bench/bench_probe [--out probe.json] [--mib 1024] [--reps 5] [--quick]
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Runs body(t) on n threads started together; returns the wall time of the slowest, in seconds.
double run_threads(int n, const std::function<void(int)>& body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> secs(size_t(n), 0.0);
  std::vector<std::thread> ts;
  Clock::time_point start;
  for (int t = 0; t < n; ++t)
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      body(t);
      secs[size_t(t)] = std::chrono::duration<double>(Clock::now() - start).count();
    });
  while (ready.load() < n) {
  }
  start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : ts) th.join();
  return *std::max_element(secs.begin(), secs.end());
}

volatile float g_sink;  // keeps the reductions alive

__attribute__((target("avx2"))) void read_range(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  float v[8];
  _mm256_storeu_ps(v, s);
  g_sink = v[0] + v[7];
}

__attribute__((target("avx2"))) void copy_range(const float* src, float* dst, size_t n) {
  for (size_t i = 0; i + 32 <= n; i += 32) {
    __m256 x0 = _mm256_load_ps(src + i), x1 = _mm256_load_ps(src + i + 8), x2 = _mm256_load_ps(src + i + 16),
           x3 = _mm256_load_ps(src + i + 24);
    _mm256_store_ps(dst + i, x0);
    _mm256_store_ps(dst + i + 8, x1);
    _mm256_store_ps(dst + i + 16, x2);
    _mm256_store_ps(dst + i + 24, x3);
  }
}

// 12 independent chains: more than latency (4) x FMA ports (2) on current x86 cores.
constexpr int kChains = 12;

__attribute__((target("avx2,fma"))) double fma_avx2(long iters) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(float(c) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i)  // chains unrolled so the accumulators stay in registers
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  float v[8], s = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm256_storeu_ps(v, acc[c]);
    s += v[0];
  }
  g_sink = s;
  return double(iters) * kChains * 8 * 2;
}

__attribute__((target("avx512f"))) double fma_avx512(long iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i)  // chains unrolled so the accumulators stay in registers
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  float v[16], s = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm512_storeu_ps(v, acc[c]);
    s += v[0];
  }
  g_sink = s;
  return double(iters) * kChains * 16 * 2;
}

// The exponent-add product on kChains accumulators: x's bits change every step (an empty asm the
// compiler cannot see through), so the integer adds stay in the loop as in the kernels.
__attribute__((target("avx2"))) double expadd_avx2(long iters) {
  __m256 acc[kChains];
  __m256i w[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_setzero_ps(), w[c] = _mm256_set1_epi32(int(uint32_t(c) << 23));
  __m256i x = _mm256_set1_epi32(int(1u << 23));
  for (long i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+x"(x));
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_add_ps(acc[c], _mm256_castsi256_ps(_mm256_add_epi32(x, w[c])));
  }
  float v[8], s = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm256_storeu_ps(v, acc[c]);
    s += v[0];
  }
  g_sink = s;
  return double(iters) * kChains * 8;
}

__attribute__((target("avx512f"))) double expadd_avx512(long iters) {
  __m512 acc[kChains];
  __m512i w[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_setzero_ps(), w[c] = _mm512_set1_epi32(int(uint32_t(c) << 23));
  __m512i x = _mm512_set1_epi32(int(1u << 23));
  for (long i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+v"(x));
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_add_ps(acc[c], _mm512_castsi512_ps(_mm512_add_epi32(x, w[c])));
  }
  float v[16], s = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm512_storeu_ps(v, acc[c]);
    s += v[0];
  }
  g_sink = s;
  return double(iters) * kChains * 16;
}

// The 6x16 register tile as the panel kernels run it (pgemm_avx2.h, f32_pgemm_*_6x16_avx2): per k,
// 16 floats of x through an offset table (two YMM), 6 weights broadcast from memory, 12 products
// into 12 accumulators; K = 256 steps over x and weights that stay in L1, repeated. It is the
// loop's own ceiling, loads and broadcasts included, which the independent chains above leave
// out; G products (multiply-adds) per second for both forms. Zen 3: the exp-add tile reached
// about 0.75x of the FMA tile, where the bare chains gave 0.88x.
constexpr int kTileK = 256;

template <bool kExpAdd>
__attribute__((target("avx2,fma"))) double tile_avx2(long iters) {
  std::vector<float> x(kTileK * 16 + 16, 0.5f);
  std::vector<uint32_t> w(kTileK * 6);
  std::vector<int32_t> off(kTileK);
  for (int k = 0; k < kTileK; ++k) off[size_t(k)] = int32_t((k * 16 * 7) % (kTileK * 16));
  for (size_t i = 0; i < w.size(); ++i) {
    const float f = (i & 1) ? -0.5f : 0.25f;  // FMA: the value; exp-add: its exponent word
    std::memcpy(&w[i], &f, 4);
    if (kExpAdd) w[i] = uint32_t(i & 1) << 31 | uint32_t(-int(i % 3)) << 23;
  }
  __m256 total = _mm256_setzero_ps();
  const long reps = iters / kTileK;
  for (long r = 0; r < reps; ++r) {
    // Fresh accumulators per run of K, as a kernel's tile starts and stores them: kept across
    // runs, GCC held them in memory.
    __m256 acc[6][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
    const float* b0 = x.data();
    __asm__ volatile("" : "+r"(b0));  // x may have changed: the loads stay in the loop
    const float* b1 = b0 + 8;
#pragma GCC unroll 2
    for (int k = 0; k < kTileK; ++k) {
      const int32_t o = off[size_t(k)];
      const __m256 x0 = _mm256_loadu_ps(b0 + o), x1 = _mm256_loadu_ps(b1 + o);
      const float* wk = reinterpret_cast<const float*>(w.data()) + k * 6;
#pragma GCC unroll 6
      for (int q = 0; q < 6; ++q) {
        const __m256 b = _mm256_broadcast_ss(wk + q);
        if constexpr (kExpAdd) {
          const __m256i bi = _mm256_castps_si256(b);
          acc[q][0] = _mm256_add_ps(acc[q][0], _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(x0), bi)));
          acc[q][1] = _mm256_add_ps(acc[q][1], _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(x1), bi)));
        } else {
          acc[q][0] = _mm256_fmadd_ps(x0, b, acc[q][0]);
          acc[q][1] = _mm256_fmadd_ps(x1, b, acc[q][1]);
        }
      }
    }
    for (auto& a : acc) total = _mm256_add_ps(total, _mm256_add_ps(a[0], a[1]));
  }
  float v[8];
  _mm256_storeu_ps(v, total);
  g_sink = v[0];
  return double(reps) * kTileK * 96;
}

// The one-add form (session 20's idea, not built): with x * (+-2^p) precomputed for each of the
// code's values (2^bits copies of the input), a product is one float add of the copy the weight's
// code picks, as a memory operand, into an accumulator of 8 pixels; per step one offset load
// (code -> copy) and 7 such adds into 7 accumulators. No value loaded is reused, so it measures
// how many memory-operand adds a core sustains: on Zen 3 the loads bind it (a 32-byte load per 8
// products), well below the float adders' rate. Offsets are 4-byte aligned within 16 KB, as a 3x3
// tap's are (kUnaligned, the figure the report quotes), or 32-byte aligned (printed beside it; on
// Zen 3 no faster: 30.6 against 32.1 G products/s, --quick).
template <bool kUnaligned>
__attribute__((target("avx2"))) double gather_avx2(long iters) {
  constexpr int kSpan = 16 * 1024 / 4, kOffsets = 1024;
  std::vector<float> x(kSpan + 64, 1e-3f);
  std::vector<int32_t> off(kOffsets);
  uint32_t seed = 12345;
  for (auto& o : off) {
    seed = seed * 1664525u + 1013904223u;
    const int32_t f = int32_t((seed >> 8) % uint32_t(kSpan - 56));
    o = int32_t(sizeof(float)) * (kUnaligned ? f : f & ~7);
  }
  __m256 acc[7];
  for (auto& a : acc) a = _mm256_setzero_ps();
  const char* base = reinterpret_cast<const char*>(x.data());
  __asm__ volatile("" : "+r"(base));
  for (long i = 0; i < iters; ++i) {
    const float* q = reinterpret_cast<const float*>(base + off[size_t(i & (kOffsets - 1))]);
#pragma GCC unroll 7
    for (int j = 0; j < 7; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_loadu_ps(q + 8 * j));
  }
  float v[8], s = 0;
  for (auto& a : acc) {
    _mm256_storeu_ps(v, a);
    s += v[0];
  }
  g_sink = s;
  return double(iters) * 7 * 8;
}

struct Result {
  double read1 = 0, read_all = 0, copy1 = 0, copy_all = 0, fma2_1 = 0, fma2_all = 0, fma5_1 = 0, fma5_all = 0;
  double ea2_1 = 0, ea2_all = 0, ea5_1 = 0, ea5_all = 0;  // exponent-add products, G/s
  double tf_1 = 0, tf_all = 0, te_1 = 0, te_all = 0;      // the 6x16 tile, FMA and exp-add, G products/s
  double ga_1 = 0, ga_all = 0, gu_1 = 0, gu_all = 0;      // one-add gather, aligned and not, G products/s
};

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  size_t mib = 1024;
  int reps = 5;
  long fma_iters = 50'000'000;
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : argv[i]; };
    if (!std::strcmp(argv[i], "--out")) out = next();
    else if (!std::strcmp(argv[i], "--mib")) mib = size_t(std::atol(next()));
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(next());
    else if (!std::strcmp(argv[i], "--quick")) mib = 256, reps = 3, fma_iters = 10'000'000;
    else {
      std::fprintf(stderr, "usage: %s [--out FILE] [--mib N] [--reps N] [--quick]\n", argv[0]);
      return 2;
    }
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "bench_probe: this CPU has no AVX2+FMA\n");
    return 1;
  }
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int all = int(std::max(1u, std::thread::hardware_concurrency()));
  const size_t n = mib * (size_t(1) << 20) / sizeof(float);
  Result r;

  {
    float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
    for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023) * 1e-3f;  // touch every page
    for (int threads : {1, all}) {
      double best = 0;
      for (int rep = 0; rep < reps; ++rep) {
        const size_t chunk = (n / size_t(threads)) & ~size_t(31);
        double s = run_threads(threads, [&](int t) { read_range(buf + size_t(t) * chunk, chunk); });
        best = std::max(best, double(chunk) * threads * sizeof(float) / s / 1e9);
      }
      (threads == 1 ? r.read1 : r.read_all) = best;
      if (all == 1) r.read_all = best;
    }
    // Copy: the same bytes in total, half as source and half as destination.
    const size_t h = (n / 2) & ~size_t(63);
    for (int threads : {1, all}) {
      double best = 0;
      for (int rep = 0; rep < reps; ++rep) {
        const size_t chunk = (h / size_t(threads)) & ~size_t(31);
        double s = run_threads(threads, [&](int t) { copy_range(buf + size_t(t) * chunk, buf + h + size_t(t) * chunk, chunk); });
        best = std::max(best, 2.0 * double(chunk) * threads * sizeof(float) / s / 1e9);
      }
      (threads == 1 ? r.copy1 : r.copy_all) = best;
      if (all == 1) r.copy_all = best;
    }
    std::free(buf);
  }

  // One rate of fn on `threads` threads, in G per second (flops, or products for exp-add).
  auto rate = [&](double (*fn)(long), int threads) {
    std::vector<double> flops(static_cast<size_t>(threads), 0.0);
    double s = run_threads(threads, [&](int t) { flops[size_t(t)] = fn(fma_iters); });
    double f = 0;
    for (double x : flops) f += x;
    return f / s / 1e9;
  };
  // The FMA and exp-add probes run in interleaved rounds, each keeping its best: on a shared
  // core (a virtual machine whose physical core also runs someone else's thread) the exp-add
  // product, which needs all four vector pipes of an AMD Zen 3, loses more to the neighbour than
  // the FMA (two pipes) does; measured there, a round's exp-add went from 28 to 45 G products/s
  // within minutes while the FMA stayed at 47. A limit taken from one short window could be
  // either; the best of rounds spread over the run is the core's own.
  struct Probe {
    double (*fn)(long);
    double *one, *every;
  };
  std::vector<Probe> probes = {{fma_avx2, &r.fma2_1, &r.fma2_all},
                               {expadd_avx2, &r.ea2_1, &r.ea2_all},
                               {tile_avx2<false>, &r.tf_1, &r.tf_all},
                               {tile_avx2<true>, &r.te_1, &r.te_all},
                               {gather_avx2<false>, &r.ga_1, &r.ga_all},
                               {gather_avx2<true>, &r.gu_1, &r.gu_all}};
  if (avx512) {
    probes.push_back({fma_avx512, &r.fma5_1, &r.fma5_all});
    probes.push_back({expadd_avx512, &r.ea5_1, &r.ea5_all});
  }
  for (int rep = 0; rep < reps; ++rep)
    for (const Probe& p : probes) {
      *p.one = std::max(*p.one, rate(p.fn, 1));
      *p.every = all == 1 ? *p.one : std::max(*p.every, rate(p.fn, all));
    }

  std::printf("machine limits (best of %d, %zu MiB buffer)\n", reps, mib);
  std::printf("  threads                    1        %d\n", all);
  std::printf("  read bandwidth GB/s  %8.1f %8.1f\n", r.read1, r.read_all);
  std::printf("  copy bandwidth GB/s  %8.1f %8.1f\n", r.copy1, r.copy_all);
  std::printf("  AVX2 FMA GFLOP/s     %8.1f %8.1f\n", r.fma2_1, r.fma2_all);
  if (avx512) std::printf("  AVX-512 FMA GFLOP/s  %8.1f %8.1f\n", r.fma5_1, r.fma5_all);
  else std::printf("  AVX-512 FMA          not available\n");
  std::printf("  AVX2 exp-add Gprod/s %8.1f %8.1f\n", r.ea2_1, r.ea2_all);
  if (avx512) std::printf("  AVX-512 exp-add Gp/s %8.1f %8.1f\n", r.ea5_1, r.ea5_all);
  std::printf("  6x16 tile FMA Gprod/s %7.1f %8.1f\n", r.tf_1, r.tf_all);
  std::printf("  6x16 tile e-a Gprod/s %7.1f %8.1f\n", r.te_1, r.te_all);
  std::printf("  one-add gather Gp/s  %8.1f %8.1f (32-byte aligned: %.1f %.1f)\n", r.gu_1, r.gu_all, r.ga_1, r.ga_all);

  if (!out.empty()) {
    FILE* f = std::fopen(out.c_str(), "w");
    if (!f) {
      std::perror(out.c_str());
      return 1;
    }
    std::fprintf(f,
                 "{\n  \"threads_all\": %d,\n  \"buffer_mib\": %zu,\n  \"reps\": %d,\n"
                 "  \"read_gbs\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"copy_gbs\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"fma_avx2_gflops\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"fma_avx512_gflops\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"expadd_avx2_gprods\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"expadd_avx512_gprods\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"tile_fma_avx2_gprods\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"tile_expadd_avx2_gprods\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"gather_avx2_gprods\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"gather_aligned_avx2_gprods\": {\"1\": %.3f, \"all\": %.3f},\n"
                 "  \"avx512\": %s\n}\n",
                 all, mib, reps, r.read1, r.read_all, r.copy1, r.copy_all, r.fma2_1, r.fma2_all, r.fma5_1, r.fma5_all,
                 r.ea2_1, r.ea2_all, r.ea5_1, r.ea5_all, r.tf_1, r.tf_all, r.te_1, r.te_all, r.gu_1, r.gu_all, r.ga_1, r.ga_all, avx512 ? "true" : "false");
    std::fclose(f);
  }
  return 0;
}
