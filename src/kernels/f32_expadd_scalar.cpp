// f32_expadd_scalar: the reference DenseShift kernel, portable C++.
//
// Each product w * x, w = +-2^P, is formed on x's bit pattern: bits(x) + (P << 23), sign bit
// xor-ed for a negative weight (DENSESHIFT.md section 6). Where that add would be wrong - x = +-0,
// subnormal x, inf, NaN, or an exponent that would pass 254 - the product is still formed
// exactly as IEEE x * w would be, with integer operations (f32_pow2.h). So every product is
// bit-for-bit IEEE x * w, and since the sums run in float with k ascending, y equals the plain
// float loop `acc = 0; for k: acc += w(m,k) * x[k][n]` bit for bit, for every input. The other
// kernels are tested against this one.
#include "kernels/f32_pow2.h"
#include "kernels/internal.h"

namespace ds::kernels::detail {

void gemm_f32_expadd_scalar(const GemmArgs& a) {
  validate(a);
  const size_t N = size_t(a.N), nbytes = core::packed_bytes(size_t(a.K), a.bits);
  for (int m = 0; m < a.M; ++m) {
    const uint8_t* row = a.codes + size_t(m) * a.row_bytes;
    float* y = a.y + size_t(m) * N;
    for (size_t n = 0; n < N; ++n) y[n] = 0.0f;
    // k outside, n inside: each y[n] still sums its products with k ascending.
    for (int k = 0; k < a.K; ++k) {
      const unsigned code = code_at(row, size_t(k), a.bits, nbytes);
      const uint32_t sign = core::code_negative(uint8_t(code), a.bits) ? kF32Sign : 0u;
      const unsigned p = unsigned(core::code_exponent(uint8_t(code), a.bits));
      f32_axpy_pow2(y, a.x + size_t(k) * N, N, p, sign);
    }
  }
}

}  // namespace ds::kernels::detail
