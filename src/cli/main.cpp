// denseshift: command-line entry point.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "cli/engine_commands.h"
#include "cli/launcher.h"
#include "data/dataset.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace {

struct TrainArgs {
  ds::TrainConfig cfg;
  std::string method = "denseshift";
  int bits = 3;
  std::string first = "fp32", last = "fp32";
  std::vector<std::string> layers;
  std::string resume;
  bool evaluate = false, no_augment = false;
  int nproc_per_node = 0;
  CLI::App* cmd = nullptr;
};

// CLI11's range checks let NaN through (every comparison with NaN is false).
const CLI::Validator kPositive(
    [](const std::string& s) {
      double v = std::stod(s);
      return std::isfinite(v) && v > 0 ? std::string() : "must be a finite number above 0, got " + s;
    },
    "POSITIVE");
const CLI::Validator kNonNegative(
    [](const std::string& s) {
      double v = std::stod(s);
      return std::isfinite(v) && v >= 0 ? std::string() : "must be a finite number >= 0, got " + s;
    },
    "NON-NEGATIVE");
const CLI::Validator kFraction(
    [](const std::string& s) {
      double v = std::stod(s);
      return std::isfinite(v) && v >= 0 && v < 1 ? std::string() : "must be in [0, 1), got " + s;
    },
    "[0,1)");

void add_train(CLI::App& app, TrainArgs& a) {
  auto* t = app.add_subcommand("train", "Train a network (DenseShift or a baseline) on a dataset");
  a.cmd = t;
  auto& c = a.cfg;
  t->add_option("DATA", c.data,
                "Dataset folder: ImageNet-style (train/ val/), CIFAR-10/100 binary, or IDX (MNIST layout). "
                "Default: the built-in Fashion-MNIST (" + ds::default_data_dir() + "). With --resume: a new location "
                "of the run's dataset (same classes and image size)");
  t->add_option("--arch", c.arch, "resnet18|34|50, resnet20|32|44|56, smallcnn (default: by dataset)");
  t->add_option("--method", a.method, "denseshift, fp32, deepshift-q, shift-with-zero")->capture_default_str();
  t->add_option("--bits", a.bits, "bits per quantized weight, 2..5")->capture_default_str()->check(CLI::Range(2, 5));
  t->add_option("--first", a.first, "spec of the first conv, e.g. fp32 or denseshift:4")->capture_default_str();
  t->add_option("--last", a.last, "spec of the last fc")->capture_default_str();
  t->add_option("--layer", a.layers, "per-layer override NAME=METHOD:BITS (repeatable), e.g. layer1.0.conv1=denseshift:4");
  t->add_option("--epochs", c.epochs, "epochs (default: 200 ImageNet/CIFAR, 20 IDX, 4 built-in)")->check(CLI::Range(1, 1000000));
  t->add_option("--batch-size", c.batch_size, "batch size (default: 256 ImageNet, 128 otherwise)")->check(CLI::Range(1, 1 << 20));
  t->add_option("--lr", c.lr, "initial learning rate (cosine schedule stepped per epoch)")->capture_default_str()->check(kPositive);
  t->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str()->check(kFraction);
  t->add_option("--wd", c.weight_decay, "weight decay on all parameters")->capture_default_str()->check(kNonNegative);
  t->add_option("--augment", c.augment,
                "training augmentation: none, crop (pad 4 + random crop; ImageFolder: RandomResizedCrop), crop-flip "
                "(+ horizontal flip), imagenet (ImageFolder: RandomResizedCrop + flip). Default by dataset: IDX crop "
                "(digits must not be mirrored), CIFAR crop-flip, ImageFolder imagenet");
  t->add_flag("--no-augment", a.no_augment, "the same as --augment none");
  t->add_option("--workers", c.workers, "data-loading threads (default: one per core)")->check(CLI::Range(0, 256));
  t->add_option("--threads", c.threads, "compute threads (default: all cores)")->check(CLI::Range(1, 1024));
  t->add_option("--seed", c.seed, "seed for init, order and augmentation")->capture_default_str();
  t->add_option("--resume", a.resume, "continue from a checkpoint file or run folder");
  t->add_flag("--evaluate", a.evaluate, "only evaluate the --resume checkpoint on the test split");
  t->add_option("--out", c.out, "run folder for checkpoints and metrics (default: runs/ARCH-METHODBITS)");
  t->add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  t->add_flag("--fresh", c.fresh, "replace an existing run in --out");
  t->add_option("--train-limit", c.train_limit, "use only N training samples (spread over the set)")->check(CLI::Range(int64_t(1), INT64_MAX));
  t->add_option("--eval-limit", c.eval_limit, "use only N test samples")->check(CLI::Range(int64_t(1), INT64_MAX));
  t->add_option("--max-steps", c.max_steps, "stop each epoch after N steps (smoke runs, benchmarks)")->check(CLI::Range(int64_t(1), INT64_MAX));
  t->add_option("--stop-after", c.stop_after, "leave after N epochs of this call (continue later with --resume)")->check(CLI::Range(1, 1000000));
  t->add_flag("--quiet", c.quiet, "no progress bars");
  t->add_option("--latent-std", c.latent_std,
                "std of the DenseShift / shift-with-zero latent init N(0, std) (default 1e-3: the paper's LVRI; "
                "other values depart from it)")
      ->check(kPositive);
  t->add_flag("--diagnostics", c.diagnostics,
              "write RUN/diagnostics.jsonl: per epoch and quantized layer the code histogram, per latent the "
              "sign flips, mean |gradient| and fraction with gradient");

  // Starting from trained weights (README "Fine-tuning and importing PyTorch models").
  t->add_option("--init-from", c.init.source,
                "start from trained weights: a denseshift checkpoint or run folder, a torch.save state_dict "
                "(torchvision names), or a TorchScript file");
  t->add_option("--init-latents", c.init.latents,
                "quantized layers from FP32 weights: lvri (ignore them: low-variance random latents, the paper's "
                "choice) or project (nearest power of two after a per-layer scale)")
      ->capture_default_str()
      ->check(CLI::IsMember({"lvri", "project"}));
  t->add_option("--new-layer-init", c.init.new_layers,
                "layers --init-from creates: lvri (N(0, 1e-3)) or kaiming (Kaiming normal; projected when quantized)")
      ->capture_default_str()
      ->check(CLI::IsMember({"lvri", "kaiming"}));
  t->add_flag("--allow-partial", c.init.allow_partial, "re-create layers the source cannot fill instead of failing");
  t->add_option("--reinit", c.init.reinit, "re-create layer NAME even when the source has it (repeatable), e.g. fc");
  t->add_option("--freeze", c.freeze, "keep parameters matching PATTERN fixed (shell glob, repeatable), e.g. 'layer*'");
  t->add_option("--lr-head", c.lr_head, "learning rate of the layers --init-from creates (default: --lr)")->check(kPositive);

  // Data-parallel training on c10d (README "Training on many GPUs and machines").
  auto& d = c.dist;
  t->add_option("--nproc-per-node", a.nproc_per_node,
                "start N worker processes on this machine (data parallel; CPU threads and data workers divided)")
      ->check(CLI::Range(1, 1024));
  t->add_option("--world-size", d.world_size, "processes in the run (default: WORLD_SIZE or SLURM_NTASKS, else 1)")
      ->check(CLI::Range(1, 65536));
  t->add_option("--rank", d.rank, "this process's rank (default: RANK or SLURM_PROCID)")->check(CLI::Range(0, 65535));
  t->add_option("--dist-url", d.init, "rendezvous: tcp://HOST:PORT (rank 0 serves it) or file:///shared/path "
                                      "(default: MASTER_ADDR:MASTER_PORT)");
  t->add_option("--dist-backend", d.backend, "gloo (CPU) or nccl (CUDA builds) (default: by device)");
  t->add_option("--dist-timeout", d.timeout_s, "seconds to wait for the other ranks at the rendezvous and in every "
                                               "collective before failing")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  t->add_flag("--sync-bn", d.sync_bn, "BatchNorm statistics over all ranks (default: per rank, as DDP)");
}

// The flags the user typed, by name (CLI11 counts each option's occurrences).
std::set<std::string> given_flags(const CLI::App& cmd) {
  std::set<std::string> out;
  for (const CLI::Option* o : cmd.get_options()) {
    if (o->count() == 0) continue;
    std::string name = o->get_name(false, true);  // "--lr", or "DATA" for the positional
    if (name.find(',') != std::string::npos) name = name.substr(0, name.find(','));
    out.insert(name);
  }
  return out;
}

int run_train(TrainArgs& a) {
  const std::set<std::string> given = given_flags(*a.cmd);
  a.cfg.dist.forced = given.count("--world-size") > 0;
  ds::dist::resolve_from_environment(a.cfg.dist, given);
  if (a.no_augment) {
    if (given.count("--augment") && a.cfg.augment != "none")
      throw std::invalid_argument("--no-augment and --augment " + a.cfg.augment + " contradict each other");
    a.cfg.augment = "none";
  }
  if (!a.cfg.augment.empty()) ds::data::parse_augment(a.cfg.augment);  // an unknown name fails before any work
  auto& p = a.cfg.policy;
  p.body = ds::parse_spec(a.method + ":" + std::to_string(a.bits));
  p.first = ds::parse_spec(a.first);
  p.last = ds::parse_spec(a.last);
  for (const auto& l : a.layers) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--layer expects NAME=METHOD:BITS, got '" + l + "'");
    const std::string name = l.substr(0, eq);
    if (p.overrides.count(name)) throw std::invalid_argument("--layer " + name + " is given twice");
    p.overrides[name] = ds::parse_spec(l.substr(eq + 1));
  }
  if (a.evaluate) {
    if (a.resume.empty()) throw std::invalid_argument("--evaluate needs --resume CHECKPOINT");
    ds::check_evaluate_flags(given);
    auto r = ds::evaluate_checkpoint(a.resume, a.cfg);
    std::printf("top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%zu images, %.1f s)\n", r.top1, r.top5, r.loss, r.images, r.seconds);
    return 0;
  }
  auto r = ds::run_training(a.cfg, a.resume, given);
  if (a.cfg.dist.rank == 0)
    std::printf("final test top-1 %.2f%%  top-5 %.2f%%  (best %.2f%%)  %d epochs in %.1f s  -> %s\n", r.final_eval.top1,
              r.final_eval.top5, r.best_top1, r.epochs, r.seconds, r.out_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"denseshift: train and deploy zero-free low-bit power-of-two networks"};
  app.require_subcommand(1);
  TrainArgs train;
  add_train(app, train);
  ds::cli::EngineArgs engine;
  ds::cli::add_engine_commands(app, engine);
  CLI11_PARSE(app, argc, argv);
  try {
    // The launcher runs this same command line in N workers (the flags were checked above).
    if (app.got_subcommand("train") && train.nproc_per_node > 0) return ds::cli::run_workers(ds::cli::plan_launch(argc, argv));
    if (app.got_subcommand("train")) return run_train(train);
    if (app.got_subcommand("export")) return ds::cli::run_export(engine);
    // eval, infer, bench, info: shared with denseshift-run; eval --against uses the trainer.
    if (int rc = ds::cli::run_deploy_command(app, engine.deploy, ds::cli::trainer_logits); rc >= 0) return rc;
  } catch (const c10::Error& e) {
    // libtorch's own errors carry a C++ backtrace that tells a user nothing: keep the message.
    std::fprintf(stderr, "denseshift: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "denseshift: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
