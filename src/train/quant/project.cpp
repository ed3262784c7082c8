#include "train/quant/project.h"

#include <cmath>
#include <stdexcept>

namespace ds {

Projection project_to_latents(const torch::Tensor& w_in, const QuantSpec& spec, double magnitude) {
  if (spec.method != Method::kDenseShift && spec.method != Method::kShiftWithZero)
    throw std::invalid_argument("project_to_latents: " + spec_name(spec) + " has no latents");
  torch::NoGradGuard ng;
  const torch::Tensor w = w_in.detach().to(torch::kFloat).cpu().contiguous();
  const bool with_zero = spec.method == Method::kShiftWithZero;
  const int K = exponent_latents(spec);
  const int top = max_exponent(spec);
  Projection out;
  const double wmax = w.abs().max().item<double>();
  out.scale = wmax > 0 && std::isfinite(wmax) ? wmax / std::ldexp(1.0, top) : 1.0;
  const torch::Tensor mag = w.abs() / out.scale;
  const torch::Tensor P = torch::round(torch::log2(mag.clamp_min(1e-30))).clamp(0, top);
  const torch::Tensor sign = torch::where(w >= 0, torch::ones_like(w), -torch::ones_like(w));
  std::vector<int64_t> shape{int64_t(latent_rows(spec))};
  for (int64_t d : w.sizes()) shape.push_back(d);
  out.latents = torch::empty(shape);
  const float m = float(magnitude);
  int row = 0;
  out.latents[row++] = sign * m;
  if (with_zero) out.latents[row++] = torch::where(mag >= 0.5, torch::full_like(w, m), torch::full_like(w, -m));
  for (int k = 1; k <= K; ++k)  // v_k is positive when k > K - P
    out.latents[row++] = torch::where(P > double(K - k), torch::full_like(w, m), torch::full_like(w, -m));
  return out;
}

}  // namespace ds
