// `infer`: the top classes (and with --logits every logit) of each input, as text, JSON or CSV.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cli/deploy_util.h"
#include "cli/infer_inputs.h"

namespace ds::cli {
namespace {

// The k most probable classes of one row of probabilities, most probable first (ties: lower index).
std::vector<int> top_classes(const float* p, size_t C, int k) {
  std::vector<int> order(C);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int x, int y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
  order.resize(size_t(k));
  return order;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);  // 9 digits: a float reads back exactly
  return buf;
}

}  // namespace

int run_infer(const DeployArgs& a) {
  rt::Engine e = rt::Engine::load(a.model, rt::EngineOptions{a.kernel, a.threads});
  const auto& info = e.info();
  const std::vector<InferInput> inputs = read_infer_inputs(a.files, info, size_t(a.limit));
  // All logits first: a non-finite one fails the command before anything is printed.
  const size_t C = info.num_classes, n = inputs.size();
  std::vector<float> logits;
  for (const auto& in : inputs) {
    const std::vector<float> l = e.run(in.x.data(), 1);
    logits.insert(logits.end(), l.begin(), l.end());
  }
  check_finite(rt::count_non_finite_rows(logits.data(), n, C), n, a.model, e);
  std::vector<float> p = logits;
  rt::softmax_rows(p.data(), n, C);
  const int k = std::min<int>(a.top, int(C));

  if (a.format == "json") {
    nlohmann::json out = {{"model", a.model}, {"kernel", e.kernel().name}, {"inputs", nlohmann::json::array()}};
    for (size_t i = 0; i < n; ++i) {
      nlohmann::json top = nlohmann::json::array();
      for (int c : top_classes(p.data() + i * C, C, k))
        top.push_back({{"class", class_name(info, size_t(c))}, {"index", c}, {"probability", p[i * C + size_t(c)]}});
      nlohmann::json row = {{"input", inputs[i].name}, {"top", top}};
      if (a.logits) row["logits"] = std::vector<float>(logits.begin() + long(i * C), logits.begin() + long((i + 1) * C));
      out["inputs"].push_back(row);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (a.format == "csv") {
    std::string head = "input";
    for (int j = 1; j <= k; ++j) {
      const std::string r = std::to_string(j);
      head += ",class_" + r + ",index_" + r + ",probability_" + r;
    }
    if (a.logits)
      for (size_t c = 0; c < C; ++c) head += ",logit_" + std::to_string(c);
    std::printf("%s\n", head.c_str());
    for (size_t i = 0; i < n; ++i) {
      std::string row = csv_field(inputs[i].name);
      for (int c : top_classes(p.data() + i * C, C, k))
        row += "," + csv_field(class_name(info, size_t(c))) + "," + std::to_string(c) + "," + number(p[i * C + size_t(c)]);
      if (a.logits)
        for (size_t c = 0; c < C; ++c) row += "," + number(logits[i * C + c]);
      std::printf("%s\n", row.c_str());
    }
    return 0;
  }
  for (size_t i = 0; i < n; ++i) {
    std::printf("%s:", inputs[i].name.c_str());
    for (int c : top_classes(p.data() + i * C, C, k))
      std::printf("  %s %.1f%%", class_name(info, size_t(c)).c_str(), 100.0 * p[i * C + size_t(c)]);
    std::printf("\n");
    if (a.logits) {
      std::string l = "  logits:";
      for (size_t c = 0; c < C; ++c) l += " " + number(logits[i * C + c]);
      std::printf("%s\n", l.c_str());
    }
  }
  return 0;
}

}  // namespace ds::cli
