// `info MODEL`: what a .dsm file holds and what it takes to run it, without running it.
#include <cstdio>
#include <string>

#include "cli/deploy_util.h"
#include "core/container.h"
#include "core/model_format.h"
#include "runtime/preprocess.h"

namespace ds::cli {
namespace {

const char* weight_text(core::WeightKind k) {
  switch (k) {
    case core::WeightKind::kFloat32: return "fp32";
    case core::WeightKind::kDenseShift: return "denseshift";
    case core::WeightKind::kShiftWithZero: return "shift-with-zero";
    case core::WeightKind::kNone: break;
  }
  return "-";
}

std::string floats_text(const std::vector<float>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.4f", i ? ", " : "", double(v[i]));
    s += buf;
  }
  return s + "]";
}

}  // namespace

int run_info(const DeployArgs& a) {
  // The engine validates the whole file (and knows the shapes); the container gives the layers'
  // stored weights as they are in the file.
  const rt::Engine e = rt::Engine::load(a.model);
  const core::Container file = core::Container::open(a.model);
  const core::ModelDesc desc = core::read_model(file);
  const core::ModelInfo& info = e.info();

  std::printf("model: %s (%zu bytes, format version %u)\n", a.model.c_str(), file.file_size(), file.version());
  std::printf("network: %s, %s\n", info.arch.empty() ? "-" : info.arch.c_str(), info.method.empty() ? "-" : info.method.c_str());
  std::printf("trained on: %s\n", info.dataset.empty() ? "(not recorded)" : info.dataset.c_str());
  if (info.audio) {
    std::printf("input: %s floats (1 x mel bands x frames) from audio (WAV, FLAC, ...) resampled to the model's rate\n",
                shape_text(info.in_c, info.in_h, info.in_w).c_str());
    std::printf("audio: %s, periodic Hann window, HTK mel, log floor %g, normalized per utterance\n",
                core::describe_front_end(*info.audio).c_str(), double(info.audio->log_floor));
  } else {
    std::printf("input: %s floats (CHW), normalized (pixel / 255 - mean) / std, mean %s, std %s\n",
                shape_text(info.in_c, info.in_h, info.in_w).c_str(), floats_text(info.mean).c_str(), floats_text(info.std).c_str());
  }
  if (info.audio)
    std::printf("pictures: not taken (a speech model)\n");
  else if (info.in_h == info.in_w && (info.in_c == 1 || info.in_c == 3))
    std::printf("pictures: shorter side resized to %d, center crop %ux%u%s\n", rt::preprocess_resize_side(info), info.in_h,
                info.in_w, info.in_c == 1 ? ", luminance (0.299 R + 0.587 G + 0.114 B)" : ", RGB");
  else
    std::printf("pictures: not taken (the input is not square with 1 or 3 channels)\n");
  std::string classes;
  for (size_t c = 0; c < info.num_classes; ++c) classes += (c ? ", " : "") + std::to_string(c) + " " + class_name(info, c);
  std::printf("classes (%u): %s\n", info.num_classes, classes.c_str());

  std::printf("graph (output shape per layer):\n");
  const std::string summary = e.summary();
  size_t start = 0;
  for (size_t end; (end = summary.find('\n', start)) != std::string::npos; start = end + 1)
    std::printf("  %s\n", summary.substr(start, end - start).c_str());

  std::printf("weights:\n  %-5s %-8s %-16s %5s %12s %12s\n", "layer", "op", "kind", "bits", "rows x cols", "bytes");
  for (size_t i = 0; i < desc.nodes.size(); ++i) {
    const core::NodeDesc& n = desc.nodes[i];
    if (n.wkind == core::WeightKind::kNone) continue;
    // Stored bytes: the weights (packed codes or floats) and the per-row scale and bias.
    const size_t bytes = n.wsize + 2 * sizeof(float) * n.rows;
    const std::string dims = std::to_string(n.rows) + "x" + std::to_string(n.cols);
    std::printf("  %-5zu %-8s %-16s %5u %12s %12zu\n", i, core::op_name(n.op), weight_text(n.wkind),
                n.wkind == core::WeightKind::kFloat32 ? 32u : n.bits, dims.c_str(), bytes);
  }
  std::printf("  weights in all: %zu bytes of %zu in the file\n", e.weight_bytes(), e.file_size());

  std::string usable;
  for (const auto* k : kernels::kernels_for(e.quantized_weights())) usable += std::string(usable.empty() ? "" : ", ") + k->name;
  std::printf("kernels that can run it here: %s\n", usable.empty() ? "(none)" : usable.c_str());
  std::printf("default kernel: %s\n", e.kernel().name);
  return 0;
}

}  // namespace ds::cli
