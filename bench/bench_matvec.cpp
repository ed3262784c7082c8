// Matrix-vector with weights far beyond cache: 3-bit DenseShift codes through the engine's
// kernels vs OpenBLAS sgemv on the same shape (issue 4's "5x" target: 3-bit codes move 10.7x
// fewer bytes than FP32). Baseline and candidates are interleaved round by round; the summary
// prints the median time of each and the ratio to sgemv.
// Run: build/bench/bench_matvec [--size M] [--batch N] [--rounds R]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/codes.h"
#include "kernels/kernels.h"

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

}  // namespace

int main(int argc, char** argv) {
  int M = 16384, N = 1, rounds = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size")) M = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--batch")) N = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  const int K = M, bits = 3;
  openblas_set_num_threads(1);  // one thread for every contender
  std::mt19937 rng(1);
  const size_t row_bytes = ds::core::packed_bytes(size_t(K), bits);
  std::vector<uint8_t> codes(size_t(M) * row_bytes);
  for (auto& b : codes) b = uint8_t(rng());
  std::vector<float> W(size_t(M) * K), x(size_t(K) * N), y(size_t(M) * N);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : W) v = u(rng);
  for (auto& v : x) v = u(rng);

  std::map<std::string, std::vector<double>> ms;
  std::vector<const ds::kernels::KernelInfo*> ks;
  for (const auto& k : ds::kernels::all_kernels())
    if (k.weights == ds::kernels::WeightSet::kDenseShift && k.supported()) ks.push_back(&k);
  for (int r = 0; r < rounds + 1; ++r) {  // round 0 warms caches and pages
    double t = time_ms([&] {
      if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.f, W.data(), K, x.data(), 1, 0.f, y.data(), 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, W.data(), K, x.data(), N, 0.f, y.data(), N);
    });
    if (r) ms["openblas"].push_back(t);
    for (const auto* k : ks) {
      ds::kernels::GemmArgs a{codes.data(), row_bytes, bits, M, K, N, x.data(), y.data()};
      double tk = time_ms([&] { k->fn(a); });
      if (r) ms[k->name].push_back(tk);
    }
  }
  const double base = median(ms["openblas"]);
  std::printf("%dx%d weights, batch %d, 1 thread, median of %d interleaved rounds\n", M, K, N, rounds);
  std::printf("  %-22s %10.2f ms   (FP32 weights: %.0f MB)\n", N == 1 ? "openblas sgemv" : "openblas sgemm", base,
              double(W.size()) * 4 / 1e6);
  for (const auto* k : ks) {
    const double t = median(ms[k->name]);
    std::printf("  %-22s %10.2f ms   %.2fx openblas   (codes: %.0f MB)\n", k->name, t, base / t, double(codes.size()) / 1e6);
  }
  return 0;
}
