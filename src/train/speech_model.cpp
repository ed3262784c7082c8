#include "train/speech_model.h"

#include <stdexcept>

#include "train/dist/sync_bn.h"
#include "train/export.h"
#include "train/speech_frontend.h"

namespace ds {
namespace {

using torch::Tensor;
namespace nn = torch::nn;

// Tang & Lin pool 4x3 (time x frequency) on 101 x 40 inputs; the engine pools square windows, and
// 4x4 on our 40 x 149 leaves 10 x 37 positions for the residual blocks.
constexpr int kPool = 4;

QConv2d conv3x3(const QuantPolicy& p, const std::string& name, int64_t in, int64_t out, LayerRole role) {
  QConv2dOptions o;
  o.in = in, o.out = out, o.kernel = 3, o.padding = 1;
  return QConv2d(o, p.for_layer(name, role));
}

// conv3x3-bn-relu-conv3x3-bn + identity, relu. Named "blockN.conv1" etc. (--layer NAME).
class BlockImpl : public nn::Module {
 public:
  BlockImpl(const QuantPolicy& p, const std::string& name, int64_t width) {
    c1 = register_module("conv1", conv3x3(p, name + ".conv1", width, width, LayerRole::kBody));
    b1 = register_module("bn1", nn::BatchNorm2d(width));
    c2 = register_module("conv2", conv3x3(p, name + ".conv2", width, width, LayerRole::kBody));
    b2 = register_module("bn2", nn::BatchNorm2d(width));
  }
  Tensor forward(const Tensor& y) {
    Tensor z = torch::relu(dist::batch_norm(b1, c1(y)));
    return torch::relu(dist::batch_norm(b2, c2(z)) + y);
  }
  uint32_t emit(GraphEmitter& g, uint32_t y) const { return g.conv(*c2, b2.get(), g.conv(*c1, b1.get(), y, true), true, y); }

 private:
  QConv2d c1{nullptr}, c2{nullptr};
  nn::BatchNorm2d b1{nullptr}, b2{nullptr};
};

class Res8 : public NetImpl {
 public:
  Res8(const ModelConfig& cfg, int64_t width) : fe_(*cfg.audio), spec_augment_(cfg.spec_augment) {
    conv0_ = register_module("conv1", conv3x3(cfg.policy, "conv1", cfg.in_channels, width, LayerRole::kFirst));
    bn0_ = register_module("bn1", nn::BatchNorm2d(width));
    for (int b = 1; b <= 3; ++b) {
      const std::string name = "block" + std::to_string(b);
      blocks_.push_back(register_module(name, std::make_shared<BlockImpl>(cfg.policy, name, width)));
    }
    fc_ = register_module("fc", QLinear(width, cfg.num_classes, cfg.policy.for_layer("fc", LayerRole::kLast)));
  }

  Tensor forward(const Tensor& wave) override { return body(log_mel(wave, fe_)); }
  Tensor forward_train(const Tensor& wave, const std::vector<uint64_t>& keys) override {
    Tensor x = log_mel(wave, fe_);
    return body(spec_augment_ && is_training() ? spec_augment(x, keys) : x);
  }

  uint32_t emit(GraphEmitter& g) const override {
    uint32_t y = g.avgpool(g.conv(*conv0_, bn0_.get(), GraphEmitter::kInput, true), kPool, kPool, 0);
    for (const auto& b : blocks_) y = b->emit(g, y);
    return g.linear(*fc_, g.global_avgpool(y));
  }

 private:
  Tensor body(const Tensor& x) {
    Tensor y = torch::avg_pool2d(torch::relu(dist::batch_norm(bn0_, conv0_(x))), kPool, kPool);
    for (auto& b : blocks_) y = b->forward(y);
    return fc_(torch::adaptive_avg_pool2d(y, {1, 1}).flatten(1));
  }

  core::AudioFrontEnd fe_;
  bool spec_augment_;
  QConv2d conv0_{nullptr};
  nn::BatchNorm2d bn0_{nullptr};
  std::vector<std::shared_ptr<BlockImpl>> blocks_;
  QLinear fc_{nullptr};
};

}  // namespace

std::vector<std::string> speech_model_names() { return {"res8", "res8-narrow"}; }

bool is_speech_model(const std::string& arch) { return arch == "res8" || arch == "res8-narrow"; }

std::shared_ptr<NetImpl> make_speech_model(const ModelConfig& cfg) {
  if (!cfg.audio) throw std::invalid_argument(cfg.arch + " is a speech model: it needs a speech dataset (an audio front end)");
  if (cfg.in_channels != 1) throw std::invalid_argument(cfg.arch + " takes mono audio, not " + std::to_string(cfg.in_channels) + " channels");
  return std::make_shared<Res8>(cfg, cfg.arch == "res8" ? 45 : 19);
}

}  // namespace ds
