// The blocked ("panel") GEMM the engine runs convolutions and FP32 layers on.
//
// Same product as kernels.h, y[m][n] = sum_k w(m, k) * x(k, n), but organised for cache reuse
// the way BLIS and XNNPACK do it, with the weights still in their b-bit codes:
//   - weights are repacked once, at model load, into blocks of kPanelRows rows, k-major inside a
//     block (PanelWeights): a block's columns [k0, k1) are one contiguous run of codes;
//   - activations are packed into panels of kPanelCols columns, k-major (pack_panel_x*): a
//     micro-kernel streams one panel from L1;
//   - per block of K (256) the kernel decodes the codes of a few row blocks into a small panel of
//     floats (or exponent words) in L2, and a 6x16 register-blocked micro-kernel runs over it;
//   - the folded BatchNorm scale/bias, the residual add and ReLU are applied as the last K block
//     is stored (PanelEpilogue): no separate pass over y.
// Nothing expands the whole model: the decoded panel is at most 16 blocks x 256 columns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ds::kernels {

constexpr int kPanelRows = 6;   // output rows (channels) per micro-tile
constexpr int kPanelCols = 16;  // output columns per micro-tile = the width of an x panel
constexpr int kPanelDepth = 256;  // columns of K decoded at a time (a multiple of 4: byte-aligned code runs)
// The channel-vectorised ("wide") form: 16 output channels in one ZMM x 7 output pixels (see
// PixelTile). 7: every ResNet image side (224 down to 7, 28 down to 7) is a multiple of it, so no
// tile computes dropped pixels, and 2 x 2 x 7 accumulators fit the 32 ZMM registers. Against 6
// a tile: ResNet-18 2 threads fastest 12.6 -> 11.9 ms, multiply-free 21.7 -> 20.8; ResNet-20 1
// thread multiply-free 0.853 -> 0.806 (scripts/ab_engine.sh, 7 and 9 rounds).
constexpr int kWideRows = 16;
constexpr int kWidePixels = 7;

enum class PanelWeightKind : uint32_t { kF32, kDenseShift, kShiftWithZero };

// Weights repacked for the blocked GEMM: row 6b + r, column k is element k * 6 + r of block b.
// Codes keep their b bits, packed tightly in that order (core/codes.h bit order); FP32 weights
// are floats in that order. Rows past M in the last block hold code 0 / 0.0f and their outputs
// are never stored. Every block is followed by at least 16 zero bytes, so a vector decoder may
// read 16 bytes from any code group inside the block.
//
// Move-only: `base` points into `storage`. The kernels read through `base` alone, so the units
// compiled with ISA flags never instantiate std::vector code (see internal.h).
struct PanelWeights {
  PanelWeightKind kind = PanelWeightKind::kF32;
  int bits = 32;  // 2..5 for codes, 32 for FP32
  int M = 0, K = 0;
  int block_rows = kPanelRows;  // kPanelRows, or kWideRows for the wide form
  size_t block_bytes = 0;       // a multiple of 64
  const uint8_t* base = nullptr;
  std::vector<uint8_t> storage;

  PanelWeights() = default;
  PanelWeights(PanelWeights&&) = default;
  PanelWeights& operator=(PanelWeights&&) = default;
  PanelWeights(const PanelWeights&) = delete;
  PanelWeights& operator=(const PanelWeights&) = delete;

  int blocks() const { return (M + block_rows - 1) / block_rows; }
  const uint8_t* block(int b) const { return base + size_t(b) * block_bytes; }
  size_t bytes() const { return storage.size(); }
};

// From the model's row-major weights: M rows of `row_bytes` bytes holding K tight b-bit codes
// (kDenseShift, kShiftWithZero) or K floats (kF32, bits = 32). Throws std::invalid_argument on a
// bad width or size.
PanelWeights pack_panel_weights(PanelWeightKind kind, int bits, int M, int K, const uint8_t* rows,
                                size_t row_bytes, int block_rows = kPanelRows);

// Activations for the blocked GEMM: x(k, n) at xp[(n / 16 * K + k) * 16 + n % 16]; the missing
// columns of the last panel are 0.
inline size_t panel_x_floats(int K, int N) {
  return size_t((N + kPanelCols - 1) / kPanelCols) * size_t(K) * kPanelCols;
}
// Rows [k0, k1) of a K x N row-major matrix with row stride ldx, into their place in xp.
void pack_panel_x(const float* x, size_t ldx, int K, int N, int k0, int k1, float* xp);

// Applied to each output as the last block of K is stored:
//   y = y * scale[m] + bias[m] + residual(m, n), then max(y, 0) if relu.
struct PanelEpilogue {
  const float* scale = nullptr;     // per row; null = 1
  const float* bias = nullptr;      // per row; null = 0
  const float* residual = nullptr;  // laid out like y (same ldy); null = none
  bool relu = false;
};

// A column tile of the indirect form: two halves of 8 output columns, each read from 8
// consecutive floats of x and written to 8 consecutive floats of a row of y.
struct ColumnTile {
  int32_t x[2];  // offset of half h in x (floats from x_base; the tap offset koff[k] is added)
  int32_t y[2];  // offset of half h in a row of y (and of the residual)
  int32_t n[2];  // columns of half h inside y (0..8): the rest are computed and dropped
};

// A tile of the wide form: 7 output pixels anywhere in the output (no row alignment), read at
// x_base + x[j] + koff[k] (one float each, broadcast) and written at y[m * ldy + y[j]]; pixels
// j >= n are computed and dropped.
struct PixelTile {
  int32_t x[kWidePixels];
  int32_t y[kWidePixels];
  int32_t n;
};

// One piece of the product: row blocks [mb0, mb1) x column panels [p0, p1). Pieces that do not
// overlap may run on different threads at once.
//
// Indirect form (implicit im2col, no packing): when `tiles` is set, [p0, p1) are column tiles and
// half h of tile t reads x(k, .) at x_base + tiles[t].x[h] + koff[k]. A stride-1 convolution
// over a zero-padded copy of its input is this form with koff[k] = the offset of tap k; xp and N
// are unused then, and N is the number of tiles. x must be readable 8 floats past every such
// address.
struct PanelGemmArgs {
  const PanelWeights* w = nullptr;
  int mb0 = 0, mb1 = 0;
  const float* xp = nullptr;  // panels of x, K = w->K: panel p at xp + p * K * 16
  int N = 0;
  int p0 = 0, p1 = 0;
  float* y = nullptr;  // y(m, n) at y[m * ldy + n], m and n absolute
  size_t ldy = 0;
  PanelEpilogue ep;
  const ColumnTile* tiles = nullptr;  // indirect form, see above
  const float* x_base = nullptr;
  const int32_t* koff = nullptr;      // K offsets
  // Wide form (weights packed with block_rows = kWideRows): [p0, p1) are pixel tiles, N their
  // number, x read as in the indirect form; the whole K is summed in registers per tile.
  const PixelTile* pixels = nullptr;
};
using PanelGemmFn = void (*)(const PanelGemmArgs&);

}  // namespace ds::kernels
