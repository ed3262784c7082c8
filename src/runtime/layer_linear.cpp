// Linear: x [batch, in] -> [batch, out]. The weight product wants K x N activations, so the
// batch is transposed in and out (N = batch).
#include <algorithm>
#include <vector>

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

  void prepare(const RunContext& ctx) override { panel_ = product_.prepare(n_, 0, out_, ctx); }

  void run(const std::vector<Value>& in, float* out, Shape, const RunContext& ctx) const override {
    const int N = ctx.batch;
    std::vector<float> xt(size_t(in_) * N), yt(size_t(out_) * N);
    for (int b = 0; b < N; ++b)
      for (int k = 0; k < in_; ++k) xt[size_t(k) * N + b] = in[0].data[size_t(b) * in_ + k];
    if (panel_) {
      std::vector<float> xp(kernels::panel_x_floats(in_, N));
      kernels::pack_panel_x(xt.data(), size_t(N), in_, N, 0, in_, xp.data());
      kernels::PanelEpilogue ep;
      ep.scale = n_.scale, ep.bias = n_.bias, ep.relu = relu_;
      const size_t panel = size_t(in_) * kernels::kPanelCols;
      auto pack = [&](int p0, int p1, float* out) {
        std::copy(xp.begin() + long(p0 * panel), xp.begin() + long(p1 * panel), out);
      };
      product_.run(pack, N, yt.data(), size_t(N), ep, ctx.threads);
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
};

}  // namespace

std::unique_ptr<Layer> make_linear(const core::NodeDesc& n) { return std::make_unique<Linear>(n); }

}  // namespace ds::rt
