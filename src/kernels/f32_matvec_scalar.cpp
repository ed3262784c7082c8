// f32_matvec_scalar: the portable matvec kernel over the matvec layout (matvec.h), used where no
// SIMD kernel is built and as the reference the SIMD kernels are compared with in spirit: like
// them it keeps 8 partial float sums per row (one per lane of the layout), adds them pairwise at
// the end and gives padded k no weight.
#include "kernels/matvec_internal.h"

namespace ds::kernels::detail {
namespace {

// The 2^b weights of a width, indexed by code s << (b-1) | P.
void weight_table(int bits, float* w) {
  const int half = 1 << (bits - 1);
  for (int p = 0; p < half; ++p) {
    const float v = float(1u << p);
    w[p] = v;
    w[half + p] = -v;
  }
}

}  // namespace

void matvec_f32_scalar(const MatvecArgs& a) {
  validate_matvec(a);
  if (a.m1 <= a.m0 || a.N == 0) return;
  const int bits = a.bits, W = mv_codes_per_word(bits);
  const MvGeom geo = mv_geom(a.M, a.K, bits);
  const unsigned pmask = (1u << (bits - 1)) - 1u;
  float table[32];
  weight_table(bits, table);
  for (int m = a.m0; m < a.m1; ++m) {
    for (int n = 0; n < a.N; ++n) {
      const float* x = a.x + size_t(n) * size_t(a.K);
      float acc[kMvLanes] = {};
      for (int p = 0; p < geo.panels; ++p) {
        const uint8_t* grp = a.packed + geo.offset(p, m / kMvRows) + size_t(m % kMvRows) * kMvGroupBytes;
        const int ng = geo.groups_in(p);
        for (int g = 0; g < ng; ++g, grp += kMvRows * kMvGroupBytes) {
          const int k0 = (p * geo.panel_groups + g) * geo.G;
          for (int lane = 0; lane < kMvLanes; ++lane) {
            const uint32_t word = mv_load_word(grp + 4 * lane);
            for (int j = 0; j < W; ++j) {
              const int k = k0 + kMvLanes * j + lane;
              if (k >= a.K) break;  // k grows with j: the rest of this lane is padding
              const unsigned code = ((word >> mv_s_bit(bits, j)) & 1u) << (bits - 1) |
                                    ((word >> mv_p_bit(bits, j)) & pmask);
              acc[lane] += table[code] * x[k];
            }
          }
        }
      }
      const float dot = ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                        ((acc[1] + acc[5]) + (acc[3] + acc[7]));
      a.y[size_t(n) * size_t(a.M) + size_t(m)] = mv_epilogue(a, m, dot);
    }
  }
}

}  // namespace ds::kernels::detail
