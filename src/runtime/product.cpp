// The weight product shared by conv and linear, and the epilogue after it.
#include <algorithm>
#include <vector>

#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {

void shape_error(const std::string& at, const std::string& problem) { throw core::FormatError(at + ": " + problem); }

namespace {

const kernels::KernelInfo* kernel_for(const core::NodeDesc& n, const RunContext& ctx) {
  return n.wkind == core::WeightKind::kFloat32     ? ctx.float_kernel
         : n.wkind == core::WeightKind::kDenseShift ? ctx.kernel
                                                    : ctx.zero_kernel;
}

}  // namespace

bool PanelProduct::wide_available(const core::NodeDesc& n, const RunContext& ctx, bool wide_pays) {
  const kernels::KernelInfo* k = kernel_for(n, ctx);
  return k && k->wide_form && (wide_pays || !k->wide_selective);
}

bool PanelProduct::prepare(const core::NodeDesc& n, int r0, int r1, const RunContext& ctx, bool wide) {
  using kernels::PanelWeightKind;
  const kernels::KernelInfo* k = kernel_for(n, ctx);
  // Winograd layers take the weights in 16-row blocks whatever the kernel's other layers run on.
  const bool winograd = wide && k && k->winograd;
  if (!k || (!k->panel && !winograd) || (wide && !k->wide_form && !winograd)) return false;
  const PanelWeightKind kind = n.wkind == core::WeightKind::kFloat32     ? PanelWeightKind::kF32
                               : n.wkind == core::WeightKind::kDenseShift ? PanelWeightKind::kDenseShift
                                                                          : PanelWeightKind::kShiftWithZero;
  const bool f32 = kind == PanelWeightKind::kF32;
  const size_t stride = f32 ? size_t(n.cols) * 4 : n.row_bytes;
  w_ = kernels::pack_panel_weights(kind, f32 ? 32 : int(n.bits), r1 - r0, int(n.cols), n.wdata + size_t(r0) * stride,
                                   stride, wide ? kernels::kWideRows : kernels::kPanelRows);
  fn_ = k->panel;
  return true;
}

void PanelProduct::for_pieces(int columns, int threads,
                              const std::function<void(kernels::PanelGemmArgs&)>& piece) const {
  // Tasks: chunks of up to 16 row blocks (96 rows: what the kernel decodes at once) times ranges
  // of at most 8 column panels (<= 8 x K x 64 bytes of packed x: L2), and about 2 tasks per
  // thread so a slow thread does not hold the others up (ResNet-18 at batch 1 on 2 threads: 2 per
  // thread 24.6 ms, 1 per thread 26, 4 per thread 25.7, 8 per thread 26.4; build/bench/engine_bench).
  // Every task decodes its rows' weights: splitting columns repeats the decoding.
  constexpr int kMaxColumns = 8;
  const int blocks = w_.blocks();
  if (blocks == 0 || columns == 0) return;
  const int want = threads > 1 ? 2 * threads : 1;
  int row_tasks, col_tasks, rb;
  if (wide()) {
    // The wide form decodes a block's whole K per task: split rows (each weight decoded once),
    // and columns only when there are too few row blocks for the threads. Rows go in pairs of
    // blocks, which the kernel runs together (pgemm_avx512.h, run_wide).
    const int pairs = (blocks + 1) / 2;
    row_tasks = std::min(pairs, want);
    col_tasks = std::min(columns, (want + row_tasks - 1) / row_tasks);
    rb = 2 * ((pairs + row_tasks - 1) / row_tasks);
  } else {
    row_tasks = (blocks + 15) / 16;
    col_tasks = std::min(columns, std::max((columns + kMaxColumns - 1) / kMaxColumns, (want + row_tasks - 1) / row_tasks));
    rb = (blocks + row_tasks - 1) / row_tasks;
  }
  parallel_tasks(row_tasks * col_tasks, threads, [&](int t) {
    kernels::PanelGemmArgs a;
    a.w = &w_;
    a.mb0 = std::min(blocks, t / col_tasks * rb), a.mb1 = std::min(blocks, a.mb0 + rb);
    const int c = t % col_tasks;
    a.p0 = int(int64_t(columns) * c / col_tasks), a.p1 = int(int64_t(columns) * (c + 1) / col_tasks);
    if (a.mb0 < a.mb1 && a.p0 < a.p1) piece(a);
  });
}

void PanelProduct::run(const float* xp, int N, float* y, size_t ldy, const kernels::PanelEpilogue& ep,
                       int threads) const {
  for_pieces((N + kernels::kPanelCols - 1) / kernels::kPanelCols, threads, [&](kernels::PanelGemmArgs& a) {
    a.xp = xp, a.N = N, a.y = y, a.ldy = ldy, a.ep = ep;
    fn_(a);
  });
}

void PanelProduct::run_indirect(const std::vector<kernels::ColumnTile>& tiles, const float* x_base,
                                const int32_t* koff, float* y, size_t ldy, const kernels::PanelEpilogue& ep,
                                int threads) const {
  for_pieces(int(tiles.size()), threads, [&](kernels::PanelGemmArgs& a) {
    a.tiles = tiles.data(), a.N = int(tiles.size()), a.x_base = x_base, a.koff = koff;
    a.y = y, a.ldy = ldy, a.ep = ep;
    fn_(a);
  });
}

void PanelProduct::run_wide(const std::vector<kernels::PixelTile>& tiles, const float* x_base, const int32_t* koff,
                            float* y, size_t ldy, const kernels::PanelEpilogue& ep, int threads) const {
  for_pieces(int(tiles.size()), threads, [&](kernels::PanelGemmArgs& a) {
    a.pixels = tiles.data(), a.N = int(tiles.size()), a.x_base = x_base, a.koff = koff;
    a.y = y, a.ldy = ldy, a.ep = ep;
    fn_(a);
  });
}

void weight_product(const core::NodeDesc& n, int r0, int r1, const float* x, int N, float* y, const RunContext& ctx) {
  const int K = int(n.cols);
  kernels::GemmArgs a;
  a.codes = n.wdata + size_t(r0) * n.row_bytes;
  a.row_bytes = n.row_bytes;
  a.bits = int(n.bits);
  a.M = r1 - r0, a.K = K, a.N = N;
  a.x = x, a.y = y;
  (n.wkind == core::WeightKind::kShiftWithZero ? ctx.zero_kernel : ctx.kernel)->fn(a);
}

void epilogue(const core::NodeDesc& n, int r0, int r1, int N, float* y, const float* residual, bool relu) {
  for (int r = r0; r < r1; ++r) {
    const float s = n.scale[r], b = n.bias[r];
    float* yr = y + size_t(r - r0) * N;
    const float* res = residual ? residual + size_t(r - r0) * N : nullptr;
    for (int j = 0; j < N; ++j) {
      float v = yr[j] * s + b;
      if (res) v += res[j];
      yr[j] = relu ? std::max(v, 0.f) : v;
    }
  }
}

}  // namespace ds::rt
