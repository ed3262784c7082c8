#include "train/quant/ops.h"

#include <ATen/Parallel.h>

namespace ds {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kGrain = 16384;  // elements per parallel chunk

// Tensor-op versions of latent_math.cpp, for devices other than CPU.
struct TensorMath {
  const Tensor& lat;
  latent::Layout L;
  Tensor row(int r) const { return lat[r]; }
  Tensor sign() const { return torch::where(lat[0] >= 0, 1.0, -1.0).to(lat.scalar_type()); }
  Tensor gate() const { return L.has_zero ? (lat[1] > 0).to(lat.scalar_type()) : torch::ones_like(lat[0]); }
  // Prefix exponents P0..PK.
  std::vector<Tensor> prefix() const {
    std::vector<Tensor> P{torch::zeros_like(lat[0])};
    for (int k = 1; k <= L.K; ++k) P.push_back((P.back() + 1) * (row(L.v_row(k)) > 0).to(lat.scalar_type()));
    return P;
  }
  Tensor forward() const { return sign() * gate() * torch::pow(2.0, prefix().back()); }
  Tensor backward(const Tensor& g) const {
    auto P = prefix();
    Tensor s = sign(), m = gate(), root = torch::sqrt(P.back() + 1);
    Tensor glat = torch::empty_like(lat);
    glat[0].copy_(g * m * root);
    if (L.has_zero) glat[1].copy_(g * s * root);
    Tensor dP = g * s * m / (2 * root);
    Tensor suffix = torch::ones_like(g);
    for (int k = L.K; k >= 1; --k) {
      glat[L.v_row(k)].copy_(dP * (P[k - 1] + 1) * suffix);
      suffix = suffix * (row(L.v_row(k)) > 0).to(lat.scalar_type());
    }
    return glat;
  }
};

bool use_loops(const Tensor& lat) { return lat.device().is_cpu() && lat.scalar_type() == torch::kFloat; }

struct LatentWeightFn : public torch::autograd::Function<LatentWeightFn> {
  static Tensor forward(AutogradContext* ctx, Tensor lat, int64_t K, bool has_zero) {
    latent::Layout L{int(K), has_zero};
    ctx->save_for_backward({lat});
    ctx->saved_data["K"] = K;
    ctx->saved_data["z"] = has_zero;
    if (!use_loops(lat)) return TensorMath{lat, L}.forward();
    Tensor c = lat.contiguous();
    Tensor w = torch::empty(c.sizes().slice(1), c.options());
    const int64_t n = w.numel();
    const float* src = c.data_ptr<float>();
    float* dst = w.data_ptr<float>();
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { latent::forward(src, n, L, b, e, dst); });
    return w;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    Tensor lat = ctx->get_saved_variables()[0];
    latent::Layout L{int(ctx->saved_data["K"].toInt()), ctx->saved_data["z"].toBool()};
    Tensor g = grads[0];
    Tensor glat;
    if (!use_loops(lat)) {
      glat = TensorMath{lat, L}.backward(g);
    } else {
      Tensor c = lat.contiguous(), gc = g.contiguous();
      glat = torch::empty_like(c);
      const int64_t n = gc.numel();
      const float *src = c.data_ptr<float>(), *gp = gc.data_ptr<float>();
      float* dst = glat.data_ptr<float>();
      at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { latent::backward(src, n, L, gp, b, e, dst); });
    }
    return {glat, Tensor(), Tensor()};
  }
};

// Straight-through helpers: value f(x), gradient 1.
Tensor ste(const Tensor& x, const Tensor& value) { return x + (value - x).detach(); }

}  // namespace

Tensor latent_weight(const Tensor& latents, latent::Layout L) {
  TORCH_CHECK(latents.dim() >= 2 && latents.size(0) == L.rows(), "latent tensor has ", latents.size(0),
              " rows, expected ", L.rows());
  return LatentWeightFn::apply(latents, int64_t(L.K), L.has_zero);
}

Tensor latent_weight_composite(const Tensor& lat, latent::Layout L) {
  auto b = [](const Tensor& x) { return ste(x, (x > 0).to(x.scalar_type())); };
  Tensor s = ste(lat[0], torch::where(lat[0] >= 0, 1.0, -1.0).to(lat.scalar_type()));
  Tensor m = L.has_zero ? b(lat[1]) : torch::ones_like(lat[0]);
  Tensor P = torch::zeros_like(lat[0]);
  for (int k = 1; k <= L.K; ++k) P = (P + 1) * b(lat[L.v_row(k)]);
  Tensor w_fwd = s * m * torch::pow(2.0, P);
  Tensor w_bwd = s * m * torch::sqrt(P + 1);
  return w_bwd + (w_fwd - w_bwd).detach();
}

Tensor latent_codes(const Tensor& latents, latent::Layout L) {
  torch::NoGradGuard ng;
  Tensor c = latents.detach().to(torch::kCPU, torch::kFloat).contiguous();
  Tensor out = torch::empty(c.sizes().slice(1), torch::kInt8);
  const int64_t n = out.numel();
  const float* src = c.data_ptr<float>();
  int8_t* dst = out.data_ptr<int8_t>();
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { latent::codes(src, n, L, b, e, dst); });
  return out;
}

namespace {
Tensor deepshift_q_exponent(const Tensor& w, int bits) {
  const double lo = -double((1 << (bits - 1)) - 1);
  return torch::clamp(torch::round(torch::log2(w.abs())), lo, 0.0);
}
}  // namespace

Tensor deepshift_q_weight(const Tensor& w, int bits) {
  Tensor q;
  {
    torch::NoGradGuard ng;
    q = torch::sign(w) * torch::pow(2.0, deepshift_q_exponent(w, bits));
  }
  return ste(w, q);
}

Tensor deepshift_q_codes(const Tensor& w, int bits) {
  torch::NoGradGuard ng;
  const double top = double((1 << (bits - 1)) - 1);
  Tensor idx = deepshift_q_exponent(w, bits) + top + 1;  // 1..2^(b-1)
  return (torch::sign(w) * idx).to(torch::kCPU, torch::kInt8);
}

}  // namespace ds
