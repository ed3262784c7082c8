// Small helpers the benchmark programs share (bench_layers, bench_e2e, bench_report).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace ds::bench {

// A JSON string literal for s (quotes and backslashes escaped; the names written need no more).
inline std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

// The q-quantile of v (0 <= q <= 1), interpolating between neighbours; 0 for no values.
inline double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t i = size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

// "1,8" -> {1, 8}.
inline std::vector<int> parse_list(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p) ++p;
  }
  return v;
}

// The short column name of a kernel: f32_pgemm_fma_6x16_avx2 -> fma, f32_pgemm_fma_6x16_avx512 ->
// fma_avx512, f32_expadd_avx2 -> expadd_avx2 (a tile kernel).
inline std::string short_kernel(std::string n) {
  auto cut = [&](const std::string& part) {
    const size_t p = n.find(part);
    if (p != std::string::npos) n.erase(p, part.size());
  };
  if (n.rfind("f32_pgemm_", 0) == 0) {  // blocked GEMM: fma, hybrid_avx512, ...
    n = n.substr(10);
    cut("_6x16");
    if (n.size() > 5 && n.compare(n.size() - 5, 5, "_avx2") == 0) n.resize(n.size() - 5);
  } else if (n.rfind("f32_", 0) == 0) {  // tile kernels: expadd_avx2, decode_fma_avx2, ...
    n = n.substr(4);
  }
  return n;
}

}  // namespace ds::bench
