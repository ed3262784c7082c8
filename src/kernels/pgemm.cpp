// The portable half of the blocked GEMM: repacking weights and activations into panels, argument
// checks, and the GemmArgs adapter the registry uses for the panel kernels.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/internal.h"

namespace ds::kernels {

PanelWeights pack_panel_weights(PanelWeightKind kind, int bits, int M, int K, const uint8_t* rows, size_t row_bytes,
                                int block_rows) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("pack_panel_weights: " + what); };
  const bool f32 = kind == PanelWeightKind::kF32;
  if (f32 ? bits != 32 : (bits < core::kMinBits || bits > core::kMaxBits))
    fail("width " + std::to_string(bits) + " does not fit the weight kind");
  if (M < 0 || K < 0) fail("negative size");
  if (block_rows != kPanelRows && block_rows != kWideRows) fail("blocks of " + std::to_string(block_rows) + " rows");
  const int R = block_rows;
  const size_t need = f32 ? size_t(K) * 4 : core::packed_bytes(size_t(K), bits);
  if (M > 0 && K > 0 && (rows == nullptr || row_bytes < need)) fail("rows shorter than " + std::to_string(need) + " bytes");

  PanelWeights w;
  w.kind = kind, w.bits = bits, w.M = M, w.K = K, w.block_rows = R;
  const size_t per_block = size_t(K) * R;  // elements
  const size_t payload = f32 ? per_block * 4 : core::packed_bytes(per_block, bits);
  w.block_bytes = (payload + 16 + 63) / 64 * 64;  // >= 16 spare bytes for the vector decoders
  w.storage.assign(size_t(w.blocks()) * w.block_bytes + 64, 0);
  // Start the blocks on a 64-byte boundary inside the storage.
  const auto addr = reinterpret_cast<uintptr_t>(w.storage.data());
  w.base = w.storage.data() + ((64 - addr % 64) % 64);

  std::vector<uint8_t> codes(f32 ? 0 : per_block), row_codes(f32 ? 0 : size_t(K));
  for (int b = 0; b < w.blocks(); ++b) {
    uint8_t* dst = w.storage.data() + (w.base - w.storage.data()) + size_t(b) * w.block_bytes;
    if (f32) {
      float* out = reinterpret_cast<float*>(dst);
      for (int r = 0; r < R && b * R + r < M; ++r) {
        const uint8_t* row = rows + size_t(b * R + r) * row_bytes;
        for (int k = 0; k < K; ++k) std::memcpy(out + size_t(k) * R + size_t(r), row + size_t(k) * 4, 4);
      }
      continue;
    }
    std::fill(codes.begin(), codes.end(), uint8_t(0));
    for (int r = 0; r < R && b * R + r < M; ++r) {
      const uint8_t* row = rows + size_t(b * R + r) * row_bytes;
      // A whole row unpacked in one streaming pass, then spread: reading code by code
      // (packed_code_at) was a tenth of loading ResNet-18 (perf).
      core::unpack_codes(row, size_t(K), bits, row_codes.data());
      for (int k = 0; k < K; ++k) codes[size_t(k) * R + size_t(r)] = row_codes[size_t(k)];
    }
    core::pack_codes(codes.data(), codes.size(), bits, dst);
  }
  return w;
}

void pack_panel_x(const float* x, size_t ldx, int K, int N, int k0, int k1, float* xp) {
  const int panels = (N + kPanelCols - 1) / kPanelCols;
  for (int p = 0; p < panels; ++p) {
    const int n0 = p * kPanelCols, cols = std::min(kPanelCols, N - n0);
    float* dst = xp + (size_t(p) * size_t(K) + size_t(k0)) * kPanelCols;
    if (cols == kPanelCols) {  // a constant-size copy: inlined as two vector moves, no call
      for (int k = k0; k < k1; ++k, dst += kPanelCols)
        std::memcpy(dst, x + size_t(k) * ldx + size_t(n0), sizeof(float) * kPanelCols);
      continue;
    }
    for (int k = k0; k < k1; ++k, dst += kPanelCols) {
      const float* src = x + size_t(k) * ldx + size_t(n0);
      for (int j = 0; j < kPanelCols; ++j) dst[j] = j < cols ? src[j] : 0.f;
    }
  }
}

namespace {

// What the Winograd entry points refuse in their tile size and weights, or "" (both check it).
std::string winograd_misfit(int m, const PanelWeights& w) {
  if (m != 2 && m != 4) return "output tiles of " + std::to_string(m) + "x" + std::to_string(m) + ": 2 or 4 only";
  if (w.block_rows != kWideRows || w.K % 9 != 0) return "needs 3x3 weights (K a multiple of 9) in blocks of 16 rows";
  return "";
}

}  // namespace

void validate_winograd_weights(const WinogradWeightsArgs& a) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("winograd weights: " + what); };
  if (!a.w || !a.u) fail("null buffers");
  if (const std::string why = winograd_misfit(a.m, *a.w); !why.empty()) fail(why);
}

void validate_winograd(const WinogradProductArgs& a, int group) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("winograd product: " + what); };
  if (!a.w) fail("no weights");
  const PanelWeights& w = *a.w;
  if (const std::string why = winograd_misfit(a.m, w); !why.empty()) fail(why);
  const int groups = (a.T + group - 1) / group;
  if (a.mb0 < 0 || a.mb0 > a.mb1 || a.mb1 > w.blocks() || a.T < 0 || a.g0 < 0 || a.g0 > a.g1 || a.g1 > groups)
    fail("piece [" + std::to_string(a.mb0) + ", " + std::to_string(a.mb1) + ") x [" + std::to_string(a.g0) + ", " +
         std::to_string(a.g1) + ") is outside " + std::to_string(w.blocks()) + " x " + std::to_string(groups));
  if (a.mb0 < a.mb1 && a.g0 < a.g1) {
    if (!a.y || (w.K > 0 && !a.v)) fail("null buffers");
    if (a.tiles_h != winograd_tiles(a.OH, a.m) || a.tiles_w != winograd_tiles(a.OW, a.m) ||
        size_t(a.T) % (size_t(a.tiles_h) * size_t(a.tiles_w)) != 0)
      fail("tile counts do not match the output size");
    if (a.c_stride < size_t(a.T) || a.xi_stride < size_t(w.K / 9) * a.c_stride ||
        a.image_stride < size_t(w.M) * size_t(a.OH) * size_t(a.OW))
      fail("strides of V or y overlap");
  }
}

namespace detail {

void validate_panel(const PanelGemmArgs& a, unsigned accepted) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("panel gemm: " + what); };
  if (!a.w) fail("no weights");
  const PanelWeights& w = *a.w;
  const unsigned kind = w.kind == PanelWeightKind::kF32           ? kAcceptF32
                        : w.kind == PanelWeightKind::kDenseShift ? kAcceptDenseShift
                                                                 : kAcceptZero;
  if (!(accepted & kind)) fail("this kernel does not take these weights");
  const int panels = (a.tiles || a.pixels) ? a.N : (a.N + kPanelCols - 1) / kPanelCols;  // N counts tiles
  if (a.pixels && !(accepted & kAcceptWide)) fail("this kernel has no wide form");
  if ((a.pixels != nullptr) != (w.block_rows == kWideRows)) fail("the wide form needs weights in blocks of 16 rows, and only it");
  if (a.mb0 < 0 || a.mb0 > a.mb1 || a.mb1 > w.blocks() || a.N < 0 || a.p0 < 0 || a.p0 > a.p1 || a.p1 > panels)
    fail("piece [" + std::to_string(a.mb0) + ", " + std::to_string(a.mb1) + ") x [" + std::to_string(a.p0) + ", " +
         std::to_string(a.p1) + ") is outside " + std::to_string(w.blocks()) + " x " + std::to_string(panels));
  const bool x_missing = (a.tiles || a.pixels) ? (!a.x_base || !a.koff) : !a.xp;
  if (a.mb0 < a.mb1 && a.p0 < a.p1 && (!a.y || (w.K > 0 && x_missing) || (!a.tiles && !a.pixels && a.ldy < size_t(a.N))))
    fail("null buffers or ldy below N");
}

void run_panel_as_gemm(const GemmArgs& a, PanelWeightKind kind, PanelGemmFn panel) {
  validate(a);
  if (a.M == 0 || a.N == 0) return;
  const PanelWeights w = pack_panel_weights(kind, a.bits, a.M, a.K, a.codes, a.row_bytes);
  std::vector<float> xp(panel_x_floats(a.K, a.N));
  pack_panel_x(a.x, size_t(a.N), a.K, a.N, 0, a.K, xp.data());
  PanelGemmArgs p;
  p.w = &w, p.mb0 = 0, p.mb1 = w.blocks(), p.xp = xp.data(), p.N = a.N, p.p0 = 0;
  p.p1 = (a.N + kPanelCols - 1) / kPanelCols, p.y = a.y, p.ldy = size_t(a.N);
  panel(p);
}

}  // namespace detail
}  // namespace ds::kernels
