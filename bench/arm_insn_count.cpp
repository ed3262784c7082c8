// arm_insn_count: runs one kernel `reps` times on a fixed shape, for counting the aarch64
// instructions it executes under qemu (bench/arm_insn_count.sh). Torch-free, kernels library
// only. Usage: arm_insn_count KERNEL REPS [N]  (KERNEL "none" skips the call; N defaults to 64).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/codes.h"
#include "kernels/kernels.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s KERNEL REPS [N]\n", argv[0]);
    return 2;
  }
  // The shape is printed so the script divides by the same numbers; M and N are multiples of
  // every NEON tile (6 rows, 8 or 16 columns; keep N a multiple of 16), so no tail code is counted.
  const int M = 48, K = 64, N = argc == 4 ? std::atoi(argv[3]) : 64, bits = 3;
  const size_t row_bytes = ds::core::packed_bytes(size_t(K), bits);
  std::mt19937 rng(1);
  std::vector<uint8_t> codes(size_t(M) * row_bytes);
  for (auto& c : codes) c = uint8_t(rng());
  std::vector<float> x(size_t(K) * N), y(size_t(M) * N);
  // ReLU-like activations: a third zeros, the rest positive normals.
  for (auto& v : x) v = rng() % 3 == 0 ? 0.0f : float(rng() % 1000 + 1) / 64.0f;
  ds::kernels::GemmArgs a{codes.data(), row_bytes, bits, M, K, N, x.data(), y.data()};
  const bool none = std::strcmp(argv[1], "none") == 0;
  const ds::kernels::GemmFn fn = none ? nullptr : ds::kernels::select_kernel(argv[1]).fn;
  const int reps = std::atoi(argv[2]);
  for (int r = 0; r < reps && fn; ++r) fn(a);
  std::printf("M=%d K=%d N=%d bits=%d y0=%g\n", M, K, N, bits, double(y[0]));
  return 0;
}
