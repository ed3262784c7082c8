#include "train/models.h"

#include <stdexcept>

#include "train/dist/sync_bn.h"
#include "train/export.h"
#include "train/speech_model.h"

namespace ds {
namespace {

using torch::Tensor;
namespace nn = torch::nn;

// Names handed to the policy are the qualified module names; builders pass a prefix down.
struct Builder {
  const QuantPolicy& policy;
  QConv2d conv(const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad,
               LayerRole role = LayerRole::kBody) const {
    QConv2dOptions o;
    o.in = in, o.out = out, o.kernel = k, o.stride = stride, o.padding = pad;
    return QConv2d(o, policy.for_layer(name, role));
  }
  static nn::BatchNorm2d bn(int64_t c) { return nn::BatchNorm2d(c); }
};

enum class Shortcut { kIdentity, kProjection, kPadZeros };

// A projection shortcut (1x1 conv + BatchNorm). Not downsample->forward(): its BatchNorm must go
// through dist::batch_norm like every other one (--sync-bn).
Tensor projection(nn::Sequential& downsample, const Tensor& x) {
  return dist::batch_norm(*downsample->ptr(1)->as<nn::BatchNorm2dImpl>(), downsample->ptr(0)->as<QConv2dImpl>()->forward(x));
}

// conv3x3-bn-relu-conv3x3-bn + shortcut, relu.
class BasicBlockImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(const Builder& b, const std::string& name, int64_t in, int64_t planes, int64_t stride,
                 Shortcut sc)
      : shortcut_(sc), pad_(planes - in) {
    conv1_ = register_module("conv1", b.conv(name + ".conv1", in, planes, 3, stride, 1));
    bn1_ = register_module("bn1", Builder::bn(planes));
    conv2_ = register_module("conv2", b.conv(name + ".conv2", planes, planes, 3, 1, 1));
    bn2_ = register_module("bn2", Builder::bn(planes));
    if (sc == Shortcut::kProjection) {
      downsample_ = register_module("downsample", nn::Sequential(b.conv(name + ".downsample.0", in, planes, 1, stride, 0),
                                                                 Builder::bn(planes)));
    }
    stride_ = stride;
  }
  Tensor forward(const Tensor& x) {
    Tensor y = torch::relu(dist::batch_norm(bn1_, conv1_(x)));
    y = dist::batch_norm(bn2_, conv2_(y));
    return torch::relu(y + shortcut(x));
  }
  uint32_t emit(GraphEmitter& g, uint32_t x) const {
    uint32_t sc = x;
    if (shortcut_ == Shortcut::kProjection)
      sc = g.conv(*downsample_->ptr(0)->as<QConv2dImpl>(), downsample_->ptr(1)->as<nn::BatchNorm2dImpl>(), x, false);
    else if (shortcut_ == Shortcut::kPadZeros)
      sc = g.shortcut_a(x, int(stride_), int(pad_ / 2), int(pad_ - pad_ / 2));
    uint32_t y = g.conv(*conv1_, bn1_.get(), x, true);
    return g.conv(*conv2_, bn2_.get(), y, true, sc);
  }

 private:
  Tensor shortcut(const Tensor& x) {
    switch (shortcut_) {
      case Shortcut::kProjection: return projection(downsample_, x);
      case Shortcut::kPadZeros: {
        // Option A of He et al. for CIFAR: subsample, then pad channels with zeros (no parameters).
        Tensor s = x.index({torch::indexing::Slice(), torch::indexing::Slice(),
                            torch::indexing::Slice(torch::indexing::None, torch::indexing::None, stride_),
                            torch::indexing::Slice(torch::indexing::None, torch::indexing::None, stride_)});
        return torch::constant_pad_nd(s, {0, 0, 0, 0, pad_ / 2, pad_ - pad_ / 2});
      }
      case Shortcut::kIdentity: break;
    }
    return x;
  }
  Shortcut shortcut_;
  int64_t pad_, stride_ = 1;
  QConv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

// 1x1 reduce, 3x3 (carries the stride, as torchvision's ResNet v1.5), 1x1 expand.
class BottleneckImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(const Builder& b, const std::string& name, int64_t in, int64_t planes, int64_t stride,
                 Shortcut sc) {
    conv1_ = register_module("conv1", b.conv(name + ".conv1", in, planes, 1, 1, 0));
    bn1_ = register_module("bn1", Builder::bn(planes));
    conv2_ = register_module("conv2", b.conv(name + ".conv2", planes, planes, 3, stride, 1));
    bn2_ = register_module("bn2", Builder::bn(planes));
    conv3_ = register_module("conv3", b.conv(name + ".conv3", planes, planes * kExpansion, 1, 1, 0));
    bn3_ = register_module("bn3", Builder::bn(planes * kExpansion));
    if (sc == Shortcut::kProjection)
      downsample_ = register_module(
          "downsample", nn::Sequential(b.conv(name + ".downsample.0", in, planes * kExpansion, 1, stride, 0),
                                       Builder::bn(planes * kExpansion)));
  }
  Tensor forward(const Tensor& x) {
    Tensor y = torch::relu(dist::batch_norm(bn1_, conv1_(x)));
    y = torch::relu(dist::batch_norm(bn2_, conv2_(y)));
    y = dist::batch_norm(bn3_, conv3_(y));
    return torch::relu(y + (downsample_ ? projection(downsample_, x) : x));
  }
  uint32_t emit(GraphEmitter& g, uint32_t x) const {
    uint32_t sc = downsample_ ? g.conv(*downsample_->ptr(0)->as<QConv2dImpl>(), downsample_->ptr(1)->as<nn::BatchNorm2dImpl>(), x, false) : x;
    uint32_t y = g.conv(*conv1_, bn1_.get(), x, true);
    y = g.conv(*conv2_, bn2_.get(), y, true);
    return g.conv(*conv3_, bn3_.get(), y, true, sc);
  }

 private:
  QConv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

template <class Block>
nn::Sequential make_stage(const Builder& b, const std::string& name, int64_t& in, int64_t planes, int blocks,
                          int64_t stride, bool option_a) {
  nn::Sequential stage;
  for (int i = 0; i < blocks; ++i) {
    int64_t s = i == 0 ? stride : 1;
    int64_t out = planes * Block::Impl::kExpansion;
    Shortcut sc = (s != 1 || in != out) ? (option_a ? Shortcut::kPadZeros : Shortcut::kProjection)
                                        : Shortcut::kIdentity;
    stage->push_back(Block(b, name + "." + std::to_string(i), in, planes, s, sc));
    in = out;
  }
  return stage;
}

template <class Block>
uint32_t emit_stage(GraphEmitter& g, const nn::Sequential& stage, uint32_t x) {
  for (const auto& m : *stage) x = m.get<Block>().emit(g, x);
  return x;
}

// ImageNet-style ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages, global pool, fc.
template <class Block>
class ImageNetResNet : public NetImpl {
 public:
  ImageNetResNet(const ModelConfig& cfg, std::vector<int> layers) {
    Builder b{cfg.policy};
    conv1_ = register_module("conv1", b.conv("conv1", cfg.in_channels, 64, 7, 2, 3, LayerRole::kFirst));
    bn1_ = register_module("bn1", Builder::bn(64));
    int64_t in = 64;
    const int64_t planes[4] = {64, 128, 256, 512};
    for (int s = 0; s < 4; ++s) {
      std::string name = "layer" + std::to_string(s + 1);
      stages_.push_back(register_module(name, make_stage<Block>(b, name, in, planes[s], layers[s], s == 0 ? 1 : 2, false)));
    }
    fc_ = register_module("fc", QLinear(in, cfg.num_classes, cfg.policy.for_layer("fc", LayerRole::kLast)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = torch::relu(dist::batch_norm(bn1_, conv1_(x)));
    y = torch::max_pool2d(y, 3, 2, 1);
    for (auto& s : stages_) y = s->forward(y);
    return fc_(torch::adaptive_avg_pool2d(y, {1, 1}).flatten(1));
  }
  uint32_t emit(GraphEmitter& g) const override {
    uint32_t y = g.maxpool(g.conv(*conv1_, bn1_.get(), GraphEmitter::kInput, true), 3, 2, 1);
    for (const auto& s : stages_) y = emit_stage<typename Block::Impl>(g, s, y);
    return g.linear(*fc_, g.global_avgpool(y));
  }

 private:
  QConv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::vector<nn::Sequential> stages_;
  QLinear fc_{nullptr};
};

// CIFAR-style ResNet-(6n+2): 3x3 stem with 16 channels, stages of 16/32/64, option-A shortcuts.
class CifarResNet : public NetImpl {
 public:
  CifarResNet(const ModelConfig& cfg, int n) {
    Builder b{cfg.policy};
    conv1_ = register_module("conv1", b.conv("conv1", cfg.in_channels, 16, 3, 1, 1, LayerRole::kFirst));
    bn1_ = register_module("bn1", Builder::bn(16));
    int64_t in = 16;
    const int64_t planes[3] = {16, 32, 64};
    for (int s = 0; s < 3; ++s) {
      std::string name = "layer" + std::to_string(s + 1);
      stages_.push_back(register_module(name, make_stage<BasicBlock>(b, name, in, planes[s], n, s == 0 ? 1 : 2, true)));
    }
    fc_ = register_module("fc", QLinear(in, cfg.num_classes, cfg.policy.for_layer("fc", LayerRole::kLast)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = torch::relu(dist::batch_norm(bn1_, conv1_(x)));
    for (auto& s : stages_) y = s->forward(y);
    return fc_(torch::adaptive_avg_pool2d(y, {1, 1}).flatten(1));
  }
  uint32_t emit(GraphEmitter& g) const override {
    uint32_t y = g.conv(*conv1_, bn1_.get(), GraphEmitter::kInput, true);
    for (const auto& s : stages_) y = emit_stage<BasicBlockImpl>(g, s, y);
    return g.linear(*fc_, g.global_avgpool(y));
  }

 private:
  QConv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::vector<nn::Sequential> stages_;
  QLinear fc_{nullptr};
};

// The demo network: five 3x3 convs (16-16 | pool | 32-32 | pool | 64), global pool, fc.
// About 5.5M multiply-adds for a 28x28 image, so a few epochs of Fashion-MNIST fit in minutes.
class SmallCnn : public NetImpl {
 public:
  explicit SmallCnn(const ModelConfig& cfg) {
    Builder b{cfg.policy};
    const int64_t widths[5] = {16, 16, 32, 32, 64};
    int64_t in = cfg.in_channels;
    for (int i = 0; i < 5; ++i) {
      std::string name = "conv" + std::to_string(i + 1);
      convs_.push_back(register_module(name, b.conv(name, in, widths[i], 3, 1, 1, i == 0 ? LayerRole::kFirst : LayerRole::kBody)));
      bns_.push_back(register_module("bn" + std::to_string(i + 1), Builder::bn(widths[i])));
      in = widths[i];
    }
    fc_ = register_module("fc", QLinear(in, cfg.num_classes, cfg.policy.for_layer("fc", LayerRole::kLast)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (size_t i = 0; i < convs_.size(); ++i) {
      y = torch::relu(dist::batch_norm(bns_[i], convs_[i](y)));
      if (i == 1 || i == 3) y = torch::max_pool2d(y, 2);
    }
    return fc_(torch::adaptive_avg_pool2d(y, {1, 1}).flatten(1));
  }
  uint32_t emit(GraphEmitter& g) const override {
    uint32_t y = GraphEmitter::kInput;
    for (size_t i = 0; i < convs_.size(); ++i) {
      y = g.conv(*convs_[i], bns_[i].get(), y, true);
      if (i == 1 || i == 3) y = g.maxpool(y, 2, 2, 0);
    }
    return g.linear(*fc_, g.global_avgpool(y));
  }

 private:
  std::vector<QConv2d> convs_;
  std::vector<nn::BatchNorm2d> bns_;
  QLinear fc_{nullptr};
};

}  // namespace

std::vector<std::string> model_names() {
  return {"resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "resnet44", "resnet56", "smallcnn", "res8", "res8-narrow"};
}

std::shared_ptr<NetImpl> make_model(const ModelConfig& cfg) {
  const std::string& a = cfg.arch;
  if (is_speech_model(a)) return make_speech_model(cfg);
  if (cfg.audio)
    throw std::invalid_argument(a + " takes pictures; a speech dataset needs a speech model (res8 or res8-narrow)");
  if (a == "resnet18") return std::make_shared<ImageNetResNet<BasicBlock>>(cfg, std::vector<int>{2, 2, 2, 2});
  if (a == "resnet34") return std::make_shared<ImageNetResNet<BasicBlock>>(cfg, std::vector<int>{3, 4, 6, 3});
  if (a == "resnet50") return std::make_shared<ImageNetResNet<Bottleneck>>(cfg, std::vector<int>{3, 4, 6, 3});
  for (int depth : {20, 32, 44, 56})
    if (a == "resnet" + std::to_string(depth)) return std::make_shared<CifarResNet>(cfg, (depth - 2) / 6);
  if (a == "smallcnn") return std::make_shared<SmallCnn>(cfg);
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown architecture '" + a + "' (known: " + known + ")");
}

int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace ds
