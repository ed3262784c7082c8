// Training-step speed: resnet20, batch 128, 1x28x28 (Fashion-MNIST), DenseShift 3-bit vs FP32.
//
// Baseline and candidate are interleaved (FP32, DenseShift, FP32, DenseShift, ...) so machine
// noise hits both alike; the summary prints the median ms/step of each and their ratio.
// Run: build/bench/bench_train_step [--reps N] [--steps N] [--threads N] [--arch NAME]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "train/models.h"
#include "train/sgd.h"
#include "train/trainer.h"

namespace {

struct Options {
  int reps = 5, steps = 10, threads = 0;
  std::string arch = "resnet20";
};

struct Fixture {
  std::shared_ptr<ds::NetImpl> model;
  std::unique_ptr<ds::Sgd> opt;
  torch::Tensor x, y;
};

Fixture make_fixture(const std::string& arch, ds::QuantSpec body) {
  torch::manual_seed(0);
  ds::ModelConfig cfg;
  cfg.arch = arch, cfg.in_channels = 1, cfg.num_classes = 10, cfg.policy.body = body;
  Fixture f;
  f.model = ds::make_model(cfg);
  f.model->train();
  f.opt = std::make_unique<ds::Sgd>(*f.model, 0.9, 1e-4);
  f.x = torch::randn({128, 1, 28, 28});
  f.y = torch::randint(0, 10, {128});
  return f;
}

void step(Fixture& f) {
  auto loss = torch::cross_entropy_loss(f.model->forward(f.x), f.y);
  f.opt->zero_grad();
  loss.backward();
  f.opt->step(0.01);
}

// Collects ms/step per method across repetitions.
class Collector : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::vector<double>> ms;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      std::string name = r.benchmark_name();
      ms[name.substr(0, name.find('/'))].push_back(r.GetAdjustedRealTime());
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : argv[i]; };
    if (!std::strcmp(argv[i], "--reps")) o.reps = std::atoi(next());
    else if (!std::strcmp(argv[i], "--steps")) o.steps = std::atoi(next());
    else if (!std::strcmp(argv[i], "--threads")) o.threads = std::atoi(next());
    else if (!std::strcmp(argv[i], "--arch")) o.arch = next();
    else rest.push_back(argv[i]);
  }
  ds::configure_threads(o.threads);
  const std::pair<std::string, ds::QuantSpec> methods[] = {{"fp32", {ds::Method::kFp32, 3}},
                                                           {"denseshift3", {ds::Method::kDenseShift, 3}}};
  std::map<std::string, Fixture> fixtures;
  for (const auto& [name, spec] : methods) {
    fixtures[name] = make_fixture(o.arch, spec);
    step(fixtures[name]);  // warm-up: allocator, thread pool, first-touch
  }
  for (int r = 0; r < o.reps; ++r)
    for (const auto& [name, spec] : methods) {
      Fixture* f = &fixtures[name];
      benchmark::RegisterBenchmark((name + "/rep" + std::to_string(r)).c_str(),
                                   [f](benchmark::State& st) {
                                     for (auto _ : st) step(*f);
                                   })
          ->Iterations(o.steps)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  int n = int(rest.size());
  benchmark::Initialize(&n, rest.data());
  Collector rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  double fp = median(rep.ms["fp32"]), dsm = median(rep.ms["denseshift3"]);
  std::printf("\n%s batch 128 1x28x28, %d threads, median of %d reps x %d steps:\n", o.arch.c_str(),
              torch::get_num_threads(), o.reps, o.steps);
  std::printf("  fp32         %8.1f ms/step\n  denseshift3  %8.1f ms/step\n  ratio        %8.3f (goal <= 1.05)\n", fp, dsm,
              dsm / fp);
  return 0;
}
