// f32_shiftzero_scalar: the zero-weight baseline ("shift with zero", weights {0, +-2^p}), portable.
//
// Identical to f32_expadd_scalar - same loop, same exact product (f32_axpy_pow2) - except that
// every weight is first tested for zero (E = 0), and a zero weight is skipped: that test is the
// per-weight branch zero-free DenseShift codes do without. A zero weight contributes nothing even
// when x is inf or NaN (IEEE 0 * inf would be NaN); for finite x, y is bit-for-bit the plain
// float loop with core::decode_zero_code weights.
#include "kernels/f32_pow2.h"
#include "kernels/internal.h"

namespace ds::kernels::detail {

void gemm_f32_shiftzero_scalar(const GemmArgs& a) {
  validate(a);
  const size_t N = size_t(a.N), nbytes = core::packed_bytes(size_t(a.K), a.bits);
  for (int m = 0; m < a.M; ++m) {
    const uint8_t* row = a.codes + size_t(m) * a.row_bytes;
    float* y = a.y + size_t(m) * N;
    for (size_t n = 0; n < N; ++n) y[n] = 0.0f;
    for (int k = 0; k < a.K; ++k) {
      const unsigned code = code_at(row, size_t(k), a.bits, nbytes);
      const int e = core::code_exponent(uint8_t(code), a.bits);
      if (e == 0) continue;  // weight 0 (either sign bit)
      const uint32_t sign = core::code_negative(uint8_t(code), a.bits) ? kF32Sign : 0u;
      f32_axpy_pow2(y, a.x + size_t(k) * N, N, unsigned(e - 1), sign);
    }
  }
}

}  // namespace ds::kernels::detail
