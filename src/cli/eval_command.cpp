// `eval`: top-1, top-5, per-class top-1 and the confusion matrix of a model on a test split, per
// kernel; with a ReferenceLogits (`denseshift eval --against CHECKPOINT`), agreement with the trainer.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "cli/deploy_util.h"
#include "data/dataset.h"
#include "runtime/audio_frontend.h"

namespace ds::cli {
namespace {

struct EvalNumbers {
  double top1 = 0, top5 = 0, images_per_s = 0;
  size_t images = 0;
  std::vector<std::vector<size_t>> confusion;  // [true class][predicted class]: image counts
};

EvalNumbers eval_engine(const rt::Engine& e, const data::Dataset& ds, int batch, const std::string& model,
                        std::vector<float>* all_logits) {
  const auto& info = e.info();
  data::Loader loader(ds, batch, false, false, 1, 2);
  loader.start_epoch(0);
  data::Batch b;
  EvalNumbers r;
  const int C = int(info.num_classes);
  r.confusion.assign(size_t(C), std::vector<size_t>(size_t(C), 0));
  size_t hit1 = 0, hit5 = 0, bad = 0;
  double ms = 0;
  // Speech models: the dataset yields waveforms; the engine's front end makes the features, and
  // its time counts in the speed (a deployed model pays it per clip).
  std::optional<rt::LogMel> front;
  if (info.audio) front.emplace(*info.audio);
  std::vector<float> features;
  while (loader.next(b)) {
    double t0 = now_ms();
    const float* x = b.x.data();
    if (front) {
      const size_t in = size_t(info.in_c) * info.in_h * info.in_w, clip = info.audio->clip_samples;
      features.resize(size_t(b.n) * in);
      for (size_t i = 0; i < size_t(b.n); ++i) front->compute(b.x.data() + i * clip, features.data() + i * in);
      x = features.data();
    }
    std::vector<float> logits = e.run(x, b.n);
    ms += now_ms() - t0;
    bad += rt::count_non_finite_rows(logits.data(), size_t(b.n), size_t(C));
    if (all_logits) all_logits->insert(all_logits->end(), logits.begin(), logits.end());
    for (int i = 0; i < b.n; ++i) {
      const float* l = logits.data() + size_t(i) * C;
      const int y = b.y[size_t(i)];
      const float mine = l[y];
      int better = 0;  // classes scored above the true one (ties go to the lower index, as argmax does)
      for (int c = 0; c < C; ++c) better += l[c] > mine || (l[c] == mine && c < y);
      hit1 += better == 0;
      hit5 += better < 5;
      r.confusion[size_t(y)][size_t(std::max_element(l, l + C) - l)]++;  // the first largest: argmax
    }
    r.images += size_t(b.n);
  }
  check_finite(bad, r.images, model, e);
  if (r.images == 0) throw std::runtime_error(ds.describe() + ": the test split has no images");
  r.top1 = 100.0 * double(hit1) / double(r.images);
  r.top5 = 100.0 * double(hit5) / double(r.images);
  r.images_per_s = 1000.0 * double(r.images) / ms;
  return r;
}

// Same predicted class (fraction) and the largest |engine - trainer| / max(1, |trainer|).
std::pair<double, double> agreement(const std::vector<float>& a, const std::vector<float>& b, int C) {
  const size_t n = a.size() / size_t(C);
  size_t same = 0;
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const float *x = a.data() + i * size_t(C), *y = b.data() + i * size_t(C);
    same += std::max_element(x, x + C) - x == std::max_element(y, y + C) - y;
    for (int j = 0; j < C; ++j) worst = std::max(worst, std::abs(double(x[j]) - y[j]) / std::max(1.0, std::abs(double(y[j]))));
  }
  return {double(same) / double(n), worst};
}

// The dataset eval reads: DATA, or the one the model records (format version 2 on).
std::string eval_root(const DeployArgs& a, const core::ModelInfo& info) {
  if (!a.data.empty()) return a.data;
  if (info.dataset.empty())
    throw std::invalid_argument(a.model + " does not record the dataset it was trained on (written by an older denseshift): give DATA");
  if (!std::filesystem::exists(info.dataset))
    throw std::invalid_argument(a.model + " was trained on " + info.dataset + ", which does not exist here: give DATA");
  return info.dataset;
}

// The test split of `root` as the model reads it: the model's normalization, and labels indexing
// the model's classes (by name; "0".."C-1" when it has none), so a label beyond them is an error.
std::unique_ptr<data::Dataset> open_for_model(const std::string& root, const core::ModelInfo& info, const std::string& model) {
  std::vector<std::string> classes = info.class_names;
  if (classes.empty())
    for (uint32_t c = 0; c < info.num_classes; ++c) classes.push_back(std::to_string(c));
  const bool speech = data::is_speech(data::detect_kind(root));
  if (speech != bool(info.audio))
    throw std::invalid_argument(root + " holds " + (speech ? "audio" : "pictures") + ", " + model + " takes " +
                                (info.audio ? "audio" : "pictures"));
  auto ds = data::open_dataset(root, data::Split::kTest,
                               data::OpenOptions{data::Augment::kNone, {info.mean, info.std}, classes}, info.audio);
  const data::Shape s = ds->sample_shape();
  // A speech dataset yields the waveforms the model's front end takes.
  const data::Shape want = info.audio ? data::Shape{1, 1, int(info.audio->clip_samples)}
                                      : data::Shape{int(info.in_c), int(info.in_h), int(info.in_w)};
  if (s.c != want.c || s.h != want.h || s.w != want.w)
    throw std::invalid_argument(root + ": samples are " + shape_text(uint32_t(s.c), uint32_t(s.h), uint32_t(s.w)) + ", " +
                                model + " takes " + shape_text(uint32_t(want.c), uint32_t(want.h), uint32_t(want.w)));
  return ds;
}

// Top-1 within each true class: -1 for a class with no test images (no accuracy to report).
double class_top1(const EvalNumbers& n, size_t c) {
  size_t total = 0;
  for (size_t v : n.confusion[c]) total += v;
  return total == 0 ? -1.0 : 100.0 * double(n.confusion[c][c]) / double(total);
}

}  // namespace

int run_eval(const DeployArgs& a, const ReferenceLogits& reference) {
  if (!a.against.empty() && !reference)
    throw std::invalid_argument("--against " + a.against + ": the trainer's logits need libtorch, which this binary "
                                "does not link; run `denseshift eval` for it");
  const rt::Engine first = probe(a, a.kernel);
  const core::ModelInfo& info = first.info();
  check_batch(first, a.batch, a.model);
  const std::string root = eval_root(a, info);
  auto ds = open_for_model(root, info, a.model);
  const std::vector<float> ref = a.against.empty() ? std::vector<float>() : reference(a.against, *ds);
  const size_t C = info.num_classes;
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& kernel : kernel_choices(first, a.kernel)) {
    const rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{kernel, a.threads});
    std::vector<float> logits;
    const EvalNumbers n = eval_engine(e, *ds, a.batch, a.model, ref.empty() ? nullptr : &logits);
    std::pair<double, double> vs{0, 0};
    if (!ref.empty()) vs = agreement(logits, ref, int(C));
    if (a.format == "json") {
      nlohmann::json per_class = nlohmann::json::array();
      for (size_t c = 0; c < C; ++c) {
        size_t total = 0;
        for (size_t v : n.confusion[c]) total += v;
        const double t = class_top1(n, c);
        per_class.push_back({{"class", class_name(info, c)}, {"images", total}, {"top1", t < 0 ? nlohmann::json() : nlohmann::json(t)}});
      }
      nlohmann::json r = {{"kernel", e.kernel().name}, {"threads", e.threads()},   {"images", n.images},
                          {"top1", n.top1},           {"top5", n.top5},           {"images_per_s", n.images_per_s},
                          {"per_class", per_class},   {"confusion", n.confusion}};
      if (!ref.empty()) r["vs_trainer"] = {{"same_class", vs.first}, {"max_logit_diff_relative", vs.second}};
      results.push_back(r);
      continue;
    }
    std::printf("%-30s top-1 %.2f%%  top-5 %.2f%%  (%zu images, %.0f images/s, %d threads)", e.kernel().name, n.top1, n.top5,
                n.images, n.images_per_s, e.threads());
    if (!ref.empty()) std::printf("  | vs trainer: same class %.2f%%, max logit diff %.2e (relative)", 100.0 * vs.first, vs.second);
    std::string line = "\n  per-class top-1:";
    for (size_t c = 0; c < C; ++c) {
      const double t = class_top1(n, c);
      char buf[32] = " -";
      if (t >= 0) std::snprintf(buf, sizeof buf, " %.1f%%", t);
      line += std::string(c ? ", " : " ") + class_name(info, c) + buf;
    }
    std::printf("%s\n", line.c_str());
  }
  if (a.format == "json") {
    // The rows are true classes, the columns predicted ones; each row sums to that class's images.
    nlohmann::json out = {{"model", a.model}, {"dataset", root}, {"classes", nlohmann::json::array()}, {"results", results}};
    for (size_t c = 0; c < C; ++c) out["classes"].push_back(class_name(info, c));
    std::printf("%s\n", out.dump(2).c_str());
  }
  return 0;
}

}  // namespace ds::cli
