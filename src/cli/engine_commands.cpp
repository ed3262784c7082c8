// The deployment commands: export (checkpoint -> .dsm), and eval / infer / bench on the
// libtorch-free engine.
#include "cli/engine_commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "core/codes.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/io.h"
#include "data/transform.h"
#include "runtime/engine.h"
#include "train/export.h"
#include "train/trainer.h"

namespace ds::cli {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<const kernels::KernelInfo*> kernels_for(const std::string& name) {
  std::vector<const kernels::KernelInfo*> out;
  if (name != "all") {
    out.push_back(&kernels::select_kernel(name));
    return out;
  }
  for (const auto& k : kernels::all_kernels())
    if (k.weights == kernels::WeightSet::kDenseShift && k.supported()) out.push_back(&k);
  return out;
}

struct EvalNumbers {
  double top1 = 0, top5 = 0, images_per_s = 0;
  size_t images = 0;
};

EvalNumbers eval_engine(const rt::Engine& e, const data::Dataset& ds, int batch, std::vector<float>* all_logits) {
  const data::Shape s = ds.sample_shape();
  const auto& info = e.info();
  if (uint32_t(s.c) != info.in_c || uint32_t(s.h) != info.in_h || uint32_t(s.w) != info.in_w)
    throw std::invalid_argument("dataset samples are " + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" +
                                std::to_string(s.w) + ", the model takes " + std::to_string(info.in_c) + "x" +
                                std::to_string(info.in_h) + "x" + std::to_string(info.in_w));
  data::Loader loader(ds, batch, false, false, 1, 2);
  loader.start_epoch(0);
  data::Batch b;
  EvalNumbers r;
  size_t hit1 = 0, hit5 = 0;
  double ms = 0;
  const int C = int(info.num_classes);
  while (loader.next(b)) {
    double t0 = now_ms();
    std::vector<float> logits = e.run(b.x.data(), b.n);
    ms += now_ms() - t0;
    if (all_logits) all_logits->insert(all_logits->end(), logits.begin(), logits.end());
    for (int i = 0; i < b.n; ++i) {
      const float* l = logits.data() + size_t(i) * C;
      const float mine = l[b.y[size_t(i)]];
      int better = 0;  // classes scored above the true one (ties go to the lower index, as argmax does)
      for (int c = 0; c < C; ++c) better += l[c] > mine || (l[c] == mine && c < b.y[size_t(i)]);
      hit1 += better == 0;
      hit5 += better < 5;
    }
    r.images += size_t(b.n);
  }
  r.top1 = 100.0 * double(hit1) / double(r.images);
  r.top5 = 100.0 * double(hit5) / double(r.images);
  r.images_per_s = 1000.0 * double(r.images) / ms;
  return r;
}

// The trainer's logits for every test image, on the CPU through libtorch, in dataset order.
std::vector<float> trainer_logits(const std::string& checkpoint, const data::Dataset& ds) {
  TrainConfig over;
  over.quiet = true;
  TrainedModel t = load_trained_model(checkpoint, over);
  const data::Shape s = ds.sample_shape();
  std::vector<float> out;
  data::Loader loader(ds, 256, false, false, 1, 2);
  loader.start_epoch(0);
  data::Batch b;
  torch::NoGradGuard ng;
  while (loader.next(b)) {
    torch::Tensor l = t.model->forward(torch::from_blob(b.x.data(), {b.n, s.c, s.h, s.w})).contiguous();
    out.insert(out.end(), l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  }
  return out;
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

// The images of an IDX file (MNIST layout), normalized with the model's mean/std.
std::vector<std::vector<float>> idx_images(const std::string& path, const core::ModelInfo& info, size_t limit) {
  std::vector<uint8_t> raw = data::detail::read_file(path, data::detail::kMaxDataBytes);
  if (data::detail::is_gzip(raw)) raw = data::detail::gunzip(raw, path, data::detail::kMaxDataBytes);
  auto be32 = [&](size_t o) { return uint32_t(raw[o]) << 24 | uint32_t(raw[o + 1]) << 16 | uint32_t(raw[o + 2]) << 8 | raw[o + 3]; };
  if (raw.size() < 16 || be32(0) != 0x803) throw std::invalid_argument(path + " is not an IDX image file");
  const size_t n = be32(4), h = be32(8), w = be32(12);
  if (h != info.in_h || w != info.in_w || info.in_c != 1)
    throw std::invalid_argument(path + ": images are 1x" + std::to_string(h) + "x" + std::to_string(w) + ", the model takes " +
                                std::to_string(info.in_c) + "x" + std::to_string(info.in_h) + "x" + std::to_string(info.in_w));
  if (raw.size() < 16 + n * h * w) throw std::invalid_argument(path + " is truncated");
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < std::min(n, limit); ++i) {
    std::vector<float> img(h * w);
    for (size_t p = 0; p < h * w; ++p) img[p] = (raw[16 + i * h * w + p] / 255.f - info.mean[0]) / info.std[0];
    out.push_back(std::move(img));
  }
  return out;
}

// A JPEG or PNG resized (shorter side) and center-cropped to the model's input, normalized.
std::vector<float> picture(const std::string& path, const core::ModelInfo& info) {
  data::Image img = data::decode_image(path);
  data::Transform t;
  const bool imagenet = info.in_h == 224 && info.in_w == 224;
  t.resize = imagenet ? 256 : int(info.in_h);
  t.crop = int(info.in_h);
  t.mean.assign(3, 0.f), t.std.assign(3, 1.f);
  std::vector<float> rgb(size_t(3) * info.in_h * info.in_w);
  std::mt19937 rng(0);
  data::apply_transform(t, img.view(), rgb.data(), rng);
  const size_t plane = size_t(info.in_h) * info.in_w;
  std::vector<float> out(size_t(info.in_c) * plane);
  for (uint32_t c = 0; c < info.in_c; ++c)
    for (size_t p = 0; p < plane; ++p) {
      // A grayscale model gets the luminance of a colour picture.
      const float v = info.in_c == 1 ? 0.299f * rgb[p] + 0.587f * rgb[plane + p] + 0.114f * rgb[2 * plane + p]
                                     : rgb[size_t(c) * plane + p];
      out[size_t(c) * plane + p] = (v - info.mean[c]) / info.std[c];
    }
  return out;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

}  // namespace

void add_engine_commands(CLI::App& app, EngineArgs& a) {
  auto* ex = app.add_subcommand("export", "Write a trained checkpoint as a compact .dsm model file");
  ex->add_option("CHECKPOINT", a.checkpoint, "checkpoint file or run folder")->required();
  ex->add_option("-o,--output", a.output, "model file to write")->required();
  ex->add_option("--data", a.data, "dataset for class names and input shape (default: the run's)");

  auto* ev = app.add_subcommand("eval", "Accuracy of a .dsm model on a dataset's test split, on the engine");
  ev->add_option("MODEL", a.model, "model file")->required();
  ev->add_option("DATA", a.data, "dataset folder (default: the built-in Fashion-MNIST)");
  ev->add_option("--kernel", a.kernel, "kernel name, 'fastest', or 'all' for every supported one (default: the multiply-free one)");
  ev->add_option("--threads", a.threads, "threads (default: all cores)");
  ev->add_option("--batch", a.batch, "batch size")->capture_default_str();
  ev->add_option("--against", a.against,
                 "checkpoint the model was exported from: also report agreement with the trainer's predictions and logits");

  auto* in = app.add_subcommand("infer", "Top-k classes for images (JPEG/PNG) or the images of an IDX file");
  in->add_option("MODEL", a.model, "model file")->required();
  in->add_option("FILES", a.files, "images or IDX image files")->required();
  in->add_option("--top", a.top, "classes to show")->capture_default_str();
  in->add_option("--limit", a.limit, "images to take from an IDX file")->capture_default_str();
  in->add_option("--kernel", a.kernel, "kernel name or 'fastest' (default: the multiply-free one)");

  auto* be = app.add_subcommand("bench", "Latency and throughput of a .dsm model on the engine");
  be->add_option("MODEL", a.model, "model file")->required();
  be->add_option("--kernel", a.kernel, "kernel name, 'fastest', or 'all' (default)");
  be->add_option("--threads", a.threads, "threads (default: all cores)");
  be->add_option("--batch", a.batch, "the larger batch size (batch 1 is always measured)")->capture_default_str();
  be->add_option("--reps", a.reps, "timed runs per setting")->capture_default_str();
}

int run_export(const EngineArgs& a) {
  ExportReport r = export_checkpoint(a.checkpoint, a.output, a.data);
  std::printf("wrote %s: %.3f MB (%zu quantized layers as packed codes, %zu FP32 layers)\n", r.path.c_str(),
              double(r.file_bytes) / 1e6, r.quantized_layers, r.fp32_layers);
  std::printf("the same network's FP32 weights: %.3f MB; the file is %.1fx smaller\n", double(r.fp32_weight_bytes) / 1e6,
              double(r.fp32_weight_bytes) / double(r.file_bytes));
  return 0;
}

int run_eval(const EngineArgs& a) {
  const std::string root = a.data.empty() ? default_data_dir() : a.data;
  auto ds = data::open_dataset(root, data::Split::kTest, false);
  const std::vector<float> ref = a.against.empty() ? std::vector<float>() : trainer_logits(a.against, *ds);
  for (const auto* k : kernels_for(a.kernel)) {
    rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{k->name, a.threads});
    std::vector<float> logits;
    EvalNumbers n = eval_engine(e, *ds, a.batch, ref.empty() ? nullptr : &logits);
    std::printf("%-30s top-1 %.2f%%  top-5 %.2f%%  (%zu images, %.0f images/s, %d threads)", k->name, n.top1, n.top5,
                n.images, n.images_per_s, e.threads());
    if (!ref.empty()) {
      auto [same, worst] = agreement(logits, ref, int(e.info().num_classes));
      std::printf("  | vs trainer: same class %.2f%%, max logit diff %.2e (relative)", 100.0 * same, worst);
    }
    std::printf("\n");
  }
  return 0;
}

int run_infer(const EngineArgs& a) {
  rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{a.kernel, a.threads});
  const auto& info = e.info();
  for (const auto& f : a.files) {
    std::vector<std::pair<std::string, std::vector<float>>> inputs;
    std::string lower = data::detail::to_lower(f);
    if (lower.find("idx") != std::string::npos) {
      auto imgs = idx_images(f, info, size_t(a.limit));
      for (size_t i = 0; i < imgs.size(); ++i) inputs.emplace_back(f + "[" + std::to_string(i) + "]", std::move(imgs[i]));
    } else {
      inputs.emplace_back(f, picture(f, info));
    }
    for (const auto& [name, x] : inputs) {
      std::vector<float> l = e.probabilities(x.data(), 1);
      std::vector<int> order(l.size());
      std::iota(order.begin(), order.end(), 0);
      const int k = std::min<int>(a.top, int(l.size()));
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int p, int q) { return l[size_t(p)] > l[size_t(q)]; });
      std::printf("%s:", name.c_str());
      for (int i = 0; i < k; ++i) {
        const int c = order[size_t(i)];
        const std::string cname = size_t(c) < info.class_names.size() ? info.class_names[size_t(c)] : std::to_string(c);
        std::printf("  %s %.1f%%", cname.c_str(), 100.0 * l[size_t(c)]);
      }
      std::printf("\n");
    }
  }
  return 0;
}

int run_bench(const EngineArgs& a) {
  std::printf("%-30s %7s %12s %12s %14s\n", "kernel", "batch", "median ms", "p90 ms", "images/s");
  for (const auto* k : kernels_for(a.kernel.empty() ? "all" : a.kernel)) {
    rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{k->name, a.threads});
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
      std::printf("%-30s %7d %12.3f %12.3f %14.1f\n", k->name, batch, med, percentile(ms, 0.9), 1000.0 * batch / med);
    }
  }
  return 0;
}

}  // namespace ds::cli
