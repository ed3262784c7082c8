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
#include "train/dist/grad_sync.h"
#include "train/diagnostics.h"
#include "train/dist/sync_bn.h"
#include "train/init_from.h"
#include "train/models.h"
#include "train/progress.h"
#include "train/quant/latent_init.h"
#include "train/run_folder.h"
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

// Samples [begin, begin + n) of a dataset it does not own: one rank's part of the test split.
class SliceView : public data::Dataset {
 public:
  SliceView(const data::Dataset& base, size_t begin, size_t n) : base_(base), begin_(begin), n_(n) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return base_.num_classes(); }
  data::Shape sample_shape() const override { return base_.sample_shape(); }
  int load(size_t i, float* out, std::mt19937& rng) const override { return base_.load(begin_ + i, out, rng); }
  std::vector<std::string> class_names() const override { return base_.class_names(); }
  std::string describe() const override { return base_.describe(); }

 private:
  const data::Dataset& base_;
  size_t begin_, n_;
};

std::unique_ptr<data::Dataset> open_split(const std::string& root, data::Split split, const data::OpenOptions& opt,
                                          int64_t limit, const std::optional<core::AudioFrontEnd>& audio) {
  auto ds = data::open_dataset(root, split, opt, audio);
  if (limit > 0 && size_t(limit) < ds->size()) return std::make_unique<Subset>(std::move(ds), size_t(limit));
  return ds;
}

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

// Defaults per dataset kind: the authors' ImageNet recipe, a CIFAR recipe, and a short
// schedule for the built-in Fashion-MNIST demo.
void apply_run_defaults(TrainConfig& c, data::Kind kind, bool builtin) {
  const bool imagenet = kind == data::Kind::kImageFolder;
  if (data::is_speech(kind)) {
    if (c.arch.empty()) c.arch = "res8";  // over log-mel features (train/speech_model.h)
    // Epochs and batch: apply_speech_size_defaults, once the training split's size is known.
  } else {
    if (c.arch.empty()) c.arch = imagenet ? "resnet18" : builtin ? "smallcnn" : "resnet20";
    if (c.epochs <= 0) c.epochs = imagenet ? 200 : builtin ? 4 : (kind == data::Kind::kIdx ? 20 : 200);
    if (c.batch_size <= 0) c.batch_size = imagenet ? 256 : 128;
  }
  if (c.augment.empty()) c.augment = data::augment_name(data::default_augment(kind));
  if (c.out.empty()) {
    std::string m = c.policy.body.method == Method::kFp32 ? "fp32"
                                                          : std::string(method_name(c.policy.body.method)) + std::to_string(c.policy.body.bits);
    c.out = "runs/" + c.arch + "-" + m;
  }
}

// Speech corpora run from a few thousand clips (a user's own commands; make_speech_data.sh writes
// 1,600) to Speech Commands' 85,000, and a fixed epoch count leaves the small ones too few
// optimizer steps: res8-narrow on make_speech_data.sh's corpus, FP32, batch 16, reached 30.0% in
// 20 epochs (2,000 steps) and 86.6% in 60 (6,000) (scripts/results_speech.sh, docs/speech.md). So
// a speech run that names neither gets a batch of 64 only from 100 batches an epoch on (16 or 32
// below) and at least kSpeechMinSteps steps (30 epochs at the least); Speech Commands keeps 30 x 64.
constexpr int64_t kSpeechMinSteps = 6000;
void apply_speech_size_defaults(TrainConfig& c, size_t clips) {
  if (c.batch_size <= 0) c.batch_size = clips >= 6400 ? 64 : clips >= 3200 ? 32 : 16;
  if (c.epochs <= 0) {
    const int64_t per_epoch = std::max<int64_t>(1, (int64_t(clips) + c.batch_size - 1) / c.batch_size);
    c.epochs = int(std::max<int64_t>(30, (kSpeechMinSteps + per_epoch - 1) / per_epoch));
  }
}

// Several ranks on one machine (LOCAL_WORLD_SIZE, set by launchers) share its cores.
void apply_machine_defaults(TrainConfig& c) {
  const char* local = std::getenv("LOCAL_WORLD_SIZE");
  const int share = std::max(1, hardware_threads() / std::max(1, local ? std::atoi(local) : 1));
  if (c.workers < 0) c.workers = share;
  if (c.threads <= 0) c.threads = share;
}

std::string data_root(const TrainConfig& c) { return c.data.empty() ? std::string(kBuiltinData) : c.data; }

std::string shape_text(int c, int h, int w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

std::string floats_text(const std::vector<float>& v) {
  std::string s;
  char buf[32];
  for (float x : v) std::snprintf(buf, sizeof buf, "%s%.4f", s.empty() ? "" : ", ", double(x)), s += buf;
  return s;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The run's splits. A run that has started (cfg.class_names set) reads labels by its own class
// list and normalizes with its own statistics, so DATA may be a moved copy of the same dataset;
// what differs in classes or shape is refused by name.
struct Splits {
  std::unique_ptr<data::Dataset> train, test;
};
Splits open_splits(TrainConfig& cfg, bool need_train) {
  const std::string root = data_root(cfg);
  const data::Kind kind = data::detect_kind(root);
  const data::Augment augment = data::parse_augment(cfg.augment);
  data::check_augment(augment, kind, root);
  // A speech run keeps the front end it started with (its samples' rate and length depend on it).
  if (data::is_speech(kind) && !cfg.audio) cfg.audio = core::AudioFrontEnd{};
  if (!data::is_speech(kind) && cfg.audio)
    throw TrainError(root + " is " + data::kind_name(kind) + " pictures, but the run is a speech model");
  if (cfg.mean.empty()) {
    const data::Normalization n = data::dataset_normalization(root);
    cfg.mean = n.mean, cfg.std = n.std;
  }
  const data::Normalization norm{cfg.mean, cfg.std};
  Splits s;
  if (need_train) {
    s.train = open_split(root, data::Split::kTrain, data::OpenOptions{augment, norm, cfg.class_names}, cfg.train_limit,
                         cfg.audio);
    if (cfg.class_names.empty()) cfg.class_names = s.train->class_names();
  }
  s.test = open_split(root, data::Split::kTest, data::OpenOptions{data::Augment::kNone, norm, cfg.class_names},
                      cfg.eval_limit, cfg.audio);
  if (cfg.class_names.empty()) cfg.class_names = s.test->class_names();
  const int classes = int(cfg.class_names.size());
  for (const data::Dataset* d : {s.train.get(), s.test.get()}) {
    if (!d) continue;
    const data::Shape sh = d->sample_shape();
    if (cfg.in_h > 0 && (sh.c != cfg.in_channels || sh.h != cfg.in_h || sh.w != cfg.in_w))
      throw TrainError(d->describe() + ": samples are " + shape_text(sh.c, sh.h, sh.w) + ", but the run's model takes " +
                       shape_text(cfg.in_channels, cfg.in_h, cfg.in_w));
    if (cfg.num_classes > 0 && cfg.num_classes != classes)
      throw TrainError(root + " has " + std::to_string(classes) + " classes, but the run's model has " +
                       std::to_string(cfg.num_classes));
    if (d->num_classes() != classes)
      throw TrainError(d->describe() + ": " + std::to_string(d->num_classes()) + " classes where " +
                       std::to_string(classes) + " were expected (" + joined(cfg.class_names) + ")");
    if (cfg.in_h == 0) cfg.in_channels = sh.c, cfg.in_h = sh.h, cfg.in_w = sh.w;
  }
  cfg.num_classes = classes;
  return s;
}

// Checkpoints from before the statistics were stored were trained with these, per kind.
data::Normalization legacy_normalization(data::Kind kind) {
  switch (kind) {
    case data::Kind::kIdx: return {{0.2860f}, {0.3530f}};  // Fashion-MNIST's, used for every IDX set
    case data::Kind::kCifar10: return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
    case data::Kind::kCifar100: return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}};
    case data::Kind::kImageFolder: break;
    case data::Kind::kSpeechManifest:
    case data::Kind::kSpeechCommands: return {{0.f}, {1.f}};  // the front end normalizes
  }
  return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

// A run's DATA is stored absolute, so export, eval and resume work from any folder; when the
// folder has moved since, the error says how to point the command at the new place.
void check_data_exists(const TrainConfig& cfg, const std::string& run) {
  if (cfg.data.empty() || fs::exists(cfg.data)) return;
  throw TrainError("the dataset of " + run + " is gone from " + cfg.data +
                   ": pass its new location as DATA (denseshift train NEW_DATA --resume RUN, or "
                   "--evaluate/export --data NEW_DATA); it must hold the same classes and image size");
}

// Every --layer NAME must name a conv or fc of the model.
void check_overrides(const TrainConfig& cfg, const torch::nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& [name, q] : quant_layers(model)) names.push_back(name);
  for (const auto& [name, spec] : cfg.policy.overrides)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw TrainError("--layer " + name + "=" + spec_name(spec) + ": " + cfg.arch + " has no layer named '" + name +
                       "'; its layers are " + joined(names));
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

// Test-split metrics. In a data-parallel run every rank evaluates its own contiguous part (no
// sample twice, none left out) and the sums are reduced, so every rank returns the same numbers.
EvalResult evaluate(NetImpl& model, const data::Dataset& ds, const TrainConfig& c, const torch::Device& dev,
                    const std::string& label, dist::Comm* comm = nullptr) {
  torch::NoGradGuard ng;
  model.eval();
  std::unique_ptr<SliceView> part;
  const data::Dataset* set = &ds;
  if (comm) {
    const size_t n = ds.size(), r = size_t(comm->rank()), w = size_t(comm->size());
    part = std::make_unique<SliceView>(ds, n * r / w, n * (r + 1) / w - n * r / w);
    set = part.get();
  }
  data::Loader loader(*set, c.batch_size, false, false, c.seed, c.workers);
  loader.start_epoch(0);
  Progress bar(label, loader.batches_per_epoch());
  EvalResult r;
  double loss_sum = 0, top1 = 0, top5 = 0, images = 0;
  data::Batch b;
  size_t step = 0;
  while (loader.next(b)) {
    auto t = to_tensors(b, dev);
    Tensor logits = model.forward(t.x);
    loss_sum += torch::cross_entropy_loss(logits, t.y).item<double>() * b.n;
    auto [c1, c5] = correct(logits, t.y);
    top1 += double(c1), top5 += double(c5), images += b.n;
    if (!c.quiet) bar.update(++step, size_t(images), loss_sum / images, 100.0 * top1 / images);
  }
  if (comm) {
    const std::vector<double> all = comm->sum({loss_sum, top1, top5, images});
    loss_sum = all[0], top1 = all[1], top5 = all[2], images = all[3];
  }
  if (images == 0) throw TrainError("evaluation set " + ds.describe() + " is empty");
  r.images = size_t(images);
  r.loss = loss_sum / images, r.top1 = 100.0 * top1 / images, r.top5 = 100.0 * top5 / images;
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

TrainResult run_training(TrainConfig cfg, const std::string& resume, const std::set<std::string>& given) {
  Checkpoint ckpt;
  std::string ckpt_path;
  if (!resume.empty()) {
    ckpt_path = checkpoint_file(resume);
    ckpt = load_checkpoint(ckpt_path);
    const TrainConfig saved = config_from_json(ckpt.config_json, ckpt_path);
    cfg = merge_resume(saved, cfg, given, ckpt_path);
    if (!given.count("DATA")) check_data_exists(cfg, ckpt_path);
  }
  validate_config(cfg);
  if (!cfg.data.empty()) cfg.data = fs::absolute(cfg.data).lexically_normal().string();
  const bool builtin = cfg.data.empty();
  const std::string root = data_root(cfg);
  if (builtin && !fs::exists(root))
    throw TrainError("no DATA given and the built-in Fashion-MNIST is not installed at " + root +
                     " (apt-get install dataset-fashion-mnist, or pass a dataset folder)");
  const data::Kind kind = data::detect_kind(root);
  apply_run_defaults(cfg, kind, builtin);
  apply_machine_defaults(cfg);
  validate_config(cfg);
  configure_threads(cfg.threads);
  const torch::Device dev = parse_device(cfg.device);
  auto check_global_batch = [&] {
    if (cfg.dist.enabled() && cfg.batch_size % cfg.dist.world_size != 0)
      throw TrainError("--batch-size " + std::to_string(cfg.batch_size) + " is the global batch and cannot be split evenly over " +
                       std::to_string(cfg.dist.world_size) + " ranks");
  };
  check_global_batch();  // before the rendezvous (a speech run's default batch, still 0 here, is checked below)
  std::unique_ptr<dist::Comm> comm;
  if (cfg.dist.enabled()) comm = dist::Comm::join(cfg.dist, dev);
  // Rank 0 alone prints and writes the run folder; every rank computes the same things.
  const bool lead = !comm || comm->rank() == 0;
  if (!lead) cfg.quiet = true;
  const std::string who = comm ? "rank " + std::to_string(comm->rank()) + ": " : "";
  struct SyncBnScope {
    explicit SyncBnScope(dist::Comm* c) { dist::set_sync_batch_norm(c); }
    ~SyncBnScope() { dist::set_sync_batch_norm(nullptr); }
  } sync_bn(cfg.dist.sync_bn ? comm.get() : nullptr);

  const RunFolder run{cfg.out};
  if (resume.empty() && fs::exists(run.last()) && !cfg.fresh)
    throw TrainError(cfg.out + " already holds a run (" + run.last().string() +
                     "): pass --resume " + cfg.out + " to continue it, --fresh to replace it, or another --out");
  Splits splits = open_splits(cfg, /*need_train=*/true);
  data::Dataset& train_set = *splits.train;
  data::Dataset& test_set = *splits.test;
  if (data::is_speech(kind)) apply_speech_size_defaults(cfg, train_set.size());  // a resumed run has its own
  check_global_batch();  // every rank finds the same and stops
  if (lead) fs::create_directories(cfg.out);

  torch::manual_seed(cfg.seed);
  auto model = make_model(ModelConfig{cfg.arch, cfg.in_channels, cfg.num_classes, cfg.policy, cfg.audio,
                                      cfg.augment == data::augment_name(data::Augment::kSpeech)});
  check_overrides(cfg, *model);
  if (resume.empty() && cfg.latent_std != kLvriStd) rescale_latent_init(*model, cfg.latent_std);
  std::string init_text;
  if (!cfg.init.source.empty() && resume.empty()) {
    cfg.init.source = fs::absolute(cfg.init.source).lexically_normal().string();
    InitReport rep;
    const NamedTensors src = read_init_source(cfg.init.source, &rep.kind);
    InitReport got = init_model_from(*model, src, cfg.init);
    got.kind = rep.kind;
    cfg.new_params.assign(got.new_params.begin(), got.new_params.end());
    init_text = got.text();
  }
  const std::vector<std::string> frozen = freeze_parameters(*model, cfg.freeze);
  if (cfg.lr_head > 0 && cfg.new_params.empty())
    throw TrainError("--lr-head sets the learning rate of the layers --init-from creates, and this run creates none");
  model->to(dev);  // before the optimizer, whose momentum buffers live beside the parameters
  Sgd opt(*model, cfg.momentum, cfg.weight_decay);
  if (cfg.lr_head > 0) opt.set_lr_scale(cfg.new_params, cfg.lr_head / cfg.lr);
  int start_epoch = 0, best_epoch = 0;
  double best_top1 = -1;
  std::string history;
  if (!ckpt_path.empty()) {
    load_state(*model, ckpt.model, ckpt_path);
    opt.load_momentum_state(ckpt.momentum, ckpt_path);
    start_epoch = ckpt.epoch;
    best_top1 = ckpt.best_top1;
    best_epoch = ckpt.best_epoch;
    history = ckpt.history;
    if (lead) repair_run_folder(run, ckpt, ckpt_path);
  } else if (lead) {
    for (const fs::path& f : {run.metrics(), run.best(), run.result()}) fs::remove(f);
  }
  if (comm) {
    // Every rank starts from rank 0's weights, as DDP does (the seed makes them equal anyway).
    torch::NoGradGuard ng;
    for (Tensor t : model->parameters()) comm->broadcast(t, 0);
    for (Tensor t : model->buffers()) comm->broadcast(t, 0);
  }

  if (lead)
  std::fprintf(stderr,
               "denseshift train: %s %s\n  data %s | %s\n  %s, %d classes | augment %s | normalize mean %s std %s\n"
               "  epochs %d, batch %d, lr %g, momentum %g, wd %g, seed %llu\n"
               "  device %s, %d threads, %d workers | %lld parameters | out %s%s\n",
               cfg.arch.c_str(), describe_policy(cfg.policy).c_str(), train_set.describe().c_str(),
               test_set.describe().c_str(), shape_text(cfg.in_channels, cfg.in_h, cfg.in_w).c_str(), cfg.num_classes,
               cfg.augment.c_str(), floats_text(cfg.mean).c_str(), floats_text(cfg.std).c_str(), cfg.epochs,
               cfg.batch_size, cfg.lr, cfg.momentum, cfg.weight_decay, (unsigned long long)cfg.seed, cfg.device.c_str(),
               cfg.threads, cfg.workers, (long long)parameter_count(*model), cfg.out.c_str(),
               ckpt_path.empty() ? "" : (" | resuming after epoch " + std::to_string(start_epoch)).c_str());
  if (lead && cfg.latent_std != kLvriStd)
    std::fprintf(stderr, "  latent init N(0, %g) (--latent-std; the paper's LVRI is N(0, 1e-3))\n", cfg.latent_std);
  if (lead && !init_text.empty()) std::fprintf(stderr, "%s", init_text.c_str());
  if (lead && !frozen.empty())
    std::fprintf(stderr, "  frozen: %zu parameters (%s%s)\n", frozen.size(), frozen.front().c_str(), frozen.size() > 1 ? ", ..." : "");
  if (lead && comm)
    std::fprintf(stderr, "  data parallel: %d ranks (%s), %d images per rank per step, %s BatchNorm statistics\n",
                 comm->size(), comm->backend().c_str(), cfg.batch_size / comm->size(),
                 cfg.dist.sync_bn ? "synchronized" : "per-rank");

  data::Loader loader(train_set, cfg.batch_size, /*shuffle=*/true, /*drop_last=*/false, cfg.seed, cfg.workers);
  if (comm) loader.shard(comm->rank(), comm->size());
  std::unique_ptr<dist::GradSync> grad_sync;
  if (comm) {
    std::vector<std::pair<std::string, Tensor>> params;
    for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
    grad_sync = std::make_unique<dist::GradSync>(*comm, params);
  }
  FreezeTracker freeze(*model);
  std::unique_ptr<Diagnostics> diag;  // --diagnostics: null (and free) when off
  if (cfg.diagnostics && lead) {
    diag = std::make_unique<Diagnostics>(*model, fs::path(cfg.out) / "diagnostics.jsonl");
    if (start_epoch == 0) fs::remove(fs::path(cfg.out) / "diagnostics.jsonl"), diag->end_epoch(0);
  }
  TrainResult result;
  result.out_dir = cfg.out;
  std::vector<double> step_ms;
  const auto run_start = std::chrono::steady_clock::now();
  auto last_good = [&] { return fs::exists(run.last()) ? run.last().string() : std::string("none"); };

  const int end_epoch = cfg.stop_after > 0 ? std::min(cfg.epochs, start_epoch + cfg.stop_after) : cfg.epochs;
  for (int epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const double lr = cosine_lr(cfg.lr, epoch, cfg.epochs);
    model->train();
    freeze.snapshot();
    if (diag) diag->begin_epoch();
    loader.start_epoch(epoch);
    size_t steps = loader.batches_per_epoch();
    if (cfg.max_steps > 0) steps = std::min<size_t>(steps, size_t(cfg.max_steps));
    Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + " train", steps);
    double loss_sum = 0, hits = 0, images = 0, allreduce_ms = 0;
    size_t step = 0;
    data::Batch b;
    while (step < steps && loader.next(b)) {
      auto t0 = std::chrono::steady_clock::now();
      auto t = to_tensors(b, dev);
      Tensor logits = model->forward_train(t.x, b.keys);
      Tensor loss = torch::cross_entropy_loss(logits, t.y);
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw TrainError(who + "loss is " + std::string(std::isnan(l) ? "NaN" : "infinite") + " at epoch " +
                         std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
                         ": stopping instead of training on garbage (lower --lr, or check the data); last good checkpoint: " +
                         last_good());
      opt.zero_grad();
      if (grad_sync) grad_sync->prepare();
      loss.backward();
      if (grad_sync) grad_sync->finish(), allreduce_ms += grad_sync->last_wait_ms();
      if (diag) diag->after_backward();
      opt.step(lr);
      step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      loss_sum += l * b.n;
      hits += double(logits.argmax(1).eq(t.y).sum().item<int64_t>());
      images += b.n;
      ++step;
      if (!cfg.quiet) bar.update(step, size_t(images), loss_sum / images, 100.0 * hits / images);
    }
    const double train_time = bar.elapsed();
    if (comm) {
      const std::vector<double> all = comm->sum({loss_sum, hits, images});
      loss_sum = all[0], hits = all[1], images = all[2];
    }
    images = std::max(images, 1.0);
    if (!cfg.quiet) bar.finish(size_t(images), loss_sum / images, 100.0 * hits / images);

    // A finite loss does not prove finite weights (a step can blow up after the loss was taken):
    // weights that are not finite never become a checkpoint that calls itself good.
    NamedTensors state = state_of(*model);
    const std::string bad = first_nonfinite(state);
    if (!bad.empty())
      throw TrainError(who + "the weights diverged at epoch " + std::to_string(epoch + 1) + ": '" + bad +
                       "' holds NaN or infinite values (lower --lr); not saving them; last good checkpoint: " + last_good());

    EvalResult ev = evaluate(*model, test_set, cfg, dev, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + " test ",
                             comm.get());
    const bool is_best = ev.top1 > best_top1;
    if (is_best) best_top1 = ev.top1, best_epoch = epoch + 1;

    json line = {{"epoch", epoch + 1},
                 {"lr", lr},
                 {"train_loss", loss_sum / images},
                 {"train_top1", 100.0 * hits / images},
                 {"val_loss", ev.loss},
                 {"top1", ev.top1},
                 {"top5", ev.top5},
                 {"epoch_time_s", train_time + ev.seconds},
                 {"train_images_per_s", train_time > 0 ? images / train_time : 0.0},
                 {"ranks", comm ? comm->size() : 1},
                 {"allreduce_wait_ms_per_step", step > 0 ? allreduce_ms / double(step) : 0.0},
                 {"freeze", freeze.measure()}};
    history += line.dump() + "\n";
    Checkpoint c;
    c.epoch = epoch + 1, c.best_top1 = best_top1, c.best_epoch = best_epoch, c.config_json = config_to_json(cfg);
    c.model = std::move(state), c.momentum = opt.momentum_state(), c.history = history;
    // best.pt, then last.pt, then metrics.jsonl: see run_folder.h for why this order survives a crash.
    if (lead) {
      if (is_best) save_checkpoint(c, run.best().string());
      save_checkpoint(c, run.last().string());
      write_metrics(run, history);
      if (diag) diag->end_epoch(epoch + 1);
    }
    if (lead)
      std::fprintf(stderr, "epoch %d/%d: train loss %.4f | test top-1 %.2f%% top-5 %.2f%% | lr %.5f | %s%s\n", epoch + 1,
                 cfg.epochs, loss_sum / images, ev.top1, ev.top5, lr,
                 format_duration(train_time + ev.seconds).c_str(), is_best ? " | best so far" : "");
    result.final_eval = ev;
    result.epochs = epoch + 1;
  }
  if (result.epochs == 0 && start_epoch >= cfg.epochs) {
    result.epochs = start_epoch;
    result.final_eval = evaluate(*model, test_set, cfg, dev, "test ", comm.get());
  }
  result.best_top1 = best_top1;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    result.ms_per_step = step_ms[step_ms.size() / 2];
  }
  json res = {{"arch", cfg.arch}, {"method", spec_name(cfg.policy.body)}, {"epochs", result.epochs},
              {"top1", result.final_eval.top1}, {"top5", result.final_eval.top5}, {"best_top1", best_top1},
              {"best_epoch", best_epoch}, {"seconds", result.seconds}, {"ms_per_step", result.ms_per_step}};
  if (lead) write_text_atomic(run.result(), res.dump(2) + "\n");
  return result;
}

TrainedModel load_trained_model(const std::string& checkpoint, const TrainConfig& over) {
  TrainedModel t;
  t.path = checkpoint_file(checkpoint);
  Checkpoint ckpt = load_checkpoint(t.path);
  t.epoch = ckpt.epoch;
  t.cfg = config_from_json(ckpt.config_json, t.path);
  TrainConfig& cfg = t.cfg;
  if (!over.data.empty()) cfg.data = fs::absolute(over.data).lexically_normal().string();
  cfg.workers = over.workers, cfg.threads = over.threads, cfg.device = over.device, cfg.quiet = over.quiet;
  if (over.batch_size > 0) cfg.batch_size = over.batch_size;
  if (over.eval_limit > 0) cfg.eval_limit = over.eval_limit;
  apply_machine_defaults(cfg);
  for (const auto& [name, tensor] : ckpt.model) {
    // conv1 is [out, in, kh, kw] (or [rows, out, in, kh, kw] as latents); fc is [classes, in] (or [rows, ...]).
    if (cfg.in_channels == 0 && (name == "conv1.weight" || name == "conv1.latents")) cfg.in_channels = int(tensor.size(-3));
    if (cfg.num_classes == 0 && (name == "fc.weight" || name == "fc.latents")) cfg.num_classes = int(tensor.size(-2));
  }
  if (cfg.in_channels == 0 || cfg.num_classes == 0)
    throw TrainError(t.path + ": cannot tell the model's input channels and classes (no conv1 / fc weights)");
  t.model = make_model(ModelConfig{cfg.arch, cfg.in_channels, cfg.num_classes, cfg.policy, cfg.audio});
  load_state(*t.model, ckpt.model, t.path);
  t.model->eval();
  return t;
}

void complete_data_settings(TrainConfig& cfg, const std::string& source) {
  if (cfg.in_h > 0 && !cfg.mean.empty() && !cfg.class_names.empty()) return;
  check_data_exists(cfg, source);
  if (cfg.mean.empty()) {
    const data::Normalization n = legacy_normalization(data::detect_kind(data_root(cfg)));
    cfg.mean = n.mean, cfg.std = n.std;
  }
  open_splits(cfg, /*need_train=*/false);
}

EvalResult evaluate_checkpoint(const std::string& checkpoint, const TrainConfig& over) {
  TrainedModel t = load_trained_model(checkpoint, over);
  if (over.data.empty()) check_data_exists(t.cfg, t.path);
  configure_threads(t.cfg.threads);
  const torch::Device dev = parse_device(t.cfg.device);
  if (t.cfg.mean.empty()) complete_data_settings(t.cfg, t.path);
  Splits splits = open_splits(t.cfg, /*need_train=*/false);
  t.model->to(dev);
  return evaluate(*t.model, *splits.test, t.cfg, dev, "test ");
}

}  // namespace ds
