// f32_matvec_fma_avx2 and f32_matvec_expadd_avx2: matrix-vector products over the matvec layout
// (matvec.h) with AVX2 + FMA, and the same with exponent addition instead of the FMA (multiply-free).
//
// A group of one row is one 256-bit vector of 8 words; slot j of every word holds the codes of
// the 8 contiguous k = k0 + 8j .. k0 + 8j + 7, so one decoded vector of weights meets one plain
// load of x. Decoding a slot (per 8 weights):
//   2-bit: VPERMILPS on the word shifted right by 2j (4-entry table {1, 2, -1, -2} in each lane)
//   3-bit: VPERMPS on the word shifted right by 3j (the 8-entry table is the whole code space:
//          VPERMPS reads only the low 3 bits, so the higher codes in the word do no harm)
//   4-bit: VPERMPS on P (split layout, shifted right by 3j: 8-entry table 2^0..2^7); the sign
//          (bit 31 - j, shifted left by j to bit 31) selects x or -x with VBLENDVPS at N = 1,
//          or flips the weight's sign bit (AND + XOR) in the batch path
//   5-bit: P (4 bits) shifted to bits 23..26, masked and added to 127 << 23 gives the float
//          2^P; the sign as for 4-bit
// so 2- and 3-bit cost a shift, a lookup and an FMA per 8 weights at N = 1: about one cycle
// on the machines measured (bench/bench_matvec.cpp), which with the codes streaming from
// memory at the same time is what a 16384 x 16384 3-bit product takes.
//
// Each call goes panel by panel (matvec.h): x of the panel is first copied to a per-thread
// buffer, zero-padded past K (so padded k add +0 and the last group needs no special case) and
// with a row stride that is not a multiple of 4 KiB (batch vectors K floats apart would
// otherwise share L1 sets). Then, for every block of rows in [m0, m1), the weights are decoded
// in registers and meet x loaded once per slot for all rows of the tile:
//   N = 1:  4 rows, 2 accumulators per row to hide the FMA latency;
//   N = 2:  4 rows x 2 vectors;  N = 3: 2 rows x 3 vectors;
//   N >= 4: 2 rows x 4 vectors at a time (the block's codes, 1.5-3 KB, are re-read from L1
//           and decoded again for every 4 vectors; measured faster up to N = 16 than decoding
//           once into an L1 buffer and multiplying out of it, except 5-bit at N >= 8).
// Partial sums per panel are added into y; the last panel applies scale, bias and relu.
// Sums: 8 lanes (x2 at N = 1) and the panels, so not bit-equal to a k-ordered float loop.
//
// Standard-library templates stay out of this unit (internal.h explains why).
#include <immintrin.h>

#include "kernels/matvec_internal.h"

namespace ds::kernels::detail {
namespace {

constexpr int codes_per_word(int b) { return 32 / b; }
constexpr int kBatch = 16;  // vectors per sweep over the codes (x copies: 16 x 7.5 KB)

struct Consts {
  __m256 lut;     // decode table (2, 3, 4-bit)
  __m256i pmask;  // 5-bit: 15 << 23
  __m256i bias;   // 5-bit: 127 << 23
  __m256 sign;    // -0.0f in every lane
};

// With kExpAdd the "weights" are exponent-add words s << 31 | P << 23 instead of floats: the
// same tables with 127 taken off every exponent (the sign handling is the same bit).
Consts make_consts(int bits, bool exp_add) {
  Consts c;
  if (bits == 2) {
    c.lut = _mm256_setr_ps(1.f, 2.f, -1.f, -2.f, 1.f, 2.f, -1.f, -2.f);
  } else if (bits == 3) {
    c.lut = _mm256_setr_ps(1.f, 2.f, 4.f, 8.f, -1.f, -2.f, -4.f, -8.f);
  } else {
    c.lut = _mm256_setr_ps(1.f, 2.f, 4.f, 8.f, 16.f, 32.f, 64.f, 128.f);
  }
  if (exp_add) c.lut = _mm256_castsi256_ps(_mm256_sub_epi32(_mm256_castps_si256(c.lut), _mm256_set1_epi32(127 << 23)));
  c.pmask = _mm256_set1_epi32(15 << 23);
  c.bias = _mm256_set1_epi32(exp_add ? 0 : 127 << 23);
  c.sign = _mm256_set1_ps(-0.0f);
  return c;
}

// Slot J of the code vector v: the weights, or (kSignOnX, 4/5-bit) their magnitudes with the
// sign left at bit 31 of *smask.
template <int B, int J, bool kSignOnX>
inline __m256 decode(__m256i v, const Consts& c, __m256* smask) {
  if constexpr (B == 2) {
    return _mm256_permutevar_ps(c.lut, _mm256_srli_epi32(v, 2 * J));
  } else if constexpr (B == 3) {
    return _mm256_permutevar8x32_ps(c.lut, _mm256_srli_epi32(v, 3 * J));
  } else {
    __m256 w;
    if constexpr (B == 4) {
      w = _mm256_permutevar8x32_ps(c.lut, _mm256_srli_epi32(v, 3 * J));
    } else {
      const __m256i p = _mm256_and_si256(_mm256_slli_epi32(v, 23 - 4 * J), c.pmask);
      w = _mm256_castsi256_ps(_mm256_add_epi32(p, c.bias));
    }
    const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(v, J));  // sign at bit 31
    if constexpr (kSignOnX) {
      *smask = s;
      return w;
    } else {
      return _mm256_xor_ps(w, _mm256_and_ps(s, c.sign));
    }
  }
}

inline __m256i load_codes(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Lanes 0+4, 1+5, ... then pairwise, as the scalar kernel.
inline float hsum(__m256 t) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  return _mm_cvtss_f32(q);
}

// The call and the panel being worked on.
struct Job {
  const MatvecArgs* a;
  const MvGeom* geo;
  Consts c;
  int p;             // panel
  int groups;        // groups in this panel
  const float* xs;   // the panel's x, vector n at xs + n * xstride, zero past K
  size_t xstride;
  bool first, last;  // first panel: y is overwritten; last panel: epilogue applied
};

// Adds a finished panel sum into y (row m, vector n).
inline void emit(const Job& jb, int m, int n, float v) {
  const MatvecArgs& a = *jb.a;
  float* y = a.y + size_t(n) * size_t(a.M) + size_t(m);
  if (!jb.first) v += *y;
  *y = jb.last ? mv_epilogue(a, m, v) : v;
}

// RS rows x NC vectors, S accumulators each (S = 2 at N = 1 hides the FMA latency).
template <bool X, int B, int RS, int NC, int S, int J>
inline void slots_direct(const __m256i (&v)[RS], const float* const* x, const Consts& c,
                         __m256 (&acc)[RS][NC][S]) {
  constexpr bool kSignOnX = B >= 4 && NC == 1;  // one blend per row instead of AND + XOR
  __m256 xv[NC], xn[NC];
  for (int n = 0; n < NC; ++n) {
    xv[n] = _mm256_loadu_ps(x[n] + 8 * J);
    if constexpr (kSignOnX) xn[n] = _mm256_xor_ps(xv[n], c.sign);
  }
  for (int r = 0; r < RS; ++r) {
    __m256 smask = _mm256_setzero_ps();
    const __m256 w = decode<B, J, kSignOnX>(v[r], c, &smask);
    for (int n = 0; n < NC; ++n) {
      const __m256 xs = kSignOnX ? _mm256_blendv_ps(xv[n], xn[n], smask) : xv[n];
      if constexpr (X) {  // exponent add: bits(x) + word is bits(x * w), then the float add
        const __m256 prod = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(xs), _mm256_castps_si256(w)));
        acc[r][n][J % S] = _mm256_add_ps(acc[r][n][J % S], prod);
      } else {
        acc[r][n][J % S] = _mm256_fmadd_ps(w, xs, acc[r][n][J % S]);
      }
    }
  }
  if constexpr (J + 1 < codes_per_word(B)) slots_direct<X, B, RS, NC, S, J + 1>(v, x, c, acc);
}

// Block q, the NC vectors of the panel copy (vectors n0 .. n0 + NC - 1 of the call): rows RS at
// a time.
template <bool X, int B, int RS, int NC, int S>
void block_direct(const Job& jb, int q, int n0) {
  for (int r0 = 0; r0 < kMvRows; r0 += RS) {
    if (q * kMvRows + r0 >= jb.a->m1) break;
    const uint8_t* g = jb.a->packed + jb.geo->offset(jb.p, q) + size_t(r0) * kMvGroupBytes;
    const float* x[NC];
    for (int n = 0; n < NC; ++n) x[n] = jb.xs + size_t(n) * jb.xstride;
    __m256 acc[RS][NC][S];
    for (int r = 0; r < RS; ++r)
      for (int n = 0; n < NC; ++n)
        for (int s = 0; s < S; ++s) acc[r][n][s] = _mm256_setzero_ps();
    for (int gi = 0; gi < jb.groups; ++gi, g += kMvRows * kMvGroupBytes) {
      __m256i v[RS];
      for (int r = 0; r < RS; ++r) v[r] = load_codes(g + kMvGroupBytes * r);
      slots_direct<X, B, RS, NC, S, 0>(v, x, jb.c, acc);
      for (int n = 0; n < NC; ++n) x[n] += jb.geo->G;
    }
    for (int r = 0; r < RS; ++r) {
      const int m = q * kMvRows + r0 + r;
      if (m >= jb.a->m1) break;
      for (int n = 0; n < NC; ++n) {
        __m256 t = acc[r][n][0];
        for (int s = 1; s < S; ++s) t = _mm256_add_ps(t, acc[r][n][s]);
        emit(jb, m, n0 + n, hsum(t));
      }
    }
  }
}

// ---- driver ---------------------------------------------------------------------------------

template <bool X, int B>
void run(const MatvecArgs& a) {
  const MvGeom geo = mv_geom(a.M, a.K, B);
  Job jb;
  jb.a = &a;
  jb.geo = &geo;
  jb.c = make_consts(B, X);
  const int q_begin = a.m0 / kMvRows, q_end = (a.m1 + kMvRows - 1) / kMvRows;
  for (int n0 = 0; n0 < a.N; n0 += kBatch) {  // batches beyond kBatch: the codes again
    const int nb = a.N - n0 < kBatch ? a.N - n0 : kBatch;
    for (int p = 0; p < geo.panels; ++p) {
      jb.p = p;
      jb.groups = geo.groups_in(p);
      jb.first = p == 0;
      jb.last = p == geo.panels - 1;
      // x of the panel for vectors n0 .. n0 + nb - 1, zero past K, vector n0 + n at n * xstride.
      const int k0 = p * kMvPanelK, kp = jb.groups * geo.G, kr = a.K - k0 < kp ? a.K - k0 : kp;
      jb.xstride = mv_x_stride(kp);
      float* xs = mv_x_scratch(size_t(nb) * jb.xstride);
      for (int n = 0; n < nb; ++n) {
        const float* src = a.x + size_t(n0 + n) * size_t(a.K) + k0;
        float* dst = xs + size_t(n) * jb.xstride;
        for (int k = 0; k < kr; ++k) dst[k] = src[k];
        for (int k = kr; k < kp; ++k) dst[k] = 0.0f;
      }
      jb.xs = xs;
      for (int q = q_begin; q < q_end; ++q) {
        // Chunks of 4 vectors (2 rows x 4 vectors: 8 accumulators), the rest at once.
        Job jc = jb;
        int n = 0;
        for (; n + 4 <= nb; n += 4, jc.xs += 4 * jb.xstride) {
          block_direct<X, B, 2, 4, 1>(jc, q, n0 + n);
        }
        switch (nb - n) {
          case 3: block_direct<X, B, 2, 3, 1>(jc, q, n0 + n); break;
          case 2: block_direct<X, B, 4, 2, 1>(jc, q, n0 + n); break;
          case 1: block_direct<X, B, 4, 1, 2>(jc, q, n0 + n); break;
          default: break;
        }
      }
    }
  }
}

template <bool X>
void run_any(const MatvecArgs& a) {
  validate_matvec(a);
  if (mv_trivial(a)) return;
  switch (a.bits) {
    case 2: run<X, 2>(a); break;
    case 3: run<X, 3>(a); break;
    case 4: run<X, 4>(a); break;
    default: run<X, 5>(a); break;
  }
}

}  // namespace

void matvec_f32_fma_avx2(const MatvecArgs& a) { run_any<false>(a); }

// The multiply-free twin: the same layout, decode and loops, with each FMA replaced by an integer
// add on the bits of x and a float add (finite x; +-0 and subnormal x, the zero padding past K
// included, add a term below 2^-110 instead of 0).
void matvec_f32_expadd_avx2(const MatvecArgs& a) { run_any<true>(a); }

}  // namespace ds::kernels::detail
