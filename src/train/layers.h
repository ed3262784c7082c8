// Quantized Conv2d and Linear: one module each, any method of method.h behind the same layer.
//
// The trained parameter depends on the method:
//   fp32, deepshift-q    "weight"   [*shape]          (deepshift-q quantizes it on the fly)
//   denseshift, s-w-zero "latents"  [rows, *shape]    (u, (z,) v1..vK; latent_math.h)
// so a checkpoint says by its keys which kind of layer it holds.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "train/quant/method.h"

namespace ds {

enum class LayerRole { kFirst, kBody, kLast };

// Which spec each layer gets: first conv and last FC stay FP32 unless asked (DENSESHIFT.md 4),
// and any layer can be overridden by its qualified name ("layer2.0.conv1").
struct QuantPolicy {
  QuantSpec body{Method::kDenseShift, 3};
  QuantSpec first{};  // fp32
  QuantSpec last{};   // fp32
  std::map<std::string, QuantSpec> overrides;
  QuantSpec for_layer(const std::string& name, LayerRole role) const;
};

// Owns the trained parameter of one quantized layer and produces its effective weight.
class QuantWeight {
 public:
  enum class FpInit { kKaimingNormalFanOut, kLinearDefault };
  QuantWeight(torch::nn::Module& owner, std::vector<int64_t> shape, QuantSpec spec, FpInit init);
  torch::Tensor weight() const;  // differentiable, the value the layer computes with
  torch::Tensor codes() const;   // int8 discrete code per weight; undefined for fp32
  const QuantSpec& spec() const { return spec_; }
  const torch::Tensor& param() const { return param_; }

 private:
  QuantSpec spec_;
  torch::Tensor param_;
};

// Common interface to find quantized layers while walking a model.
class QuantLayer {
 public:
  virtual ~QuantLayer() = default;
  virtual const QuantWeight& quant_weight() const = 0;
};

struct QConv2dOptions {
  int64_t in = 0, out = 0, kernel = 3, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = false;
};

class QConv2dImpl : public torch::nn::Module, public QuantLayer {
 public:
  QConv2dImpl(const QConv2dOptions& o, QuantSpec spec);
  torch::Tensor forward(const torch::Tensor& x);
  const QuantWeight& quant_weight() const override { return qw_; }
  const QConv2dOptions& options() const { return o_; }
  void pretty_print(std::ostream& os) const override;

 private:
  QConv2dOptions o_;
  QuantWeight qw_;
  torch::Tensor bias_;
};
TORCH_MODULE(QConv2d);

class QLinearImpl : public torch::nn::Module, public QuantLayer {
 public:
  QLinearImpl(int64_t in, int64_t out, QuantSpec spec, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  const QuantWeight& quant_weight() const override { return qw_; }
  const torch::Tensor& bias() const { return bias_; }
  void pretty_print(std::ostream& os) const override;

 private:
  int64_t in_, out_;
  QuantWeight qw_;
  torch::Tensor bias_;
};
TORCH_MODULE(QLinear);

// Every quantized layer of a model with its qualified name, in registration order.
std::vector<std::pair<std::string, const QuantLayer*>> quant_layers(const torch::nn::Module& model);

}  // namespace ds
