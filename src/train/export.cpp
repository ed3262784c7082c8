#include "train/export.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/codes.h"
#include "data/dataset.h"
#include "data/transform.h"
#include "train/checkpoint.h"
#include "train/models.h"
#include "train/quant/ops.h"
#include "train/trainer.h"

namespace ds {
namespace {

std::vector<float> to_floats(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Trainer codes (int8, s * (P + 1), or 0 for a zero weight) -> packed rows of core codes.
std::vector<uint8_t> pack_rows(const torch::Tensor& codes, int64_t rows, int64_t cols, int bits, bool with_zero,
                               uint32_t& row_bytes) {
  torch::Tensor c = codes.reshape({rows, cols}).contiguous();
  const int8_t* p = c.data_ptr<int8_t>();
  row_bytes = uint32_t(core::packed_bytes(size_t(cols), bits));
  std::vector<uint8_t> out(size_t(rows) * row_bytes);
  std::vector<uint8_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      const int v = p[r * cols + k];
      // DenseShift: P = |v| - 1; shift-with-zero: E = |v| (0 = zero weight).
      const int field = with_zero ? std::abs(v) : std::max(std::abs(v), 1) - 1;
      row[size_t(k)] = core::encode_code(v < 0, field, bits);
    }
    core::pack_codes(row.data(), size_t(cols), bits, out.data() + size_t(r) * row_bytes);
  }
  return out;
}

}  // namespace

uint32_t GraphEmitter::push(core::NodeDesc n) {
  desc_.nodes.push_back(std::move(n));
  return uint32_t(desc_.nodes.size());  // value id of the new node's output
}

// Sets the node's weights; returns through n.own_scale a multiplier to fold (DeepShift-Q's 2^-max).
void GraphEmitter::set_weights(core::NodeDesc& n, const QuantWeight& qw, int64_t rows, int64_t cols) {
  const QuantSpec& q = qw.spec();
  n.rows = uint32_t(rows), n.cols = uint32_t(cols);
  float mult = 1.f;
  switch (q.method) {
    case Method::kFp32: {
      n.wkind = core::WeightKind::kFloat32;
      std::vector<float> w = to_floats(qw.param());
      n.own_w.resize(w.size() * 4);
      std::memcpy(n.own_w.data(), w.data(), n.own_w.size());
      n.row_bytes = uint32_t(cols * 4);
      break;
    }
    case Method::kDenseShift:
    case Method::kShiftWithZero: {
      const bool zero = q.method == Method::kShiftWithZero;
      n.wkind = zero ? core::WeightKind::kShiftWithZero : core::WeightKind::kDenseShift;
      n.bits = uint32_t(q.bits);
      n.own_w = pack_rows(qw.codes(), rows, cols, q.bits, zero, n.row_bytes);
      break;
    }
    case Method::kDeepShiftQ: {
      // sign * 2^e with e in -(2^(b-1)-1)..0 is sign * 2^P * 2^-max with P = e + max: the same
      // zero-free codes as DenseShift, and the 2^-max goes into the per-channel scale.
      // (A weight that is exactly 0.0 has no code; it becomes the smallest magnitude.)
      n.wkind = core::WeightKind::kDenseShift;
      n.bits = uint32_t(q.bits);
      n.own_w = pack_rows(deepshift_q_codes(qw.param(), q.bits), rows, cols, q.bits, false, n.row_bytes);
      mult = std::ldexp(1.f, -core::max_exponent(q.bits));
      break;
    }
  }
  n.own_scale.assign(size_t(rows), mult);
  n.own_bias.assign(size_t(rows), 0.f);
}

uint32_t GraphEmitter::conv(const QConv2dImpl& conv, const torch::nn::BatchNorm2dImpl* bn, uint32_t x, bool relu,
                            std::optional<uint32_t> residual) {
  const QConv2dOptions& o = conv.options();
  core::NodeDesc n;
  n.op = core::OpKind::kConv2d;
  n.inputs = {x};
  if (residual) n.inputs.push_back(*residual);
  n.params.assign(core::kConvParamCount, 0);
  n.params[core::kInC] = int32_t(o.in), n.params[core::kOutC] = int32_t(o.out);
  n.params[core::kKernelH] = n.params[core::kKernelW] = int32_t(o.kernel);
  n.params[core::kStride] = int32_t(o.stride), n.params[core::kPad] = int32_t(o.padding);
  n.params[core::kDilation] = int32_t(o.dilation), n.params[core::kGroups] = int32_t(o.groups);
  n.params[core::kConvRelu] = relu ? 1 : 0;
  set_weights(n, conv.quant_weight(), o.out, o.in / o.groups * o.kernel * o.kernel);
  if (bn) {
    // y = (z - mean) / sqrt(var + eps) * gamma + beta  =  z * s + (beta - mean * s)
    std::vector<float> mean = to_floats(bn->running_mean), var = to_floats(bn->running_var);
    std::vector<float> gamma = to_floats(bn->weight), beta = to_floats(bn->bias);
    const double eps = bn->options.eps();
    for (size_t r = 0; r < n.rows; ++r) {
      const double s = double(gamma[r]) / std::sqrt(double(var[r]) + eps);
      n.own_bias[r] = float(double(beta[r]) - double(mean[r]) * s);
      n.own_scale[r] = float(s * double(n.own_scale[r]));
    }
  }
  return push(std::move(n));
}

uint32_t GraphEmitter::linear(const QLinearImpl& fc, uint32_t x) {
  const auto& qw = fc.quant_weight();
  const int64_t out = qw.param().size(qw.param().dim() - 2), in = qw.param().size(qw.param().dim() - 1);
  core::NodeDesc n;
  n.op = core::OpKind::kLinear;
  n.inputs = {x};
  n.params = {int32_t(in), int32_t(out), 0};
  set_weights(n, qw, out, in);
  if (fc.bias().defined()) n.own_bias = to_floats(fc.bias());
  return push(std::move(n));
}

uint32_t GraphEmitter::maxpool(uint32_t x, int kernel, int stride, int pad) {
  core::NodeDesc n;
  n.op = core::OpKind::kMaxPool, n.inputs = {x}, n.params = {kernel, stride, pad};
  return push(std::move(n));
}

uint32_t GraphEmitter::avgpool(uint32_t x, int kernel, int stride, int pad) {
  core::NodeDesc n;
  n.op = core::OpKind::kAvgPool, n.inputs = {x}, n.params = {kernel, stride, pad};
  return push(std::move(n));
}

uint32_t GraphEmitter::global_avgpool(uint32_t x) {
  core::NodeDesc n;
  n.op = core::OpKind::kGlobalAvgPool, n.inputs = {x};
  return push(std::move(n));
}

uint32_t GraphEmitter::shortcut_a(uint32_t x, int stride, int pad_lo, int pad_hi) {
  core::NodeDesc n;
  n.op = core::OpKind::kShortcutA, n.inputs = {x}, n.params = {stride, pad_lo, pad_hi};
  return push(std::move(n));
}

ExportReport export_checkpoint(const std::string& checkpoint, const std::string& out_path, const std::string& data) {
  TrainConfig over;
  over.data = data;
  over.quiet = true;
  TrainedModel t = load_trained_model(checkpoint, over);
  TrainConfig& cfg = t.cfg;
  // Shape, classes and normalization come from the run itself; only checkpoints older than
  // those settings need their dataset (complete_data_settings reads them off it).
  complete_data_settings(cfg, t.path);

  GraphEmitter g;
  t.model->emit(g);
  core::ModelInfo& info = g.desc().info;
  info.in_c = uint32_t(cfg.in_channels), info.in_h = uint32_t(cfg.in_h), info.in_w = uint32_t(cfg.in_w);
  info.num_classes = uint32_t(cfg.num_classes);
  info.mean = cfg.mean, info.std = cfg.std;
  info.class_names = cfg.class_names;
  if (cfg.audio) {  // the graph takes the front end's features, not the run's waveforms
    info.audio = cfg.audio;
    info.in_c = 1, info.in_h = cfg.audio->n_mels, info.in_w = cfg.audio->frames();
  }
  // What `eval MODEL` reads when given no dataset: absolute, so it works from any folder (empty
  // data is the built-in Fashion-MNIST).
  info.dataset = std::filesystem::absolute(cfg.data.empty() ? default_data_dir() : cfg.data).lexically_normal().string();
  info.arch = cfg.arch;
  info.method = spec_name(cfg.policy.body);
  core::write_model(g.desc(), out_path);

  ExportReport rep;
  rep.path = out_path;
  rep.file_bytes = size_t(std::filesystem::file_size(out_path));
  ModelConfig fp = ModelConfig{cfg.arch, int(info.in_c), int(info.num_classes), QuantPolicy{}, cfg.audio};
  fp.policy.body = QuantSpec{Method::kFp32, 3};
  rep.fp32_weight_bytes = size_t(parameter_count(*make_model(fp))) * 4;
  for (const auto& n : g.desc().nodes) {
    if (n.wkind == core::WeightKind::kFloat32) ++rep.fp32_layers;
    if (n.wkind == core::WeightKind::kDenseShift || n.wkind == core::WeightKind::kShiftWithZero) ++rep.quantized_layers;
  }
  return rep;
}

}  // namespace ds
