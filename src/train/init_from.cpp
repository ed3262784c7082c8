#include "train/init_from.h"

#include <fnmatch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <torch/script.h>

#include "train/quant/project.h"
#include "train/torch_archive_check.h"
#include "train/torch_state_dict.h"
#include "train/run_config.h"

namespace ds {
namespace {

namespace fs = std::filesystem;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// c10 errors carry a backtrace after the first line.
std::string first_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10 ? c10->what_without_backtrace() : e.what();
  return s.substr(0, s.find('\n'));
}

// A state_dict may sit under "state_dict" or "model" (training scripts' checkpoints), and
// DataParallel prefixes every name with "module.".
NamedTensors tensors_of_dict(const c10::impl::GenericDict& d, const std::string& source) {
  for (const char* key : {"state_dict", "model"})
    if (d.contains(key) && d.at(key).isGenericDict()) return tensors_of_dict(d.at(key).toGenericDict(), source);
  NamedTensors out;
  for (const auto& e : d) {
    if (!e.key().isString() || !e.value().isTensor()) continue;
    std::string name = e.key().toStringRef();
    if (starts_with(name, "module.")) name = name.substr(7);
    out.emplace_back(name, e.value().toTensor());
  }
  if (out.empty()) throw TrainError(source + ": a dict without tensors: not a state_dict");
  return out;
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw TrainError("--init-from " + path + ": cannot open it");
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Where a conv's output goes: the BatchNorm right after it in our ResNets and smallcnn.
std::string bn_after(const std::string& conv) {
  const size_t dot = conv.rfind('.');
  const std::string leaf = dot == std::string::npos ? conv : conv.substr(dot + 1);
  const std::string head = dot == std::string::npos ? "" : conv.substr(0, dot + 1);
  if (starts_with(leaf, "conv")) return head + "bn" + leaf.substr(4);
  if (leaf == "0") return head + "1";  // downsample.0 -> downsample.1
  return "";
}

std::string joined(const std::vector<std::string>& v, size_t most = 12) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < most; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > most) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

}  // namespace

NamedTensors read_init_source(const std::string& source, std::string* kind) {
  std::error_code ec;
  if (!fs::exists(source, ec)) throw TrainError("--init-from " + source + ": no such file or folder");
  if (fs::is_directory(source, ec)) {
    *kind = "denseshift run folder";
    return load_checkpoint(checkpoint_file(source)).model;
  }
  const std::vector<char> bytes = read_bytes(source);
  // libtorch sizes allocations from a zip archive's claims before checking them (TorchScript
  // files are zip archives too): refuse claims larger than the file before any reader runs.
  if (const std::string problem = torch_archive::check_torch_archive(bytes); !problem.empty())
    throw TrainError("--init-from " + source + ": damaged archive: " + problem);
  std::string why_not_ours;
  try {
    Checkpoint c = parse_checkpoint(bytes, source);
    *kind = "denseshift checkpoint";
    return c.model;
  } catch (const CheckpointError& e) {
    why_not_ours = e.what();
    // Not ours: perhaps Python's. A file that says it is ours but is damaged stays an error.
    if (why_not_ours.find("checksum") != std::string::npos || why_not_ours.find("version") != std::string::npos)
      throw;
  }
  std::string pickle_error;
  try {
    c10::IValue v = load_torch_save(source);
    if (v.isGenericDict()) {
      *kind = "PyTorch state_dict";
      return tensors_of_dict(v.toGenericDict(), source);
    }
    pickle_error = "not a dict";
  } catch (const TrainError&) {
    throw;
  } catch (const std::exception& e) {
    pickle_error = first_line(e);
  }
  try {
    torch::jit::Module m = torch::jit::load(source, torch::kCPU);
    NamedTensors out;
    for (const auto& p : m.named_parameters()) out.emplace_back(p.name, p.value);
    for (const auto& b : m.named_buffers()) out.emplace_back(b.name, b.value);
    *kind = "TorchScript module";
    return out;
  } catch (const std::exception& e) {
    throw TrainError("--init-from " + source +
                     ": neither a denseshift checkpoint, a torch.save state_dict nor a TorchScript file (as a "
                     "state_dict: " + pickle_error + "; as TorchScript: " + first_line(e) + ")");
  }
}

std::string InitReport::text() const {
  std::string s = "  init from " + kind + ": " + std::to_string(loaded.size()) + " tensors loaded, " +
                  std::to_string(converted.size()) + " layers converted, " + std::to_string(created.size()) +
                  " layers created, " + std::to_string(skipped.size()) + " source tensors skipped\n";
  if (!converted.empty()) s += "    converted: " + joined(converted) + "\n";
  if (!created.empty()) s += "    created: " + joined(created) + "\n";
  if (!skipped.empty()) s += "    skipped: " + joined(skipped) + "\n";
  return s;
}

InitReport init_model_from(torch::nn::Module& model, const NamedTensors& src_list, const InitOptions& o) {
  if (o.latents != "lvri" && o.latents != "project")
    throw TrainError("--init-latents " + o.latents + ": expected lvri or project");
  if (o.new_layers != "lvri" && o.new_layers != "kaiming")
    throw TrainError("--new-layer-init " + o.new_layers + ": expected lvri or kaiming");
  std::map<std::string, torch::Tensor> src;
  for (const auto& [k, v] : src_list) src[k] = v;
  // The common CIFAR ResNet layout names the classifier `linear`.
  if (!src.count("fc.weight") && !src.count("fc.latents") && src.count("linear.weight"))
    for (const char* p : {"weight", "bias"})
      if (src.count(std::string("linear.") + p)) src[std::string("fc.") + p] = src[std::string("linear.") + p], src.erase(std::string("linear.") + p);

  InitReport r;
  std::set<std::string> used;
  std::vector<std::string> problems;
  torch::NoGradGuard ng;
  auto take = [&](const std::string& name, torch::Tensor& target) {
    auto it = src.find(name);
    if (it == src.end() || it->second.sizes() != target.sizes()) return false;
    target.copy_(it->second.to(target.dtype()));
    used.insert(name), r.loaded.push_back(name);
    return true;
  };
  std::map<std::string, double> shrink;  // conv -> scale its projected codes divide the output by

  const auto layers = quant_layers(model);
  std::set<std::string> layer_names;
  for (const auto& [name, q] : layers) layer_names.insert(name);
  const std::string last_layer = layers.empty() ? "" : layers.back().first;
  for (const auto& [name, q] : layers) {
    const QuantWeight& qw = q->quant_weight();
    const QuantSpec spec = qw.spec();
    torch::Tensor param = qw.param();
    const bool latent = latent_rows(spec) > 0;
    const auto wshape = latent ? param.sizes().slice(1) : param.sizes();
    auto* mod = dynamic_cast<torch::nn::Module*>(const_cast<QuantLayer*>(q));
    torch::Tensor bias = mod->named_parameters(false).contains("bias") ? mod->named_parameters(false)["bias"] : torch::Tensor();
    const std::string wkey = name + ".weight", lkey = name + ".latents";
    const bool reinit = std::find(o.reinit.begin(), o.reinit.end(), name) != o.reinit.end();
    const bool has_w = src.count(wkey), has_l = src.count(lkey);
    bool created = reinit;
    std::string why = reinit ? "--reinit" : "";
    if (!created && latent && has_l && src[lkey].sizes() == param.sizes()) {
      take(lkey, param);  // a DenseShift source of the same method and bits: as it is
    } else if (!created && has_w && src[wkey].sizes() == wshape) {
      used.insert(wkey);
      if (!latent) {
        param.copy_(src[wkey].to(param.dtype())), r.loaded.push_back(wkey);
      } else if (o.latents == "project") {
        Projection p = project_to_latents(src[wkey], spec);
        param.copy_(p.latents), shrink[name] = p.scale;
        r.converted.push_back(name + " (project, scale " + std::to_string(p.scale) + ")");
      } else {
        r.converted.push_back(name + " (lvri: FP32 weights not used)");
      }
    } else if (!created) {
      created = true;
      const bool ends = name == "conv1" || name == last_layer;  // the stem and the head
      if (has_w || has_l) {
        const torch::Tensor& s = has_w ? src[wkey] : src[lkey];
        why = "shape " + c10::str(s.sizes()) + " in the source, " + c10::str(latent && has_l ? param.sizes() : wshape) + " here";
        used.insert(has_w ? wkey : lkey);
        if (!ends && !o.allow_partial) problems.push_back(name + ": " + why);
      } else {
        why = "not in the source";
        if (!o.allow_partial) problems.push_back(name + ": " + why);
      }
    }
    if (created) {
      for (const std::string& k : {wkey, lkey})
        if (src.count(k)) used.insert(k);  // replaced, not dropped
      r.created.push_back(name + " (" + why + ", " + o.new_layers + ")");
      r.new_params.insert(latent ? lkey : wkey);
      if (o.new_layers == "kaiming") {
        torch::Tensor w = torch::empty(wshape);
        if (wshape.size() == 4) torch::nn::init::kaiming_normal_(w, 0, torch::kFanOut, torch::kReLU);
        else torch::nn::init::kaiming_normal_(w, 0, torch::kFanIn, torch::kLinear);
        param.copy_(latent ? project_to_latents(w, spec).latents : w);
      } else {
        param.normal_(0, 1e-3);  // the paper's low-variance init, for latents and float weights alike
      }
      if (bias.defined()) bias.zero_(), r.new_params.insert(name + ".bias");
      if (src.count(name + ".bias")) used.insert(name + ".bias");
    } else if (bias.defined() && !take(name + ".bias", bias)) {
      problems.push_back(name + ".bias: missing or of another shape in the source");
    }
  }
  // Everything else (BatchNorm) by name and shape.
  for (const auto& p : model.named_parameters()) {
    const std::string layer = p.key().substr(0, p.key().rfind('.'));
    if (layer_names.count(layer)) continue;
    torch::Tensor t = p.value();
    if (!take(p.key(), t) && !o.allow_partial) problems.push_back(p.key() + ": missing or of another shape in the source");
  }
  for (const auto& b : model.named_buffers()) {
    torch::Tensor t = b.value();
    const bool optional = b.key().size() > 19 && b.key().substr(b.key().size() - 19) == "num_batches_tracked";
    if (!take(b.key(), t) && !optional && !o.allow_partial)
      problems.push_back(b.key() + ": missing or of another shape in the source");
  }
  // Projected codes are w / scale: the BatchNorm after the conv sees its input shrunk by scale.
  for (const auto& [conv, scale] : shrink) {
    const std::string bn = bn_after(conv);
    auto buffers = model.named_buffers();
    if (bn.empty() || !buffers.contains(bn + ".running_mean")) continue;
    buffers[bn + ".running_mean"].div_(scale);
    buffers[bn + ".running_var"].div_(scale * scale);
  }
  for (const auto& [k, v] : src)
    if (!used.count(k) && k.find("num_batches_tracked") == std::string::npos) r.skipped.push_back(k);
  if (!r.skipped.empty() && !o.allow_partial)
    problems.push_back("source tensors with no place in the model: " + joined(r.skipped));
  if (!problems.empty())
    throw TrainError("--init-from " + o.source + " (" + std::to_string(src.size()) + " tensors) does not fit the model: " +
                     joined(problems, 6) + ". Pass --allow-partial to re-create what does not fit (the stem and the "
                     "classifier are re-created without it when only their shapes differ)");
  return r;
}

std::vector<std::string> freeze_parameters(torch::nn::Module& model, const std::vector<std::string>& patterns) {
  std::vector<std::string> frozen;
  for (const std::string& pat : patterns) {
    size_t hits = 0;
    for (auto& p : model.named_parameters())
      if (fnmatch(pat.c_str(), p.key().c_str(), 0) == 0) {
        p.value().set_requires_grad(false);
        frozen.push_back(p.key()), ++hits;
      }
    if (hits == 0) throw TrainError("--freeze '" + pat + "' matches no parameter (names look like layer1.0.conv1.latents)");
  }
  return frozen;
}

}  // namespace ds
