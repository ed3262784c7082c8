// Max pooling, average pooling (padding counted, PyTorch's default) and global average pooling;
// windowed pools split their planes across threads.
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {
namespace {

// The max pool's two loops, compiled for AVX-512 and AVX2 besides the baseline, the best picked
// at load (GCC/clang function multiversioning): the runtime is built for baseline x86-64, where
// the stride-2 window loop does not vectorise (ResNet-18's 3/2 pool, 2 threads: 0.269 -> 0.213 ms).
#if defined(__x86_64__) && defined(__GNUC__)
#define DS_POOL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DS_POOL_CLONES
#endif

// col[i] = max(col[i], row[i]) for i < n.
DS_POOL_CLONES void max_into(float* col, const float* row, size_t n) {
  for (size_t i = 0; i < n; ++i) col[i] = row[i] > col[i] ? row[i] : col[i];
}

// col[i] = max(a[i], b[i], c[i]) for i < n, in the order of a copy of a and two max_into: the
// three rows of a 3-high window in one pass over col instead of three (the ResNet stem's pool:
// ResNet-18, 1 thread, per-layer minima of 5 rounds in either order, 0.222 -> 0.193 ms).
DS_POOL_CLONES void max3_rows(float* col, const float* a, const float* b, const float* c, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float v = a[i];
    v = b[i] > v ? b[i] : v;
    col[i] = c[i] > v ? c[i] : v;
  }
}

// y[o] = max(c[2o], c[2o + 1], c[2o + 2]) for o < n: a 3-wide window every 2 columns.
DS_POOL_CLONES void max3_stride2(const float* c, size_t n, float* y) {
  for (size_t o = 0; o < n; ++o) {
    float acc = -std::numeric_limits<float>::infinity();  // the comparisons of the general loop
    acc = c[2 * o] > acc ? c[2 * o] : acc;
    acc = c[2 * o + 1] > acc ? c[2 * o + 1] : acc;
    acc = c[2 * o + 2] > acc ? c[2 * o + 2] : acc;
    y[o] = acc;
  }
}

class Pool : public Layer {
 public:
  Pool(const core::NodeDesc& n, bool max) : max_(max), k_(n.params[0]), s_(n.params[1]), p_(n.params[2]) {}

  Shape infer(const std::vector<Shape>& in, const std::string& at) const override {
    if (k_ <= 0 || s_ <= 0 || p_ < 0 || k_ > 64 || s_ > 64 || 2 * int64_t(p_) > k_) shape_error(at, "pool parameters out of range");
    if (int64_t(in[0].h) + 2 * p_ < k_ || int64_t(in[0].w) + 2 * p_ < k_) shape_error(at, "pool window larger than the input");
    return Shape{in[0].c, uint32_t((in[0].h + 2 * p_ - k_) / s_ + 1), uint32_t((in[0].w + 2 * p_ - k_) / s_ + 1)};
  }

  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    const Shape is = in[0].shape;
    // The window's taps inside the input, per output row and column: [lo, hi) in input
    // coordinates, so the loops below need no bounds checks.
    auto range = [&](uint32_t o, uint32_t size) {
      const int a = int(o) * s_ - p_;
      return std::pair<int, int>(std::max(a, 0), std::min(a + k_, int(size)));
    };
    std::vector<std::pair<int, int>> cols(os.w);
    for (uint32_t ox = 0; ox < os.w; ++ox) cols[ox] = range(ox, is.w);
    // The 3/2 max pool of the ResNet stem: outputs [lo, hi) have their window inside the row, and
    // a loop of constant width and stride over them is one the compiler vectorises (the same
    // comparisons as the general loop). Elsewhere lo = hi = 0: the general loop does every output.
    uint32_t lo = 0, hi = 0;
    if (max_ && k_ == 3 && s_ == 2) {
      lo = std::min(os.w, uint32_t(p_ + 1) / 2);
      hi = std::max(lo, std::min(os.w, uint32_t((int(is.w) - 3 + p_) / 2 + 1)));
    }
    parallel_for(ctx.batch * int(is.c), ctx.threads, [&](int p0, int p1) {
      // Per output row: the window's rows reduced column by column into one row (a loop the
      // compiler vectorises), then each output reduces its k columns of that row.
      std::vector<float> col(is.w);
      for (size_t plane = size_t(p0); plane < size_t(p1); ++plane) {
        const float* x = in[0].data + plane * is.h * is.w;
        float* y = out + plane * os.h * os.w;
        for (uint32_t oy = 0; oy < os.h; ++oy) {
          const auto [y0, y1] = range(oy, is.h);
          const float* first = x + size_t(y0) * is.w;
          int yy = y0 + 1;
          if (max_ && y1 - y0 == 3) {
            max3_rows(col.data(), first, first + is.w, first + 2 * size_t(is.w), is.w);
            yy = y1;
          } else {
            std::copy(first, first + is.w, col.begin());
          }
          for (; yy < y1; ++yy) {
            const float* row = x + size_t(yy) * is.w;
            if (max_) {
              max_into(col.data(), row, is.w);
            } else {
              for (uint32_t xx = 0; xx < is.w; ++xx) col[xx] += row[xx];
            }
          }
          float* yr = y + size_t(oy) * os.w;
          auto general = [&](uint32_t ox0, uint32_t ox1) {
            for (uint32_t ox = ox0; ox < ox1; ++ox) {
              const auto [x0, x1] = cols[ox];
              float acc = max_ ? -std::numeric_limits<float>::infinity() : 0.f;
              for (int xx = x0; xx < x1; ++xx)
                acc = max_ ? (col[size_t(xx)] > acc ? col[size_t(xx)] : acc) : acc + col[size_t(xx)];
              yr[ox] = max_ ? acc : acc / float(k_ * k_);
            }
          };
          general(0, lo);
          if (hi > lo) max3_stride2(col.data() + 2 * lo - uint32_t(p_), hi - lo, yr + lo);
          general(hi, os.w);
        }
      }
    });
  }

  std::string describe() const override {
    return std::string(max_ ? "maxpool " : "avgpool ") + std::to_string(k_) + "/" + std::to_string(s_);
  }

 private:
  bool max_;
  int k_, s_, p_;
};

class GlobalAvgPool : public Layer {
 public:
  Shape infer(const std::vector<Shape>& in, const std::string&) const override { return Shape{in[0].c, 1, 1}; }
  void run(const std::vector<Value>& in, float* out, Shape, const RunContext& ctx) const override {
    const size_t hw = size_t(in[0].shape.h) * in[0].shape.w;
    for (size_t plane = 0; plane < size_t(ctx.batch) * in[0].shape.c; ++plane) {
      const float* x = in[0].data + plane * hw;
      float acc = 0.f;
      for (size_t i = 0; i < hw; ++i) acc += x[i];
      out[plane] = acc / float(hw);
    }
  }
  std::string describe() const override { return "global_avgpool"; }
};

}  // namespace

std::unique_ptr<Layer> make_pool(const core::NodeDesc& n) {
  if (n.op == core::OpKind::kGlobalAvgPool) return std::make_unique<GlobalAvgPool>();
  return std::make_unique<Pool>(n, n.op == core::OpKind::kMaxPool);
}

}  // namespace ds::rt
