// Matrix-vector with weights far beyond cache: DenseShift codes through the matvec kernels
// (kernels/matvec.h, their own K-vectorized layout) and the GEMM kernels (kernels.h, tight rows)
// vs OpenBLAS sgemv (batch 1) / sgemm (batch > 1) on the same shape (issue 4's "5x" target:
// 3-bit codes move 10.7x fewer bytes than FP32). Contenders are interleaved round by round
// (round 0 only warms caches and pages); the summary prints each one's median time, the bytes
// it must move (weights + x + y), the resulting GB/s and the ratio to OpenBLAS.
//
// Threads: OpenBLAS gets openblas_set_num_threads(T). Our kernels are split by rows over T
// threads of a small persistent pool created once before timing: T-1 workers sleep on a
// condition variable between calls, the calling thread takes the first share and then waits
// (spinning with yield) for the others, so a timed call includes one wake-up of the workers.
// With T > 1 the bench pauses 250 ms after each OpenBLAS call, so that OpenBLAS's idle threads
// (which spin for about 2^28 cycles after a call) have gone to sleep before our kernels run.
//
// Run: build/bench/bench_matvec [--size M] [--batch N] [--rounds R] [--threads T] [--bits B]
//                               [--no-gemm] [--scalar]
//   --no-gemm: leave out the tight-row GEMM kernels (slow at batch 1: they vectorize along N)
//   --scalar:  include the portable *_scalar kernels (slow: seconds per call at 16384)
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/codes.h"
#include "kernels/kernels.h"
#include "kernels/matvec.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double time_ms(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// T-1 persistent workers plus the calling thread; run(f) calls f(0..T-1) once each.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { loop(t); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return int(workers_.size()) + 1; }
  void run(const std::function<void(int)>& f) {
    if (workers_.empty()) {
      f(0);
      return;
    }
    pending_.store(int(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &f;
      ++gen_;
    }
    cv_.notify_all();
    f(0);
    while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

 private:
  void loop(int t) {
    unsigned long seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || gen_ != seen; });
        if (stop_) return;
        seen = gen_;
        job = job_;
      }
      (*job)(t);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int)>* job_ = nullptr;
  unsigned long gen_ = 0;
  bool stop_ = false;
  std::atomic<int> pending_{0};
};

// Rows [lo, hi) of share t out of T, on multiples of `align` rows.
void share(int M, int align, int t, int T, int* lo, int* hi) {
  const int blocks = (M + align - 1) / align, per = (blocks + T - 1) / T;
  *lo = std::min(M, t * per * align);
  *hi = std::min(M, (t + 1) * per * align);
}

}  // namespace

int main(int argc, char** argv) {
  int M = 16384, N = 1, rounds = 7, T = 1, bits = 3;
  bool gemm = true, scalar = false;
  for (int i = 1; i < argc; ++i) {
    const bool has = i + 1 < argc;
    if (!std::strcmp(argv[i], "--size") && has) M = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && has) N = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--rounds") && has) rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && has) T = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--bits") && has) bits = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-gemm")) gemm = false;
    else if (!std::strcmp(argv[i], "--scalar")) scalar = true;
    else {
      std::fprintf(stderr, "unknown or incomplete option %s\n", argv[i]);
      return 2;
    }
  }
  if (M < 1 || N < 1 || rounds < 1 || T < 1 || bits < 2 || bits > 5) {
    std::fprintf(stderr, "bad --size/--batch/--rounds/--threads/--bits\n");
    return 2;
  }
  const int K = M;
  openblas_set_num_threads(T);
  Pool pool(T);

  std::mt19937 rng(1);
  const size_t row_bytes = ds::core::packed_bytes(size_t(K), bits);
  std::vector<uint8_t> codes(size_t(M) * row_bytes);
  for (auto& b : codes) b = uint8_t(rng());
  std::vector<uint8_t> packed(ds::kernels::matvec_packed_bytes(M, K, bits));
  ds::kernels::matvec_pack(codes.data(), row_bytes, bits, M, K, packed.data());
  std::vector<float> W(size_t(M) * K), x(size_t(K) * N), xt(size_t(N) * K), y(size_t(M) * N);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : W) v = u(rng);
  for (auto& v : x) v = u(rng);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) xt[size_t(n) * K + k] = x[size_t(k) * N + n];  // N x K for matvec

  std::vector<const ds::kernels::KernelInfo*> ks;
  if (gemm) {
    for (const auto& k : ds::kernels::all_kernels()) {
      const bool is_scalar = std::strstr(k.name, "_scalar") != nullptr;
      if (k.weights == ds::kernels::WeightSet::kDenseShift && k.supported() && (scalar || !is_scalar)) {
        ks.push_back(&k);
      }
    }
  }
  std::vector<const ds::kernels::MatvecKernelInfo*> mvs;
  for (const auto& k : ds::kernels::all_matvec_kernels())
    if (k.supported() && (scalar || std::strstr(k.name, "_scalar") == nullptr)) mvs.push_back(&k);

  const int R = ds::kernels::matvec_row_block();
  std::map<std::string, std::vector<double>> ms;
  for (int r = 0; r < rounds + 1; ++r) {  // round 0 warms caches and pages
    double t = time_ms([&] {
      if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.f, W.data(), K, x.data(), 1, 0.f, y.data(), 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, W.data(), K, x.data(), N, 0.f,
                    y.data(), N);
    });
    if (r) ms["openblas"].push_back(t);
    if (T > 1) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (const auto* k : mvs) {
      const std::function<void(int)> job = [&](int th) {
        ds::kernels::MatvecArgs a{packed.data(), bits, M, K, N, xt.data(), y.data(), nullptr, nullptr, false, 0, 0};
        share(M, R, th, T, &a.m0, &a.m1);
        if (a.m1 > a.m0) k->fn(a);
      };
      double tk = time_ms([&] { pool.run(job); });
      if (r) ms[k->name].push_back(tk);
    }
    for (const auto* k : ks) {
      const std::function<void(int)> job = [&](int th) {
        int lo, hi;
        share(M, 1, th, T, &lo, &hi);
        if (hi <= lo) return;
        ds::kernels::GemmArgs a{codes.data() + size_t(lo) * row_bytes, row_bytes, bits, hi - lo, K, N, x.data(),
                                y.data() + size_t(lo) * N};
        k->fn(a);
      };
      double tk = time_ms([&] { pool.run(job); });
      if (r) ms[k->name].push_back(tk);
    }
  }

  const double xy_bytes = double(K) * N * 4 + double(M) * N * 4;
  auto line = [&](const char* name, double t, double bytes, double base, const char* what) {
    std::printf("  %-28s %9.2f ms  %8.1f MB  %6.1f GB/s  %6.2fx openblas   %s\n", name, t, bytes / 1e6,
                bytes / t / 1e6, base / t, what);
  };
  const double base = median(ms["openblas"]);
  std::printf("%dx%d weights, %d-bit codes, batch %d, %d thread%s, median of %d interleaved rounds\n", M, K,
              bits, N, T, T > 1 ? "s" : "", rounds);
  line(N == 1 ? "openblas sgemv" : "openblas sgemm", base, double(W.size()) * 4 + xy_bytes, base, "FP32 weights");
  char what[96];
  std::snprintf(what, sizeof what, "matvec layout, %.2f bits/weight", double(packed.size()) * 8 / double(M) / K);
  for (const auto* k : mvs) line(k->name, median(ms[k->name]), double(packed.size()) + xy_bytes, base, what);
  for (const auto* k : ks) line(k->name, median(ms[k->name]), double(codes.size()) + xy_bytes, base, "tight rows");
  return 0;
}
