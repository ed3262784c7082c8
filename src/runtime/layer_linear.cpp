// Linear: x [batch, in] -> [batch, out]. DenseShift codes run on the matrix-vector kernels
// (kernels/matvec.h) when a blocked kernel is chosen; other weights on the panel kernel's wide
// form where it has one (an image a pixel, read in place); otherwise the weight product wants
// K x N activations, so the batch is transposed in and out (N = batch).
#include <algorithm>
#include <vector>

#include "kernels/matvec.h"
#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {
namespace {

class Linear : public Layer {
 public:
  explicit Linear(const core::NodeDesc& n) : n_(n), in_(n.params[0]), out_(n.params[1]), relu_(n.params[2] != 0) {}

  Shape infer(const std::vector<Shape>& in, const std::string& at) const override {
    if (in_ <= 0 || out_ <= 0) shape_error(at, "linear sizes out of range");
    if (in[0].numel() != size_t(in_)) shape_error(at, "expects " + std::to_string(in_) + " inputs, gets " + std::to_string(in[0].numel()));
    if (int(n_.rows) != out_ || int(n_.cols) != in_)
      shape_error(at, "weights are " + std::to_string(n_.rows) + "x" + std::to_string(n_.cols) + ", expected " +
                          std::to_string(out_) + "x" + std::to_string(in_));
    return Shape{uint32_t(out_), 1, 1};
  }

  void prepare(const RunContext& ctx, const std::vector<Shape>&, Shape) override {
    // DenseShift codes with a blocked (panel) kernel chosen: the matrix-vector kernels, vectorised
    // along K, which keep every lane busy at batch 1 where the GEMM forms idle most of them.
    matvec_ = nullptr;
    if (n_.wkind == core::WeightKind::kDenseShift && ctx.kernel && ctx.kernel->panel) {
      // A multiply-free kernel chosen: a multiply-free matvec kernel where there is one.
      if (ctx.kernel->multiply_free) matvec_ = kernels::multiply_free_matvec_kernel();
      if (!matvec_) matvec_ = &kernels::select_matvec_kernel();
      mv_codes_.assign(kernels::matvec_packed_bytes(out_, in_, int(n_.bits)), 0);
      kernels::matvec_pack(n_.wdata, n_.row_bytes, int(n_.bits), out_, in_, mv_codes_.data());
      return;
    }
    // Else the wide form where the kernel has it: 16 outputs per vector, one image per pixel, the
    // input read in place (koff = k), where the 6x16 form at batch 1 keeps 1 lane of 16 busy
    // (ResNet-18's FP32 fc, 2 threads: 0.225 -> 0.117 ms).
    wide_ = PanelProduct::wide_available(n_, ctx);
    panel_ = product_.prepare(n_, 0, out_, ctx, wide_);
    if (!panel_) wide_ = false;
    koff_.clear();
    if (wide_)
      for (int k = 0; k < in_; ++k) koff_.push_back(k);
  }

  void run_wide(const float* x, float* out, const RunContext& ctx) const {
    // One image a pixel: image b reads x at b * in_ and writes its outputs from b * out_ on.
    const auto tiles = PanelProduct::pixel_tiles(ctx.batch, [&](int b) {
      return std::pair<int32_t, int32_t>(int32_t(size_t(b) * size_t(in_)), int32_t(size_t(b) * size_t(out_)));
    });
    kernels::PanelEpilogue ep;
    ep.scale = n_.scale, ep.bias = n_.bias, ep.relu = relu_;
    product_.run_wide(tiles, x, koff_.data(), out, 1, ep, ctx.threads);  // output r of image b at out[r + b * out_]
  }

  void run_matvec(const float* x, float* out, const RunContext& ctx) const {
    // Rows split across threads in whole row blocks of the matvec layout.
    const int rb = kernels::matvec_row_block(), blocks = (out_ + rb - 1) / rb;
    parallel_for(blocks, ctx.threads, [&](int b0, int b1) {
      kernels::MatvecArgs a;
      a.packed = mv_codes_.data(), a.bits = int(n_.bits), a.M = out_, a.K = in_, a.N = ctx.batch;
      a.x = x, a.y = out, a.scale = n_.scale, a.bias = n_.bias, a.relu = relu_;
      a.m0 = b0 * rb, a.m1 = std::min(out_, b1 * rb);
      matvec_->fn(a);
    });
  }

  void run(const std::vector<Value>& in, float* out, Shape, const RunContext& ctx) const override {
    if (matvec_) return run_matvec(in[0].data, out, ctx);
    if (wide_) return run_wide(in[0].data, out, ctx);
    const int N = ctx.batch;
    std::vector<float> xt(size_t(in_) * N), yt(size_t(out_) * N);
    for (int b = 0; b < N; ++b)
      for (int k = 0; k < in_; ++k) xt[size_t(k) * N + b] = in[0].data[size_t(b) * in_ + k];
    if (panel_) {
      std::vector<float> xp(kernels::panel_x_floats(in_, N));
      kernels::pack_panel_x(xt.data(), size_t(N), in_, N, 0, in_, xp.data());
      kernels::PanelEpilogue ep;
      ep.scale = n_.scale, ep.bias = n_.bias, ep.relu = relu_;
      product_.run(xp.data(), N, yt.data(), size_t(N), ep, ctx.threads);
    } else {
      parallel_for(out_, ctx.threads, [&](int r0, int r1) {
        weight_product(n_, r0, r1, xt.data(), N, yt.data() + size_t(r0) * N, ctx);
        epilogue(n_, r0, r1, N, yt.data() + size_t(r0) * N, nullptr, relu_);
      });
    }
    for (int b = 0; b < N; ++b)
      for (int r = 0; r < out_; ++r) out[size_t(b) * out_ + r] = yt[size_t(r) * N + b];
  }

  std::string describe() const override {
    return "linear " + std::to_string(in_) + "->" + std::to_string(out_) + ", " +
           (n_.wkind == core::WeightKind::kFloat32 ? std::string("fp32") : std::to_string(n_.bits) + "-bit codes");
  }

 private:
  const core::NodeDesc& n_;
  int in_, out_;
  bool relu_;
  PanelProduct product_;
  bool panel_ = false;
  bool wide_ = false;           // panel_ in the wide form
  std::vector<int32_t> koff_;   // the wide form's offsets of x: 0 .. in_ - 1
  const kernels::MatvecKernelInfo* matvec_ = nullptr;
  std::vector<uint8_t> mv_codes_;  // the weights in the matvec layout (kernels/matvec.h)
};

}  // namespace

std::unique_ptr<Layer> make_linear(const core::NodeDesc& n) { return std::make_unique<Linear>(n); }

}  // namespace ds::rt
