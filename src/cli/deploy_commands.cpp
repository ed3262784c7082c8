// The deployment subcommands' options and dispatch, and `bench`.
#include "cli/deploy_commands.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>

#include "cli/deploy_util.h"

namespace ds::cli {
namespace {

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

}  // namespace

void add_deploy_commands(CLI::App& app, DeployArgs& a) {
  const auto threads_range = CLI::Range(0, kMaxThreads);
  auto* ev = app.add_subcommand("eval", "Accuracy of a .dsm model on a dataset's test split, on the engine");
  ev->add_option("MODEL", a.model, "model file")->required();
  ev->add_option("DATA", a.data, "dataset folder (default: the one the model was trained on, as it records it)");
  ev->add_option("--kernel", a.kernel,
                 "kernel name, 'fastest', or 'all' for every supported one that can run the model (default: the multiply-free one)");
  ev->add_option("--threads", a.threads, "threads (default 0: all cores)")->check(threads_range);
  ev->add_option("--batch", a.batch, "batch size")->capture_default_str()->check(CLI::Range(1, kMaxBatch));
  ev->add_option("--format", a.format, "text (top-1, top-5, per-class top-1) or json (also the confusion matrix)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  ev->add_option("--against", a.against,
                 "checkpoint the model was exported from: also report agreement with the trainer's predictions and logits "
                 "(denseshift only: the trainer needs libtorch)");

  auto* in = app.add_subcommand("infer", "Top-k classes for images (JPEG/PNG) or the images of an IDX file");
  in->add_option("MODEL", a.model, "model file")->required();
  in->add_option("FILES", a.files, "JPEG, PNG or IDX image files (raw or gzip), told apart by their contents")->required();
  in->add_option("--top", a.top, "classes to show (at most the model's)")->capture_default_str()->check(CLI::Range(1, kMaxTop));
  in->add_option("--limit", a.limit, "images to take from an IDX file")->capture_default_str()->check(
      CLI::Range(1, std::numeric_limits<int>::max()));
  in->add_option("--kernel", a.kernel, "kernel name or 'fastest' (default: the multiply-free one)");
  in->add_option("--threads", a.threads, "threads (default 0: all cores)")->check(threads_range);
  in->add_option("--format", a.format, "text, json (one object) or csv (one row per input)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json", "csv"}));
  in->add_flag("--logits", a.logits, "also print every class's logit (before the softmax)");

  auto* be = app.add_subcommand("bench", "Latency and throughput of a .dsm model on the engine");
  be->add_option("MODEL", a.model, "model file")->required();
  be->add_option("--kernel", a.kernel, "kernel name, 'fastest', or 'all' (default: every supported one that can run the model)");
  be->add_option("--threads", a.threads, "threads (default 0: all cores)")->check(threads_range);
  be->add_option("--batch", a.batch, "the larger batch size (batch 1 is always measured)")->capture_default_str()->check(
      CLI::Range(1, kMaxBatch));
  be->add_option("--reps", a.reps, "timed runs per setting")->capture_default_str()->check(CLI::Range(1, kMaxReps));

  auto* info = app.add_subcommand("info", "What a .dsm model holds: graph, shapes, classes, preprocessing, bits, "
                                          "size per layer, and the kernels that can run it");
  info->add_option("MODEL", a.model, "model file")->required();
}

int run_deploy_command(const CLI::App& app, const DeployArgs& a, const ReferenceLogits& reference) {
  if (app.got_subcommand("eval")) return run_eval(a, reference);
  if (app.got_subcommand("infer")) return run_infer(a);
  if (app.got_subcommand("bench")) return run_bench(a);
  if (app.got_subcommand("info")) return run_info(a);
  return -1;
}

int run_bench(const DeployArgs& a) {
  const std::string name = a.kernel.empty() ? "all" : a.kernel;
  const rt::Engine first = probe(a, name);
  check_batch(first, a.batch, a.model);
  std::printf("%-30s %7s %12s %12s %14s\n", "kernel", "batch", "median ms", "p90 ms", "images/s");
  for (const std::string& kernel : kernel_choices(first, name)) {
    const rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{kernel, a.threads});
    const auto& info = e.info();
    for (int batch : {1, a.batch}) {
      std::vector<float> x(size_t(batch) * info.in_c * info.in_h * info.in_w);
      std::mt19937 rng(1);
      std::normal_distribution<float> nd;
      for (auto& v : x) v = nd(rng);
      e.run(x.data(), batch);  // warm-up
      std::vector<double> ms;
      for (int r = 0; r < a.reps; ++r) {
        double t0 = now_ms();
        e.run(x.data(), batch);
        ms.push_back(now_ms() - t0);
      }
      const double med = percentile(ms, 0.5);
      std::printf("%-30s %7d %12.3f %12.3f %14.1f\n", e.kernel().name, batch, med, percentile(ms, 0.9), 1000.0 * batch / med);
    }
  }
  return 0;
}

}  // namespace ds::cli
