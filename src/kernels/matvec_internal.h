// Internal to the kernels library: the matvec layout constants (matvec.h describes the layout),
// argument checks and the kernel entry points. Included by ISA-flagged units too, so everything
// defined here has internal linkage (see internal.h for why).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/matvec.h"

namespace ds::kernels::detail {

// Throws std::invalid_argument for a width outside 2..5, negative sizes, null pointers with
// non-empty sizes or a row range that is not [m0, m1) inside [0, M) on block boundaries.
void validate_matvec(const MatvecArgs& a);

void matvec_f32_scalar(const MatvecArgs& a);
#if defined(DS_KERNELS_X86)
void matvec_f32_fma_avx2(const MatvecArgs& a);
void matvec_f32_expadd_avx2(const MatvecArgs& a);
void matvec_f32_expadd_avx512(const MatvecArgs& a);
#endif
#if defined(DS_KERNELS_NEON)
void matvec_f32_neon(const MatvecArgs& a);
#endif

// Per-thread scratch for the SIMD kernels' copies of x: at least n floats, 32-byte aligned,
// valid until the next call on the same thread.
float* mv_x_scratch(size_t n);

namespace {

constexpr int kMvRows = 4;   // R: rows per block
constexpr int kMvLanes = 8;  // words per group (one 256-bit vector)
constexpr int kMvGroupBytes = kMvLanes * 4;
constexpr int kMvPanelK = 1920;  // k per panel: a multiple of every group size (128, 80, 64, 48)

constexpr int mv_codes_per_word(int bits) { return 32 / bits; }
constexpr int mv_group_k(int bits) { return kMvLanes * mv_codes_per_word(bits); }
// Bit of slot j's exponent field and of its sign inside a word (matvec.h, "Layout").
constexpr int mv_p_bit(int bits, int j) { return bits <= 3 ? bits * j : (bits - 1) * j; }
constexpr int mv_s_bit(int bits, int j) { return bits <= 3 ? bits * j + bits - 1 : 31 - j; }

// Sizes and offsets of the layout for one matrix.
struct MvGeom {
  int G;             // k per group
  int groups;        // groups per row, ceil(K / G)
  int panel_groups;  // groups per full panel
  int panels;        // ceil(K / kMvPanelK)
  int blocks;        // ceil(M / R)
  size_t panel_bytes;  // bytes of a full panel (all blocks)

  // Groups in panel p (only the last panel can have fewer).
  int groups_in(int p) const {
    const int left = groups - p * panel_groups;
    return left < panel_groups ? left : panel_groups;
  }
  // Start of block q's part of panel p: its groups follow, R rows of 32 bytes per group.
  size_t offset(int p, int q) const {
    return size_t(p) * panel_bytes + size_t(q) * size_t(groups_in(p)) * kMvRows * kMvGroupBytes;
  }
  size_t total_bytes() const {
    return size_t(blocks) * size_t(groups) * kMvRows * kMvGroupBytes;
  }
};

inline MvGeom mv_geom(int M, int K, int bits) {
  MvGeom g;
  g.G = mv_group_k(bits);
  g.groups = (K + g.G - 1) / g.G;
  g.panel_groups = kMvPanelK / g.G;
  g.panels = (K + kMvPanelK - 1) / kMvPanelK;
  g.blocks = (M + kMvRows - 1) / kMvRows;
  g.panel_bytes = size_t(g.blocks) * size_t(g.panel_groups) * kMvRows * kMvGroupBytes;
  return g;
}

// Floats between the vectors of a panel's x copy holding kp floats: kp rounded up to 8, plus 8
// more when that is a multiple of 1024 (4 KiB), so that vectors do not share L1 sets.
inline size_t mv_x_stride(int kp) {
  const size_t s = (size_t(kp) + 7) / 8 * 8;
  return s % 1024 == 0 ? s + 8 : s;
}

inline uint32_t mv_load_word(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Row m's finished dot product: scale, bias and relu applied.
inline float mv_epilogue(const MatvecArgs& a, int m, float dot) {
  float v = dot;
  if (a.scale) v *= a.scale[m];
  if (a.bias) v += a.bias[m];
  if (a.relu && v < 0.0f) v = 0.0f;  // NaN stays NaN
  return v;
}

// After validate_matvec: true when the kernel has nothing left to do - no rows or vectors, or
// K = 0, where every dot product is 0 and y gets the epilogue of 0, written here.
inline bool mv_trivial(const MatvecArgs& a) {
  if (a.m1 <= a.m0 || a.N == 0) return true;
  if (a.K != 0) return false;
  for (int n = 0; n < a.N; ++n)
    for (int m = a.m0; m < a.m1; ++m) a.y[size_t(n) * size_t(a.M) + size_t(m)] = mv_epilogue(a, m, 0.0f);
  return true;
}

}  // namespace
}  // namespace ds::kernels::detail
