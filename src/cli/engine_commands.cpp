// The deployment commands: export (checkpoint -> .dsm), and eval / infer / bench on the
// libtorch-free engine.
#include "cli/engine_commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <numeric>
#include <random>

#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/io.h"
#include "data/transform.h"
#include "runtime/engine.h"
#include "train/export.h"
#include "train/trainer.h"

namespace ds::cli {
namespace {

// Limits of the numeric flags. Threads beyond 1024 only add contention; --top and --limit are
// bounded by what a person reads; --reps by minutes of timing; --batch also by the engine's 4 GiB
// of activations per run (rt::Engine::max_batch), checked once the model is known.
constexpr int kMaxThreads = 1024, kMaxTop = 1000, kMaxBatch = 1 << 20, kMaxReps = 100000;

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs f, turning libtorch's errors (whose messages carry a C++ backtrace) into one that names
// the file they came from.
template <class F>
auto naming_file(const std::string& file, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw std::runtime_error(file + ": " + e.what_without_backtrace());
  }
}

// MODEL loaded to learn what it needs: on the kernel `name`, or the default for "all".
rt::Engine probe(const EngineArgs& a, const std::string& name) {
  return rt::Engine::load(a.model, rt::EngineOptions{name == "all" ? "" : name, a.threads});
}

// The kernels to run MODEL on: the probe's, or for "all" every supported kernel that can run its
// weights (kernels::kernels_for), so a kernel that would misread them is never offered.
std::vector<std::string> kernel_choices(const rt::Engine& probe, const std::string& name) {
  if (name != "all") return {probe.kernel().name};
  std::vector<std::string> out;
  for (const auto* k : kernels::kernels_for(probe.quantized_weights())) out.push_back(k->name);
  return out;
}

// --batch against what one run of this model may hold (rt::Engine::max_batch).
void check_batch(const rt::Engine& e, int batch, const std::string& model) {
  if (batch > e.max_batch())
    throw std::invalid_argument("--batch " + std::to_string(batch) + ": " + model + " allows at most " +
                                std::to_string(e.max_batch()) + " images per run (" + std::to_string(rt::kMaxRunBytes >> 30) +
                                " GiB of activations)");
}

// "what on kernel K: N of M images gave non-finite logits": a NaN or an infinity has no argmax to
// report, and counted as a hit it once made top-1 100%.
void check_finite(size_t bad, size_t images, const std::string& what, const rt::Engine& e) {
  if (bad > 0)
    throw std::runtime_error(what + " on kernel " + e.kernel().name + ": " + std::to_string(bad) + " of " +
                             std::to_string(images) + " images gave non-finite logits (NaN or infinity); no result reported");
}

std::string shape_text(uint32_t c, uint32_t h, uint32_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

struct EvalNumbers {
  double top1 = 0, top5 = 0, images_per_s = 0;
  size_t images = 0;
};

EvalNumbers eval_engine(const rt::Engine& e, const data::Dataset& ds, int batch, const std::string& model,
                        std::vector<float>* all_logits) {
  const auto& info = e.info();
  data::Loader loader(ds, batch, false, false, 1, 2);
  loader.start_epoch(0);
  data::Batch b;
  EvalNumbers r;
  size_t hit1 = 0, hit5 = 0, bad = 0;
  double ms = 0;
  const int C = int(info.num_classes);
  while (loader.next(b)) {
    double t0 = now_ms();
    std::vector<float> logits = e.run(b.x.data(), b.n);
    ms += now_ms() - t0;
    bad += rt::count_non_finite_rows(logits.data(), size_t(b.n), size_t(C));
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
  check_finite(bad, r.images, model, e);
  if (r.images == 0) throw std::runtime_error(ds.describe() + ": the test split has no images");
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

// The dataset eval reads: DATA, or the one the model records (format version 2 on).
std::string eval_root(const EngineArgs& a, const core::ModelInfo& info) {
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
  auto ds = data::open_dataset(root, data::Split::kTest, data::OpenOptions{data::Augment::kNone, {info.mean, info.std}, classes});
  const data::Shape s = ds->sample_shape();
  if (uint32_t(s.c) != info.in_c || uint32_t(s.h) != info.in_h || uint32_t(s.w) != info.in_w)
    throw std::invalid_argument(root + ": samples are " + shape_text(uint32_t(s.c), uint32_t(s.h), uint32_t(s.w)) + ", " +
                                model + " takes " + shape_text(info.in_c, info.in_h, info.in_w));
  return ds;
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// What an input file holds, by its first bytes (the name says nothing: "idx" in a folder name
// once made a photo an IDX file).
enum class InputKind { kPicture, kIdx };
constexpr uint32_t kIdxImageMagic = 0x00000803;  // unsigned bytes, 3 dimensions

InputKind input_kind(const std::vector<uint8_t>& bytes, const std::string& path) {
  static const uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF}, kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto starts_with = [&](const uint8_t* sig, size_t n) { return bytes.size() >= n && std::equal(sig, sig + n, bytes.begin()); };
  if (starts_with(kJpeg, sizeof kJpeg) || starts_with(kPng, sizeof kPng)) return InputKind::kPicture;
  data::detail::ByteStream s(bytes, path);  // raw or gzip
  uint8_t magic[4];
  if (s.read(magic, 4) == 4 && be32(magic) == kIdxImageMagic) return InputKind::kIdx;
  throw data::DataError(path + " is not a JPEG, PNG or IDX image file");
}

// The first `limit` images of an IDX image file (MNIST layout), normalized with the model's
// mean/std. Reads only those images' bytes (inflating no more of a gzip file than that).
std::vector<std::vector<float>> idx_images(const std::vector<uint8_t>& bytes, const std::string& path,
                                           const core::ModelInfo& info, size_t limit) {
  data::detail::ByteStream s(bytes, path);
  uint8_t h[16];
  if (s.read(h, 16) != 16) throw data::DataError(path + " is truncated: an IDX image header takes 16 bytes");
  const size_t n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
  if (rows != info.in_h || cols != info.in_w || info.in_c != 1)
    throw std::invalid_argument(path + ": images are 1x" + std::to_string(rows) + "x" + std::to_string(cols) +
                                ", the model takes " + shape_text(info.in_c, info.in_h, info.in_w));
  if (n == 0) throw data::DataError(path + " holds no images");
  std::vector<std::vector<float>> out;
  std::vector<uint8_t> px(rows * cols);
  for (size_t i = 0; i < std::min(n, limit); ++i) {
    if (s.read(px.data(), px.size()) != px.size())
      throw data::DataError(path + " is truncated: image " + std::to_string(i) + " of " + std::to_string(n) + " ends early");
    std::vector<float> img(px.size());
    for (size_t p = 0; p < px.size(); ++p) img[p] = (px[p] / 255.f - info.mean[0]) / info.std[0];
    out.push_back(std::move(img));
  }
  return out;
}

// A JPEG or PNG resized (shorter side) and center-cropped to the model's input, normalized.
std::vector<float> picture(const std::vector<uint8_t>& bytes, const std::string& path, const core::ModelInfo& info) {
  // The crop is square and the picture has 1 or 3 channels: other models take no picture.
  if (info.in_h != info.in_w || (info.in_c != 1 && info.in_c != 3))
    throw std::invalid_argument(path + ": the model takes " + shape_text(info.in_c, info.in_h, info.in_w) +
                                " inputs; pictures fit models with square 1- or 3-channel inputs");
  data::Image img = data::decode_image(bytes.data(), bytes.size(), path);
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
  ex->add_option("--data", a.data, "dataset to record in the model, eval's default (default: the run's)");

  const auto threads_range = CLI::Range(0, kMaxThreads);
  auto* ev = app.add_subcommand("eval", "Accuracy of a .dsm model on a dataset's test split, on the engine");
  ev->add_option("MODEL", a.model, "model file")->required();
  ev->add_option("DATA", a.data, "dataset folder (default: the one the model was trained on, as it records it)");
  ev->add_option("--kernel", a.kernel,
                 "kernel name, 'fastest', or 'all' for every supported one that can run the model (default: the multiply-free one)");
  ev->add_option("--threads", a.threads, "threads (default 0: all cores)")->check(threads_range);
  ev->add_option("--batch", a.batch, "batch size")->capture_default_str()->check(CLI::Range(1, kMaxBatch));
  ev->add_option("--against", a.against,
                 "checkpoint the model was exported from: also report agreement with the trainer's predictions and logits");

  auto* in = app.add_subcommand("infer", "Top-k classes for images (JPEG/PNG) or the images of an IDX file");
  in->add_option("MODEL", a.model, "model file")->required();
  in->add_option("FILES", a.files, "JPEG, PNG or IDX image files (raw or gzip), told apart by their contents")->required();
  in->add_option("--top", a.top, "classes to show (at most the model's)")->capture_default_str()->check(CLI::Range(1, kMaxTop));
  in->add_option("--limit", a.limit, "images to take from an IDX file")->capture_default_str()->check(
      CLI::Range(1, std::numeric_limits<int>::max()));
  in->add_option("--kernel", a.kernel, "kernel name or 'fastest' (default: the multiply-free one)");
  in->add_option("--threads", a.threads, "threads (default 0: all cores)")->check(threads_range);

  auto* be = app.add_subcommand("bench", "Latency and throughput of a .dsm model on the engine");
  be->add_option("MODEL", a.model, "model file")->required();
  be->add_option("--kernel", a.kernel, "kernel name, 'fastest', or 'all' (default: every supported one that can run the model)");
  be->add_option("--threads", a.threads, "threads (default 0: all cores)")->check(threads_range);
  be->add_option("--batch", a.batch, "the larger batch size (batch 1 is always measured)")->capture_default_str()->check(
      CLI::Range(1, kMaxBatch));
  be->add_option("--reps", a.reps, "timed runs per setting")->capture_default_str()->check(CLI::Range(1, kMaxReps));
}

int run_export(const EngineArgs& a) {
  ExportReport r = naming_file(a.checkpoint, [&] { return export_checkpoint(a.checkpoint, a.output, a.data); });
  std::printf("wrote %s: %.3f MB (%zu quantized layers as packed codes, %zu FP32 layers)\n", r.path.c_str(),
              double(r.file_bytes) / 1e6, r.quantized_layers, r.fp32_layers);
  std::printf("the same network's FP32 weights: %.3f MB; the file is %.1fx smaller\n", double(r.fp32_weight_bytes) / 1e6,
              double(r.fp32_weight_bytes) / double(r.file_bytes));
  return 0;
}

int run_eval(const EngineArgs& a) {
  const rt::Engine first = probe(a, a.kernel);
  const core::ModelInfo& info = first.info();
  check_batch(first, a.batch, a.model);
  auto ds = open_for_model(eval_root(a, info), info, a.model);
  const std::vector<float> ref =
      a.against.empty() ? std::vector<float>() : naming_file(a.against, [&] { return trainer_logits(a.against, *ds); });
  for (const std::string& kernel : kernel_choices(first, a.kernel)) {
    const rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{kernel, a.threads});
    std::vector<float> logits;
    EvalNumbers n = eval_engine(e, *ds, a.batch, a.model, ref.empty() ? nullptr : &logits);
    std::printf("%-30s top-1 %.2f%%  top-5 %.2f%%  (%zu images, %.0f images/s, %d threads)", e.kernel().name, n.top1, n.top5,
                n.images, n.images_per_s, e.threads());
    if (!ref.empty()) {
      auto [same, worst] = agreement(logits, ref, int(info.num_classes));
      std::printf("  | vs trainer: same class %.2f%%, max logit diff %.2e (relative)", 100.0 * same, worst);
    }
    std::printf("\n");
  }
  return 0;
}

int run_infer(const EngineArgs& a) {
  rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{a.kernel, a.threads});
  const auto& info = e.info();
  std::vector<std::pair<std::string, std::vector<float>>> inputs;
  for (const auto& f : a.files) {
    const std::vector<uint8_t> bytes = data::detail::read_file(f, data::detail::kMaxDataBytes);
    if (input_kind(bytes, f) == InputKind::kIdx) {
      auto imgs = idx_images(bytes, f, info, size_t(a.limit));
      for (size_t i = 0; i < imgs.size(); ++i) inputs.emplace_back(f + "[" + std::to_string(i) + "]", std::move(imgs[i]));
    } else {
      inputs.emplace_back(f, picture(bytes, f, info));
    }
  }
  // All logits first: a non-finite one fails the command before anything is printed.
  const size_t C = info.num_classes;
  std::vector<float> p;
  for (const auto& in : inputs) {
    const std::vector<float> l = e.run(in.second.data(), 1);
    p.insert(p.end(), l.begin(), l.end());
  }
  check_finite(rt::count_non_finite_rows(p.data(), inputs.size(), C), inputs.size(), a.model, e);
  rt::softmax_rows(p.data(), inputs.size(), C);
  const int k = std::min<int>(a.top, int(C));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const float* l = p.data() + i * C;
    std::vector<int> order(C);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int x, int y) { return l[x] > l[y]; });
    std::printf("%s:", inputs[i].first.c_str());
    for (int j = 0; j < k; ++j) {
      const int c = order[size_t(j)];
      const std::string cname = size_t(c) < info.class_names.size() ? info.class_names[size_t(c)] : std::to_string(c);
      std::printf("  %s %.1f%%", cname.c_str(), 100.0 * l[c]);
    }
    std::printf("\n");
  }
  return 0;
}

int run_bench(const EngineArgs& a) {
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
