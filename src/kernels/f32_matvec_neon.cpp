// f32_matvec_neon: matrix-vector products over the matvec layout (matvec.h) with Advanced SIMD.
//
// A group's 8 words are two 128-bit vectors (lanes 0-3 and 4-7); slot j of them holds the codes
// of the 8 contiguous k = k0 + 8j .. k0 + 8j + 7, which meet two plain loads of x. The float
// weight is built from the word in 4 instructions for every width: the P field shifted to bits
// 23.. and inserted (BSL) into the pattern of 2^1 (biased exponent 128, so no carry: the weight
// comes out as 2^(P+1)), the sign bit shifted to bit 31 and inserted by a second BSL; then FMLA.
// The factor 2 is taken out of the final sum (an exact halving). Rows go 4 at a time at N = 1
// (x loaded once per slot for 4 rows), 2 at a time for 1..3 vectors at once when N > 1. The
// last, partial group reads x through a zero-padded copy. Sums: 8 lanes added at the end.
#include <arm_neon.h>

#include "kernels/matvec_internal.h"

namespace ds::kernels::detail {
namespace {

struct Consts {
  uint32x4_t pmask;  // bits 23 .. 23 + b - 2
  uint32x4_t base;   // 128 << 23 = 2.0f
  uint32x4_t sign;   // bit 31
};

template <int Sh>
inline uint32x4_t shift_left(uint32x4_t v) {  // negative Sh shifts right
  if constexpr (Sh > 0) {
    return vshlq_n_u32(v, Sh);
  } else if constexpr (Sh < 0) {
    return vshrq_n_u32(v, -Sh);
  } else {
    return v;
  }
}

template <int B, int J>
inline float32x4_t decode(uint32x4_t v, const Consts& c) {
  const uint32x4_t mag = vbslq_u32(c.pmask, shift_left<23 - mv_p_bit(B, J)>(v), c.base);
  return vreinterpretq_f32_u32(vbslq_u32(c.sign, shift_left<31 - mv_s_bit(B, J)>(v), mag));
}

template <int B, int RS, int NC>
struct Tile {
  static constexpr int W = 32 / B;
  float32x4_t acc[RS][NC][2];

  void zero() {
    for (int r = 0; r < RS; ++r)
      for (int n = 0; n < NC; ++n) acc[r][n][0] = acc[r][n][1] = vdupq_n_f32(0.0f);
  }

  template <int J>
  inline void slot(const uint32x4_t (*v)[2], const float* const* x, const Consts& c) {
    float32x4_t xv[NC][2];
    for (int n = 0; n < NC; ++n) {
      xv[n][0] = vld1q_f32(x[n] + 8 * J);
      xv[n][1] = vld1q_f32(x[n] + 8 * J + 4);
    }
    for (int r = 0; r < RS; ++r) {
      for (int h = 0; h < 2; ++h) {
        const float32x4_t w = decode<B, J>(v[r][h], c);
        for (int n = 0; n < NC; ++n) acc[r][n][h] = vfmaq_f32(acc[r][n][h], w, xv[n][h]);
      }
    }
    if constexpr (J + 1 < W) slot<J + 1>(v, x, c);
  }

  inline void group(const uint8_t* g, const float* const* x, const Consts& c) {
    uint32x4_t v[RS][2];
    for (int r = 0; r < RS; ++r) {
      // The layout's words are little-endian, as aarch64 Linux is.
      v[r][0] = vld1q_u32(reinterpret_cast<const uint32_t*>(g + 32 * r));
      v[r][1] = vld1q_u32(reinterpret_cast<const uint32_t*>(g + 32 * r + 16));
    }
    slot<0>(v, x, c);
  }

  // Lanes 0+4, 1+5, 2+6, 3+7, then pairwise (as the scalar kernel); halved: weights were 2^(P+1).
  float sum(int r, int n) const {
    const float32x4_t q = vaddq_f32(acc[r][n][0], acc[r][n][1]);
    const float32x2_t d = vadd_f32(vget_low_f32(q), vget_high_f32(q));
    return vpadds_f32(d) * 0.5f;
  }
};

struct Job {
  const MatvecArgs* a;
  Consts c;
  int G;
  int k0;            // the panel's first k
  int groups;        // groups in this panel
  int full_groups;   // of which complete (the last group of the matrix may be partial)
  bool first, last;  // first panel: y is overwritten; last panel: epilogue applied
};

template <int B, int RS, int NC>
void pass(const Job& jb, const uint8_t* blk, int m_block, int r0, int n0, float* xtail) {
  const MatvecArgs& a = *jb.a;
  Tile<B, RS, NC> t;
  t.zero();
  const float* x[NC];
  for (int n = 0; n < NC; ++n) x[n] = a.x + size_t(n0 + n) * size_t(a.K) + jb.k0;
  const uint8_t* g = blk + size_t(r0) * kMvGroupBytes;
  constexpr size_t kStep = size_t(kMvRows) * kMvGroupBytes;
  for (int gi = 0; gi < jb.full_groups; ++gi, g += kStep) {
    t.group(g, x, jb.c);
    for (int n = 0; n < NC; ++n) x[n] += jb.G;
  }
  if (jb.full_groups < jb.groups) {
    const int rem = a.K - (jb.k0 + jb.full_groups * jb.G);
    const float* xp[NC];
    for (int n = 0; n < NC; ++n) {
      float* d = xtail + n * jb.G;
      for (int k = 0; k < jb.G; ++k) d[k] = k < rem ? x[n][k] : 0.0f;
      xp[n] = d;
    }
    t.group(g, xp, jb.c);
  }
  for (int r = 0; r < RS; ++r) {
    const int m = m_block + r0 + r;
    if (m >= a.m1) break;
    for (int n = 0; n < NC; ++n) {
      float* y = a.y + size_t(n0 + n) * size_t(a.M) + size_t(m);
      float v = t.sum(r, n);
      if (!jb.first) v += *y;
      *y = jb.last ? mv_epilogue(a, m, v) : v;
    }
  }
}

template <int B>
void block(const Job& jb, const uint8_t* blk, int m_block, float* xtail) {
  const int N = jb.a->N;
  if (N == 1) {
    pass<B, 4, 1>(jb, blk, m_block, 0, 0, xtail);
    return;
  }
  for (int r0 = 0; r0 < kMvRows; r0 += 2) {
    if (m_block + r0 >= jb.a->m1) break;
    int n0 = 0;
    for (; n0 + 3 <= N; n0 += 3) pass<B, 2, 3>(jb, blk, m_block, r0, n0, xtail);
    if (N - n0 == 2) pass<B, 2, 2>(jb, blk, m_block, r0, n0, xtail);
    if (N - n0 == 1) pass<B, 2, 1>(jb, blk, m_block, r0, n0, xtail);
  }
}

// Panel by panel (x of a panel stays in L1), each panel over all blocks of [m0, m1).
template <int B>
void run(const MatvecArgs& a) {
  const MvGeom geo = mv_geom(a.M, a.K, B);
  Job jb;
  jb.a = &a;
  jb.c.pmask = vdupq_n_u32(((1u << (B - 1)) - 1u) << 23);
  jb.c.base = vdupq_n_u32(128u << 23);
  jb.c.sign = vdupq_n_u32(0x80000000u);
  jb.G = geo.G;
  float xtail[3 * 128];  // NC <= 3 vectors x G <= 128 floats
  for (int p = 0; p < geo.panels; ++p) {
    jb.k0 = p * kMvPanelK;
    jb.groups = geo.groups_in(p);
    jb.full_groups = jb.groups;
    if (p == geo.panels - 1 && a.K % geo.G != 0) --jb.full_groups;
    jb.first = p == 0;
    jb.last = p == geo.panels - 1;
    for (int m = a.m0; m < a.m1; m += kMvRows) {
      block<B>(jb, a.packed + geo.offset(p, m / kMvRows), m, xtail);
    }
  }
}

}  // namespace

void matvec_f32_neon(const MatvecArgs& a) {
  validate_matvec(a);
  if (mv_trivial(a)) return;
  switch (a.bits) {
    case 2: run<2>(a); break;
    case 3: run<3>(a); break;
    case 4: run<4>(a); break;
    default: run<5>(a); break;
  }
}

}  // namespace ds::kernels::detail
