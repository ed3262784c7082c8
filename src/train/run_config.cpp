#include "train/run_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "train/quant/latent_init.h"

namespace ds {
namespace {

using json = nlohmann::json;

// Every flag of `denseshift train` that sets a run setting, with the JSON key it sets and what
// --resume and --evaluate do with it. A flag missing here is refused by both (see the checks).
enum class OnResume {
  kFree,   // where and how fast the run goes: may differ from the run being continued
  kFixed,  // defines the run: may only repeat the saved value
  kData,   // a new location of the same dataset (checked against the saved classes and shape)
};
struct FlagRule {
  const char* flag;
  const char* key;  // config JSON key compared on resume (kFixed)
  OnResume resume;
  bool evaluate;    // used by --evaluate
};
constexpr FlagRule kFlags[] = {
    {"DATA", "data", OnResume::kData, true},
    {"--arch", "arch", OnResume::kFixed, false},
    {"--method", "body", OnResume::kFixed, false},
    {"--bits", "body", OnResume::kFixed, false},
    {"--first", "first", OnResume::kFixed, false},
    {"--last", "last", OnResume::kFixed, false},
    {"--layer", "overrides", OnResume::kFixed, false},
    {"--epochs", "epochs", OnResume::kFixed, false},
    {"--batch-size", "batch_size", OnResume::kFixed, true},
    {"--lr", "lr", OnResume::kFixed, false},
    {"--momentum", "momentum", OnResume::kFixed, false},
    {"--wd", "weight_decay", OnResume::kFixed, false},
    {"--seed", "seed", OnResume::kFixed, false},
    {"--augment", "augment", OnResume::kFixed, false},
    {"--no-augment", "augment", OnResume::kFixed, false},
    {"--train-limit", "train_limit", OnResume::kFixed, false},
    {"--eval-limit", "eval_limit", OnResume::kFixed, true},
    {"--max-steps", "max_steps", OnResume::kFixed, false},
    {"--init-from", "init_from", OnResume::kFixed, false},
    {"--init-latents", "init_from", OnResume::kFixed, false},
    {"--new-layer-init", "init_from", OnResume::kFixed, false},
    {"--allow-partial", "init_from", OnResume::kFixed, false},
    {"--reinit", "init_from", OnResume::kFixed, false},
    {"--freeze", "freeze", OnResume::kFixed, false},
    {"--lr-head", "lr_head", OnResume::kFixed, false},
    {"--latent-std", "latent_std", OnResume::kFixed, false},
    {"--out", "out", OnResume::kFree, false},
    {"--stop-after", "", OnResume::kFree, false},
    {"--workers", "", OnResume::kFree, true},
    {"--threads", "", OnResume::kFree, true},
    {"--device", "", OnResume::kFree, true},
    {"--quiet", "", OnResume::kFree, true},
    {"--diagnostics", "", OnResume::kFree, false},
    {"--world-size", "", OnResume::kFree, false},
    {"--rank", "", OnResume::kFree, false},
    {"--dist-url", "", OnResume::kFree, false},
    {"--dist-backend", "", OnResume::kFree, false},
    {"--dist-timeout", "", OnResume::kFree, false},
    {"--sync-bn", "", OnResume::kFree, false},
};

const FlagRule* rule_of(const std::string& flag) {
  for (const FlagRule& r : kFlags)
    if (flag == r.flag) return &r;
  return nullptr;
}

std::string shown(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

std::string config_to_json(const TrainConfig& c) {
  json overrides = json::object();
  for (const auto& [k, v] : c.policy.overrides) overrides[k] = spec_name(v);
  json j = {{"data", c.data},
            {"arch", c.arch},
            {"body", spec_name(c.policy.body)},
            {"first", spec_name(c.policy.first)},
            {"last", spec_name(c.policy.last)},
            {"overrides", overrides},
            {"epochs", c.epochs},
            {"batch_size", c.batch_size},
            {"lr", c.lr},
            {"momentum", c.momentum},
            {"weight_decay", c.weight_decay},
            {"seed", c.seed},
            {"augment", c.augment},
            {"train_limit", c.train_limit},
            {"eval_limit", c.eval_limit},
            {"max_steps", c.max_steps},
            {"out", c.out},
            {"in_channels", c.in_channels},
            {"in_h", c.in_h},
            {"in_w", c.in_w},
            {"num_classes", c.num_classes},
            {"class_names", c.class_names},
            {"mean", c.mean},
            {"std", c.std},
            {"init_from", {{"source", c.init.source},
                           {"latents", c.init.latents},
                           {"new_layers", c.init.new_layers},
                           {"allow_partial", c.init.allow_partial},
                           {"reinit", c.init.reinit}}},
            {"freeze", c.freeze},
            {"lr_head", c.lr_head},
            {"latent_std", c.latent_std},
            {"new_params", c.new_params}};
  if (c.audio) {
    const core::AudioFrontEnd& a = *c.audio;
    j["audio"] = {{"sample_rate", a.sample_rate}, {"clip_samples", a.clip_samples}, {"n_fft", a.n_fft},
                  {"win_length", a.win_length},   {"hop_length", a.hop_length},     {"n_mels", a.n_mels},
                  {"f_min", a.f_min},             {"f_max", a.f_max},               {"log_floor", a.log_floor}};
  }
  return j.dump();
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  TrainConfig c;
  try {
    json j = json::parse(text);
    c.data = j.at("data");
    c.arch = j.at("arch");
    c.policy.body = parse_spec(j.at("body"));
    c.policy.first = parse_spec(j.at("first"));
    c.policy.last = parse_spec(j.at("last"));
    for (const auto& [k, v] : j.at("overrides").items()) c.policy.overrides[k] = parse_spec(v.get<std::string>());
    c.epochs = j.at("epochs");
    c.batch_size = j.at("batch_size");
    c.lr = j.at("lr");
    c.momentum = j.at("momentum");
    c.weight_decay = j.at("weight_decay");
    c.seed = j.at("seed");
    // Runs before the augmentation became a choice stored a flag: on meant pad-crop + flip
    // (ImageFolder: RandomResizedCrop + flip, which data::Augment calls crop-flip there too).
    const json& aug = j.at("augment");
    c.augment = aug.is_boolean() ? (aug.get<bool>() ? "crop-flip" : "none") : aug.get<std::string>();
    c.train_limit = j.at("train_limit");
    c.eval_limit = j.at("eval_limit");
    c.max_steps = j.at("max_steps");
    c.out = j.at("out");
    // Absent in older checkpoints: load_trained_model() reads channels and classes off the
    // weights, and the rest is taken from the dataset as before.
    c.in_channels = j.value("in_channels", 0);
    c.in_h = j.value("in_h", 0);
    c.in_w = j.value("in_w", 0);
    c.num_classes = j.value("num_classes", 0);
    c.class_names = j.value("class_names", std::vector<std::string>());
    c.mean = j.value("mean", std::vector<float>());
    c.std = j.value("std", std::vector<float>());
    if (j.contains("init_from")) {
      const json& i = j.at("init_from");
      c.init.source = i.at("source"), c.init.latents = i.at("latents"), c.init.new_layers = i.at("new_layers");
      c.init.allow_partial = i.at("allow_partial"), c.init.reinit = i.at("reinit").get<std::vector<std::string>>();
    }
    c.freeze = j.value("freeze", std::vector<std::string>());
    c.lr_head = j.value("lr_head", 0.0);
    c.latent_std = j.value("latent_std", kLvriStd);  // runs from before the flag used the paper's init
    c.new_params = j.value("new_params", std::vector<std::string>());
    if (j.contains("audio")) {
      const json& a = j.at("audio");
      core::AudioFrontEnd fe;
      fe.sample_rate = a.at("sample_rate"), fe.clip_samples = a.at("clip_samples"), fe.n_fft = a.at("n_fft");
      fe.win_length = a.at("win_length"), fe.hop_length = a.at("hop_length"), fe.n_mels = a.at("n_mels");
      fe.f_min = a.at("f_min"), fe.f_max = a.at("f_max"), fe.log_floor = a.at("log_floor");
      const std::string bad = core::check_front_end(fe);
      if (!bad.empty()) throw std::invalid_argument("audio front end: " + bad);
      c.audio = fe;
    }
  } catch (const std::exception& e) {
    throw TrainError(source + ": bad run settings in checkpoint: " + e.what());
  }
  try {
    validate_config(c);
  } catch (const TrainError& e) {
    throw TrainError(source + ": bad run settings in checkpoint: " + e.what());
  }
  return c;
}

void validate_config(const TrainConfig& c) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw TrainError(what);
  };
  need(c.epochs >= 0, "--epochs must be at least 1, got " + std::to_string(c.epochs));
  need(c.batch_size >= 0, "--batch-size must be at least 1, got " + std::to_string(c.batch_size));
  need(std::isfinite(c.lr) && c.lr > 0, "--lr must be a positive number, got " + std::to_string(c.lr));
  need(std::isfinite(c.momentum) && c.momentum >= 0 && c.momentum < 1,
       "--momentum must be in [0, 1), got " + std::to_string(c.momentum));
  need(std::isfinite(c.weight_decay) && c.weight_decay >= 0,
       "--wd must be a non-negative number, got " + std::to_string(c.weight_decay));
  need(c.train_limit >= 0 && c.eval_limit >= 0 && c.max_steps >= 0 && c.stop_after >= 0,
       "--train-limit, --eval-limit, --max-steps and --stop-after must not be negative");
  need(std::isfinite(c.lr_head) && c.lr_head >= 0, "--lr-head must be a non-negative number");
  need(std::isfinite(c.latent_std) && c.latent_std > 0, "--latent-std must be a positive number");
  // Flags that only mean something for quantized layers are refused when there are none, rather
  // than accepted and ignored (an FP32 run with --latent-std would look like a study that ran).
  bool any_quantized = false, any_latents = false;
  auto see = [&](const QuantSpec& q) {
    any_quantized |= q.method != Method::kFp32;
    any_latents |= latent_rows(q) > 0;
  };
  see(c.policy.body), see(c.policy.first), see(c.policy.last);
  for (const auto& [name, q] : c.policy.overrides) see(q);
  need(c.latent_std == kLvriStd || any_latents,
       std::string("--latent-std sets the init of the latents of DenseShift and shift-with-zero layers, and this run "
                   "has none (--method ") + method_name(c.policy.body.method) + ")");
  need(!c.diagnostics || any_quantized,
       "--diagnostics records the codes and latents of quantized layers, and every layer of this run is FP32");
  need(c.init.source.empty() || c.latent_std == kLvriStd,
       "--latent-std sets the random init of a new run's latents; with --init-from the latents come from "
       "--init-latents and --new-layer-init");
  need(!c.init.source.empty() || (c.init.latents == "lvri" && c.init.new_layers == "lvri" && !c.init.allow_partial &&
                                  c.init.reinit.empty() && c.lr_head == 0),
       "--init-latents, --new-layer-init, --allow-partial, --reinit and --lr-head need --init-from");
  need(c.mean.size() == c.std.size(), "mean and std have different lengths");
  for (size_t i = 0; i < c.std.size(); ++i)
    need(std::isfinite(c.mean[i]) && std::isfinite(c.std[i]) && c.std[i] > 0,
         "normalization of channel " + std::to_string(i) + " is not finite and positive");
}

TrainConfig merge_resume(const TrainConfig& saved, const TrainConfig& asked, const std::set<std::string>& given,
                         const std::string& source) {
  if (given.count("--fresh"))
    throw TrainError("--fresh starts a new run and cannot go with --resume (pass --out to start it elsewhere)");
  const json was = json::parse(config_to_json(saved)), now = json::parse(config_to_json(asked));
  TrainConfig c = saved;
  for (const std::string& flag : given) {
    if (flag == "--resume") continue;
    const FlagRule* r = rule_of(flag);
    if (!r) throw TrainError(flag + " has no meaning with --resume");
    if (r->resume == OnResume::kFixed && was.at(r->key) != now.at(r->key))
      throw TrainError(flag + " cannot change on --resume: " + source + " is a run with " + r->key + " = " +
                       shown(was.at(r->key)) + " (you asked for " + shown(now.at(r->key)) +
                       "); settings that define a run stay as they were. Start a new run with --out DIR (or --fresh) "
                       "to train with other settings");
  }
  // What may change: where and how fast it runs, where it writes, when this call stops.
  c.workers = asked.workers, c.threads = asked.threads, c.device = asked.device, c.quiet = asked.quiet;
  c.diagnostics = asked.diagnostics;
  c.stop_after = asked.stop_after, c.dist = asked.dist;
  if (given.count("--out")) c.out = asked.out;
  if (given.count("DATA")) c.data = asked.data;  // the caller checks it holds the same classes and shapes
  return c;
}

void check_evaluate_flags(const std::set<std::string>& given) {
  for (const std::string& flag : given) {
    if (flag == "--resume" || flag == "--evaluate") continue;
    const FlagRule* r = rule_of(flag);
    if (!r || !r->evaluate)
      throw TrainError(flag + " has no effect with --evaluate (it takes DATA, --batch-size, --eval-limit, --workers, "
                              "--threads, --device and --quiet)");
  }
}

}  // namespace ds
