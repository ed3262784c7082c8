// Winograd F(m x m, 3x3), m = 2 or 4, for the stride-1, pad-1 3x3 convolutions (Lavin & Gray
// 2016): each m x m block of outputs ("tile") comes from an a x a input patch d (a = m + 2) and
// the 3x3 filter g as
//
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A      (a^2 products per tile where direct needs 9 m^2)
//
// so the product becomes a^2 independent GEMMs, one per position xi of the transformed tile:
// M_xi[k][t] = sum_c U_xi[k][c] V_xi[c][t], with U = G g G^T from the weights and V = B^T d B from
// the input. F(2x2) does 2.25x fewer multiply-adds than the direct convolution, F(4x4) 4x, for
// more additions in the transforms and a little more rounding (F(4x4)'s matrices hold 1/6, 1/24).
//
// The weights stay b-bit codes (PanelWeights in blocks of kWideRows = 16 output channels, K = C*9,
// k = c*9 + i*3 + j): a task decodes and transforms the codes of one block and a chunk of input
// channels into a small U panel (a^2 x chunk x 16 floats, L2) and runs the GEMMs over it, or reads
// the whole U made once (WinogradKernel::weights) where the caller keeps it. U is not a power of
// two, so these kernels multiply: they are not multiply-free.
//
// Arithmetic differs from the direct product: rounding (about 1e-6 relative on ResNet layers), and
// special values. The transforms mix a tile's inputs, so an inf or NaN input may turn every output
// of its tiles into NaN (inf * 0 or inf - inf inside U .* V), where the direct product keeps it to
// the outputs that read it; F(4x4)'s input transform scales by up to 25, so inputs above about
// 1e36 may overflow. Models whose activations are finite and sane are not affected.
//
// Layout of V: V_xi[c][t] at v + xi * xi_stride + c * c_stride + t, tiles t numbered
// (image, tile row, tile column): t = (b * tiles_h + ty) * tiles_w + tx, tile (ty, tx) covering
// output pixels (m ty .. m ty + m-1, m tx .. m tx + m-1). Outputs past the image's edge are
// computed from zero padding and dropped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/pgemm.h"

namespace ds::kernels {

// Tiles along an output side of `out` pixels, for output tiles of m x m; positions per tile.
inline int winograd_tiles(int out, int m) { return (out + m - 1) / m; }
inline int winograd_positions(int m) { return (m + 2) * (m + 2); }

// U (the transformed weights) as the product reads it: per 16-row block b and chunk of
// kWinogradChunk input channels q, a^2 panels of [channel][16 rows], kWinogradUStride floats from
// one position's panel to the next (a chunk plus 16: the a^2 stores of one channel's transform
// land in different L1 sets; at exactly 4 KiB apart they would share one set of 8 ways and evict
// each other, measured 40% of the layer at 7x7). Block b, chunk q, position xi starts at
// ((b * chunks + q) * a^2 + xi) * kWinogradUStride.
constexpr int kWinogradChunk = 64;
constexpr size_t kWinogradUStride = size_t(kWinogradChunk) * kWideRows + kWideRows;
inline int winograd_chunks(int C) { return (C + kWinogradChunk - 1) / kWinogradChunk; }
inline size_t winograd_u_floats(const PanelWeights& w, int m) {
  return size_t(w.blocks()) * size_t(winograd_chunks(w.K / 9)) * size_t(winograd_positions(m)) * kWinogradUStride;
}

// All of U for weights w (block_rows = kWideRows, K = C * 9), winograd_u_floats(w, m) floats at u.
struct WinogradWeightsArgs {
  int m = 2;
  const PanelWeights* w = nullptr;
  float* u = nullptr;
};
using WinogradWeightsFn = void (*)(const WinogradWeightsArgs&);

// V for `channels` consecutive input planes (an image's channels, H x W each, row-major, the
// first at x) of a pad-1 convolution: plane c's tiles' a^2 transformed values, written at
// v + c * c_stride + xi * xi_stride + ty * tiles_w + tx (v already points at the first plane's
// channel and image). H, W >= 1. One call per range of channels: a call's set-up is shared.
struct WinogradInputArgs {
  int m = 2;  // output tile size: 2 or 4
  const float* x = nullptr;
  int H = 0, W = 0;
  float* v = nullptr;
  size_t xi_stride = 0;
  int channels = 1;
  size_t c_stride = 0;  // floats of V from one channel to the next (unused for one channel)
};
using WinogradInputFn = void (*)(const WinogradInputArgs&);

// One piece of the product: output-channel blocks [mb0, mb1) x tile groups [g0, g1)
// (WinogradKernel::group tiles a group, the last one possibly short), through the output
// transform and the epilogue
// (pgemm.h's PanelEpilogue: y = y * scale + bias + residual, then ReLU). Pieces that do not
// overlap may run at once.
struct WinogradProductArgs {
  int m = 2;  // output tile size: 2 or 4, as the input transform had it
  const PanelWeights* w = nullptr;  // block_rows = kWideRows, K = C * 9
  int mb0 = 0, mb1 = 0;
  const float* v = nullptr;  // see above
  size_t xi_stride = 0, c_stride = 0;
  int T = 0;  // tiles in all
  int g0 = 0, g1 = 0;
  int tiles_h = 0, tiles_w = 0;  // per image
  int OH = 0, OW = 0;
  float* y = nullptr;        // output channel m of image b at y + b * image_stride + m * OH * OW
  size_t image_stride = 0;   // the residual is laid out the same way
  PanelEpilogue ep;
  // U from WinogradKernel::weights (kept with the layer), or null: each piece decodes and
  // transforms its blocks' codes itself (a^2 x 64 x 16 floats at a time: the model stays b-bit).
  const float* u = nullptr;
};
using WinogradProductFn = void (*)(const WinogradProductArgs&);

// Tiles per register group of each ISA's product (a group: that many accumulators of 16 channels,
// times the blocks and groups of its register tile, winograd_impl.h). 7 with AVX-512: every
// ResNet tile grid (14x14, 7x7) is a multiple of 7, and 2 x 2 x 7 accumulators fit 32 registers;
// 6 where a vector of 16 floats takes two YMM or four Q registers.
constexpr int kWinogradGroupAvx512 = 7, kWinogradGroupAvx2 = 6, kWinogradGroupNeon = 6;

struct WinogradKernel {
  WinogradInputFn input;
  WinogradProductFn product;
  WinogradWeightsFn weights;
  // Output pixels (H x W) from which a layer runs as Winograd; below, on the kernel's direct
  // product, where that is the faster of the two (set per kernel entry from measurements).
  int min_out_pixels;
  // Input channels from which a layer runs as Winograd (with fewer the transforms outweigh the
  // saved multiply-adds).
  int min_inputs;
  int group;  // tiles per group of WinogradProductArgs::g0, g1 (kWinogradGroup*)
};

// Throws std::invalid_argument when a piece is out of range, m is not 2 or 4, or the weights are
// not 16-row blocks of a 3x3 kernel (K a multiple of 9).
void validate_winograd(const WinogradProductArgs& a, int group);
void validate_winograd_weights(const WinogradWeightsArgs& a);

}  // namespace ds::kernels
