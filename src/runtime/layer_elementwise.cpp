// Add (+ optional ReLU), ReLU, and the option-A shortcut of CIFAR ResNets.
#include <algorithm>

#include "runtime/layer.h"
#include "runtime/thread_pool.h"

namespace ds::rt {
namespace {

class Add : public Layer {
 public:
  explicit Add(const core::NodeDesc& n) : relu_(n.params[0] != 0) {}
  Shape infer(const std::vector<Shape>& in, const std::string& at) const override {
    if (in[0].c != in[1].c || in[0].h != in[1].h || in[0].w != in[1].w) shape_error(at, "add of different shapes");
    return in[0];
  }
  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    const size_t n = os.numel() * size_t(ctx.batch);
    parallel_for(ctx.threads, ctx.threads, [&](int t0, int t1) {
      for (size_t i = n * size_t(t0) / size_t(ctx.threads); i < n * size_t(t1) / size_t(ctx.threads); ++i) {
        const float v = in[0].data[i] + in[1].data[i];
        out[i] = relu_ ? std::max(v, 0.f) : v;
      }
    });
  }
  std::string describe() const override { return relu_ ? "add, relu" : "add"; }

 private:
  bool relu_;
};

class Relu : public Layer {
 public:
  Shape infer(const std::vector<Shape>& in, const std::string&) const override { return in[0]; }
  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    const size_t n = os.numel() * size_t(ctx.batch);
    for (size_t i = 0; i < n; ++i) out[i] = std::max(in[0].data[i], 0.f);
  }
  std::string describe() const override { return "relu"; }
};

// x[:, :, ::s, ::s] with pad_lo zero channels before and pad_hi after (He et al., option A).
class ShortcutA : public Layer {
 public:
  explicit ShortcutA(const core::NodeDesc& n) : s_(n.params[0]), lo_(n.params[1]), hi_(n.params[2]) {}
  Shape infer(const std::vector<Shape>& in, const std::string& at) const override {
    if (s_ <= 0 || s_ > 64 || lo_ < 0 || hi_ < 0 || lo_ > 65536 || hi_ > 65536) shape_error(at, "shortcut parameters out of range");
    return Shape{in[0].c + uint32_t(lo_ + hi_), (in[0].h + s_ - 1) / s_, (in[0].w + s_ - 1) / s_};
  }
  void run(const std::vector<Value>& in, float* out, Shape os, const RunContext& ctx) const override {
    const Shape is = in[0].shape;
    const size_t plane = size_t(os.h) * os.w;
    for (int b = 0; b < ctx.batch; ++b)
      for (uint32_t c = 0; c < os.c; ++c) {
        float* y = out + (size_t(b) * os.c + c) * plane;
        const int src = int(c) - lo_;
        if (src < 0 || src >= int(is.c)) {
          std::fill(y, y + plane, 0.f);
          continue;
        }
        const float* x = in[0].data + (size_t(b) * is.c + size_t(src)) * is.h * is.w;
        for (uint32_t oy = 0; oy < os.h; ++oy)
          for (uint32_t ox = 0; ox < os.w; ++ox) y[oy * os.w + ox] = x[size_t(oy) * s_ * is.w + size_t(ox) * s_];
      }
  }
  std::string describe() const override { return "shortcut_a /" + std::to_string(s_); }

 private:
  int s_, lo_, hi_;
};

}  // namespace

std::unique_ptr<Layer> make_elementwise(const core::NodeDesc& n) {
  switch (n.op) {
    case core::OpKind::kAdd: return std::make_unique<Add>(n);
    case core::OpKind::kShortcutA: return std::make_unique<ShortcutA>(n);
    default: return std::make_unique<Relu>();
  }
}

}  // namespace ds::rt
