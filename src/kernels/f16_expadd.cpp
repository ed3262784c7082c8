// Scalar FP16 exponent-add product (f16_expadd.h). Compiled without ISA flags: it must run on
// every CPU the tests run on. Same rules, lane for lane, as the F16C kernel's vector code.
#include "kernels/f16_expadd.h"

#include "core/codes.h"

namespace ds::kernels {

uint16_t f16_mul_pow2_expadd(uint16_t h, uint8_t code, int bits) {
  const unsigned sign = (h & 0x8000u) ^ (core::code_negative(code, bits) ? 0x8000u : 0u);
  const unsigned mag = h & 0x7fffu;
  if (mag < 0x0400u) return uint16_t(sign);  // +-0 or subnormal: flushed
  if (mag >= 0x7c00u) return uint16_t(mag | sign);  // inf or NaN: no exponent add
  const unsigned r = mag + (unsigned(core::code_exponent(code, bits)) << 10);
  return uint16_t((r >= 0x7c00u ? 0x7c00u : r) | sign);  // exponent field 31 or more: overflow
}

}  // namespace ds::kernels
