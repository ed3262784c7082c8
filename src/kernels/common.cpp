// Argument checks and scratch memory for all kernels. Compiled without ISA flags (see internal.h
// for why the AVX2 units keep the standard library out and call these instead).
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/internal.h"

namespace ds::kernels::detail {

void validate(const GemmArgs& a) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("gemm: " + what); };
  if (a.bits < core::kMinBits || a.bits > core::kMaxBits) {
    fail("code width " + std::to_string(a.bits) + " is outside 2..5");
  }
  if (a.M < 0 || a.K < 0 || a.N < 0) {
    fail("negative size M=" + std::to_string(a.M) + " K=" + std::to_string(a.K) +
         " N=" + std::to_string(a.N));
  }
  if (a.M > 0 && a.row_bytes < core::packed_bytes(size_t(a.K), a.bits)) {
    fail("row_bytes " + std::to_string(a.row_bytes) + " is shorter than a packed row of " +
         std::to_string(a.K) + " codes");
  }
  if (a.M > 0 && a.K > 0 && a.codes == nullptr) fail("codes is null");
  if (a.K > 0 && a.N > 0 && a.x == nullptr) fail("x is null");
  if (a.M > 0 && a.N > 0 && a.y == nullptr) fail("y is null");
}

uint32_t* scratch_words(size_t n) {
  // 8 extra words let the start be rounded up to a 32-byte boundary.
  thread_local std::vector<uint32_t> buf;
  if (buf.size() < n + 8) buf.resize(n + 8);
  auto p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<uint32_t*>((p + 31) & ~uintptr_t(31));
}

}  // namespace ds::kernels::detail
