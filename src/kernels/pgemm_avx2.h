// The AVX2 side of the panel kernels (pgemm_driver.h): decoding a run of packed codes eight at a
// time, and the 6x16 tile store with the fused epilogue. Only for units compiled with -mavx2;
// internal linkage throughout (internal.h).
#pragma once

#include <immintrin.h>

#include "kernels/avx2_tiles.h"
#include "kernels/pgemm_driver.h"

namespace ds::kernels::detail {
namespace {

// Codes i .. i+7 of a tight B-bit stream whose code i starts at byte p (i a multiple of 8), one per
// 32-bit lane. Lane j needs bits [B*j, B*j + B): bytes (B*j)/8 .. +3 are shuffled into the lane,
// then shifted right by (B*j) % 8. Reads 16 bytes from p (PanelWeights pads its blocks for this).
// kMasked = false leaves the bits above the code in the lane: for a VPERMPS lookup, which reads
// only the low 3 bits (codes of at most 3 bits, dense_table).
template <int B, bool kMasked = true>
inline __m256i codes8(const uint8_t* p) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  auto ctrl = [](int j) {
    const int o = (B * j) >> 3;
    return o | (o + 1) << 8 | (o + 2) << 16 | (o + 3) << 24;
  };
  const __m256i shuf = _mm256_setr_epi32(ctrl(0), ctrl(1), ctrl(2), ctrl(3), ctrl(4), ctrl(5), ctrl(6), ctrl(7));
  const __m256i shift = _mm256_setr_epi32(0, B % 8, (2 * B) % 8, (3 * B) % 8, (4 * B) % 8, (5 * B) % 8, (6 * B) % 8,
                                          (7 * B) % 8);
  const __m256i c = _mm256_srlv_epi32(_mm256_shuffle_epi8(v, shuf), shift);
  return kMasked ? _mm256_and_si256(c, _mm256_set1_epi32((1 << B) - 1)) : c;
}

// What a code becomes in a decoded panel, per lane. P (or E) = code & (2^(B-1) - 1); s = code >> (B-1).
enum class Decoded {
  kDenseShiftF32,    // +-2^P as a float: s << 31 | (P + 127) << 23
  kDenseShiftWord,   // the exponent-add word: s << 31 | P << 23 (x_bits + word = x * w, see the expadd kernel)
  kZeroF32,          // shift with zero: 0 if E = 0, else +-2^(E-1)
  kZeroWordAndKeep,  // two planes: s << 31 | (E - 1) << 23, and all-ones if E != 0 else 0
};

// The 2^B DenseShift values of a B-bit code (B <= 3) as one 8-entry table, in the form D wants:
// VPERMPS reads the low 3 bits of each lane, so the lookup is the whole decode (2-bit: the table
// twice). Entry c is (-1)^(c >> (B-1)) * 2^(c & (2^(B-1) - 1)), as float bits or exponent word.
template <int B, Decoded D>
inline __m256i dense_table() {
  int32_t t[8];
  for (int c = 0; c < 8; ++c) {
    const int code = c & ((1 << B) - 1), s = code >> (B - 1), P = code & ((1 << (B - 1)) - 1);
    t[c] = int32_t(uint32_t(s) << 31 | uint32_t(P + (D == Decoded::kDenseShiftF32 ? 127 : 0)) << 23);
  }
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t));
}

// Where the keep plane of a kZeroWordAndKeep panel of n weights starts: after the word plane,
// rounded up to a whole group of 8 (the decoder writes whole groups).
inline size_t keep_plane_at(size_t n) { return (n + 7) / 8 * 8; }

template <int B, Decoded D>
inline void decode_run(const uint8_t* p, int n, uint32_t* out, uint32_t* keep) {
  constexpr bool kTable = B <= 3 && (D == Decoded::kDenseShiftF32 || D == Decoded::kDenseShiftWord);
  if constexpr (kTable) {  // one lookup per 8 codes (the common 3-bit case: half the operations)
    const __m256 table = _mm256_castsi256_ps(dense_table<B, D>());
    for (int g = 0; g * 8 < n; ++g)
      _mm256_storeu_ps(reinterpret_cast<float*>(out + 8 * g), _mm256_permutevar8x32_ps(table, codes8<B, false>(p + g * B)));
    return;
  }
  const __m256i pmask = _mm256_set1_epi32((1 << (B - 1)) - 1);
  for (int g = 0; g * 8 < n; ++g) {
    const __m256i c = codes8<B>(p + g * B);
    const __m256i e = _mm256_and_si256(c, pmask);
    const __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(c, B - 1), 31);
    __m256i v;
    if constexpr (D == Decoded::kDenseShiftF32) {
      v = _mm256_or_si256(sign, _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
    } else if constexpr (D == Decoded::kDenseShiftWord) {
      v = _mm256_or_si256(sign, _mm256_slli_epi32(e, 23));
    } else {
      const __m256i live = _mm256_cmpgt_epi32(e, _mm256_setzero_si256());
      if constexpr (D == Decoded::kZeroF32) {
        v = _mm256_and_si256(live, _mm256_or_si256(sign, _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(126)), 23)));
      } else {
        v = _mm256_or_si256(sign, _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(keep + 8 * g), live);
      }
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * g), v);
  }
}

// Block b's codes for columns [k0, k0 + kc) (k0 a multiple of 4, so the run starts on a byte),
// decoded into out (kc * block_rows elements, rounded up to 8) and, for kZeroWordAndKeep, keep.
template <Decoded D>
inline void decode_panel(const PanelWeights& w, int b, int k0, int kc, uint32_t* out, uint32_t* keep) {
  const int n = kc * w.block_rows;
  const uint8_t* p = w.block(b) + size_t(k0) * size_t(w.block_rows) * size_t(w.bits) / 8;
  switch (w.bits) {
    case 2: decode_run<2, D>(p, n, out, keep); break;
    case 3: decode_run<3, D>(p, n, out, keep); break;
    case 4: decode_run<4, D>(p, n, out, keep); break;
    default: decode_run<5, D>(p, n, out, keep); break;
  }
}

// The same columns as float bits, whichever kind of codes the block holds: +-2^P (DenseShift) or
// 0 / +-2^(E-1) (shift with zero).
inline void decode_panel_floats(const PanelWeights& w, int b, int k0, int kc, uint32_t* out) {
  if (w.kind == PanelWeightKind::kShiftWithZero)
    decode_panel<Decoded::kZeroF32>(w, b, k0, kc, out, nullptr);
  else
    decode_panel<Decoded::kDenseShiftF32>(w, b, k0, kc, out, nullptr);
}

// A 6x16 tile of accumulators: acc[r][h] is half h (8 columns) of row r, at y + r * ldy + io.y[h],
// io.n[h] of its lanes inside y. load_tile starts it from y (the sums of the earlier K blocks, so
// the order of the additions stays k ascending) or from zero; store_tile writes it back, through
// the epilogue y = y * scale + bias + residual, then ReLU, when there is one. The epilogue's
// multiply is per output, not per weight.
using Acc6x16 = __m256[kPanelRows][2];

template <bool kFull>
inline __m256 load_half(const float* p, const __m256i& mask) {
  return kFull ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

template <bool kFull>
inline void load_rows(Acc6x16& acc, const float* y, size_t ldy, int rows, const TileIO& io) {
  const __m256i m0 = lane_mask(io.n[0]), m1 = lane_mask(io.n[1]);
#pragma GCC unroll 6
  for (int r = 0; r < kPanelRows; ++r) {
    if (r >= rows) {
      acc[r][0] = acc[r][1] = _mm256_setzero_ps();
      continue;
    }
    const float* yr = y + size_t(r) * ldy;
    acc[r][0] = load_half<kFull>(yr + io.y[0], m0);
    acc[r][1] = load_half<kFull>(yr + io.y[1], m1);
  }
}

inline bool full_tile(const TileIO& io) { return io.n[0] == 8 && io.n[1] == 8; }

inline void load_tile(Acc6x16& acc, const float* y, size_t ldy, int rows, const TileIO& io, bool accumulate) {
  if (!accumulate) {
    for (auto& r : acc) r[0] = r[1] = _mm256_setzero_ps();
  } else if (full_tile(io)) {
    load_rows<true>(acc, y, ldy, rows, io);
  } else {
    load_rows<false>(acc, y, ldy, rows, io);
  }
}

template <bool kFull>
inline void store_rows(Acc6x16& acc, float* y, size_t ldy, int rows, const TileIO& io, const PanelEpilogue* ep, int m,
                       const float* res) {
  const __m256i m0 = lane_mask(io.n[0]), m1 = lane_mask(io.n[1]);
  // A constant trip count, fully unrolled: with a variable bound GCC keeps acc in memory and
  // stores every accumulator on every k step of the micro-kernel.
#pragma GCC unroll 6
  for (int r = 0; r < kPanelRows; ++r) {
    if (r >= rows) break;
    float* yr = y + size_t(r) * ldy;
    __m256 v0 = acc[r][0], v1 = acc[r][1];
    if (ep) {
      const __m256 s = _mm256_set1_ps(ep->scale ? ep->scale[m + r] : 1.f);
      const __m256 b = _mm256_set1_ps(ep->bias ? ep->bias[m + r] : 0.f);
      v0 = _mm256_add_ps(_mm256_mul_ps(v0, s), b);
      v1 = _mm256_add_ps(_mm256_mul_ps(v1, s), b);
      if (res) {
        const float* rr = res + size_t(r) * ldy;
        v0 = _mm256_add_ps(v0, load_half<kFull>(rr + io.y[0], m0));
        v1 = _mm256_add_ps(v1, load_half<kFull>(rr + io.y[1], m1));
      }
      if (ep->relu) {
        v0 = _mm256_max_ps(v0, _mm256_setzero_ps());
        v1 = _mm256_max_ps(v1, _mm256_setzero_ps());
      }
    }
    if (kFull) {
      _mm256_storeu_ps(yr + io.y[0], v0);
      _mm256_storeu_ps(yr + io.y[1], v1);
    } else {
      store_first_lanes(yr + io.y[0], v0, io.n[0]);
      store_first_lanes(yr + io.y[1], v1, io.n[1]);
    }
  }
}

inline void store_tile(Acc6x16& acc, float* y, size_t ldy, int rows, const TileIO& io, const PanelEpilogue* ep, int m,
                       const float* res) {
  if (full_tile(io))
    store_rows<true>(acc, y, ldy, rows, io, ep, m, res);
  else
    store_rows<false>(acc, y, ldy, rows, io, ep, m, res);
}

// One 32-bit word broadcast to 8 lanes with the float broadcast (vbroadcastss from memory): on
// AMD Zen it is a pure load, where the integer form (vpbroadcastd) also takes a vector-pipe slot
// the exponent-add micro-kernels need for their adds.
inline __m256i broadcast_word(const uint32_t* w) {
  return _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(w)));
}

// Runs body(x0, x1) for k = 0 .. kc-1 with the two 8-float halves of x at k: a packed panel
// (16 floats per k) or the indirect addresses. The body is inlined into both loops.
template <class Body>
inline void for_each_k(int kc, const TileIO& io, Body&& body) {
  if (io.koff) {
    const float* b0 = io.x[0];
    const float* b1 = io.x[1];
    // Two k a trip: the offset load, pointer step and branch are a tenth of the exponent-add
    // tile's instructions (37 a k, all of them through a 6-wide dispatch). ResNet-18's
    // multiply-free stride-1 layers, 1 thread, per-layer minima of 4 rounds: 3-5% faster
    // (69.2 -> 68.0 ms and 68.9 -> 66.5 summed, either order).
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      const int32_t o = io.koff[k];
      body(_mm256_loadu_ps(b0 + o), _mm256_loadu_ps(b1 + o), k);
    }
  } else {
    const float* x = io.x[0];
    for (int k = 0; k < kc; ++k, x += kPanelCols) body(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), k);
  }
}

}  // namespace
}  // namespace ds::kernels::detail
