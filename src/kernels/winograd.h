// Winograd F(2x2, 3x3) for the stride-1, pad-1 3x3 convolutions (Lavin & Gray 2016): each 2x2
// block of outputs ("tile") comes from a 4x4 input patch d and the 3x3 filter g as
//
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A      (16 products per tile where direct needs 36)
//
// so the product becomes 16 independent GEMMs, one per position xi of the 4x4 transformed tile:
// M_xi[m][t] = sum_c U_xi[m][c] V_xi[c][t], with U = G g G^T from the weights and V = B^T d B from
// the input. 2.25x fewer multiply-adds than the direct convolution, for a few additions.
//
// The weights stay b-bit codes (PanelWeights in blocks of kWideRows = 16 output channels, K = C*9,
// k = c*9 + i*3 + j): a task decodes and transforms the codes of one block and a chunk of input
// channels into a small U panel (16 x chunk x 16 floats, L2) and runs the 16 GEMMs over it. U is
// not a power of two, so these kernels multiply: they are not multiply-free.
//
// Layout of V: V_xi[c][t] at v + xi * xi_stride + c * c_stride + t, tiles t numbered
// (image, tile row, tile column): t = (b * tiles_h + ty) * tiles_w + tx, tile (ty, tx) covering
// output pixels (2ty .. 2ty+1, 2tx .. 2tx+1). Outputs past the image's edge (odd sizes) are
// computed from zero padding and dropped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/pgemm.h"

namespace ds::kernels {

inline int winograd_tiles(int out) { return (out + 1) / 2; }
constexpr int kWinogradPositions = 16;  // 4x4 transformed tile

// V for one input plane (an image's channel, H x W, row-major) of a pad-1 convolution: its tiles'
// 16 transformed values, written at v + xi * xi_stride + ty * tiles_w + tx (v already points at
// this plane's channel and image). H, W >= 1.
struct WinogradInputArgs {
  const float* x = nullptr;
  int H = 0, W = 0;
  float* v = nullptr;
  size_t xi_stride = 0;
};
using WinogradInputFn = void (*)(const WinogradInputArgs&);

// One piece of the product: output-channel blocks [mb0, mb1) x tile groups [g0, g1) (6 tiles a
// group, the last one possibly short), through the output transform and the epilogue
// (pgemm.h's PanelEpilogue: y = y * scale + bias + residual, then ReLU). Pieces that do not
// overlap may run at once.
struct WinogradProductArgs {
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
};
using WinogradProductFn = void (*)(const WinogradProductArgs&);

constexpr int kWinogradGroup = 6;  // tiles per register tile (6 ZMM accumulators of 16 channels)

struct WinogradKernel {
  WinogradInputFn input;
  WinogradProductFn product;
};

// Throws std::invalid_argument when a piece is out of range or its weights are not 16-row blocks
// of a 3x3 kernel (K a multiple of 9).
void validate_winograd(const WinogradProductArgs& a);

}  // namespace ds::kernels
