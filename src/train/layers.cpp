#include "train/layers.h"

#include <cmath>

#include "train/quant/latent_init.h"
#include "train/quant/ops.h"

namespace ds {
namespace {

latent::Layout layout_of(const QuantSpec& q) {
  return latent::Layout{exponent_latents(q), q.method == Method::kShiftWithZero};
}

int64_t fan_in_of(const std::vector<int64_t>& shape) {
  int64_t f = 1;
  for (size_t i = 1; i < shape.size(); ++i) f *= shape[i];
  return f;
}

}  // namespace

QuantSpec QuantPolicy::for_layer(const std::string& name, LayerRole role) const {
  auto it = overrides.find(name);
  if (it != overrides.end()) return it->second;
  switch (role) {
    case LayerRole::kFirst: return first;
    case LayerRole::kLast: return last;
    default: return body;
  }
}

QuantWeight::QuantWeight(torch::nn::Module& owner, std::vector<int64_t> shape, QuantSpec spec, FpInit init)
    : spec_(spec) {
  torch::NoGradGuard ng;
  if (latent_rows(spec) > 0) {
    std::vector<int64_t> lshape{latent_rows(spec)};
    lshape.insert(lshape.end(), shape.begin(), shape.end());
    param_ = owner.register_parameter("latents", torch::randn(lshape) * kLvriStd);
    return;
  }
  torch::Tensor w = torch::empty(shape);
  if (init == FpInit::kKaimingNormalFanOut) {
    torch::nn::init::kaiming_normal_(w, 0, torch::kFanOut, torch::kReLU);
  } else {
    // PyTorch's nn.Linear default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    double bound = 1.0 / std::sqrt(double(fan_in_of(shape)));
    w.uniform_(-bound, bound);
  }
  param_ = owner.register_parameter("weight", w);
}

torch::Tensor QuantWeight::weight() const {
  switch (spec_.method) {
    case Method::kDenseShift:
    case Method::kShiftWithZero: return latent_weight(param_, layout_of(spec_));
    case Method::kDeepShiftQ: return deepshift_q_weight(param_, spec_.bits);
    case Method::kFp32: break;
  }
  return param_;
}

torch::Tensor QuantWeight::codes() const {
  switch (spec_.method) {
    case Method::kDenseShift:
    case Method::kShiftWithZero: return latent_codes(param_, layout_of(spec_));
    case Method::kDeepShiftQ: return deepshift_q_codes(param_, spec_.bits);
    case Method::kFp32: break;
  }
  return {};
}

QConv2dImpl::QConv2dImpl(const QConv2dOptions& o, QuantSpec spec)
    : o_(o), qw_(*this, {o.out, o.in / o.groups, o.kernel, o.kernel}, spec, QuantWeight::FpInit::kKaimingNormalFanOut) {
  TORCH_CHECK(o.in % o.groups == 0 && o.out % o.groups == 0, "conv channels ", o.in, "->", o.out,
              " not divisible by groups ", o.groups);
  if (o.bias) bias_ = register_parameter("bias", torch::zeros({o.out}));
}

torch::Tensor QConv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, qw_.weight(), bias_, {o_.stride, o_.stride}, {o_.padding, o_.padding},
                       {o_.dilation, o_.dilation}, o_.groups);
}

void QConv2dImpl::pretty_print(std::ostream& os) const {
  os << "QConv2d(" << o_.in << ", " << o_.out << ", kernel=" << o_.kernel << ", stride=" << o_.stride
     << ", padding=" << o_.padding;
  if (o_.groups != 1) os << ", groups=" << o_.groups;
  os << ", " << spec_name(qw_.spec()) << ")";
}

QLinearImpl::QLinearImpl(int64_t in, int64_t out, QuantSpec spec, bool bias)
    : in_(in), out_(out), qw_(*this, {out, in}, spec, QuantWeight::FpInit::kLinearDefault) {
  if (bias) {
    double bound = 1.0 / std::sqrt(double(in));
    bias_ = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
  }
}

torch::Tensor QLinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, qw_.weight(), bias_); }

void QLinearImpl::pretty_print(std::ostream& os) const {
  os << "QLinear(" << in_ << ", " << out_ << ", " << spec_name(qw_.spec()) << ")";
}

std::vector<std::pair<std::string, const QuantLayer*>> quant_layers(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, const QuantLayer*>> out;
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    if (auto* q = dynamic_cast<const QuantLayer*>(item.value().get())) out.emplace_back(item.key(), q);
  return out;
}

}  // namespace ds
