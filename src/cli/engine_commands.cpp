// The commands that need libtorch: export (checkpoint -> .dsm) and the trainer's logits for
// `eval --against`; eval / infer / bench / info themselves are in deploy_commands.cpp.
#include "cli/engine_commands.h"

#include <cstdio>
#include <stdexcept>

#include "data/dataset.h"
#include "train/export.h"
#ifdef DS_WITH_ONNX
#include "onnx_export/onnx_export.h"
#endif
#include "train/trainer.h"

namespace ds::cli {
namespace {

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

// The trainer's logits for every test image, on the CPU through libtorch, in dataset order.
std::vector<float> trainer_logits_of(const std::string& checkpoint, const data::Dataset& ds) {
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

}  // namespace

void add_engine_commands(CLI::App& app, EngineArgs& a) {
  auto* ex = app.add_subcommand("export", "Write a trained checkpoint as a compact .dsm model file (--format onnx: as ONNX)");
  ex->add_option("CHECKPOINT", a.checkpoint, "checkpoint file or run folder")->required();
  ex->add_option("-o,--output", a.output, "model file to write")->required();
  ex->add_option("--data", a.data, "dataset to record in the model, eval's default (default: the run's)");
  ex->add_option("--format", a.format, "dsm, or onnx: an FP32 ONNX graph (opset 13) of the checkpoint or of a .dsm model")
      ->capture_default_str()
      ->check(CLI::IsMember({"dsm", "onnx"}));

  add_deploy_commands(app, a.deploy);
}

// export --format onnx (src/onnx_export): a .dsm model as it is, a checkpoint through a temporary .dsm.
static int run_export_onnx(const EngineArgs& a) {
#ifdef DS_WITH_ONNX
  if (!a.data.empty() && onnx_export::is_dsm_file(a.checkpoint))
    throw std::invalid_argument("--data applies to a checkpoint: " + a.checkpoint + " is a .dsm model, which records its own");
  const auto r = onnx_export::export_onnx_from(a.checkpoint, a.output, [&](const std::string& dsm) {
    naming_file(a.checkpoint, [&] { return export_checkpoint(a.checkpoint, dsm, a.data); });
  });
  std::printf("%s\n", onnx_export::describe(r).c_str());
  return 0;
#else
  (void)a;
  throw std::runtime_error("this build has no ONNX export: it needs libonnx-dev (scripts/setup.sh) at configure time");
#endif
}

int run_export(const EngineArgs& a) {
  if (a.format == "onnx") return run_export_onnx(a);
  ExportReport r = naming_file(a.checkpoint, [&] { return export_checkpoint(a.checkpoint, a.output, a.data); });
  std::printf("wrote %s: %.3f MB (%zu quantized layers as packed codes, %zu FP32 layers)\n", r.path.c_str(),
              double(r.file_bytes) / 1e6, r.quantized_layers, r.fp32_layers);
  std::printf("the same network's FP32 weights: %.3f MB; the file is %.1fx smaller\n", double(r.fp32_weight_bytes) / 1e6,
              double(r.fp32_weight_bytes) / double(r.file_bytes));
  return 0;
}

std::vector<float> trainer_logits(const std::string& checkpoint, const data::Dataset& ds) {
  return naming_file(checkpoint, [&] { return trainer_logits_of(checkpoint, ds); });
}

}  // namespace ds::cli
