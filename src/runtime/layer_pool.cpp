// Max pooling, average pooling (padding counted, PyTorch's default) and global average pooling;
// windowed pools split their planes across threads.
#include <algorithm>
#include <limits>

#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {
namespace {

class Pool : public Layer {
 public:
  Pool(const core::NodeDesc& n, bool max) : max_(max), k_(n.params[0]), s_(n.params[1]), p_(n.params[2]) {}

  Shape infer(const std::vector<Shape>& in, const std::string& at) const override {
    if (k_ <= 0 || s_ <= 0 || p_ < 0 || k_ > 64 || s_ > 64 || 2 * p_ > k_) shape_error(at, "pool parameters out of range");
    if (int64_t(in[0].h) + 2 * p_ < k_ || int64_t(in[0].w) + 2 * p_ < k_) shape_error(at, "pool window larger than the input");
    return Shape{in[0].c, uint32_t((in[0].h + 2 * p_ - k_) / s_ + 1), uint32_t((in[0].w + 2 * p_ - k_) / s_ + 1)};
  }

  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    const Shape is = in[0].shape;
    parallel_for(ctx.batch * int(is.c), ctx.threads, [&](int p0, int p1) {
      for (size_t plane = size_t(p0); plane < size_t(p1); ++plane) {
        const float* x = in[0].data + plane * is.h * is.w;
        float* y = out + plane * os.h * os.w;
        for (uint32_t oy = 0; oy < os.h; ++oy)
          for (uint32_t ox = 0; ox < os.w; ++ox) {
            float acc = max_ ? -std::numeric_limits<float>::infinity() : 0.f;
            for (int i = 0; i < k_; ++i)
              for (int j = 0; j < k_; ++j) {
                const int yy = int(oy) * s_ - p_ + i, xx = int(ox) * s_ - p_ + j;
                if (yy < 0 || xx < 0 || yy >= int(is.h) || xx >= int(is.w)) continue;
                const float v = x[size_t(yy) * is.w + xx];
                acc = max_ ? std::max(acc, v) : acc + v;
              }
            y[size_t(oy) * os.w + ox] = max_ ? acc : acc / float(k_ * k_);
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
