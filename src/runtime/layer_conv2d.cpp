// Conv2d, per image and group. With a panel kernel (pgemm.h): the im2col rows are written straight
// into x panels (threads split the rows), then the blocked product with the folded BN, residual
// and ReLU fused into its stores. With a tile kernel: im2col (skipped for 1x1 stride-1), weight
// product, epilogue, output channels split across threads.
#include <algorithm>
#include <vector>

#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {
namespace {

using core::ConvParam;

class Conv2d : public Layer {
 public:
  explicit Conv2d(const core::NodeDesc& n) : n_(n) {
    for (int i = 0; i < core::kConvParamCount; ++i) p_[i] = n.params[size_t(i)];
  }

  Shape infer(const std::vector<Shape>& in, const std::string& at) const override {
    const int cin = p_[core::kInC], cout = p_[core::kOutC], kh = p_[core::kKernelH], kw = p_[core::kKernelW],
              s = p_[core::kStride], pad = p_[core::kPad], d = p_[core::kDilation], g = p_[core::kGroups];
    auto bad = [&](const std::string& why) { shape_error(at, why); };
    if (cin <= 0 || cout <= 0 || kh <= 0 || kw <= 0 || s <= 0 || pad < 0 || d <= 0 || g <= 0 || kh > 64 || kw > 64 ||
        s > 64 || pad > 64 || d > 64)
      bad("conv parameters out of range");
    if (cin % g || cout % g) bad("channels " + std::to_string(cin) + "->" + std::to_string(cout) + " not divisible by " + std::to_string(g) + " groups");
    if (int(in[0].c) != cin) bad("expects " + std::to_string(cin) + " input channels, gets " + std::to_string(in[0].c));
    if (int(n_.rows) != cout || int(n_.cols) != cin / g * kh * kw)
      bad("weights are " + std::to_string(n_.rows) + "x" + std::to_string(n_.cols) + ", the conv needs " +
          std::to_string(cout) + "x" + std::to_string(cin / g * kh * kw));
    const int64_t eh = int64_t(d) * (kh - 1) + 1, ew = int64_t(d) * (kw - 1) + 1;
    const int64_t oh = (int64_t(in[0].h) + 2 * pad - eh) / s + 1, ow = (int64_t(in[0].w) + 2 * pad - ew) / s + 1;
    if (int64_t(in[0].h) + 2 * pad < eh || int64_t(in[0].w) + 2 * pad < ew || oh <= 0 || ow <= 0)
      bad("kernel larger than the padded input " + std::to_string(in[0].h) + "x" + std::to_string(in[0].w));
    Shape out{uint32_t(cout), uint32_t(oh), uint32_t(ow)};
    if (in.size() == 2 && (in[1].c != out.c || in[1].h != out.h || in[1].w != out.w)) bad("residual shape differs from the output");
    return out;
  }

  void prepare(const RunContext& ctx) override {
    const int g = p_[core::kGroups], cout_g = p_[core::kOutC] / g;
    panels_.clear();
    for (int gi = 0; gi < g; ++gi) {
      panels_.emplace_back();
      if (!panels_.back().prepare(n_, gi * cout_g, (gi + 1) * cout_g, ctx)) {
        panels_.clear();
        return;
      }
    }
  }

  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    if (!panels_.empty()) return run_panels(in, out, os, ctx);
    const Shape is = in[0].shape;
    const int g = p_[core::kGroups], cin_g = p_[core::kInC] / g, cout_g = p_[core::kOutC] / g;
    const int kh = p_[core::kKernelH], kw = p_[core::kKernelW], s = p_[core::kStride], pad = p_[core::kPad],
              d = p_[core::kDilation];
    const int N = int(os.h * os.w), K = cin_g * kh * kw;
    const bool direct = kh == 1 && kw == 1 && s == 1 && pad == 0;
    std::vector<float> col(direct ? 0 : size_t(K) * N);
    for (int b = 0; b < ctx.batch; ++b) {
      for (int gi = 0; gi < g; ++gi) {
        const float* x = in[0].data + (size_t(b) * is.c + size_t(gi) * cin_g) * is.h * is.w;
        if (!direct) {
          im2col(x, cin_g, int(is.h), int(is.w), kh, kw, s, pad, d, int(os.h), int(os.w), col.data());
          x = col.data();
        }
        float* y = out + (size_t(b) * os.c + size_t(gi) * cout_g) * N;
        const float* res = in.size() == 2 ? in[1].data + (size_t(b) * os.c + size_t(gi) * cout_g) * N : nullptr;
        const int r_base = gi * cout_g;
        parallel_for(cout_g, ctx.threads, [&](int r0, int r1) {
          weight_product(n_, r_base + r0, r_base + r1, x, N, y + size_t(r0) * N, ctx);
          epilogue(n_, r_base + r0, r_base + r1, N, y + size_t(r0) * N, res ? res + size_t(r0) * N : nullptr,
                   p_[core::kConvRelu] != 0);
        });
      }
    }
  }

  void run_panels(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const {
    const Shape is = in[0].shape;
    const int g = p_[core::kGroups], cin_g = p_[core::kInC] / g, cout_g = p_[core::kOutC] / g;
    const int N = int(os.h * os.w), K = panels_[0].K();
    std::vector<float> xp(kernels::panel_x_floats(K, N));
    for (int b = 0; b < ctx.batch; ++b) {
      for (int gi = 0; gi < g; ++gi) {
        const float* x = in[0].data + (size_t(b) * is.c + size_t(gi) * cin_g) * is.h * is.w;
        parallel_for(K, ctx.threads, [&](int k0, int k1) { pack_rows(x, is, os, k0, k1, K, xp.data()); });
        const size_t at = (size_t(b) * os.c + size_t(gi) * cout_g) * N;
        kernels::PanelEpilogue ep;
        ep.scale = n_.scale + size_t(gi) * cout_g;
        ep.bias = n_.bias + size_t(gi) * cout_g;
        ep.residual = in.size() == 2 ? in[1].data + at : nullptr;
        ep.relu = p_[core::kConvRelu] != 0;
        panels_[size_t(gi)].run(xp.data(), N, out + at, size_t(N), ep, ctx.threads);
      }
    }
  }

  // Rows [k0, k1) of the im2col matrix of one image and group (row k = channel c, tap i, j: the
  // input pixel that tap reads for each output pixel), written into their place in the x panels.
  void pack_rows(const float* x, Shape is, Shape os, int k0, int k1, int K, float* xp) const {
    const int kh = p_[core::kKernelH], kw = p_[core::kKernelW], s = p_[core::kStride], pad = p_[core::kPad],
              d = p_[core::kDilation];
    const int H = int(is.h), W = int(is.w), OH = int(os.h), OW = int(os.w), N = OH * OW;
    const bool direct = kh == 1 && kw == 1 && s == 1 && pad == 0;
    std::vector<float> row(direct ? 0 : size_t(N));
    for (int k = k0; k < k1; ++k) {
      const int c = k / (kh * kw), i = k / kw % kh, j = k % kw;
      const float* src = x + size_t(c) * H * W;
      if (!direct) {
        // Output columns [lo, hi) read inside the row; the rest are padding.
        const int off = j * d - pad;
        const int lo = std::min(OW, std::max(0, (-off + s - 1) / s));
        const int hi = std::max(lo, std::min(OW, (W - off + s - 1) / s));
        for (int oy = 0; oy < OH; ++oy) {
          float* r = row.data() + size_t(oy) * OW;
          const int yy = oy * s - pad + i * d;
          if (yy < 0 || yy >= H) {
            std::fill(r, r + OW, 0.f);
            continue;
          }
          const float* xr = src + size_t(yy) * W + off;
          std::fill(r, r + lo, 0.f);
          if (s == 1) {
            std::copy(xr + lo, xr + hi, r + lo);
          } else {
            for (int ox = lo; ox < hi; ++ox) r[ox] = xr[ox * s];
          }
          std::fill(r + hi, r + OW, 0.f);
        }
        src = row.data();
      }
      kernels::pack_panel_x(src, 0, K, N, k, k + 1, xp);
    }
  }

  std::string describe() const override {
    std::string w = n_.wkind == core::WeightKind::kFloat32 ? "fp32" : std::to_string(n_.bits) + "-bit codes";
    return "conv2d " + std::to_string(p_[core::kInC]) + "->" + std::to_string(p_[core::kOutC]) + " " +
           std::to_string(p_[core::kKernelH]) + "x" + std::to_string(p_[core::kKernelW]) + "/" +
           std::to_string(p_[core::kStride]) + (p_[core::kGroups] > 1 ? " groups " + std::to_string(p_[core::kGroups]) : "") +
           ", " + w + (n_.inputs.size() == 2 ? ", +residual" : "") + (p_[core::kConvRelu] ? ", relu" : "");
  }

 private:
  // Rows (c, i, j) of the K x N matrix: the input pixel each kernel tap reads for each output.
  static void im2col(const float* x, int C, int H, int W, int kh, int kw, int s, int pad, int d, int OH, int OW,
                     float* col) {
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j) {
          float* row = col + ((size_t(c) * kh + i) * kw + j) * OH * OW;
          for (int oy = 0; oy < OH; ++oy) {
            const int y = oy * s - pad + i * d;
            float* r = row + size_t(oy) * OW;
            if (y < 0 || y >= H) {
              for (int ox = 0; ox < OW; ++ox) r[ox] = 0.f;
              continue;
            }
            const float* xr = x + (size_t(c) * H + y) * W;
            for (int ox = 0; ox < OW; ++ox) {
              const int xx = ox * s - pad + j * d;
              r[ox] = (xx >= 0 && xx < W) ? xr[xx] : 0.f;
            }
          }
        }
  }

  const core::NodeDesc& n_;
  int p_[core::kConvParamCount];
  std::vector<PanelProduct> panels_;  // one per group, when the kernel has a panel form
};

}  // namespace

std::unique_ptr<Layer> make_conv2d(const core::NodeDesc& n) { return std::make_unique<Conv2d>(n); }

}  // namespace ds::rt
