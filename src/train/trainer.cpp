#include "train/trainer.h"

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "train/checkpoint.h"
#include "train/models.h"
#include "train/progress.h"
#include "train/sgd.h"

namespace ds {
namespace fs = std::filesystem;
using json = nlohmann::json;
using torch::Tensor;

namespace {

constexpr const char* kBuiltinData = "/usr/share/datasets/fashion-mnist";

// A view of every (size/limit)-th sample, so a limited run still sees every class.
class Subset : public data::Dataset {
 public:
  Subset(std::unique_ptr<data::Dataset> base, size_t limit) : base_(std::move(base)), n_(std::min(limit, base_->size())) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return base_->num_classes(); }
  data::Shape sample_shape() const override { return base_->sample_shape(); }
  int load(size_t i, float* out, std::mt19937& rng) const override { return base_->load(i * base_->size() / n_, out, rng); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  std::string describe() const override { return base_->describe() + " (subset of " + std::to_string(n_) + ")"; }

 private:
  std::unique_ptr<data::Dataset> base_;
  size_t n_;
};

std::unique_ptr<data::Dataset> open_split(const std::string& root, data::Split split, bool augment, int64_t limit) {
  auto ds = data::open_dataset(root, split, augment);
  if (limit > 0 && size_t(limit) < ds->size()) return std::make_unique<Subset>(std::move(ds), size_t(limit));
  return ds;
}

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

// Defaults per dataset kind: the authors' ImageNet recipe, a CIFAR recipe, and a short
// schedule for the built-in Fashion-MNIST demo.
void apply_defaults(TrainConfig& c, data::Kind kind, bool builtin) {
  const bool imagenet = kind == data::Kind::kImageFolder;
  if (c.arch.empty()) c.arch = imagenet ? "resnet18" : builtin ? "smallcnn" : "resnet20";
  if (c.epochs <= 0) c.epochs = imagenet ? 200 : builtin ? 4 : (kind == data::Kind::kIdx ? 20 : 200);
  if (c.batch_size <= 0) c.batch_size = imagenet ? 256 : 128;
  if (c.workers < 0) c.workers = hardware_threads();
  if (c.threads <= 0) c.threads = hardware_threads();
  if (c.out.empty()) {
    std::string m = c.policy.body.method == Method::kFp32 ? "fp32"
                                                          : std::string(method_name(c.policy.body.method)) + std::to_string(c.policy.body.bits);
    c.out = "runs/" + c.arch + "-" + m;
  }
}

double cosine_lr(double base, int epoch, int epochs) { return 0.5 * base * (1 + std::cos(M_PI * epoch / epochs)); }

torch::Device parse_device(const std::string& d) {
  torch::Device dev(torch::kCPU);
  try {
    dev = torch::Device(d);
  } catch (const std::exception&) {
    throw TrainError("unknown device '" + d + "' (expected cpu, cuda or cuda:N)");
  }
  if (dev.is_cuda() && !torch::cuda::is_available())
    throw TrainError("--device " + d + " asked for, but this libtorch has no CUDA or no GPU is visible");
  return dev;
}

struct BatchTensors {
  Tensor x, y;
};
BatchTensors to_tensors(data::Batch& b, const torch::Device& dev) {
  const auto& s = b.shape;
  Tensor x = torch::from_blob(b.x.data(), {b.n, s.c, s.h, s.w}, torch::kFloat);
  Tensor y = torch::from_blob(b.y.data(), {b.n}, torch::kLong);
  // On the CPU the batch buffer outlives the step, so no copy is needed.
  if (dev.is_cpu()) return {x, y};
  return {x.to(dev, /*non_blocking=*/false), y.to(dev)};
}

// Counts correct top-1 and top-k predictions.
std::pair<int64_t, int64_t> correct(const Tensor& logits, const Tensor& y) {
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  Tensor topk = std::get<1>(logits.topk(k, 1));
  Tensor hit = topk.eq(y.unsqueeze(1));
  return {hit.select(1, 0).sum().item<int64_t>(), hit.any(1).sum().item<int64_t>()};
}

EvalResult evaluate(NetImpl& model, const data::Dataset& ds, const TrainConfig& c, const torch::Device& dev,
                    const std::string& label) {
  torch::NoGradGuard ng;
  model.eval();
  data::Loader loader(ds, c.batch_size, false, false, c.seed, c.workers);
  loader.start_epoch(0);
  Progress bar(label, loader.batches_per_epoch());
  EvalResult r;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  data::Batch b;
  size_t step = 0;
  while (loader.next(b)) {
    auto t = to_tensors(b, dev);
    Tensor logits = model.forward(t.x);
    loss_sum += torch::cross_entropy_loss(logits, t.y).item<double>() * b.n;
    auto [c1, c5] = correct(logits, t.y);
    top1 += c1, top5 += c5, r.images += size_t(b.n);
    if (!c.quiet) bar.update(++step, r.images, loss_sum / r.images, 100.0 * top1 / r.images);
  }
  if (r.images == 0) throw TrainError("evaluation set " + ds.describe() + " is empty");
  r.loss = loss_sum / r.images, r.top1 = 100.0 * top1 / r.images, r.top5 = 100.0 * top5 / r.images;
  r.seconds = bar.elapsed();
  if (!c.quiet) bar.finish(r.images, r.loss, r.top1);
  return r;
}

// Weight freezing (DENSESHIFT.md section 2): compare each quantized layer's codes with the
// codes it had when the epoch began.
class FreezeTracker {
 public:
  explicit FreezeTracker(const torch::nn::Module& model) : layers_(quant_layers(model)) {}
  void snapshot() {
    before_.clear();
    for (const auto& [name, q] : layers_) before_[name] = q->quant_weight().codes();
  }
  json measure() const {
    json layers = json::object();
    int64_t total = 0, flips = 0, exps = 0, changed = 0;
    for (const auto& [name, q] : layers_) {
      Tensor now = q->quant_weight().codes();
      auto it = before_.find(name);
      if (!now.defined() || it == before_.end()) continue;
      const Tensor& old = it->second;
      Tensor both = old.ne(0).logical_and(now.ne(0));
      int64_t n = now.numel();
      int64_t f = (old.sign().ne(now.sign())).logical_and(both).sum().item<int64_t>();
      int64_t e = old.abs().ne(now.abs()).sum().item<int64_t>();
      int64_t ch = old.ne(now).sum().item<int64_t>();
      layers[name] = {{"sign_flip", double(f) / n}, {"exp_change", double(e) / n}, {"changed", double(ch) / n}};
      total += n, flips += f, exps += e, changed += ch;
    }
    json overall = {{"sign_flip", total ? double(flips) / total : 0.0},
                    {"exp_change", total ? double(exps) / total : 0.0},
                    {"changed", total ? double(changed) / total : 0.0}};
    return {{"overall", overall}, {"layers", layers}};
  }

 private:
  std::vector<std::pair<std::string, const QuantLayer*>> layers_;
  std::map<std::string, Tensor> before_;
};

// Keeps metrics.jsonl consistent with the checkpoint being resumed: lines for epochs the
// checkpoint does not contain (written after it, before a crash) are dropped.
void trim_metrics(const fs::path& file, int keep_epochs) {
  if (!fs::exists(file)) return;
  std::ifstream in(file);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (json::parse(line).value("epoch", 0) <= keep_epochs) kept += line + "\n";
    } catch (const json::exception&) {
      // A line cut by a crash: drop it.
    }
  }
  write_file_atomic(file.string(), std::vector<char>(kept.begin(), kept.end()));
}

std::string resolve_checkpoint(const std::string& p) {
  if (fs::is_directory(p)) return (fs::path(p) / "last.pt").string();
  return p;
}

std::string describe_policy(const QuantPolicy& p) {
  std::string s = spec_name(p.body) + " (first conv " + spec_name(p.first) + ", last fc " + spec_name(p.last);
  for (const auto& [k, v] : p.overrides) s += ", " + k + " " + spec_name(v);
  return s + ")";
}

}  // namespace

std::string default_data_dir() { return kBuiltinData; }

void configure_threads(int threads) {
  if (threads <= 0) threads = hardware_threads();
  torch::set_num_threads(threads);
  // OpenBLAS keeps its own pool; two pools on the same cores were slower than one (measured).
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(1);
#ifdef __GLIBC__
  // Every step allocates and frees the same multi-megabyte tensors (weights from latents,
  // their gradients, activations). Above glibc's mmap threshold each one is a fresh mmap whose
  // pages fault in again: measured, that was most of DenseShift's step-time overhead over FP32
  // (resnet20 batch 128: 1.06-1.09x before, 1.02-1.04x after). Keep such blocks in the heap.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

std::string config_to_json(const TrainConfig& c) {
  json overrides = json::object();
  for (const auto& [k, v] : c.policy.overrides) overrides[k] = spec_name(v);
  json j = {{"data", c.data},         {"arch", c.arch},
            {"body", spec_name(c.policy.body)},
            {"first", spec_name(c.policy.first)},
            {"last", spec_name(c.policy.last)},
            {"overrides", overrides}, {"epochs", c.epochs},
            {"batch_size", c.batch_size}, {"lr", c.lr},
            {"momentum", c.momentum}, {"weight_decay", c.weight_decay},
            {"seed", c.seed},         {"augment", c.augment},
            {"train_limit", c.train_limit}, {"eval_limit", c.eval_limit},
            {"max_steps", c.max_steps}, {"out", c.out},
            {"in_channels", c.in_channels}, {"num_classes", c.num_classes}};
  return j.dump();
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  try {
    json j = json::parse(text);
    TrainConfig c;
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
    c.augment = j.at("augment");
    c.train_limit = j.at("train_limit");
    c.eval_limit = j.at("eval_limit");
    c.max_steps = j.at("max_steps");
    c.out = j.at("out");
    // Absent in the first checkpoints; load_trained_model() then reads them off the weights.
    c.in_channels = j.value("in_channels", 0);
    c.num_classes = j.value("num_classes", 0);
    return c;
  } catch (const std::exception& e) {
    throw TrainError(source + ": bad run settings in checkpoint: " + e.what());
  }
}

TrainResult run_training(TrainConfig cfg, const std::string& resume) {
  Checkpoint ckpt;
  std::string ckpt_path;
  if (!resume.empty()) {
    ckpt_path = resolve_checkpoint(resume);
    ckpt = load_checkpoint(ckpt_path);
    TrainConfig saved = config_from_json(ckpt.config_json, ckpt_path);
    // What may change on resume: the length of the run and where/how fast it runs.
    saved.epochs = cfg.epochs > 0 ? cfg.epochs : saved.epochs;
    saved.workers = cfg.workers, saved.threads = cfg.threads, saved.device = cfg.device, saved.quiet = cfg.quiet;
    saved.stop_after = cfg.stop_after;
    if (!cfg.out.empty()) saved.out = cfg.out;
    cfg = saved;
  }
  const bool builtin = cfg.data.empty();
  const std::string root = builtin ? std::string(kBuiltinData) : cfg.data;
  if (builtin && !fs::exists(root))
    throw TrainError("no DATA given and the built-in Fashion-MNIST is not installed at " + root +
                     " (apt-get install dataset-fashion-mnist, or pass a dataset folder)");
  apply_defaults(cfg, data::detect_kind(root), builtin);
  configure_threads(cfg.threads);
  const torch::Device dev = parse_device(cfg.device);

  fs::create_directories(cfg.out);
  const fs::path out(cfg.out), last = out / "last.pt", best = out / "best.pt", metrics = out / "metrics.jsonl";
  if (resume.empty() && fs::exists(last) && !cfg.fresh)
    throw TrainError(cfg.out + " already holds a run (" + last.string() +
                     "): pass --resume " + cfg.out + " to continue it, --fresh to replace it, or another --out");

  auto train_set = open_split(root, data::Split::kTrain, cfg.augment, cfg.train_limit);
  auto test_set = open_split(root, data::Split::kTest, false, cfg.eval_limit);
  const data::Shape in = train_set->sample_shape();

  cfg.in_channels = in.c, cfg.num_classes = train_set->num_classes();
  torch::manual_seed(cfg.seed);
  ModelConfig mc{cfg.arch, in.c, train_set->num_classes(), cfg.policy};
  auto model = make_model(mc);
  model->to(dev);  // before the optimizer, whose momentum buffers live beside the parameters
  Sgd opt(*model, cfg.momentum, cfg.weight_decay);
  int start_epoch = 0;
  double best_top1 = -1;
  if (!ckpt_path.empty()) {
    load_state(*model, ckpt.model, ckpt_path);
    opt.load_momentum_state(ckpt.momentum, ckpt_path);
    start_epoch = ckpt.epoch;
    best_top1 = ckpt.best_top1;
    trim_metrics(metrics, start_epoch);
  } else if (fs::exists(metrics)) {
    fs::remove(metrics);
    fs::remove(best);
  }

  std::fprintf(stderr,
               "denseshift train: %s %s\n  data %s | %s\n  %dx%dx%d, %d classes | epochs %d, batch %d, lr %g, momentum %g, "
               "wd %g, seed %llu\n  device %s, %d threads, %d workers | %lld parameters | out %s%s\n",
               cfg.arch.c_str(), describe_policy(cfg.policy).c_str(), train_set->describe().c_str(),
               test_set->describe().c_str(), in.c, in.h, in.w, train_set->num_classes(), cfg.epochs, cfg.batch_size,
               cfg.lr, cfg.momentum, cfg.weight_decay, (unsigned long long)cfg.seed, cfg.device.c_str(), cfg.threads,
               cfg.workers, (long long)parameter_count(*model), cfg.out.c_str(),
               ckpt_path.empty() ? "" : (" | resuming after epoch " + std::to_string(start_epoch)).c_str());

  data::Loader loader(*train_set, cfg.batch_size, /*shuffle=*/true, /*drop_last=*/false, cfg.seed, cfg.workers);
  FreezeTracker freeze(*model);
  TrainResult result;
  result.out_dir = cfg.out;
  std::vector<double> step_ms;
  const auto run_start = std::chrono::steady_clock::now();

  const int end_epoch = cfg.stop_after > 0 ? std::min(cfg.epochs, start_epoch + cfg.stop_after) : cfg.epochs;
  for (int epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const double lr = cosine_lr(cfg.lr, epoch, cfg.epochs);
    model->train();
    freeze.snapshot();
    loader.start_epoch(epoch);
    size_t steps = loader.batches_per_epoch();
    if (cfg.max_steps > 0) steps = std::min<size_t>(steps, size_t(cfg.max_steps));
    Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + " train", steps);
    double loss_sum = 0;
    int64_t hits = 0;
    size_t images = 0, step = 0;
    data::Batch b;
    while (step < steps && loader.next(b)) {
      auto t0 = std::chrono::steady_clock::now();
      auto t = to_tensors(b, dev);
      Tensor logits = model->forward(t.x);
      Tensor loss = torch::cross_entropy_loss(logits, t.y);
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw TrainError("loss is " + std::string(std::isnan(l) ? "NaN" : "infinite") + " at epoch " +
                         std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
                         ": stopping instead of training on garbage (lower --lr, or check the data); last good checkpoint: " +
                         (fs::exists(last) ? last.string() : std::string("none")));
      opt.zero_grad();
      loss.backward();
      opt.step(lr);
      step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      loss_sum += l * b.n;
      hits += logits.argmax(1).eq(t.y).sum().item<int64_t>();
      images += size_t(b.n);
      ++step;
      if (!cfg.quiet) bar.update(step, images, loss_sum / images, 100.0 * hits / images);
    }
    const double train_time = bar.elapsed();
    if (!cfg.quiet) bar.finish(images, loss_sum / std::max<size_t>(images, 1), 100.0 * hits / std::max<size_t>(images, 1));

    EvalResult ev = evaluate(*model, *test_set, cfg, dev, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + " test ");
    const bool is_best = ev.top1 > best_top1;
    best_top1 = std::max(best_top1, ev.top1);

    Checkpoint c{epoch + 1, best_top1, config_to_json(cfg), state_of(*model), opt.momentum_state()};
    save_checkpoint(c, last.string());
    if (is_best) save_checkpoint(c, best.string());

    json line = {{"epoch", epoch + 1},
                 {"lr", lr},
                 {"train_loss", loss_sum / std::max<size_t>(images, 1)},
                 {"train_top1", 100.0 * hits / std::max<size_t>(images, 1)},
                 {"val_loss", ev.loss},
                 {"top1", ev.top1},
                 {"top5", ev.top5},
                 {"epoch_time_s", train_time + ev.seconds},
                 {"train_images_per_s", train_time > 0 ? images / train_time : 0.0},
                 {"freeze", freeze.measure()}};
    std::ofstream(metrics, std::ios::app) << line.dump() << "\n";
    std::fprintf(stderr, "epoch %d/%d: train loss %.4f | test top-1 %.2f%% top-5 %.2f%% | lr %.5f | %s%s\n", epoch + 1,
                 cfg.epochs, loss_sum / std::max<size_t>(images, 1), ev.top1, ev.top5, lr,
                 format_duration(train_time + ev.seconds).c_str(), is_best ? " | best so far" : "");
    result.final_eval = ev;
    result.epochs = epoch + 1;
  }
  if (result.epochs == 0 && start_epoch >= cfg.epochs) {
    result.epochs = start_epoch;
    result.final_eval = evaluate(*model, *test_set, cfg, dev, "test ");
  }
  result.best_top1 = best_top1;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    result.ms_per_step = step_ms[step_ms.size() / 2];
  }
  json res = {{"arch", cfg.arch}, {"method", spec_name(cfg.policy.body)}, {"epochs", result.epochs},
              {"top1", result.final_eval.top1}, {"top5", result.final_eval.top5}, {"best_top1", best_top1},
              {"seconds", result.seconds}, {"ms_per_step", result.ms_per_step}};
  std::string text = res.dump(2) + "\n";
  write_file_atomic((out / "result.json").string(), std::vector<char>(text.begin(), text.end()));
  return result;
}

TrainedModel load_trained_model(const std::string& checkpoint, const TrainConfig& over) {
  TrainedModel t;
  t.path = resolve_checkpoint(checkpoint);
  Checkpoint ckpt = load_checkpoint(t.path);
  t.epoch = ckpt.epoch;
  t.cfg = config_from_json(ckpt.config_json, t.path);
  TrainConfig& cfg = t.cfg;
  if (!over.data.empty()) cfg.data = over.data;
  cfg.workers = over.workers, cfg.threads = over.threads, cfg.device = over.device, cfg.quiet = over.quiet;
  if (over.batch_size > 0) cfg.batch_size = over.batch_size;
  if (over.eval_limit > 0) cfg.eval_limit = over.eval_limit;
  const std::string root = cfg.data.empty() ? std::string(kBuiltinData) : cfg.data;
  apply_defaults(cfg, data::detect_kind(root), cfg.data.empty());
  for (const auto& [name, tensor] : ckpt.model) {
    // conv1 is [out, in, kh, kw] (or [rows, out, in, kh, kw] as latents); fc is [classes, in] (or [rows, ...]).
    if (cfg.in_channels == 0 && (name == "conv1.weight" || name == "conv1.latents")) cfg.in_channels = int(tensor.size(-3));
    if (cfg.num_classes == 0 && (name == "fc.weight" || name == "fc.latents")) cfg.num_classes = int(tensor.size(-2));
  }
  if (cfg.in_channels == 0 || cfg.num_classes == 0)
    throw TrainError(t.path + ": cannot tell the model's input channels and classes (no conv1 / fc weights)");
  t.model = make_model(ModelConfig{cfg.arch, cfg.in_channels, cfg.num_classes, cfg.policy});
  load_state(*t.model, ckpt.model, t.path);
  t.model->eval();
  return t;
}

EvalResult evaluate_checkpoint(const std::string& checkpoint, const TrainConfig& over) {
  TrainedModel t = load_trained_model(checkpoint, over);
  configure_threads(t.cfg.threads);
  const torch::Device dev = parse_device(t.cfg.device);
  const std::string root = t.cfg.data.empty() ? std::string(kBuiltinData) : t.cfg.data;
  auto test_set = open_split(root, data::Split::kTest, false, t.cfg.eval_limit);
  t.model->to(dev);
  return evaluate(*t.model, *test_set, t.cfg, dev, "test ");
}

}  // namespace ds
