// Conv2d. With a panel kernel (pgemm.h): the indirect blocked product over a padded, phase-split
// copy of the input (see run_panels), the folded BN, residual and ReLU fused into its stores. With
// a tile kernel: per image and group, im2col (skipped for 1x1 stride-1), weight product, epilogue,
// output channels split across threads.
#include <algorithm>
#include <memory>
#include <vector>

#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {
namespace {

using core::ConvParam;

// The calling thread's buffer for a convolution's rearranged input (the phase-split planes, or
// Winograd's V), at least n floats: reused across layers and runs, since a fresh buffer would
// fault its pages in every time. A layer holds it only while it runs, so one serves both forms.
float* input_scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

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

  void prepare(const RunContext& ctx, const std::vector<Shape>& in, Shape out) override {
    const int g = p_[core::kGroups], cout_g = p_[core::kOutC] / g, cin_g = p_[core::kInC] / g;
    const int kh = p_[core::kKernelH], kw = p_[core::kKernelW], d = p_[core::kDilation];
    taps_.clear();
    for (int c = 0; c < cin_g; ++c)
      for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j) taps_.push_back(Tap{c, i * d, j * d});
    const int s = p_[core::kStride];
    // Winograd (kernels/winograd.h) where the kernel has it: stride-1 pad-1 3x3 DenseShift
    // convolutions with at least the kernel's min_inputs input channels (with fewer the transforms
    // outweigh the saved multiply-adds), weights in the wide form's 16-row blocks. Else the wide
    // form where the kernel has it and K is deep enough (kWideMinDepth): 7 pixels anywhere per
    // tile, where the 6x16 form idles a lane of 8 per 7-pixel row segment.
    const int pad = p_[core::kPad];
    winograd_ = n_.wkind == core::WeightKind::kDenseShift && ctx.kernel && ctx.kernel->winograd && kh == 3 &&
                        kw == 3 && s == 1 && pad == 1 && d == 1 && g == 1 && cin_g >= ctx.kernel->winograd->min_inputs &&
                        int(out.h * out.w) >= ctx.kernel->winograd->min_out_pixels
                    ? ctx.kernel->winograd
                    : nullptr;
    // Where a wide_selective kernel (the AVX2 ones) takes the wide form - every layer but
    // a strided stem of a few channels on rows of 16 pixels or more, whose phase-split copy is
    // small and whose 6x16 tiles are full. Since the wide form's broadcasts use one address
    // register (pgemm_wide_avx2.h), it beats the 6x16 form on stride-1 layers too. AMD Zen 3, 1
    // thread, per-layer minima of 3-4 rounds (scripts/ab_engine.sh -l -m), 6x16 -> wide:
    // ResNet-18 multiply-free 56x56 3.33 -> 3.13 ms, 28x28 3.65 -> 3.00, FMA 2.83 -> 2.62 and
    // 3.10 -> 2.51; ResNet-50's 1x1 stride-1 layers at 56x56 and 28x28 5-25% faster (14x14 and
    // 7x7 ones were wide already), the whole network multiply-free 134.5 -> 125.9 ms; the stem
    // 3.01 against 3.05. (Before that change the 6x16 form won at 56x56 and 28x28: exponent add
    // 3.8 against 4.5 ms, +5%.)
    const bool wide_pays = out.w < 16 || s == 1 || cin_g >= 16;
    const bool wide =
        winograd_ || (cin_g * kh * kw >= kWideMinDepth && PanelProduct::wide_available(n_, ctx, wide_pays));
    panels_.clear();
    for (int gi = 0; gi < g; ++gi) {
      panels_.emplace_back();
      if (!panels_.back().prepare(n_, gi * cout_g, (gi + 1) * cout_g, ctx, wide)) {
        panels_.clear();
        winograd_ = nullptr;
        return;
      }
    }
    if (winograd_) {
      // U once, at load, where it is small enough to be read from L2 (kMaxKeptU): else every
      // run's pieces decode and transform their blocks' codes again, which costs less than
      // reading a large U from memory.
      const kernels::PanelWeights& w = panels_[0].weights();
      // F(4x4) on large images (kWinograd4MinPixels). On small ones F(2x2), where F(4x4)'s wider
      // tiles would mostly cover padding and its costlier weight transform, made per run, is
      // shared by few tiles - unless F(4x4)'s U is kept and it computes fewer products than
      // F(2x2) (36 per 4x4 tile against 16 per 2x2 tile, padding included): ResNet-20's 14x14 and
      // 7x7 layers, where kept U removes that transform from each run (AMD Zen 3, 1 thread,
      // per-layer minima of 8 rounds: 32 channels at 14x14 0.034 -> 0.031 ms, 64 at 7x7 0.039 ->
      // 0.029).
      const size_t f2_products = 16 * size_t(kernels::winograd_tiles(int(out.h), 2)) * kernels::winograd_tiles(int(out.w), 2);
      const size_t f4_products = 36 * size_t(kernels::winograd_tiles(int(out.h), 4)) * kernels::winograd_tiles(int(out.w), 4);
      const bool f4_kept = kernels::winograd_u_floats(w, 4) * sizeof(float) <= kMaxKeptU;
      winograd_m_ = int(out.h * out.w) >= kWinograd4MinPixels || (f4_kept && f4_products < f2_products) ? 4 : 2;
      const size_t u_floats = kernels::winograd_u_floats(w, winograd_m_);
      u_.clear();
      if (u_floats * sizeof(float) > kMaxKeptU) return;
      u_.assign(u_floats, 0.f);
      kernels::WinogradWeightsArgs wa;
      wa.m = winograd_m_, wa.w = &w, wa.u = u_.data();
      winograd_->weights(wa);
      return;
    }
    // The phase-split input and the taps' offsets in it (see run_panels), fixed by the shapes.
    // The wide form reads one float per pixel and tap, wherever it is: one phase (a padded copy,
    // pixels s floats apart), and no copy at all without padding (the input itself).
    phases_ = wide ? 1 : s;
    in_place_ = wide && pad == 0;
    const int ph = phases_;
    // The phase rows and columns some tap reads (a 1x1 stride-2 conv reads one phase of four):
    // the others are not copied.
    used_rows_.assign(size_t(ph), false);
    used_cols_.assign(size_t(ph), false);
    for (int i = 0; i < kh; ++i) used_rows_[size_t(i * d % ph)] = true;
    for (int j = 0; j < kw; ++j) used_cols_[size_t(j * d % ph)] = true;
    Hq_ = (int(in[0].h) + 2 * pad + ph - 1) / ph, Wq_ = (int(in[0].w) + 2 * pad + ph - 1) / ph;
    plane_ = size_t(Hq_) * Wq_, image_ = size_t(cin_g) * ph * ph * plane_;
    koff_.clear();
    for (const Tap& t : taps_)
      koff_.push_back(int32_t(((size_t(t.c) * ph + size_t(t.dy % ph)) * ph + size_t(t.dx % ph)) * plane_ +
                              size_t(t.dy / ph) * Wq_ + size_t(t.dx / ph)));
    column_tiles_ = wide ? std::vector<kernels::ColumnTile>() : column_tiles(int(out.h), int(out.w), Wq_);
    // One image's pixel tiles, built once: per run they took 0.07 ms of ResNet-18's 112x112 stem
    // on one thread, while the other waited.
    image_tiles_ = wide ? wide_tiles(1, int(out.h * out.w), int(out.w), int(out.c), 0) : std::vector<kernels::PixelTile>();
  }

  // One image's tiles (ColumnTile or PixelTile) repeated for nb images, image b's moved by b
  // images of the input copy (x offsets) and of the output (y offsets).
  template <class Tile>
  static std::vector<Tile> for_images(const std::vector<Tile>& one, int nb, size_t image_in, size_t image_out) {
    std::vector<Tile> all;
    all.reserve(one.size() * size_t(nb));
    for (int b = 0; b < nb; ++b)
      for (Tile t : one) {
        for (auto& x : t.x) x += int32_t(size_t(b) * image_in);
        for (auto& y : t.y) y += int32_t(size_t(b) * image_out);
        all.push_back(t);
      }
    return all;
  }

  // The wide form's tiles over every output pixel of nb images (N pixels, OW wide, C channels
  // each; the input copy `image` floats an image); pixel (oy, ox) reads from (s oy, s ox) of its
  // input plane (Wq_ wide, stride s).
  std::vector<kernels::PixelTile> wide_tiles(int nb, int N, int OW, int C, size_t image) const {
    const int st = p_[core::kStride];
    return PanelProduct::pixel_tiles(nb * N, [&](int q) {
      const int b = q / N, n = q % N;
      return std::pair<int32_t, int32_t>(int32_t(size_t(b) * image + size_t(n / OW) * st * Wq_ + size_t(n % OW) * st),
                                         int32_t(size_t(b) * C * N + size_t(n)));
    });
  }

  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    if (winograd_) return run_winograd(in, out, os, ctx);
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

  // The indirect form of the panel product (pgemm.h) over a zero-padded, phase-split copy of the
  // input: implicit im2col, no packing. With stride s the padded input splits into s x s phase
  // planes, plane (a, b) holding padded pixels (u * s + a, v * s + b); tap (i, j) of output pixel
  // (oy, ox) is then pixel (oy + i*d / s, ox + j*d / s) of plane (i*d % s, j*d % s), so 8 outputs
  // along a row read 8 consecutive floats for every stride. The wide form reads single floats:
  // one phase (a padded copy, output pixels s floats apart), or the input itself where there is
  // no padding (a 1x1 stride-2 downsample copies nothing). All images of the batch go into one
  // product: the weights are decoded once for all of them.
  void run_panels(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const {
    const Shape is = in[0].shape;
    const int g = p_[core::kGroups], cin_g = p_[core::kInC] / g, cout_g = p_[core::kOutC] / g;
    const int N = int(os.h * os.w), pad = p_[core::kPad], s = phases_, Wq = Wq_;
    const size_t plane = plane_, image = in_place_ ? size_t(is.c) * plane_ : image_;
    const bool wide = panels_[0].wide();
    // Tile offsets are 32-bit: a batch whose buffers would pass 2^31 floats goes in chunks. So
    // does one whose copy would pass kCopyChunkBytes: the product then reads it from L2, not
    // from memory (ResNet-18 at batch 32, 2 threads, multiply-free: 39.3 -> 41 images/s).
    const size_t per_image = std::max(image, size_t(os.c) * N);
    size_t images = std::min<size_t>(size_t(ctx.batch), ((size_t(1) << 31) - 64) / per_image);
    if (!in_place_) images = std::min(images, kCopyChunkBytes / (image * sizeof(float)));
    const int chunk = int(std::max<size_t>(1, images));
    for (int b0 = 0; b0 < ctx.batch; b0 += chunk) {
      const int nb = std::min(chunk, ctx.batch - b0);
      // + 16: the last tile may read 8 floats past its row. Not zero-filled here: each thread
      // clears the planes it fills (in parallel, and only the phases some tap reads).
      float* const split = in_place_ ? nullptr : input_scratch(image * size_t(nb) + 16);
      if (split) std::fill_n(split + image * size_t(nb), 16, 0.f);
      std::vector<kernels::ColumnTile> tiles;
      std::vector<kernels::PixelTile> pixels;
      if (wide && nb > 1 && N % kernels::kWidePixels == 0)
        pixels = for_images(image_tiles_, nb, image, size_t(os.c) * N);  // no tile spans two images
      else if (wide && nb > 1)
        pixels = wide_tiles(nb, N, int(os.w), int(os.c), image);
      else if (!wide)
        tiles = for_images(column_tiles_, nb, image, size_t(os.c) * N);
      for (int gi = 0; gi < g; ++gi) {
        if (split) parallel_for(nb * cin_g, ctx.threads, [&](int i0, int i1) {
          for (int i = i0; i < i1; ++i) {
            const int b = b0 + i / cin_g, c = i % cin_g;
            const float* x = in[0].data + ((size_t(b) * is.c + size_t(gi) * cin_g + size_t(c)) * is.h) * is.w;
            float* dst = split + size_t(i) * s * s * plane;
            for (int a = 0; a < s; ++a)
              for (int bph = 0; bph < s; ++bph)
                if (used_rows_[size_t(a)] && used_cols_[size_t(bph)])
                  std::fill_n(dst + (size_t(a) * s + size_t(bph)) * plane, plane, 0.f);
            for (int yy = 0; yy < int(is.h); ++yy) {
              const int py = yy + pad;
              if (!used_rows_[size_t(py % s)]) continue;
              float* drow = dst + size_t(py % s) * s * plane + size_t(py / s) * Wq;
              const float* src = x + size_t(yy) * is.w;
              if (s == 1) {
                std::copy_n(src, is.w, drow + pad);
                continue;
              }
              // Phase column a holds padded columns v * s + a: input column v * s + a - pad.
              for (int a = 0; a < s; ++a) {
                if (!used_cols_[size_t(a)]) continue;
                float* d = drow + size_t(a) * plane;
                const int v0 = std::max(0, (pad - a + s - 1) / s);
                for (int v = v0, xx = v0 * s + a - pad; v < Wq && xx < int(is.w); ++v, xx += s) d[v] = src[xx];
              }
            }
          }
        });
        const size_t at = (size_t(b0) * os.c + size_t(gi) * cout_g) * N;
        const float* const x =
            split ? split : in[0].data + (size_t(b0) * is.c + size_t(gi) * cin_g) * plane;  // in place: this group's channels
        kernels::PanelEpilogue ep;
        ep.scale = n_.scale + size_t(gi) * cout_g;
        ep.bias = n_.bias + size_t(gi) * cout_g;
        ep.residual = in.size() == 2 ? in[1].data + at : nullptr;
        ep.relu = p_[core::kConvRelu] != 0;
        if (wide)
          panels_[size_t(gi)].run_wide(nb > 1 ? pixels : image_tiles_, x, koff_.data(), out + at, size_t(N), ep, ctx.threads);
        else
          panels_[size_t(gi)].run_indirect(tiles, x, koff_.data(), out + at, size_t(N), ep, ctx.threads);
      }
    }
  }

  // Winograd F(m x m, 3x3) (kernels/winograd.h): the input transform per image and channel into V
  // ((m + 2)^2 x C x tiles floats: 2.25x (m = 4) to 4x (m = 2) the input), then the product in
  // tasks of 16-channel blocks x ranges of tile groups, each through the output transform and
  // the fused epilogue.
  void run_winograd(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const {
    const Shape is = in[0].shape;
    const int m = winograd_m_;
    const int C = p_[core::kInC], th = kernels::winograd_tiles(int(os.h), m), tw = kernels::winograd_tiles(int(os.w), m);
    const size_t per_image = size_t(th) * tw, v_image = size_t(kernels::winograd_positions(m)) * C * per_image;
    // A batch goes in chunks of images whose V fits in kWinogradChunkBytes: the product reads V
    // once per block pair, from L2 rather than from memory (ResNet-18 at batch 32, 2 threads: the
    // 56x56 layers took 1.3 ms an image with all 32 images' V (58 MB), against 0.8 at batch 1).
    const int chunk = int(std::max<size_t>(1, std::min<size_t>(size_t(ctx.batch), kWinogradChunkBytes / (v_image * 4))));
    const size_t image_in = size_t(is.c) * is.h * is.w, image_out = size_t(os.c) * os.h * os.w;
    float* const v = input_scratch(v_image * size_t(chunk));
    const kernels::PanelWeights& w = panels_[0].weights();
    for (int b0 = 0; b0 < ctx.batch; b0 += chunk) {
      const int nb = std::min(chunk, ctx.batch - b0);
      const size_t T = size_t(nb) * per_image;
      parallel_for(nb * C, ctx.threads, [&](int i0, int i1) {
        // One call per run of channels within an image (its set-up shared by the run).
        for (int i = i0; i < i1;) {
          const int n = std::min(i1 - i, C - i % C);
          kernels::WinogradInputArgs a;
          a.m = m;
          a.x = in[0].data + size_t(b0) * image_in + size_t(i) * is.h * is.w;
          a.H = int(is.h), a.W = int(is.w);
          a.v = v + size_t(i % C) * T + size_t(i / C) * per_image;
          a.xi_stride = size_t(C) * T;
          a.channels = n, a.c_stride = T;
          winograd_->input(a);
          i += n;
        }
      });
      const int blocks = w.blocks(), groups = int((T + winograd_->group - 1) / winograd_->group);
      // Tasks: every block's weights are decoded and transformed once per task, so ranges of
      // groups are long (up to kMaxGroups: (m + 2)^2 x group x 16 floats of sums each, in L2), and
      // split further only to give each thread about 2 tasks. Blocks go in pairs, which the
      // AVX-512 kernel runs as one register tile.
      constexpr int kMaxGroups = 24;
      const int want = ctx.threads > 1 ? 2 * ctx.threads : 1, pairs = (blocks + 1) / 2;
      const int col_tasks =
          std::min(groups, std::max((groups + kMaxGroups - 1) / kMaxGroups, (want + pairs - 1) / pairs));
      kernels::PanelEpilogue ep;
      ep.scale = n_.scale, ep.bias = n_.bias;
      ep.residual = in.size() == 2 ? in[1].data + size_t(b0) * image_out : nullptr;
      ep.relu = p_[core::kConvRelu] != 0;
      parallel_tasks(pairs * col_tasks, ctx.threads, [&](int t) {
        kernels::WinogradProductArgs a;
        a.m = m;
        a.w = &w;
        a.mb0 = t / col_tasks * 2, a.mb1 = std::min(blocks, a.mb0 + 2);
        const int c = t % col_tasks;
        a.g0 = int(int64_t(groups) * c / col_tasks), a.g1 = int(int64_t(groups) * (c + 1) / col_tasks);
        a.v = v, a.xi_stride = size_t(C) * T, a.c_stride = T, a.T = int(T);
        a.tiles_h = th, a.tiles_w = tw, a.OH = int(os.h), a.OW = int(os.w);
        a.y = out + size_t(b0) * image_out, a.image_stride = image_out, a.ep = ep;
        a.u = u_.empty() ? nullptr : u_.data();
        if (a.g0 < a.g1) winograd_->product(a);
      });
    }
  }

  // Output rows cut into segments of up to 8 pixels, two segments per tile (a tile may span two
  // rows): segment (oy, ox0) reads from (oy, ox0) of a phase plane Wq wide and writes output pixel
  // oy * OW + ox0 on. An odd last segment is paired with an empty one.
  static std::vector<kernels::ColumnTile> column_tiles(int OH, int OW, int Wq) {
    std::vector<kernels::ColumnTile> tiles;
    int half = 0;
    for (int oy = 0; oy < OH; ++oy)
      for (int ox = 0; ox < OW; ox += 8) {
        if (half == 0) tiles.emplace_back();
        kernels::ColumnTile& t = tiles.back();
        t.x[half] = oy * Wq + ox, t.y[half] = oy * OW + ox, t.n[half] = std::min(8, OW - ox);
        half ^= 1;
      }
    if (half == 1) {
      kernels::ColumnTile& t = tiles.back();
      t.x[1] = t.x[0], t.y[1] = t.y[0], t.n[1] = 0;
    }
    return tiles;
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
  const kernels::WinogradKernel* winograd_ = nullptr;  // set: run_winograd on panels_[0]
  int winograd_m_ = 2;                                 // its output tiles: m x m
  std::vector<float> u_;                               // its transformed weights (kernels::winograd_u_floats), or none
  // Per layer, U kept from load up to this. ResNet-18, per-layer medians (scripts/ab_engine.sh -l,
  // 5 rounds 2 threads, 3 rounds 1 thread), kept against made per run: 56x56 (U 0.6 MB) 0.51 ->
  // 0.55 ms (2 threads) and 0.98 -> 1.03 (1 thread); 28x28 (2.4 MB) 0.44 -> 0.45 and 0.76 ->
  // 0.74; 14x14 (4.2 MB) 0.58 -> 0.60 and 1.15 -> 1.07: read from memory, the large ones lose.
  static constexpr size_t kMaxKeptU = size_t(1) << 20;
  // F(4x4) from 28x28 outputs on. build/bench/bench_winograd (1 thread, input + product, ms,
  // F(2x2) vs F(4x4)): 64 channels at 56x56 1.34 vs 0.84, 128 at 28x28 1.09 vs 0.83, 256 at 14x14
  // 1.21 vs 1.29, 512 at 7x7 1.98 vs 2.41.
  static constexpr int kWinograd4MinPixels = 28 * 28;
  static constexpr size_t kWinogradChunkBytes = size_t(2) << 20;  // V per chunk of a batch: one core's L2 or less
  static constexpr size_t kCopyChunkBytes = size_t(2) << 20;      // the same for the panel forms' input copy
  struct Tap {
    int c, dy, dx;  // row k of im2col: input channel, and tap (i, j) as offsets i*d, j*d in the padded input
  };
  std::vector<Tap> taps_;  // per row k of the im2col matrix
  std::vector<bool> used_rows_, used_cols_;  // per phase: read by some tap
  // The wide form from 64 columns of K, at any image size. With block pairs and the epilogue in
  // registers (pgemm_avx512.h) it wins at every size of ResNet-18 (2 threads, per-layer medians
  // of DS_PROFILE=1 build/bench/engine_bench: the 112x112 stem 1.16 ms against 1.44 for the 6x16 form, the
  // expadd kernel's 56x56 layers 1.5-1.6 against 1.7-1.9) and ties on ResNet-20's 32x32 ones
  // (bench_layers --only resnet20, 1 thread: 16 channels 0.055 ms against 0.050 for FMA, 0.068
  // for both with exponent adds). Below 64 (ResNet-20's first conv, K = 27) its per-tile costs
  // weigh on few columns of K (0.049 ms wide against 0.016, with the older scalar epilogue).
  static constexpr int kWideMinDepth = 64;
  // Set by prepare for the panel forms: the phase planes (Hq_ x Wq_, plane_ floats each; image_
  // floats per image of the copy), each tap's offset in them, and one image's column tiles (6x16
  // form).
  int Hq_ = 0, Wq_ = 0;
  size_t plane_ = 0, image_ = 0;
  int phases_ = 1;         // phases per side: the stride (6x16 form), 1 (wide form)
  bool in_place_ = false;  // the wide form without padding reads the input itself: no copy
  std::vector<int32_t> koff_;
  std::vector<kernels::ColumnTile> column_tiles_;
  std::vector<kernels::PixelTile> image_tiles_;  // the wide form's tiles for a batch of 1
};

}  // namespace

std::unique_ptr<Layer> make_conv2d(const core::NodeDesc& n) { return std::make_unique<Conv2d>(n); }

}  // namespace ds::rt
