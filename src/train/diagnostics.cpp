#include "train/diagnostics.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "train/layers.h"

namespace ds {
namespace {

using json = nlohmann::json;
using torch::Tensor;

bool has_latents(const QuantLayer& q) { return latent_rows(q.quant_weight().spec()) > 0; }

std::vector<double> to_vector(const Tensor& t) {
  Tensor c = t.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Counts of |code| = 0..levels, levels = 2^(b-1) (the largest |code| any method writes).
Tensor code_counts(const QuantLayer& q) {
  const QuantSpec& s = q.quant_weight().spec();
  Tensor codes = q.quant_weight().codes();
  return torch::bincount(codes.abs().to(torch::kLong).flatten(), {}, (1 << (s.bits - 1)) + 1).to(torch::kDouble);
}

std::vector<double> fractions(const Tensor& counts) {
  const double n = counts.sum().item<double>();
  return to_vector(n > 0 ? counts / n : counts);
}

}  // namespace

Diagnostics::Diagnostics(const torch::nn::Module& model, std::filesystem::path file) : file_(std::move(file)) {
  for (const auto& [name, q] : quant_layers(model))
    if (q->quant_weight().spec().method != Method::kFp32) layers_.push_back({name, q, {}, {}, {}});
}

void Diagnostics::begin_epoch() {
  torch::NoGradGuard ng;
  steps_ = 0;
  for (Layer& l : layers_) {
    if (!has_latents(*l.q)) continue;
    const Tensor& p = l.q->quant_weight().param();
    l.signs = p.detach().flatten(1).gt(0);
    l.grad_abs = torch::zeros({p.size(0)}, p.options().dtype(torch::kDouble));
    l.grad_live = torch::zeros_like(l.grad_abs);
  }
}

void Diagnostics::after_backward() {
  torch::NoGradGuard ng;
  ++steps_;
  for (Layer& l : layers_) {
    if (!l.grad_abs.defined()) continue;
    const Tensor& g = l.q->quant_weight().param().grad();
    if (!g.defined()) continue;  // a frozen layer
    Tensor f = g.flatten(1);
    l.grad_abs += f.abs().mean(1).to(torch::kDouble);
    l.grad_live += f.ne(0).to(torch::kDouble).mean(1);
  }
}

std::string Diagnostics::line(int epoch) const {
  torch::NoGradGuard ng;
  json layers = json::object();
  Tensor total;
  // Row statistics over all layers, weighted by element count, when every layer has the same rows.
  Tensor flip_sum, gabs_sum, glive_sum, lat_sum;
  double elements = 0;
  bool same_rows = true;
  int64_t rows = -1;
  for (const Layer& l : layers_) {
    Tensor counts = code_counts(*l.q);
    if (!total.defined() || total.numel() < counts.numel()) {
      Tensor grown = torch::zeros({counts.numel()}, counts.options());
      if (total.defined()) grown.narrow(0, 0, total.numel()).copy_(total);
      total = grown;
    }
    total.narrow(0, 0, counts.numel()).add_(counts);
    json entry = {{"hist", fractions(counts)}};
    if (has_latents(*l.q)) {
      const Tensor p = l.q->quant_weight().param().detach().flatten(1);
      const double n = double(p.size(1));
      Tensor lat_abs = p.abs().mean(1).to(torch::kDouble);
      entry["latent_abs"] = to_vector(lat_abs);
      if (rows < 0) rows = p.size(0);
      same_rows = same_rows && rows == p.size(0);
      if (same_rows) {
        lat_sum = lat_sum.defined() ? lat_sum + lat_abs * n : lat_abs * n;
        elements += n;
      }
      if (epoch > 0 && l.signs.defined()) {
        Tensor flip = p.gt(0).ne(l.signs.to(p.device())).to(torch::kDouble).mean(1);
        Tensor gabs = l.grad_abs / double(std::max<int64_t>(steps_, 1));
        Tensor glive = l.grad_live / double(std::max<int64_t>(steps_, 1));
        entry["flip"] = to_vector(flip);
        entry["grad_abs"] = to_vector(gabs);
        entry["grad_live"] = to_vector(glive);
        if (same_rows) {
          flip_sum = flip_sum.defined() ? flip_sum + flip * n : flip * n;
          gabs_sum = gabs_sum.defined() ? gabs_sum + gabs * n : gabs * n;
          glive_sum = glive_sum.defined() ? glive_sum + glive * n : glive * n;
        }
      }
    }
    layers[l.name] = entry;
  }
  json overall = json::object();
  if (total.defined()) overall["hist"] = fractions(total);
  if (same_rows && elements > 0) {
    overall["latent_abs"] = to_vector(lat_sum / elements);
    if (flip_sum.defined()) {
      overall["flip"] = to_vector(flip_sum / elements);
      overall["grad_abs"] = to_vector(gabs_sum / elements);
      overall["grad_live"] = to_vector(glive_sum / elements);
    }
  }
  return json{{"epoch", epoch}, {"overall", overall}, {"layers", layers}}.dump();
}

void Diagnostics::end_epoch(int epoch) {
  // Appended, not rebuilt from the checkpoint like metrics.jsonl: a run resumed after a crash
  // may repeat the line of the epoch it redoes (the later line is the one that counts).
  std::ofstream out(file_, std::ios::app);
  out << line(epoch) << "\n";
  if (!out) throw std::runtime_error("cannot write " + file_.string());
}

}  // namespace ds
