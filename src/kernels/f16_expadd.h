// The FP16 exponent-add product of f16_expadd_f16c, as a scalar function (portable; the tests
// check it on every FP16 pattern and use it to model the vector kernel).
#pragma once

#include <cstdint>

namespace ds::kernels {

// h * w for an FP16 pattern h and a DenseShift code (w = +-2^P), as an FP16 pattern, formed by
// adding P << 10 to h's magnitude and xor-ing the weight's sign into bit 15:
//   normal h, no overflow  -> the exact product (bit-equal to IEEE FP16 h * w)
//   normal h, overflow     -> +-inf (what IEEE round-to-nearest gives)
//   inf                    -> inf with the sign xor-ed (IEEE); NaN -> a NaN (sign xor-ed)
//   +-0 and subnormal h    -> +-0 with the sign xor-ed: subnormal inputs are flushed to zero
//                             (|h| < 2^-14 ~ 6.1e-5 contributes nothing), unlike IEEE
uint16_t f16_mul_pow2_expadd(uint16_t h, uint8_t code, int bits);

}  // namespace ds::kernels
