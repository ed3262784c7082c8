#include "cli/deploy_util.h"

#include <chrono>
#include <stdexcept>

namespace ds::cli {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string shape_text(uint32_t c, uint32_t h, uint32_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

std::string class_name(const core::ModelInfo& info, size_t c) {
  return c < info.class_names.size() ? info.class_names[c] : std::to_string(c);
}

rt::Engine probe(const DeployArgs& a, const std::string& name) {
  return rt::Engine::load(a.model, rt::EngineOptions{name == "all" ? "" : name, a.threads});
}

std::vector<std::string> kernel_choices(const rt::Engine& probe, const std::string& name) {
  if (name != "all") return {probe.kernel().name};
  std::vector<std::string> out;
  for (const auto* k : kernels::kernels_for(probe.quantized_weights())) out.push_back(k->name);
  return out;
}

void check_batch(const rt::Engine& e, int batch, const std::string& model) {
  if (batch > e.max_batch())
    throw std::invalid_argument("--batch " + std::to_string(batch) + ": " + model + " allows at most " +
                                std::to_string(e.max_batch()) + " images per run (" + std::to_string(rt::kMaxRunBytes >> 30) +
                                " GiB of activations)");
}

void check_finite(size_t bad, size_t images, const std::string& what, const rt::Engine& e) {
  if (bad > 0)
    throw std::runtime_error(what + " on kernel " + e.kernel().name + ": " + std::to_string(bad) + " of " +
                             std::to_string(images) + " images gave non-finite logits (NaN or infinity); no result reported");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace ds::cli
