// Turns the benchmark results of issue 4 into docs/benchmarks.md, the plot's data and script, and
// the targets' verdicts (MET / MISSED, printed and written). scripts/bench_report.sh runs it.
//
//   bench_report --probe probe.json --layers layers.json --e2e e2e.json --machine machine.md
//                --commands commands.md --notes docs/benchmarks_notes.md --out docs/benchmarks.md
//                --plot-data plot.dat --plot-script plot.gp --plot-png docs/benchmarks.png
//
// Every ratio is a speedup, baseline time / engine time (> 1: the engine is faster), taken from
// medians of the same interleaved run. Each record is set against the machine limit that binds it
// on a roofline: FMA peak (the best of AVX2 and AVX-512, at the record's thread count) for the
// flops, streaming read bandwidth for the bytes (weights as stored + input + output); whichever
// takes longer is the limit, and "% of limit" is that time over the measured one.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using json = nlohmann::json;

namespace {

json load(const std::string& path) {
  if (path.empty()) return json();
  std::ifstream f(path);
  if (!f) return json();
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_report: %s: %s\n", path.c_str(), e.what());
    return json();
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  if (!f) return "";
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v) || v <= 0) return "-";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string ms(double v) { return v >= 100 ? fmt("%.1f", v) : v >= 1 ? fmt("%.2f", v) : fmt("%.3f", v); }
std::string x(double v) { return fmt("%.2fx", v); }
std::string pct(double v) { return fmt("%.0f%%", v * 100); }

struct Limits {
  double bw1 = 0, bw_all = 0, fma1 = 0, fma_all = 0;
  bool ok() const { return bw1 > 0 && fma1 > 0; }
  double bw(int t) const { return t == 1 ? bw1 : bw_all; }
  double fma(int t) const { return t == 1 ? fma1 : fma_all; }
};

// Which limit binds a record and the fraction of it reached.
std::pair<std::string, double> limit_of(const Limits& L, const json& r) {
  if (!L.ok()) return {"-", 0};
  const int t = r.value("threads", 1);
  const double flops = r.value("flops", 0.0), bytes = r.value("weight_bytes", 0.0) + r.value("act_bytes", 0.0);
  const double t_fma = flops / (L.fma(t) * 1e9), t_bw = bytes / (L.bw(t) * 1e9);
  const double measured = r.value("median_ms", 0.0) / 1e3;
  if (measured <= 0) return {"-", 0};
  return t_bw > t_fma ? std::make_pair(std::string("bandwidth"), t_bw / measured) : std::make_pair(std::string("FMA"), t_fma / measured);
}

// The limit's name for a table cell; bandwidth limits of working sets that fit the last-level
// cache are marked, since DRAM bandwidth does not bind them (fractions above 100% are possible).
double g_llc_bytes = 0;
std::string limit_cell(const std::pair<std::string, double>& lim, const json& r) {
  if (lim.first == "-") return "-";
  std::string s = pct(lim.second) + " " + (lim.first == "FMA" ? "FMA" : "bw");
  const double bytes = r.value("weight_bytes", 0.0) + r.value("act_bytes", 0.0);
  if (lim.first != "FMA" && g_llc_bytes > 0 && bytes <= g_llc_bytes) s += " (in L3)";
  return s;
}

struct Key {
  std::string group, layer;
  int batch, threads;
  bool operator<(const Key& o) const {
    return std::tie(group, layer, batch, threads) < std::tie(o.group, o.layer, o.batch, o.threads);
  }
};

struct Verdict {
  std::string name, measured, goal, verdict;
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  const json probe = load(a["--probe"]), layers = load(a["--layers"]), e2e = load(a["--e2e"]);
  const std::string out_path = a.count("--out") ? a["--out"] : "docs/benchmarks.md";
  g_llc_bytes = a.count("--llc-bytes") ? std::atof(a["--llc-bytes"].c_str()) : 0;
  const double load = a.count("--load") ? std::atof(a["--load"].c_str()) : 0;  // load average at the start

  Limits L;
  if (probe.is_object()) {
    L.bw1 = probe["read_gbs"]["1"], L.bw_all = probe["read_gbs"]["all"];
    L.fma1 = std::max(double(probe["fma_avx2_gflops"]["1"]), double(probe["fma_avx512_gflops"]["1"]));
    L.fma_all = std::max(double(probe["fma_avx2_gflops"]["all"]), double(probe["fma_avx512_gflops"]["all"]));
  }
  const int all = layers.is_object() ? layers["meta"].value("threads_all", 1) : 1;
  const bool quick = (layers.is_object() && layers["meta"].value("quick", false)) || (e2e.is_object() && e2e["meta"].value("quick", false));

  // Index the layer records: (group, layer, batch, threads) -> contender -> record.
  std::map<Key, std::map<std::string, json>> recs;
  std::vector<Key> order;  // as measured
  if (layers.is_object())
    for (const auto& r : layers["records"]) {
      Key k{r["group"], r["layer"], r["batch"], r["threads"]};
      if (!recs.count(k)) order.push_back(k);
      recs[k][r["contender"]] = r;
    }
  auto med = [&](const Key& k, const std::string& c) {
    auto it = recs.find(k);
    if (it == recs.end() || !it->second.count(c)) return 0.0;
    return double(it->second.at(c)["median_ms"]);
  };
  std::set<int> batches, threads;
  for (const auto& k : order) batches.insert(k.batch), threads.insert(k.threads);

  // Geometric mean of base/ds over a group's layers, weighted by multiplicity or not.
  auto geo = [&](const std::function<bool(const Key&)>& sel, const std::string& base, const std::string& cand, bool weighted) {
    double s = 0, w = 0;
    for (const auto& k : order) {
      if (!sel(k)) continue;
      const double b = med(k, base), c = med(k, cand);
      if (b <= 0 || c <= 0) continue;
      const double m = weighted ? double(recs[k].at(cand).value("mult", 1)) : 1.0;
      s += m * std::log(b / c), w += m;
    }
    return w > 0 ? std::exp(s / w) : 0.0;
  };

  std::vector<Verdict> verdicts;
  auto judge = [&](const std::string& name, double v, double goal, const std::string& unit = "x") {
    Verdict d;
    d.name = name, d.goal = ">= " + fmt("%.2f", goal) + unit;
    if (v <= 0) {
      d.measured = "-", d.verdict = "NOT MEASURED";
    } else {
      d.measured = fmt("%.2f", v) + unit;
      d.verdict = v >= goal ? "MET" : "MISSED by " + fmt("%.2f", goal / v) + "x (" + fmt("%.0f", (1 - v / goal) * 100) + "% short)";
      if (load > 0.5) d.verdict += " [shared machine: unreliable]";
    }
    verdicts.push_back(d);
  };
  auto conv_sel = [](int b, int t, const std::string& group) {
    return [=](const Key& k) { return k.batch == b && k.threads == t && (group.empty() ? k.group != "fc" : k.group == group); };
  };
  for (int t : threads)
    for (int b : batches) {
      const std::string at = " (batch " + std::to_string(b) + ", " + std::to_string(t) + " thread" + (t > 1 ? "s" : "") + ")";
      judge("DenseShift kernel vs zero-weight shift kernel, conv layers, geomean" + at, geo(conv_sel(b, t, ""), "ds_zero", "ds", true), 2.0);
    }
  for (int t : threads) {
    Key k{"fc", "fc 16384x16384", 1, t};
    judge("batch-1 matvec 16384x16384, 3-bit vs OpenBLAS sgemv (" + std::to_string(t) + " thread" + (t > 1 ? "s" : "") + ")",
          med(k, "ds") > 0 ? med(k, "openblas") / med(k, "ds") : 0, 5.0);
  }
  for (int t : threads)
    for (int b : batches) {
      const std::string at = " (batch " + std::to_string(b) + ", " + std::to_string(t) + " thread" + (t > 1 ? "s" : "") + ")";
      judge("ResNet-18 conv layers vs oneDNN FP32 (NCHW in/out), geomean weighted by multiplicity" + at,
            geo(conv_sel(b, t, "resnet18"), "onednn", "ds", true), 1.0);
    }
  // End to end: against the faster of libtorch's two oneDNN paths.
  std::map<std::pair<int, std::string>, json> e2e_recs;
  if (e2e.is_object())
    for (const auto& r : e2e["records"]) e2e_recs[{int(r["batch"]), std::string(r["contender"])}] = r;
  auto e2e_ms = [&](int b, const std::string& c) {
    auto it = e2e_recs.find({b, c});
    return it == e2e_recs.end() ? 0.0 : double(it->second["median_ms"]);
  };
  double best_torch = 0;
  std::string best_name;
  for (const char* c : {"torch_eager", "torch_mkldnn"})
    if (e2e_ms(1, c) > 0 && (best_torch == 0 || e2e_ms(1, c) < best_torch)) best_torch = e2e_ms(1, c), best_name = c;
  judge("end-to-end ResNet-18 batch 1, all cores, vs libtorch FP32 with oneDNN (" + (best_name.empty() ? std::string("-") : best_name) + ")",
        e2e_ms(1, "ds") > 0 && best_torch > 0 ? best_torch / e2e_ms(1, "ds") : 0, 1.2);
  if (e2e_recs.count({1, "ds"}) && !best_name.empty()) {
    auto mb = [&](const std::string& c) { return double(e2e_recs.at({1, c})["peak_rss_kb"]) / 1024; };
    const double idle = double(e2e_recs.at({1, "ds"})["idle_peak_rss_kb"]) / 1024;
    verdicts.push_back({"end-to-end peak memory (VmHWM), batch 1: ds vs " + best_name, fmt("%.0f", mb("ds")) + " MB",
                        "reported", "ds " + fmt("%.0f", mb("ds")) + " MB vs " + fmt("%.0f", mb(best_name)) + " MB (idle process with the same libraries: " + fmt("%.0f", idle) + " MB)"});
  }

  // ---------------------------------------------------------------- the document
  std::ostringstream md;
  md << "# Benchmarks\n\n"
     << "Generated by `scripts/bench_report.sh" << (quick ? " --quick" : "") << "`; do not edit by hand (notes go in "
     << "`docs/benchmarks_notes.md`).\n\n";
  if (quick)
    md << "> **Smoke run (`--quick`)**: few rounds, short measurements, batch 1 only end to end. The numbers show that the "
          "harness works; they are not the results. Run `scripts/bench_report.sh` without `--quick` for those.\n\n";
  if (load > 0.5)
    md << "> **Shared machine**: the load average was " << fmt("%.2f", load) << " when this run started, so other processes "
          "took cores during the measurements; timings on all cores suffer most (oneDNN's OpenMP barriers wait for a "
          "descheduled thread: a few-ms layer can take 20 ms). Rerun on an idle machine.\n\n";
  md << "Issue 4's benchmark suite: the engine (`ds::rt::Engine`, 3-bit DenseShift codes) against OpenBLAS, oneDNN FP32 "
        "and libtorch FP32 on the same machine, in the same run. Every ratio is a **speedup**: baseline time / engine "
        "time, > 1 means the engine is faster. Contenders are interleaved round by round in one process (end to end: one "
        "process each, driven round by round), and every time is the median over rounds (p10-p90 in the JSON files).\n\n";
  md << "## Machine\n\n" << slurp(a["--machine"]) << "\n";
  if (L.ok()) {
    md << "Measured limits (`bench_probe`, best of " << probe.value("reps", 0) << "; read: AVX2 loads over a "
       << probe.value("buffer_mib", 0) << " MiB buffer; copy counts read + written bytes; FMA: independent chains):\n\n"
       << "| limit | 1 thread | " << all << " threads |\n|---|---:|---:|\n"
       << "| memory read bandwidth | " << fmt("%.1f", L.bw1) << " GB/s | " << fmt("%.1f", L.bw_all) << " GB/s |\n"
       << "| memory copy bandwidth | " << fmt("%.1f", double(probe["copy_gbs"]["1"])) << " GB/s | "
       << fmt("%.1f", double(probe["copy_gbs"]["all"])) << " GB/s |\n"
       << "| FP32 FMA peak, AVX2 (__m256) | " << fmt("%.1f", double(probe["fma_avx2_gflops"]["1"])) << " GFLOP/s | "
       << fmt("%.1f", double(probe["fma_avx2_gflops"]["all"])) << " GFLOP/s |\n"
       << "| FP32 FMA peak, AVX-512 (__m512) | " << fmt("%.1f", double(probe["fma_avx512_gflops"]["1"])) << " GFLOP/s | "
       << fmt("%.1f", double(probe["fma_avx512_gflops"]["all"])) << " GFLOP/s |\n\n"
       << "Each record's limit is the one that binds it on a roofline: FMA peak (the better of AVX2 and AVX-512) for "
          "its flops, read bandwidth for its bytes (weights as stored + input + output). \"% of limit\" is that bound's "
          "time over the measured time; \"(in L3)\" marks bandwidth-bound working sets that fit the last-level cache, "
          "which DRAM bandwidth does not bind (they can exceed 100%).\n\n";
  }
  md << "## Commands\n\n" << slurp(a["--commands"]) << "\n";

  md << "## Targets of issue 4\n\n| target | measured | goal | verdict |\n|---|---:|---:|---|\n";
  for (const auto& v : verdicts) md << "| " << v.name << " | " << v.measured << " | " << v.goal << " | **" << v.verdict << "** |\n";
  md << "\nDenseShift vs zero-weight: the engine's default kernel (`" << (layers.is_object() ? std::string(layers["meta"]["default_kernel"]) : "")
     << "`) on the DenseShift model vs the same layer as a shift-with-zero model, which the engine runs on its zero-weight "
        "kernel (`"
     << (layers.is_object() ? std::string(layers["meta"]["zero_kernel"]) : "") << "`), over every conv layer of ResNet-18 "
        "and ResNet-20 (geometric mean weighted by each shape's multiplicity in its network).\n\n";

  // Geometric means.
  if (!order.empty()) {
    md << "## Geometric means over conv layers\n\n| network | batch | threads | vs oneDNN (NCHW), weighted | vs oneDNN, "
          "unweighted | vs oneDNN native layouts, weighted | vs zero-weight, weighted | vs OpenBLAS im2col+sgemm, weighted |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const char* g : {"resnet18", "resnet20"})
      for (int b : batches)
        for (int t : threads) {
          auto s = conv_sel(b, t, g);
          md << "| " << g << " | " << b << " | " << t << " | " << x(geo(s, "onednn", "ds", true)) << " | "
             << x(geo(s, "onednn", "ds", false)) << " | " << x(geo(s, "onednn_native", "ds", true)) << " | "
             << x(geo(s, "ds_zero", "ds", true)) << " | " << x(geo(s, "openblas", "ds", true)) << " |\n";
        }
    md << "\nWeighted: each distinct shape counts as many times as the network has it (ResNet-18: 20 convs in 11 shapes; "
          "ResNet-20: 19 convs in 6 shapes), so the mean is over the network's layers.\n\n";
  }

  // Per-layer tables.
  auto layer_table = [&](const std::string& group, int b, int t) {
    md << "### " << group << ", batch " << b << ", " << t << " thread" << (t > 1 ? "s" : "") << "\n\n"
       << "| layer | shape | x | ds ms | ds GFLOP/s | ds % of limit | zero-weight ms | oneDNN ms | oneDNN native ms | "
          "oneDNN % of limit | OpenBLAS ms | ds vs oneDNN | ds vs zero-weight | ds vs OpenBLAS |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& k : order) {
      if (k.group != group || k.batch != b || k.threads != t) continue;
      const auto& m = recs[k];
      if (!m.count("ds")) continue;
      const json& d = m.at("ds");
      const double dsm = med(k, "ds");
      auto lim = limit_of(L, d);
      std::string dn_lim = "-";
      if (m.count("onednn")) dn_lim = limit_cell(limit_of(L, m.at("onednn")), m.at("onednn"));
      md << "| " << k.layer << " | " << std::string(d["shape"]) << " | " << int(d["mult"]) << " | " << ms(dsm) << " | "
         << fmt("%.1f", double(d["gflops"])) << " | " << limit_cell(lim, d) << " | "
         << ms(med(k, "ds_zero")) << " | " << ms(med(k, "onednn")) << " | " << ms(med(k, "onednn_native")) << " | " << dn_lim << " | "
         << ms(med(k, "openblas")) << " | " << x(med(k, "onednn") / dsm) << " | " << x(med(k, "ds_zero") / dsm) << " | "
         << x(med(k, "openblas") / dsm) << " |\n";
    }
    md << "\n";
  };
  if (!order.empty()) {
    md << "## Convolution layers\n\n"
          "`ds`: the engine on a one-layer model (random 3-bit DenseShift codes, per-channel scale and bias, ReLU), default "
          "kernel; `zero-weight`: the same layer with shift-with-zero codes; `oneDNN`: FP32 direct convolution, blocked "
          "layouts chosen by oneDNN, NCHW input and output reordered inside the timed region (the engine takes NCHW); "
          "`oneDNN native`: the primitive alone; `OpenBLAS`: im2col + sgemm + bias and ReLU. The baselines' FP32 weights are "
          "the decoded codes times the channel scale (outputs checked against the engine's). Layers with more than 64 input "
          "channels get an input prefix in the engine's model (the format takes at most 64 image channels); its time is "
          "measured in the same rounds and subtracted (`raw_median_ms` and `prefix_median_ms` in the JSON). The stem is "
          "3-bit here; in the deployed network it stays FP32.\n\n";
    for (const char* g : {"resnet18", "resnet20"})
      for (int b : batches)
        for (int t : threads) layer_table(g, b, t);

    // Kernel variants (batch 1).
    std::set<std::string> kernels;
    for (const auto& [k, m] : recs)
      for (const auto& [c, r] : m)
        if (c.rfind("ds:", 0) == 0) kernels.insert(c);
    if (!kernels.empty()) {
      md << "### Every DenseShift kernel by name (ms)\n\n";
      for (int t : threads) {
        md << t << " thread" << (t > 1 ? "s" : "") << ":\n\n| layer | batch | default (`"
           << std::string(layers["meta"]["default_kernel"]) << "`) |";
        for (const auto& kn : kernels) md << " `" << kn.substr(3) << "` |";
        md << " zero-weight |\n|---|---:|---:|";
        for (size_t i = 0; i < kernels.size(); ++i) md << "---:|";
        md << "---:|\n";
        for (const auto& k : order) {
          if (k.threads != t) continue;
          bool any = false;
          for (const auto& kn : kernels) any |= recs[k].count(kn) > 0;
          if (!any) continue;
          md << "| " << k.group << " " << k.layer << " | " << k.batch << " | " << ms(med(k, "ds")) << " |";
          for (const auto& kn : kernels) md << " " << ms(med(k, kn)) << " |";
          md << " " << ms(med(k, "ds_zero")) << " |\n";
        }
        md << "\n";
      }
    }

    // FC.
    md << "## Fully connected layers\n\n`ds`: the engine's linear layer (3-bit codes, scale and bias, no ReLU); `oneDNN`: FP32 "
          "matmul (weights in its chosen layout, reordered once); `OpenBLAS`: sgemv at batch 1, sgemm at batch 8, the "
          "product alone.\n\n"
          "| shape (in x out) | batch | threads | ds ms | ds % of limit | zero-weight ms | oneDNN ms | OpenBLAS ms | "
          "OpenBLAS % of limit | ds vs OpenBLAS | ds vs oneDNN | ds vs zero-weight | weights ds / FP32 |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& k : order) {
      if (k.group != "fc" || !recs[k].count("ds")) continue;
      const auto& m = recs[k];
      const json& d = m.at("ds");
      const double dsm = med(k, "ds");
      auto lim = limit_of(L, d);
      std::string ob = "-", wb = "-";
      if (m.count("openblas")) {
        auto l2 = limit_of(L, m.at("openblas"));
        ob = limit_cell(l2, m.at("openblas"));
        wb = fmt("%.1f", double(d["weight_bytes"]) / 1e6) + " / " + fmt("%.1f", double(m.at("openblas")["weight_bytes"]) / 1e6) + " MB";
      }
      md << "| " << std::string(d["shape"]) << " | " << k.batch << " | " << k.threads << " | " << ms(dsm) << " | " << limit_cell(lim, d)
         << " | " << ms(med(k, "ds_zero")) << " | " << ms(med(k, "onednn")) << " | "
         << ms(med(k, "openblas")) << " | " << ob << " | " << x(med(k, "openblas") / dsm) << " | " << x(med(k, "onednn") / dsm)
         << " | " << x(med(k, "ds_zero") / dsm) << " | " << wb << " |\n";
    }
    md << "\n";
  }

  // End to end.
  if (!e2e_recs.empty()) {
    md << "## End to end: ResNet-18, 224x224, " << int(e2e["meta"]["threads"]) << " threads\n\n"
       << "`ds`: this repository's ResNet-18, DenseShift 3-bit, FP32 stem and fc (the default policy), exported to a `.dsm` "
          "file (" << fmt("%.2f", double(e2e["meta"]["model_file_bytes"]) / 1e6) << " MB) and run by the engine. libtorch "
       << std::string(e2e["meta"]["libtorch"]) << " FP32, the same network with the fp32 method: `torch_eager` (eval, "
          "NoGradGuard; its convolution dispatches to oneDNN), `torch_mkldnn` (oneDNN tensor path: BN folded, weights "
          "reordered once, `to_mkldnn()` input, as `torch.utils.mkldnn`), `torch_eager_nomkldnn` (`setUserEnabledMkldnn(false)`: "
          "libtorch without oneDNN). Each contender runs in its own process; peak memory is that process's VmHWM after "
          "warm-up and timed runs (high-water mark reset after the model is built), next to an idle process that loaded "
          "the same libraries (libtorch included, which the engine does not need).\n\n"
       << "| contender | batch | median ms | images/s | ds speedup over it | peak RSS MB | peak over idle MB |\n"
          "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& [key, r] : e2e_recs) {
      const double m = r["median_ms"], dsm = e2e_ms(key.first, "ds");
      const double hwm = double(r["peak_rss_kb"]) / 1024, idle = double(r["idle_peak_rss_kb"]) / 1024;
      md << "| " << key.second << " | " << key.first << " | " << ms(m) << " | " << fmt("%.1f", double(r["images_per_s"])) << " | "
         << (key.second == "ds" ? std::string("-") : x(m / dsm)) << " | " << fmt("%.1f", hwm) << " | " << fmt("%.1f", hwm - idle)
         << " |\n";
    }
    if (!e2e_recs.empty()) md << "\nIdle process: " << fmt("%.1f", double(e2e_recs.begin()->second["idle_peak_rss_kb"]) / 1024) << " MB.\n\n";
  }

  if (!a["--plot-png"].empty()) md << "## Plot\n\n![per-layer speedups](benchmarks.png)\n\n"
                                   << "Per conv layer, batch 1, " << all << " threads: the engine's speedup over oneDNN FP32 and over the "
                                      "zero-weight shift kernel (log scale; 1 = parity).\n\n";

  md << "## Where targets are missed: why\n\n";
  const std::string notes = slurp(a["--notes"]);
  if (!notes.empty()) md << notes << "\n";
  else md << "_No notes yet: write `docs/benchmarks_notes.md` (the profile that shows each miss: perf where the machine "
             "supports it, otherwise callgrind instruction counts) and rerun `scripts/bench_report.sh`._\n";

  std::ofstream(out_path) << md.str();

  // Plot: per conv layer at batch 1, all cores.
  if (!a["--plot-data"].empty() && !a["--plot-script"].empty()) {
    std::ofstream dat(a["--plot-data"]);
    int n = 0;
    for (const auto& k : order) {
      if (k.group == "fc" || k.batch != 1 || k.threads != all) continue;
      const double dsm = med(k, "ds");
      if (dsm <= 0) continue;
      std::string label = (k.group == "resnet18" ? "R18 " : "R20 ") + recs[k].at("ds")["shape"].get<std::string>();
      dat << '"' << label << "\" " << (med(k, "onednn") > 0 ? med(k, "onednn") / dsm : NAN) << " "
          << (med(k, "ds_zero") > 0 ? med(k, "ds_zero") / dsm : NAN) << "\n";
      ++n;
    }
    std::ofstream gp(a["--plot-script"]);
    gp << "set terminal pngcairo size 1400,760 font ',10' noenhanced\nset output '" << a["--plot-png"] << "'\n"
       << "set bmargin 9\nset rmargin 8\n"
       << "set title 'denseshift engine speedup per conv layer (batch 1, " << all << " threads" << (quick ? ", smoke run" : "")
       << ")'\nset style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
       << "set logscale y 2\nset yrange [*:*]\nset ylabel 'speedup (baseline ms / engine ms)'\n"
       << "set xtics rotate by -45 scale 0\nset grid ytics\nset key top left\nset arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc 'black'\n"
       << "plot '" << a["--plot-data"] << "' using 2:xtic(1) title 'vs oneDNN FP32 (NCHW)', '' using 3 title 'vs zero-weight shift kernel'\n";
    if (n == 0) std::fprintf(stderr, "bench_report: no batch-1 conv records at %d threads for the plot\n", all);
  }

  std::printf("\nTargets of issue 4%s:\n", quick ? " (SMOKE RUN: not the results)" : "");
  for (const auto& v : verdicts) std::printf("  %-110s %8s (goal %s): %s\n", v.name.c_str(), v.measured.c_str(), v.goal.c_str(), v.verdict.c_str());
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}
