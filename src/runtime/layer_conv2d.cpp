// Conv2d, per image and group. With a panel kernel (pgemm.h): the im2col rows are written straight
// into x panels (threads split the rows), then the blocked product with the folded BN, residual
// and ReLU fused into its stores. With a tile kernel: im2col (skipped for 1x1 stride-1), weight
// product, epilogue, output channels split across threads.
#include <algorithm>
#include <memory>
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
    const int g = p_[core::kGroups], cout_g = p_[core::kOutC] / g, cin_g = p_[core::kInC] / g;
    const int kh = p_[core::kKernelH], kw = p_[core::kKernelW], pad = p_[core::kPad], d = p_[core::kDilation];
    direct_ = kh == 1 && kw == 1 && p_[core::kStride] == 1 && pad == 0;
    taps_.clear();
    for (int c = 0; c < cin_g; ++c)
      for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j) taps_.push_back(Tap{c, i * d - pad, j * d - pad});
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
    const int N = int(os.h * os.w), pad = p_[core::kPad];
    const int Hp = int(is.h) + 2 * pad, Wp = int(is.w) + 2 * pad;
    // Stride 1: the indirect form over a zero-padded copy of the input (implicit im2col), all
    // images of the batch in one product (the weights are decoded once for all of them).
    const size_t image = size_t(cin_g) * Hp * Wp;
    if (p_[core::kStride] == 1 && image * size_t(ctx.batch) + size_t(os.c) * N * size_t(ctx.batch) < (size_t(1) << 31)) {
      // + 16: the last tile may read 8 floats past its row.
      std::unique_ptr<float[]> padded(new float[image * size_t(ctx.batch) + 16]());
      std::vector<int32_t> koff;
      for (const Tap& t : taps_) koff.push_back(int32_t((t.c * Hp + t.dy + pad) * Wp + t.dx + pad));
      const std::vector<kernels::ColumnTile> one = column_tiles(int(os.h), int(os.w), Wp);
      std::vector<kernels::ColumnTile> tiles;
      for (int b = 0; b < ctx.batch; ++b)
        for (kernels::ColumnTile t : one) {
          for (int h = 0; h < 2; ++h) {
            t.x[h] += int32_t(size_t(b) * image);
            t.y[h] += int32_t(size_t(b) * os.c * N);
          }
          tiles.push_back(t);
        }
      for (int gi = 0; gi < g; ++gi) {
        parallel_for(ctx.batch * cin_g, ctx.threads, [&](int i0, int i1) {
          for (int i = i0; i < i1; ++i) {
            const int b = i / cin_g, c = i % cin_g;
            const float* x = in[0].data + ((size_t(b) * is.c + size_t(gi) * cin_g + size_t(c)) * is.h) * is.w;
            float* dst = padded.get() + size_t(i) * Hp * Wp;
            for (int yy = 0; yy < int(is.h); ++yy)
              std::copy_n(x + size_t(yy) * is.w, is.w, dst + size_t(yy + pad) * Wp + size_t(pad));
          }
        });
        const size_t at = size_t(gi) * cout_g * N;
        kernels::PanelEpilogue ep;
        ep.scale = n_.scale + size_t(gi) * cout_g;
        ep.bias = n_.bias + size_t(gi) * cout_g;
        ep.residual = in.size() == 2 ? in[1].data + at : nullptr;
        ep.relu = p_[core::kConvRelu] != 0;
        panels_[size_t(gi)].run_indirect(tiles, padded.get(), koff.data(), out + at, size_t(N), ep, ctx.threads);
      }
      return;
    }
    for (int b = 0; b < ctx.batch; ++b) {
      for (int gi = 0; gi < g; ++gi) {
        const float* x = in[0].data + (size_t(b) * is.c + size_t(gi) * cin_g) * is.h * is.w;
        const size_t at = (size_t(b) * os.c + size_t(gi) * cout_g) * N;
        kernels::PanelEpilogue ep;
        ep.scale = n_.scale + size_t(gi) * cout_g;
        ep.bias = n_.bias + size_t(gi) * cout_g;
        ep.residual = in.size() == 2 ? in[1].data + at : nullptr;
        ep.relu = p_[core::kConvRelu] != 0;
        panels_[size_t(gi)].run([&](int p0, int p1, float* xp) { pack_panels(x, is, os, p0, p1, xp); }, N, out + at,
                                size_t(N), ep, ctx.threads);
      }
    }
  }

  // Output rows cut into segments of up to 8 pixels, two segments per tile (a tile may span two
  // rows): segment (oy, ox0) reads the padded input from (oy, ox0) on and writes output pixel
  // oy * OW + ox0 on. An odd last segment is paired with an empty one.
  static std::vector<kernels::ColumnTile> column_tiles(int OH, int OW, int Wp) {
    std::vector<kernels::ColumnTile> tiles;
    int half = 0;
    for (int oy = 0; oy < OH; ++oy)
      for (int ox = 0; ox < OW; ox += 8) {
        if (half == 0) tiles.emplace_back();
        kernels::ColumnTile& t = tiles.back();
        t.x[half] = oy * Wp + ox, t.y[half] = oy * OW + ox, t.n[half] = std::min(8, OW - ox);
        half ^= 1;
      }
    if (half == 1) {
      kernels::ColumnTile& t = tiles.back();
      t.x[1] = t.x[0], t.y[1] = t.y[0], t.n[1] = 0;
    }
    return tiles;
  }

  // Panels [p0, p1) of the im2col matrix of one image and group, straight from the image: panel p
  // is output pixels n = 16p .. 16p + 15, and its row k (channel c, tap i, j) holds the input
  // pixel that tap reads for each of them (0 in the padding). Written panel by panel, row by row:
  // sequential stores into a buffer the GEMM reads next.
  void pack_panels(const float* x, Shape is, Shape os, int p0, int p1, float* out) const {
    const int s = p_[core::kStride], H = int(is.h), W = int(is.w), OW = int(os.w), N = int(os.h * os.w);
    const int K = int(taps_.size());
    constexpr int C = kernels::kPanelCols;
    struct Run {
      int at, oy, ox, len;  // panel columns [at, at + len) are output row oy, columns ox ..
    };
    for (int p = p0; p < p1; ++p, out += size_t(K) * C) {
      const int n0 = p * C, cols = std::min(C, N - n0);
      Run runs[C];
      int nr = 0;
      for (int n = n0; n < n0 + cols;) {
        const int oy = n / OW, ox = n % OW, len = std::min(OW - ox, n0 + cols - n);
        runs[nr++] = Run{n - n0, oy, ox, len};
        n += len;
      }
      // Short loops over at most 16 floats, no library calls and, for stride 1, no divisions:
      // this runs once per row of K per panel.
      for (int k = 0; k < K; ++k) {
        const Tap& t = taps_[size_t(k)];
        const float* xc = x + size_t(t.c) * H * W;
        float* d = out + size_t(k) * C;
        if (direct_) {
          for (int q = 0; q < cols; ++q) d[q] = xc[n0 + q];
        } else {
          for (int r = 0; r < nr; ++r) {
            const Run& u = runs[r];
            float* dr = d + u.at;
            const int yy = u.oy * s + t.dy;
            if (yy < 0 || yy >= H) {
              for (int q = 0; q < u.len; ++q) dr[q] = 0.f;
              continue;
            }
            const float* row = xc + size_t(yy) * W;
            // Columns of the run that read inside the row: xx = (ox + q) * s + dx in [0, W).
            const int first = u.ox * s + t.dx;
            int lo, hi;
            if (s == 1) {
              lo = std::min(u.len, std::max(0, -first));
              hi = std::max(lo, std::min(u.len, W - first));
            } else {
              lo = std::min(u.len, first >= 0 ? 0 : (-first + s - 1) / s);
              hi = std::max(lo, std::min(u.len, W - first > 0 ? (W - first + s - 1) / s : 0));
            }
            for (int q = 0; q < lo; ++q) dr[q] = 0.f;
            if (s == 1) {
              const float* src = row + first;
              for (int q = lo; q < hi; ++q) dr[q] = src[q];
            } else {
              for (int q = lo; q < hi; ++q) dr[q] = row[first + q * s];
            }
            for (int q = hi; q < u.len; ++q) dr[q] = 0.f;
          }
        }
        for (int q = cols; q < C; ++q) d[q] = 0.f;
      }
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
  struct Tap {
    int c, dy, dx;  // row k of im2col: input channel, and the offsets of tap (i, j) from oy * s, ox * s
  };
  std::vector<Tap> taps_;  // per row k of the im2col matrix
  bool direct_ = false;    // 1x1, stride 1, no padding: row k is channel k itself
};

}  // namespace

std::unique_ptr<Layer> make_conv2d(const core::NodeDesc& n) { return std::make_unique<Conv2d>(n); }

}  // namespace ds::rt
