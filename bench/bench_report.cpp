// Turns the benchmark results of issue 4 into docs/benchmarks.md, the plot's data and script, and
// the targets' verdicts (MET / MISSED, printed and written). scripts/bench_report.sh runs it.
//
//   bench_report --probe probe.json --layers layers.json --e2e e2e.json[,e2e_more.json...]
//                [--startup startup.json] --machine machine.md
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

#include "bench_common.h"

using json = nlohmann::json;

namespace {

using ds::bench::short_kernel;

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

struct E2eKey {
  std::string model;
  int threads, batch;
  std::string contender;
  bool operator<(const E2eKey& o) const {
    return std::tie(model, threads, batch, contender) < std::tie(o.model, o.threads, o.batch, o.contender);
  }
};
// End-to-end contenders in table order (bench_e2e.cpp describes each).
const char* const kE2eContenders[] = {"ds", "ds_fastest", "ort", "torch_mkldnn", "torch_eager", "torch_eager_nomkldnn"};

struct Verdict {
  std::string name, measured, goal, verdict;
};

std::string threads_str(int t) { return std::to_string(t) + " thread" + (t > 1 ? "s" : ""); }

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  const json probe = load(a["--probe"]), layers = load(a["--layers"]), startup = load(a["--startup"]);
  // End to end: every --e2e file (comma-separated: one per network and setting), by network,
  // threads, batch and contender; files from before ResNet-20 was measured hold ResNet-18 only.
  std::vector<json> e2e_metas;
  std::map<E2eKey, json> e2e_recs;
  {
    std::stringstream files(a["--e2e"]);
    for (std::string path; std::getline(files, path, ',');) {
      const json e = load(path);
      if (!e.is_object()) continue;
      e2e_metas.push_back(e["meta"]);
      for (const auto& r : e["records"])
        e2e_recs[{r.value("model", std::string("resnet18")), int(r["threads"]), int(r["batch"]), std::string(r["contender"])}] = r;
    }
  }
  const std::string out_path = a.count("--out") ? a["--out"] : "docs/benchmarks.md";
  g_llc_bytes = a.count("--llc-bytes") ? std::atof(a["--llc-bytes"].c_str()) : 0;
  const double load = a.count("--load") ? std::atof(a["--load"].c_str()) : 0;  // load average at the start

  Limits L;
  if (probe.is_object()) {
    L.bw1 = probe["read_gbs"]["1"], L.bw_all = probe["read_gbs"]["all"];
    L.fma1 = std::max(double(probe["fma_avx2_gflops"]["1"]), double(probe["fma_avx512_gflops"]["1"]));
    L.fma_all = std::max(double(probe["fma_avx2_gflops"]["all"]), double(probe["fma_avx512_gflops"]["all"]));
  }
  const json lmeta = layers.is_object() ? layers["meta"] : json::object();
  const int all = lmeta.value("threads_all", 1);
  const bool quick = lmeta.value("quick", false) ||
                     std::any_of(e2e_metas.begin(), e2e_metas.end(), [](const json& m) { return m.value("quick", false); });
  // The kernels: the default one (`ds`), the multiply-free one of the zero-weight target (`ds` or
  // `ds:<name>`, aliased `ds_mf` below) and its zero-weight sibling (`ds_zero`).
  const std::string def_kernel = lmeta.value("default_kernel", ""), mf_kernel = lmeta.value("mf_kernel", def_kernel),
                    mf_contender = lmeta.value("mf_contender", "ds"), zero_kernel = lmeta.value("zero_kernel", "");
  std::map<std::string, json> ktraits;  // kernel name -> traits (bench_layers' meta.kernels)
  if (lmeta.contains("kernels"))
    for (const auto& k : lmeta["kernels"]) ktraits[k.value("name", "")] = k;
  auto kernel_of = [&](const std::string& contender) { return contender == "ds" ? def_kernel : contender.substr(3); };
  auto is_fp16 = [&](const std::string& kernel) {
    auto it = ktraits.find(kernel);
    return it != ktraits.end() ? it->second.value("fp16", false) : kernel.find("f16") != std::string::npos;
  };

  // Index the layer records: (group, layer, batch, threads) -> contender -> record.
  std::map<Key, std::map<std::string, json>> recs;
  std::vector<Key> order;  // as measured
  if (layers.is_object())
    for (const auto& r : layers["records"]) {
      Key k{r["group"], r["layer"], r["batch"], r["threads"]};
      if (!recs.count(k)) order.push_back(k);
      recs[k][r["contender"]] = r;
    }
  // Derived contenders: ds_mf (the multiply-free kernel's record) and ds_best (the fastest FP32
  // engine kernel of the layer, among those measured there; "best_of" names it).
  auto is_engine = [](const std::string& c) { return c == "ds" || c.rfind("ds:", 0) == 0; };
  for (auto& [k, m] : recs) {
    std::string best;
    double bm = 0;
    for (const auto& [c, r] : m) {
      if (!is_engine(c) || is_fp16(kernel_of(c))) continue;
      const double v = r.value("median_ms", 0.0);
      if (v > 0 && (best.empty() || v < bm)) best = c, bm = v;
    }
    if (m.count(mf_contender)) m["ds_mf"] = m.at(mf_contender);
    if (!best.empty()) {
      json r = m.at(best);
      r["best_of"] = best;
      m["ds_best"] = r;
    }
  }
  auto med = [&](const Key& k, const std::string& c) {
    auto it = recs.find(k);
    if (it == recs.end() || !it->second.count(c)) return 0.0;
    return double(it->second.at(c)["median_ms"]);
  };
  std::set<int> batches, threads;
  for (const auto& k : order) batches.insert(k.batch), threads.insert(k.threads);
  // Engine contenders in column order: the default, the multiply-free one, the other panel
  // kernels, the tile kernels (each in the kernel table's order).
  std::vector<std::string> engine_cols{"ds"};
  {
    std::set<std::string> seen;
    for (const auto& [k, m] : recs)
      for (const auto& [c, r] : m)
        if (c.rfind("ds:", 0) == 0) seen.insert(c);
    if (seen.count(mf_contender)) engine_cols.push_back(mf_contender);
    std::vector<std::string> panel, tile;
    for (const auto& k : lmeta.value("kernels", json::array())) {
      const std::string c = "ds:" + k.value("name", "");
      if (!seen.count(c) || c == mf_contender) continue;
      (k.value("panel", false) ? panel : tile).push_back(c);
      seen.erase(c);
    }
    seen.erase(mf_contender);
    engine_cols.insert(engine_cols.end(), panel.begin(), panel.end());
    engine_cols.insert(engine_cols.end(), tile.begin(), tile.end());
    engine_cols.insert(engine_cols.end(), seen.begin(), seen.end());  // not in meta.kernels (older JSON)
  }
  auto col_name = [&](const std::string& c) { return "`" + short_kernel(kernel_of(c)) + "`"; };

  // Geometric mean of base/cand over a selection of layers, weighted by multiplicity or not.
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
  // Which kernels were the fastest over a selection: "fma 9, hybrid 2".
  auto winners = [&](const std::function<bool(const Key&)>& sel) {
    std::map<std::string, int> n;
    for (const auto& k : order)
      if (sel(k) && recs[k].count("ds_best")) ++n[short_kernel(kernel_of(recs[k].at("ds_best")["best_of"]))];
    std::string s;
    for (const auto& [name, c] : n) s += (s.empty() ? "" : ", ") + name + " " + std::to_string(c);
    return s.empty() ? std::string("-") : s;
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
  const std::string mf_name = short_kernel(mf_kernel), zero_name = short_kernel(zero_kernel), def_name = short_kernel(def_kernel);
  for (int t : threads)
    for (int b : batches) {
      const std::string at = " (batch " + std::to_string(b) + ", " + threads_str(t) + ")";
      judge("multiply-free DenseShift kernel `" + mf_name + "` vs its zero-weight sibling `" + zero_name +
                "`, every conv layer of ResNet-18 and ResNet-20, geomean" + at,
            geo(conv_sel(b, t, ""), "ds_zero", "ds_mf", true), 2.0);
    }
  {
    // The default (multiply-free) kernel, and the fastest engine kernel measured (FC variants are
    // run by bench_layers --fc-variants; a non-multiply-free kernel takes the FMA matvec).
    auto sgemv = [&](int t, const char* who) {
      const Key k{"fc", "fc 16384x16384", 1, t};
      return med(k, who) > 0 ? med(k, "openblas") / med(k, who) : 0;
    };
    const std::string name = "batch-1 matvec 16384x16384 (weights beyond cache), 3-bit vs OpenBLAS sgemv";
    judge(name + ", default kernel `" + def_name + "` (" + threads_str(all) + ")", sgemv(all, "ds"), 5.0);
    judge(name + ", fastest engine kernel (" + winners([&](const Key& k) { return k.group == "fc" && k.layer == "fc 16384x16384" && k.batch == 1 && k.threads == all; }) +
              ") (" + threads_str(all) + ")",
          sgemv(all, "ds_best"), 5.0);
    if (all > 1 && sgemv(1, "ds_best") > 0)
      verdicts.push_back({name + ", fastest engine kernel (1 thread; the verdict is on all cores)",
                          fmt("%.2f", sgemv(1, "ds_best")) + "x", ">= 5.00x", "reported"});
  }
  for (int t : threads)
    for (int b : batches) {
      const std::string at = " (batch " + std::to_string(b) + ", " + threads_str(t) + ")";
      auto s = conv_sel(b, t, "resnet18");
      judge("ResNet-18 conv layers vs oneDNN FP32 (NCHW in/out), default kernel `" + def_name + "`, geomean weighted" + at,
            geo(s, "onednn", "ds", true), 1.0);
      judge("ResNet-18 conv layers vs oneDNN FP32 (NCHW in/out), fastest engine kernel per layer (" + winners(s) +
                "), geomean weighted" + at,
            geo(s, "onednn", "ds_best", true), 1.0);
    }
  // End to end: the faster engine contender against the faster of libtorch's two oneDNN paths.
  auto e2e_ms = [&](const std::string& m, int t, int b, const std::string& c) {
    auto it = e2e_recs.find({m, t, b, c});
    return it == e2e_recs.end() ? 0.0 : double(it->second["median_ms"]);
  };
  auto faster = [&](const std::string& m, int t, int b, std::initializer_list<const char*> cs) {
    std::pair<std::string, double> best{"", 0.0};
    for (const char* c : cs)
      if (e2e_ms(m, t, b, c) > 0 && (best.second == 0 || e2e_ms(m, t, b, c) < best.second)) best = {c, e2e_ms(m, t, b, c)};
    return best;
  };
  auto listed = [&](const std::string& m, int t, int b, std::initializer_list<const char*> cs) {
    std::string s;
    for (const char* c : cs)
      if (e2e_ms(m, t, b, c) > 0) s += std::string(s.empty() ? "" : ", ") + c + " " + ms(e2e_ms(m, t, b, c)) + " ms";
    return s.empty() ? std::string("-") : s;
  };
  auto peak_mb = [&](const std::string& m, int t, int b, const std::string& c) {
    auto it = e2e_recs.find({m, t, b, c});
    return it == e2e_recs.end() ? 0.0 : double(it->second["peak_rss_kb"]) / 1024;
  };
  auto floor_mb = [&](const std::string& m, int t, int b, const std::string& c) {
    auto it = e2e_recs.find({m, t, b, c});
    return it == e2e_recs.end() ? 0.0 : double(it->second["idle_peak_rss_kb"]) / 1024;
  };
  {
    const auto torch1 = faster("resnet18", all, 1, {"torch_eager", "torch_mkldnn"}), ds1 = faster("resnet18", all, 1, {"ds", "ds_fastest"});
    judge("end-to-end ResNet-18 batch 1, all cores: the faster engine contender (" + listed("resnet18", all, 1, {"ds", "ds_fastest"}) +
              ") vs libtorch FP32 with oneDNN (" + (torch1.first.empty() ? "-" : torch1.first + " " + ms(torch1.second) + " ms") + ")",
          ds1.second > 0 && torch1.second > 0 ? torch1.second / ds1.second : 0, 1.2);
    if (!ds1.first.empty() && !torch1.first.empty()) {
      std::string mine;
      for (const char* c : {"ds", "ds_fastest"})
        if (peak_mb("resnet18", all, 1, c) > 0) mine += std::string(mine.empty() ? "" : ", ") + c + " " + fmt("%.0f", peak_mb("resnet18", all, 1, c)) + " MB";
      verdicts.push_back({"end-to-end peak memory (VmHWM), batch 1: " + mine + " (idle engine process " +
                              fmt("%.1f", floor_mb("resnet18", all, 1, ds1.first)) + " MB) vs " + torch1.first + " " +
                              fmt("%.0f", peak_mb("resnet18", all, 1, torch1.first)) + " MB (idle process with libtorch: " +
                              fmt("%.0f", floor_mb("resnet18", all, 1, torch1.first)) + " MB)",
                          fmt("%.0f", peak_mb("resnet18", all, 1, ds1.first)) + " MB (" + ds1.first + ")", "reported", "reported"});
    }
  }
  // Issue 15: against ONNX Runtime on the same weights (its ONNX export), end to end.
  const size_t n_issue4 = verdicts.size();
  if (!e2e_recs.empty()) {
    auto vs_ort = [&](const std::string& m, int t, int b, const std::string& c) {
      return e2e_ms(m, t, b, c) > 0 && e2e_ms(m, t, b, "ort") > 0 ? e2e_ms(m, t, b, "ort") / e2e_ms(m, t, b, c) : 0.0;
    };
    auto ort_ms = [&](const std::string& m, int t, int b) { return "ONNX Runtime " + ms(e2e_ms(m, t, b, "ort")) + " ms"; };
    judge("ResNet-18 224x224 batch 1, 2 threads: `ds_fastest` (" + ms(e2e_ms("resnet18", 2, 1, "ds_fastest")) + " ms) vs " +
              ort_ms("resnet18", 2, 1), vs_ort("resnet18", 2, 1, "ds_fastest"), 1.3);
    judge("ResNet-18 224x224 batch 1, 2 threads: the multiply-free default `ds` (" + ms(e2e_ms("resnet18", 2, 1, "ds")) + " ms) vs " +
              ort_ms("resnet18", 2, 1), vs_ort("resnet18", 2, 1, "ds"), 1.0);
    const auto r20 = faster("resnet20", 1, 1, {"ds", "ds_fastest"});
    judge("ResNet-20 28x28x1 batch 1, 1 thread: the faster engine contender (" + listed("resnet20", 1, 1, {"ds", "ds_fastest"}) +
              ") vs " + ort_ms("resnet20", 1, 1), r20.first.empty() ? 0.0 : vs_ort("resnet20", 1, 1, r20.first), 1.3);
    const auto b32 = faster("resnet18", 2, 32, {"ds", "ds_fastest"});
    auto ips = [&](const std::string& c) { return fmt("%.1f", 32e3 / e2e_ms("resnet18", 2, 32, c)) + " images/s"; };
    judge("ResNet-18 224x224 batch 32, 2 threads, images/s: the faster engine contender (" +
              (b32.first.empty() ? std::string("-") : b32.first + " " + ips(b32.first)) + ") vs ONNX Runtime " + ips("ort"),
          b32.first.empty() ? 0.0 : vs_ort("resnet18", 2, 32, b32.first), 1.2);
    for (const char* m : {"resnet18", "resnet20"}) {
      const int t = std::string(m) == "resnet18" ? 2 : 1;
      const double eng = peak_mb(m, t, 1, "ds"), ort = peak_mb(m, t, 1, "ort");
      judge(std::string("peak RSS (VmHWM of the whole process), ") + (t == 2 ? "ResNet-18 batch 1, 2 threads" : "ResNet-20 batch 1, 1 thread") +
                ": ONNX Runtime's / the engine's (`ds` " + fmt("%.1f", eng) + " MB, idle engine process " + fmt("%.1f", floor_mb(m, t, 1, "ds")) +
                " MB; ONNX Runtime in node " + fmt("%.1f", ort) + " MB, idle node with ONNX Runtime loaded " + fmt("%.1f", floor_mb(m, t, 1, "ort")) + " MB)",
            eng > 0 && ort > 0 ? ort / eng : 0.0, 1.0);
    }
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
        "process each, driven round by round), and every time is the median over rounds (p10-p90 in the JSON files). "
        "Between contenders the harness waits until the previous one's threads stopped spinning (libgomp workers spin "
        "for a few ms after each parallel region, OpenBLAS's for up to 0.1 s), then gives each measurement one untimed "
        "warm run (the previous contender evicted its data from the caches); no OpenMP waiting policy is changed.\n\n";
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
       << fmt("%.1f", double(probe["fma_avx512_gflops"]["all"])) << " GFLOP/s |\n";
    // The multiply-free limit (bench_probe's exp-add), where the probe measured it.
    for (const char* isa : {"avx2", "avx512"}) {
      const std::string key = std::string("expadd_") + isa + "_gprods";
      if (probe.contains(key))
        md << "| multiply-free product peak (integer add + float add), " << (std::string(isa) == "avx2" ? "AVX2" : "AVX-512")
           << " | " << fmt("%.1f", double(probe[key]["1"])) << " G products/s | " << fmt("%.1f", double(probe[key]["all"]))
           << " G products/s |\n";
    }
    // The 6x16 register tile of the panel kernels, both forms, data in L1 (bench_probe's tile_avx2).
    const bool tiles = probe.contains("tile_fma_avx2_gprods") && probe.contains("tile_expadd_avx2_gprods");
    if (tiles)
      for (const char* form : {"fma", "expadd"}) {
        const auto& t = probe[std::string("tile_") + form + "_avx2_gprods"];
        md << "| 6x16 register tile as the panel kernels run it, data in L1, " << (std::string(form) == "fma" ? "FMA" : "exp-add")
           << ", AVX2 | " << fmt("%.1f", double(t["1"])) << " G products/s | " << fmt("%.1f", double(t["all"]))
           << " G products/s |\n";
      }
    // The one-add form (products precomputed per code, one memory-operand float add each), where measured.
    const bool gather = probe.contains("gather_avx2_gprods");
    if (gather)
      md << "| one-add product from precomputed x * (+-2^p) copies, a memory-operand float add each, data in L1, AVX2 | "
         << fmt("%.1f", double(probe["gather_avx2_gprods"]["1"])) << " G products/s | "
         << fmt("%.1f", double(probe["gather_avx2_gprods"]["all"])) << " G products/s |\n";
    md << "\nAn FMA is one multiply-add (2 flops); the multiply-free kernels spend an integer add and a float add on "
          "each product, so their limit is the exp-add row, against half the FMA's GFLOP/s. "
          "`docs/profile_resnet18.md` sets the default kernel's layers against it.";
    if (tiles)
      md << " The tile rows run the kernels' own inner loop (per k: two x loads through an offset table, six weights "
            "broadcast from memory, twelve products into twelve accumulators) over data in L1: the most a kernel of "
            "that shape gets, loads included. Their ratio, "
         << fmt("%.2f", double(probe["tile_expadd_avx2_gprods"]["1"]) / double(probe["tile_fma_avx2_gprods"]["1"]))
         << " on 1 thread, bounds the multiply-free kernel against an FMA kernel of the same tile.";
    if (gather)
      md << " The one-add row is the other multiply-free form: the input copied once per code value (x * 2^p and its "
            "negation, exact), each product one float add of the copy the code picks. It halves the vector operations "
            "but reuses no loaded value, so it is bound by loads (a 32-byte load per 8 products), not by the adders; "
            "where it stays below the exp-add tile row, the exp-add kernels are the faster multiply-free form.";
    md << "\n\n"
       << "Each record's limit is the one that binds it on a roofline: FMA peak (the better of AVX2 and AVX-512) for "
          "its flops, read bandwidth for its bytes (weights as stored + input + output). \"% of limit\" is that bound's "
          "time over the measured time; \"(in L3)\" marks bandwidth-bound working sets that fit the last-level cache, "
          "which DRAM bandwidth does not bind (they can exceed 100%).\n\n";
  }
  md << "## Commands\n\n" << slurp(a["--commands"]) << "\n";

  md << "## Targets of issue 4\n\n| target | measured | goal | verdict |\n|---|---:|---:|---|\n";
  for (size_t i = 0; i < n_issue4; ++i)
    md << "| " << verdicts[i].name << " | " << verdicts[i].measured << " | " << verdicts[i].goal << " | **" << verdicts[i].verdict << "** |\n";
  md << "\nDenseShift vs zero-weight: the multiply-free DenseShift kernel (`" << mf_kernel << "`"
     << (mf_kernel == def_kernel ? ", the engine's default" : ", by name; the engine's default is `" + def_kernel + "`")
     << ") on the DenseShift model vs the same layer as a shift-with-zero model, which the engine runs on that kernel's "
        "zero-weight sibling of equal effort (`" << zero_kernel << "`), over every conv layer of ResNet-18 and ResNet-20 "
        "(geometric mean weighted by each shape's multiplicity in its network). oneDNN: the engine's default kernel, and "
        "per layer the fastest FP32 engine kernel measured there (FP16 kernels excluded; the Winograd kernels round "
        "differently from a direct product, about 1e-6 relative; which one won is counted in the target's name and set "
        "in bold in the per-layer tables). Picking the minimum of several medians favours "
        "the engine slightly. End to end: `ds` runs the default kernel, `ds_fastest` the engine's `--kernel fastest` "
        "(not multiply-free); the verdict takes the faster. The sgemv target is judged on all cores.\n\n";

  if (verdicts.size() > n_issue4) {
    md << "## Targets of issue 15: against ONNX Runtime\n\nEnd to end, on the same weights: the `.dsm` file the engine runs "
          "and its ONNX export (`denseshift export --format onnx`: the decoded powers of two times the folded BatchNorm "
          "scale, FP32) on ONNX Runtime's CPU provider, all graph optimizations (section \"End to end\" below). Speedup = "
          "ONNX Runtime's median / the engine's; for memory, ONNX Runtime's peak / the engine's (> 1: the engine uses less).\n\n"
          "| target | measured | goal | verdict |\n|---|---:|---:|---|\n";
    for (size_t i = n_issue4; i < verdicts.size(); ++i)
      md << "| " << verdicts[i].name << " | " << verdicts[i].measured << " | " << verdicts[i].goal << " | **" << verdicts[i].verdict << "** |\n";
    md << "\n";
  }

  // Kernel legend.
  if (!order.empty()) {
    md << "## Kernels\n\n| column | kernel | multiply-free | form | measured |\n|---|---|---|---|---|\n";
    auto row = [&](const std::string& col, const std::string& kernel, const std::string& what) {
      auto it = ktraits.find(kernel);
      const bool mfree = it != ktraits.end() && it->second.value("multiply_free", false);
      const bool panel = it != ktraits.end() && it->second.value("panel", false);
      const bool wino = it != ktraits.end() && it->second.value("winograd", false);
      md << "| " << col << " | `" << kernel << "` | " << (it == ktraits.end() ? "?" : mfree ? "yes" : "no") << " | "
         << (it == ktraits.end()  ? "?"
             : wino               ? "Winograd on stride-1 3x3 from 32 input channels (F(4x4) from 28x28 outputs, else F(2x2)); blocked GEMM elsewhere"
             : panel              ? "blocked GEMM (panel)"
                                  : "tile")
         << " | " << what << " |\n";
    };
    for (const auto& c : engine_cols) {
      std::string what = c == "ds" ? "engine default (`ds`)" : "by name (`" + c + "`)";
      if (c == mf_contender) what += "; the zero-weight target's kernel";
      bool everywhere = true;
      for (const auto& k : order)
        if (k.group != "fc" && !recs[k].count(c)) everywhere = false;
      what += everywhere ? "; every conv case" : "; batch 1, 1 thread only";
      row(col_name(c), kernel_of(c), what);
    }
    row("zero", zero_kernel, "shift-with-zero model (`ds_zero`), sibling of `" + mf_kernel + "`");
    md << "\nThe portable (`*scalar*`) and FP16 kernels are left out by default (`bench_layers --all-kernels` adds them).\n\n";
  }

  // Geometric means.
  if (!order.empty()) {
    md << "## Geometric means over conv layers\n\nSpeedup over oneDNN FP32 (NCHW in/out) per engine kernel, weighted by "
          "multiplicity, then the other baselines:\n\n| network | batch | threads |";
    for (const auto& c : engine_cols) md << " " << col_name(c) << (c == "ds" ? " (default)" : "") << " |";
    md << " fastest per layer | default, unweighted | default vs oneDNN native | `" << mf_name << "` vs zero-weight | default "
          "vs OpenBLAS |\n|---|---:|---:|";
    for (size_t i = 0; i < engine_cols.size(); ++i) md << "---:|";
    md << "---:|---:|---:|---:|---:|\n";
    for (const char* g : {"resnet18", "resnet20"})
      for (int b : batches)
        for (int t : threads) {
          auto s = conv_sel(b, t, g);
          if (std::none_of(order.begin(), order.end(), s)) continue;
          md << "| " << g << " | " << b << " | " << t << " |";
          for (const auto& c : engine_cols) md << " " << x(geo(s, "onednn", c, true)) << " |";
          md << " " << x(geo(s, "onednn", "ds_best", true)) << " | " << x(geo(s, "onednn", "ds", false)) << " | "
             << x(geo(s, "onednn_native", "ds", true)) << " | " << x(geo(s, "ds_zero", "ds_mf", true)) << " | "
             << x(geo(s, "openblas", "ds", true)) << " |\n";
        }
    md << "\nWeighted: each distinct shape counts as many times as the network has it (ResNet-18: 20 convs in 11 shapes; "
          "ResNet-20: 19 convs in 6 shapes), so the mean is over the network's layers.\n\n";
  }

  // Per-layer tables: one ms column per engine kernel measured there (the fastest in bold).
  auto layer_table = [&](const std::string& group, int b, int t) {
    if (std::none_of(order.begin(), order.end(), conv_sel(b, t, group))) return;
    std::vector<std::string> cols;
    for (const auto& c : engine_cols)
      for (const auto& k : order)
        if (k.group == group && k.batch == b && k.threads == t && recs[k].count(c)) {
          cols.push_back(c);
          break;
        }
    md << "### " << group << ", batch " << b << ", " << threads_str(t) << "\n\n| layer | shape | x |";
    for (const auto& c : cols) md << " " << col_name(c) << " |";
    md << " zero | oneDNN | native | OpenBLAS | default vs oneDNN | fastest vs oneDNN | `" << mf_name
       << "` vs zero | % of limit: fastest / oneDNN |\n|---|---|---:|";
    for (size_t i = 0; i < cols.size(); ++i) md << "---:|";
    md << "---:|---:|---:|---:|---:|---:|---:|---|\n";
    for (const auto& k : order) {
      if (k.group != group || k.batch != b || k.threads != t) continue;
      const auto& m = recs[k];
      if (!m.count("ds")) continue;
      const json& d = m.at("ds");
      const std::string best = m.count("ds_best") ? std::string(m.at("ds_best")["best_of"]) : "";
      md << "| " << k.layer << " | " << std::string(d["shape"]) << " | " << int(d["mult"]) << " |";
      for (const auto& c : cols) md << " " << (c == best ? "**" + ms(med(k, c)) + "**" : ms(med(k, c))) << " |";
      std::string lim = "-";
      if (m.count("ds_best")) lim = limit_cell(limit_of(L, m.at("ds_best")), m.at("ds_best"));
      lim += " / " + (m.count("onednn") ? limit_cell(limit_of(L, m.at("onednn")), m.at("onednn")) : std::string("-"));
      md << " " << ms(med(k, "ds_zero")) << " | " << ms(med(k, "onednn")) << " | " << ms(med(k, "onednn_native")) << " | "
         << ms(med(k, "openblas")) << " | " << x(med(k, "onednn") / med(k, "ds")) << " | " << x(med(k, "onednn") / med(k, "ds_best"))
         << " | " << x(med(k, "ds_zero") / med(k, "ds_mf")) << " | " << lim << " |\n";
    }
    md << "\n";
  };
  if (!order.empty()) {
    md << "## Convolution layers\n\n"
          "Times in ms. Engine kernel columns (see Kernels): the engine on a one-layer model (random 3-bit DenseShift "
          "codes, per-channel scale and bias, ReLU), the fastest in bold; `zero`: the same layer with shift-with-zero "
          "codes on `" << zero_kernel << "`; `oneDNN`: FP32 direct convolution, blocked layouts chosen by oneDNN, NCHW "
          "input and output reordered inside the timed region (the engine takes NCHW); `native`: the oneDNN primitive "
          "alone; `OpenBLAS`: im2col + sgemm + bias and ReLU. The baselines' FP32 weights are the decoded codes times the "
          "channel scale (outputs checked against the engine's). Layers with more than 64 input channels get an input "
          "prefix in the engine's model (the format takes at most 64 image channels); its time is measured in the same "
          "rounds and subtracted (`raw_median_ms` and `prefix_median_ms` in the JSON). The stem is 3-bit here; in the "
          "deployed network it stays FP32.\n\n";
    for (const char* g : {"resnet18", "resnet20"})
      for (int b : batches)
        for (int t : threads) layer_table(g, b, t);

    // FC.
    md << "## Fully connected layers\n\n`ds`: the engine's linear layer on its default kernel (3-bit codes, scale and bias, "
          "no ReLU; the engine does not say which product path ran); `zero`: the shift-with-zero model on `"
       << zero_kernel << "`; `oneDNN`: FP32 matmul (weights in its chosen layout, reordered once); `OpenBLAS`: sgemv at "
          "batch 1, sgemm at batch 8, the product alone.\n\n"
          "| shape (in x out) | batch | threads | ds ms | ds % of limit | zero ms | oneDNN ms | OpenBLAS ms | "
          "OpenBLAS % of limit | ds vs OpenBLAS | ds vs oneDNN | `"
       << mf_name << "` vs zero | weights ds / FP32 |\n"
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
         << " | " << x(med(k, "ds_zero") / med(k, "ds_mf")) << " | " << wb << " |\n";
    }
    md << "\n";
  }

  // End to end.
  if (!e2e_recs.empty()) {
    const json& em = e2e_metas.front();
    std::string ort_version;
    for (const auto& [k, r] : e2e_recs)
      if (k.contender == "ort" && r.value("info", std::string()).find("onnxruntime-node=") != std::string::npos) {
        const std::string info = r["info"];
        ort_version = info.substr(info.find('=') + 1, info.find(' ') - info.find('=') - 1);
      }
    md << "## End to end\n\n"
       << "`ds`: this repository's network, DenseShift 3-bit, FP32 stem and fc (the default policy), random weights, exported "
          "to a `.dsm` file and run by the engine on its default kernel (`" << em.value("default_kernel", def_kernel) << "`); "
          "`ds_fastest`: the same file on `"
       << (em.value("fma_kernel", "").empty() ? std::string("--kernel fastest` (not run here)") : em.value("fma_kernel", "") + "` (`--kernel fastest`, not multiply-free)")
       << ". `ort`: ONNX Runtime " << (ort_version.empty() ? std::string("(not run: ") + em.value("ort_skipped", "") + ")" : ort_version)
       << " (npm `onnxruntime-node`, CPU provider; `bench/ort_child.js`: all graph optimizations, intra-op threads = "
          "the thread count, sequential execution, timed around back-to-back `session.run` calls, so node's binding is "
          "included: tens of microseconds per call) on the `.dsm`'s ONNX export. libtorch " << em.value("libtorch", std::string("-"))
       << " FP32, the same network with the fp32 method: `torch_eager` (eval, NoGradGuard; its convolution dispatches to "
          "oneDNN), `torch_mkldnn` (ResNet-18 only: oneDNN tensor path, BN folded, weights reordered once, `to_mkldnn()` "
          "input, as `torch.utils.mkldnn`), `torch_eager_nomkldnn` (`setUserEnabledMkldnn(false)`). Each contender runs in "
          "its own process: the engine in `bench_e2e_engine` (no libtorch), libtorch in `bench_e2e`, ONNX Runtime in "
          "node. Peak RSS is that process's VmHWM after warm-up and timed runs (high-water mark reset after the model is "
          "built); \"idle floor\" is an idle process of the same runtime (the same libraries loaded, no model). Between "
          "measurements the driver idles at least " << fmt("%.0f", em.value("gap_ms", 0.0)) << " ms and until no child "
          "uses CPU; \"CPU after\" is the CPU time a contender's process used after its own measurement ended (spinning "
          "worker threads). Each measurement starts with one untimed run (warm caches), then times back-to-back runs (>= "
       << fmt("%.0f", em.value("min_ms", 0.0)) << " ms) on " << (em.value("input", "random") == "grey" ? "a constant 0.5 input" : "N(0, 1) input")
       << "; the time is the median of " << em.value("rounds", 0) << " interleaved rounds.\n\n";
    std::set<std::string> models;
    for (const auto& [k, r] : e2e_recs) models.insert(k.model);
    for (const std::string& m : {std::string("resnet18"), std::string("resnet20")}) {
      if (!models.count(m)) continue;
      md << "### " << (m == "resnet18" ? "ResNet-18, 224x224x3, 1000 classes" : "ResNet-20 (CIFAR-style), 28x28x1, 10 classes") << "\n\n"
         << "| contender | threads | batch | median ms | images/s | ds speedup over it | ds_fastest speedup over it | "
            "peak RSS MB | idle floor MB | CPU after ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
      std::set<std::pair<int, int>> settings;  // (-threads, batch): most threads first
      for (const auto& [k, r] : e2e_recs)
        if (k.model == m) settings.insert({-k.threads, k.batch});
      for (const auto& [nt, b] : settings)
        for (const char* c : kE2eContenders) {
          auto it = e2e_recs.find({m, -nt, b, c});
          if (it == e2e_recs.end()) continue;
          const json& r = it->second;
          const double med_ms = r["median_ms"];
          auto sp = [&](const char* e) { return std::string(c) == e || e2e_ms(m, -nt, b, e) <= 0 ? std::string("-") : x(med_ms / e2e_ms(m, -nt, b, e)); };
          md << "| " << c << " | " << -nt << " | " << b << " | " << ms(med_ms) << " | " << fmt("%.1f", double(r["images_per_s"])) << " | "
             << sp("ds") << " | " << sp("ds_fastest") << " | " << fmt("%.1f", double(r["peak_rss_kb"]) / 1024) << " | "
             << fmt("%.1f", double(r["idle_peak_rss_kb"]) / 1024) << " | "
             << (r.contains("after_cpu_ms") ? fmt("%.1f", std::max(double(r["after_cpu_ms"]), 0.0) + 1e-9) : std::string("-")) << " |\n";
        }
      md << "\n";
    }
  }

  // Start-up: whole commands, one image.
  if (startup.is_object()) {
    md << "## Start-up: one image through `infer`\n\nWall time from fork to exit and peak RSS (ru_maxrss) of the whole "
          "command, as a user runs it: the deployment CLI `denseshift-run` (engine and image decoders only) against the "
          "training CLI `denseshift` (the same code, linked with libtorch). `bench_startup` runs the commands "
          "interleaved, after one untimed run each (binaries and model in the page cache); median (p10-p90) of "
       << startup.value("rounds", 0) << " rounds.\n\n| command | median ms | p10-p90 ms | peak RSS MB |\n|---|---:|---:|---:|\n";
    for (const auto& r : startup["records"])
      md << "| `" << std::string(r["command"]) << "` | " << ms(double(r["median_ms"])) << " | " << ms(double(r["p10_ms"])) << "-"
         << ms(double(r["p90_ms"])) << " | " << fmt("%.1f", double(r["peak_rss_kb"]) / 1024) << " |\n";
    md << "\n";
  }

  if (!a["--plot-png"].empty()) md << "## Plot\n\n![per-layer speedups](benchmarks.png)\n\n"
                                   << "Per conv layer, batch 1, " << all << " threads: the engine's speedup over oneDNN FP32 (default "
                                      "kernel, and the fastest kernel of the layer) and the multiply-free kernel's over its "
                                      "zero-weight sibling (log scale; 1 = parity).\n\n";

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
    auto ratio = [&](const Key& k, const char* base, const char* cand) {
      return med(k, base) > 0 && med(k, cand) > 0 ? med(k, base) / med(k, cand) : NAN;
    };
    for (const auto& k : order) {
      if (k.group == "fc" || k.batch != 1 || k.threads != all || med(k, "ds") <= 0) continue;
      std::string label = (k.group == "resnet18" ? "R18 " : "R20 ") + recs[k].at("ds")["shape"].get<std::string>();
      dat << '"' << label << "\" " << ratio(k, "onednn", "ds") << " " << ratio(k, "onednn", "ds_best") << " "
          << ratio(k, "ds_zero", "ds_mf") << "\n";
      ++n;
    }
    std::ofstream gp(a["--plot-script"]);
    gp << "set terminal pngcairo size 1400,760 font ',10' noenhanced\nset output '" << a["--plot-png"] << "'\n"
       << "set bmargin 9\nset rmargin 8\n"
       << "set title 'denseshift engine speedup per conv layer (batch 1, " << all << " threads" << (quick ? ", smoke run" : "")
       << ")'\nset style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
       << "set logscale y 2\nset yrange [*:*]\nset ylabel 'speedup (baseline ms / engine ms)'\n"
       << "set xtics rotate by -45 scale 0\nset grid ytics\nset key top left\nset arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc 'black'\n"
       << "plot '" << a["--plot-data"] << "' using 2:xtic(1) title 'default kernel (" << def_name << ") vs oneDNN FP32 (NCHW)', "
       << "'' using 3 title 'fastest kernel vs oneDNN FP32', '' using 4 title '" << mf_name << " vs zero-weight " << zero_name << "'\n";
    if (n == 0) std::fprintf(stderr, "bench_report: no batch-1 conv records at %d threads for the plot\n", all);
  }

  for (size_t i = 0; i < verdicts.size(); ++i) {
    if (i == 0 || i == n_issue4)
      std::printf("\nTargets of issue %s%s:\n", i == 0 ? "4" : "15", quick ? " (SMOKE RUN: not the results)" : "");
    const Verdict& v = verdicts[i];
    std::printf("  %-110s %8s (goal %s): %s\n", v.name.c_str(), v.measured.c_str(), v.goal.c_str(), v.verdict.c_str());
  }
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}
