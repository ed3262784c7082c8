// denseshift: command-line entry point.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/engine_commands.h"
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
  bool evaluate = false;
};

void add_train(CLI::App& app, TrainArgs& a) {
  auto* t = app.add_subcommand("train", "Train a network (DenseShift or a baseline) on a dataset");
  auto& c = a.cfg;
  t->add_option("DATA", c.data,
                "Dataset folder: ImageNet-style (train/ val/), CIFAR-10/100 binary, or IDX (MNIST layout). "
                "Default: the built-in Fashion-MNIST (" + ds::default_data_dir() + ")");
  t->add_option("--arch", c.arch, "resnet18|34|50, resnet20|32|44|56, smallcnn (default: by dataset)");
  t->add_option("--method", a.method, "denseshift, fp32, deepshift-q, shift-with-zero")->capture_default_str();
  t->add_option("--bits", a.bits, "bits per quantized weight, 2..5")->capture_default_str()->check(CLI::Range(2, 5));
  t->add_option("--first", a.first, "spec of the first conv, e.g. fp32 or denseshift:4")->capture_default_str();
  t->add_option("--last", a.last, "spec of the last fc")->capture_default_str();
  t->add_option("--layer", a.layers, "per-layer override NAME=METHOD:BITS (repeatable), e.g. layer1.0.conv1=denseshift:4");
  t->add_option("--epochs", c.epochs, "epochs (default: 200 ImageNet/CIFAR, 20 IDX, 4 built-in)");
  t->add_option("--batch-size", c.batch_size, "batch size (default: 256 ImageNet, 128 otherwise)");
  t->add_option("--lr", c.lr, "initial learning rate (cosine schedule stepped per epoch)")->capture_default_str();
  t->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  t->add_option("--wd", c.weight_decay, "weight decay on all parameters")->capture_default_str();
  t->add_option("--workers", c.workers, "data-loading threads (default: one per core)");
  t->add_option("--threads", c.threads, "compute threads (default: all cores)");
  t->add_option("--seed", c.seed, "seed for init, order and augmentation")->capture_default_str();
  t->add_option("--resume", a.resume, "continue from a checkpoint file or run folder");
  t->add_flag("--evaluate", a.evaluate, "only evaluate the --resume checkpoint on the test split");
  t->add_option("--out", c.out, "run folder for checkpoints and metrics (default: runs/ARCH-METHODBITS)");
  t->add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  t->add_flag("--fresh", c.fresh, "replace an existing run in --out");
  t->add_flag("--no-augment", [&c](int64_t) { c.augment = false; }, "turn training augmentation off");
  t->add_option("--train-limit", c.train_limit, "use only N training samples (spread over the set)");
  t->add_option("--eval-limit", c.eval_limit, "use only N test samples");
  t->add_option("--max-steps", c.max_steps, "stop each epoch after N steps (smoke runs, benchmarks)");
  t->add_option("--stop-after", c.stop_after, "leave after N epochs of this call (continue later with --resume)");
  t->add_flag("--quiet", c.quiet, "no progress bars");
}

int run_train(TrainArgs& a) {
  auto& p = a.cfg.policy;
  p.body = ds::parse_spec(a.method + ":" + std::to_string(a.bits));
  p.first = ds::parse_spec(a.first);
  p.last = ds::parse_spec(a.last);
  for (const auto& l : a.layers) {
    auto eq = l.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("--layer expects NAME=METHOD:BITS, got '" + l + "'");
    p.overrides[l.substr(0, eq)] = ds::parse_spec(l.substr(eq + 1));
  }
  if (a.evaluate) {
    if (a.resume.empty()) throw std::invalid_argument("--evaluate needs --resume CHECKPOINT");
    auto r = ds::evaluate_checkpoint(a.resume, a.cfg);
    std::printf("top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%zu images, %.1f s)\n", r.top1, r.top5, r.loss, r.images, r.seconds);
    return 0;
  }
  auto r = ds::run_training(a.cfg, a.resume);
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
    if (app.got_subcommand("train")) return run_train(train);
    if (app.got_subcommand("export")) return ds::cli::run_export(engine);
    if (app.got_subcommand("eval")) return ds::cli::run_eval(engine);
    if (app.got_subcommand("infer")) return ds::cli::run_infer(engine);
    if (app.got_subcommand("bench")) return ds::cli::run_bench(engine);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "denseshift: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
