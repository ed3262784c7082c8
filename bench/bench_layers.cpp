// Per-layer benchmark of issue 4: every convolution of ResNet-18 (224x224) and ResNet-20 (32x32)
// and three fully connected layers, batch 1 and 8, at 1 thread and at all cores, against
//
//   ds              the engine (ds::rt::Engine) on a one-layer model built in memory: random 3-bit
//                   DenseShift codes, per-channel scale and bias, ReLU, the engine's default kernel
//   ds:<kernel>     the same model on another supported DenseShift kernel, by name (EngineOptions.kernel):
//                   - the multiply-free panel kernel (f32_pgemm_expadd_6x16_avx2; elsewhere the first
//                     supported of f32_expadd_neon, f32_expadd_avx2, a multiply-free default, any
//                     multiply-free FP32 kernel) everywhere, unless it is the default (then `ds` is it):
//                     the issue's DenseShift-vs-zero-weight target is this kernel vs ds_zero;
//                   - the other blocked-GEMM (panel) kernels, e.g. f32_pgemm_fma_6x16_avx2 (decode + FMA)
//                     and f32_pgemm_hybrid_6x16_avx2, on every conv layer, batch and thread count;
//                   - the earlier tile kernels (f32_expadd_avx2, f32_decode_fma_avx2) at batch 1, 1
//                     thread only (--variants-all-batches: everywhere);
//                   - not the portable and FP16 ones (names containing "scalar" or "f16"; --all-kernels
//                     adds them) nor any named by --skip-kernel; FC layers only with --fc-variants
//   ds_zero         the same layer as a shift-with-zero 3-bit model, run with the multiply-free kernel's
//                   name, so the engine takes its zero-weight sibling of equal effort
//                   (ds::kernels::zero_weight_kernel: f32_pgemm_shiftzero_6x16_avx2)
//   onednn          oneDNN FP32 convolution (format_tag::any: its blocked layouts; weights reordered
//                   once, outside the timed region) with NCHW input and output reordered inside the
//                   timed region, as the engine takes NCHW; oneDNN matmul for the FC layers
//   onednn_native   the same primitive timed alone, input and output already in its layouts
//   openblas        im2col + sgemm (+ bias, ReLU) for convolutions; sgemv (batch 1) or sgemm (batch 8)
//                   for FC layers (the product alone)
//
// The baselines compute the same function as `ds`: their FP32 weights are the decoded codes times
// the channel scale, and every case checks their output against the engine's once.
//
// Contenders are interleaved round by round in one process (each round a Google Benchmark run of
// every contender, the order rotated each round), and each record is the median over rounds.
// Idle gap: oneDNN's OpenMP (libgomp) workers spin for a while after each parallel region
// (OMP_WAIT_POLICY unset; a few ms here) and would take a core from the next contender. libgomp
// reads its spin policy once, at start-up, and GOMP_SPINCOUNT or OMP_WAIT_POLICY=passive would also
// slow oneDNN inside its own measurement, so no variable is set: instead each contender's run
// starts, untimed, by waiting until the process is idle (its CPU clock advances < 0.1 ms in 2 ms,
// at most 500 ms), whatever spun before (oneDNN's OpenMP, OpenBLAS, the engine's pool). Then one
// untimed run of the contender (warm start: its weights back in the caches the previous contender
// used, its own threads awake), then the timed runs.
// Threads: the engine through EngineOptions.threads, oneDNN through OpenMP, OpenBLAS through
// openblas_set_num_threads (with OPENBLAS_THREAD_TIMEOUT=20 unless set: see main).
//
// The engine takes at most 64 input channels (the model format's image limit), so layers with more
// get an input prefix in the model: the 64-channel input doubled by (shortcut-A pad, shortcut-A
// pad, add) until it has the layer's channels. Its time is measured on its own model in the same
// rounds (`ds_prefix`) and subtracted round by round; records keep the raw time too.
//
// Output: a JSON file with one record per (layer, batch, threads, contender): median, p10 and p90
// ms, GFLOP/s, weight bytes, and speedups over each baseline (baseline ms / this ms) from the same
// run. scripts/bench_report.sh turns it into docs/benchmarks.md. At the end it prints how long
// this run took and an estimate for a full run (--estimate-for ROUNDS,MIN_MS; default 7,30, what
// scripts/bench_report.sh runs), from this run's set-up times and calibrated per-run times.
// Run: build/bench/bench_layers [--out FILE] [--rounds N] [--min-ms MS] [--quick] [--only GROUP]
//        [--batches 1,8] [--threads 1,2] [--variants-all-batches] [--fc-variants] [--skip-kernel SUBSTRING]
//        [--all-kernels] [--estimate-for ROUNDS,MIN_MS]
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <time.h>
#include <unistd.h>

#ifdef DS_HAVE_DNNL
#include <omp.h>

#include <dnnl.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "core/codes.h"
#include "core/model_format.h"
#include "kernels/kernels.h"
#include "runtime/engine.h"

namespace {

using ds::bench::json_str;
using ds::bench::quantile;
using ds::bench::parse_list;
using ds::bench::short_kernel;

using Clock = std::chrono::steady_clock;
constexpr int kBits = 3;
constexpr uint32_t kMaxInputChannels = 64;

// ---------------------------------------------------------------- shapes

struct LayerShape {
  std::string group, name;  // group: resnet18, resnet20, fc
  int mult = 1;             // how many layers of the network have this shape
  bool conv = true;
  int cin = 0, cout = 0, k = 1, stride = 1, pad = 0, h = 1, w = 1;  // FC: cin = in, cout = out
  int oh() const { return conv ? (h + 2 * pad - k) / stride + 1 : 1; }
  int ow() const { return conv ? (w + 2 * pad - k) / stride + 1 : 1; }
  int K() const { return cin * k * k; }
  double macs(int batch) const { return double(batch) * cout * oh() * ow() * K(); }
  std::string describe() const {
    if (!conv) return std::to_string(cin) + "x" + std::to_string(cout);
    return std::to_string(k) + "x" + std::to_string(k) + "/" + std::to_string(stride) + " " + std::to_string(cin) + "->" +
           std::to_string(cout) + " @" + std::to_string(h);
  }
};

LayerShape conv(const std::string& g, const std::string& n, int mult, int cin, int cout, int k, int s, int pad, int hw) {
  LayerShape l;
  l.group = g, l.name = n, l.mult = mult, l.cin = cin, l.cout = cout, l.k = k, l.stride = s, l.pad = pad, l.h = l.w = hw;
  return l;
}

LayerShape fc(int in, int out) {
  LayerShape l;
  l.group = "fc", l.name = "fc " + std::to_string(in) + "x" + std::to_string(out), l.conv = false, l.cin = in, l.cout = out;
  return l;
}

// Every convolution of torchvision's ResNet-18 at 224x224 (20 layers, 11 shapes) and of the CIFAR
// ResNet-20 at 32x32 (19 layers, 6 shapes; option-A shortcuts have no convolution).
std::vector<LayerShape> all_shapes() {
  return {
      conv("resnet18", "conv1", 1, 3, 64, 7, 2, 3, 224),
      conv("resnet18", "layer1.*.conv*", 4, 64, 64, 3, 1, 1, 56),
      conv("resnet18", "layer2.0.conv1", 1, 64, 128, 3, 2, 1, 56),
      conv("resnet18", "layer2.0.downsample", 1, 64, 128, 1, 2, 0, 56),
      conv("resnet18", "layer2.*.conv* (3x3/1)", 3, 128, 128, 3, 1, 1, 28),
      conv("resnet18", "layer3.0.conv1", 1, 128, 256, 3, 2, 1, 28),
      conv("resnet18", "layer3.0.downsample", 1, 128, 256, 1, 2, 0, 28),
      conv("resnet18", "layer3.*.conv* (3x3/1)", 3, 256, 256, 3, 1, 1, 14),
      conv("resnet18", "layer4.0.conv1", 1, 256, 512, 3, 2, 1, 14),
      conv("resnet18", "layer4.0.downsample", 1, 256, 512, 1, 2, 0, 14),
      conv("resnet18", "layer4.*.conv* (3x3/1)", 3, 512, 512, 3, 1, 1, 7),
      conv("resnet20", "conv1", 1, 3, 16, 3, 1, 1, 32),
      conv("resnet20", "layer1.*.conv*", 6, 16, 16, 3, 1, 1, 32),
      conv("resnet20", "layer2.0.conv1", 1, 16, 32, 3, 2, 1, 32),
      conv("resnet20", "layer2.* (3x3/1)", 5, 32, 32, 3, 1, 1, 16),
      conv("resnet20", "layer3.0.conv1", 1, 32, 64, 3, 2, 1, 16),
      conv("resnet20", "layer3.* (3x3/1)", 5, 64, 64, 3, 1, 1, 8),
      fc(512, 1000),
      fc(4096, 4096),
      fc(16384, 16384),
  };
}

// ---------------------------------------------------------------- statistics

double median(const std::vector<double>& v) { return quantile(v, 0.5); }

// ---------------------------------------------------------------- data

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return s;
  }
  float uniform() { return float(next() >> 40) / float(1 << 24); }  // [0, 1)
};

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * r.uniform();
  return v;
}

// One layer's weights: codes (rows x K, packed), the same as FP32 for the baselines (decoded
// code x channel scale), and the per-channel scale and bias.
struct Weights {
  std::vector<uint8_t> packed;
  size_t row_bytes = 0;
  std::vector<float> fp32, scale, bias;
};

Weights make_weights(int rows, int K, bool zero_kind, uint64_t seed, bool with_fp32) {
  Weights w;
  Rng r(seed);
  w.row_bytes = ds::core::packed_bytes(size_t(K), kBits);
  w.packed.resize(size_t(rows) * w.row_bytes);
  w.scale.resize(size_t(rows)), w.bias.resize(size_t(rows));
  if (with_fp32) w.fp32.resize(size_t(rows) * size_t(K));
  std::vector<uint8_t> codes(static_cast<size_t>(K), 0);
  float table[8];
  for (int c = 0; c < 8; ++c)
    table[c] = zero_kind ? ds::core::decode_zero_code(uint8_t(c), kBits) : ds::core::decode_code(uint8_t(c), kBits);
  const float base = 0.25f / std::sqrt(float(K));  // keeps outputs near 1 for inputs in [-1, 1]
  for (int m = 0; m < rows; ++m) {
    for (int k = 0; k < K; k += 16) {
      uint64_t bits = r.next();
      for (int j = 0; j < 16 && k + j < K; ++j) codes[size_t(k + j)] = uint8_t((bits >> (3 * j)) & 7);
    }
    ds::core::pack_codes(codes.data(), size_t(K), kBits, w.packed.data() + size_t(m) * w.row_bytes);
    w.scale[size_t(m)] = base * (0.5f + r.uniform());
    w.bias[size_t(m)] = 0.1f * (r.uniform() - 0.5f);
    if (with_fp32) {
      float* row = w.fp32.data() + size_t(m) * size_t(K);
      for (int k = 0; k < K; ++k) row[k] = table[codes[size_t(k)]] * w.scale[size_t(m)];
    }
  }
  return w;
}

// ---------------------------------------------------------------- engine models

// Input of the one-layer model: at most 64 channels; more are made by doubling (see the header).
uint32_t model_input_channels(const LayerShape& s) {
  if (!s.conv || uint32_t(s.cin) <= kMaxInputChannels) return s.conv ? uint32_t(s.cin) : 1;
  uint32_t c = uint32_t(s.cin);
  while (c > kMaxInputChannels && c % 2 == 0) c /= 2;
  return c <= kMaxInputChannels ? c : 0;  // 0: no doubling reaches it
}

ds::core::ModelDesc base_model(const LayerShape& s) {
  ds::core::ModelDesc m;
  if (s.conv) {
    m.info.in_c = model_input_channels(s), m.info.in_h = uint32_t(s.h), m.info.in_w = uint32_t(s.w);
  } else {
    // A vector of cin values as a 1 x h x w image (the linear layer flattens it), each side within
    // the format's 4096 limit: 16384 -> 1x4x4096.
    uint32_t w = uint32_t(s.cin);
    while (w > ds::core::kMaxInputSide && w % 2 == 0) w /= 2;
    m.info.in_c = 1, m.info.in_h = uint32_t(s.cin) / w, m.info.in_w = w;
  }
  m.info.mean.assign(m.info.in_c, 0.f), m.info.std.assign(m.info.in_c, 1.f);
  m.info.arch = "bench", m.info.method = "denseshift";
  // Doubling prefix: v -> (pad after, pad before, add) -> [v, v].
  uint32_t c = m.info.in_c, v = 0;
  while (s.conv && c < uint32_t(s.cin)) {
    ds::core::NodeDesc a, b, add;
    a.op = b.op = ds::core::OpKind::kShortcutA;
    a.inputs = b.inputs = {v};
    a.params = {1, 0, int32_t(c)}, b.params = {1, int32_t(c), 0};
    add.op = ds::core::OpKind::kAdd, add.params = {0};
    m.nodes.push_back(a), m.nodes.push_back(b);
    add.inputs = {uint32_t(m.nodes.size() - 1), uint32_t(m.nodes.size())};
    m.nodes.push_back(add);
    v = uint32_t(m.nodes.size());
    c *= 2;
  }
  m.info.num_classes = uint32_t(size_t(c) * s.h * s.w);  // the prefix-only model returns its output
  return m;
}

bool has_prefix(const LayerShape& s) { return s.conv && uint32_t(s.cin) > kMaxInputChannels; }

std::vector<uint8_t> layer_model(const LayerShape& s, const Weights& w, bool zero_kind) {
  ds::core::ModelDesc m = base_model(s);
  ds::core::NodeDesc n;
  n.inputs = {uint32_t(m.nodes.size())};
  if (s.conv) {
    n.op = ds::core::OpKind::kConv2d;
    n.params = {s.cin, s.cout, s.k, s.k, s.stride, s.pad, 1, 1, 1};
  } else {
    n.op = ds::core::OpKind::kLinear;
    n.params = {s.cin, s.cout, 0};
  }
  n.wkind = zero_kind ? ds::core::WeightKind::kShiftWithZero : ds::core::WeightKind::kDenseShift;
  n.bits = kBits, n.rows = uint32_t(s.cout), n.cols = uint32_t(s.K()), n.row_bytes = uint32_t(w.row_bytes);
  n.own_w = w.packed;
  n.own_scale = w.scale, n.own_bias = w.bias;
  m.nodes.push_back(std::move(n));
  m.info.num_classes = uint32_t(size_t(s.cout) * s.oh() * s.ow());
  return ds::core::serialize_model(m);
}

// ---------------------------------------------------------------- baselines

void set_blas_threads(int t) { openblas_set_num_threads(t); }

// Rows (c, i, j) of the K x N matrix, as the engine's im2col.
void im2col(const float* x, int C, int H, int W, int k, int s, int pad, int OH, int OW, float* col) {
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) {
        float* row = col + ((size_t(c) * k + i) * k + j) * OH * OW;
        for (int oy = 0; oy < OH; ++oy) {
          const int y = oy * s - pad + i;
          float* r = row + size_t(oy) * OW;
          if (y < 0 || y >= H) {
            std::fill(r, r + OW, 0.f);
            continue;
          }
          const float* xr = x + (size_t(c) * H + y) * W;
          for (int ox = 0; ox < OW; ++ox) {
            const int xx = ox * s - pad + j;
            r[ox] = (xx >= 0 && xx < W) ? xr[xx] : 0.f;
          }
        }
      }
}

#ifdef DS_HAVE_DNNL
// A oneDNN convolution or matmul primitive for one thread count. NCHW (or [N, K]) user buffers;
// the primitive's own layouts (format_tag::any) behind them.
struct Dnnl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::primitive prim;
  std::optional<dnnl::reorder> src_re, dst_re;
  dnnl::memory user_src, user_dst, src, dst, wts, bias;

  Dnnl(const LayerShape& s, int N, const Weights& w, float* x, float* y) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    dnnl::primitive_attr attr;
    if (s.conv) {
      const memory::dims sd{N, s.cin, s.h, s.w}, wd{s.cout, s.cin, s.k, s.k}, bd{s.cout}, dd{N, s.cout, s.oh(), s.ow()};
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                        memory::desc(sd, f32, tag::any), memory::desc(wd, f32, tag::any),
                                        memory::desc(bd, f32, tag::x), memory::desc(dd, f32, tag::any), {s.stride, s.stride},
                                        {s.pad, s.pad}, {s.pad, s.pad});
      dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
      setup(pd.src_desc(), pd.weights_desc(), pd.dst_desc(), memory::desc(sd, f32, tag::nchw), memory::desc(wd, f32, tag::oihw),
            memory::desc(dd, f32, tag::nchw), memory::desc(bd, f32, tag::x), w, x, y);
      prim = dnnl::convolution_forward(pd);
    } else {
      // y[N, out] = x[N, in] * W^T: weights are K x M logically, stored M x K (tag ba).
      const memory::dims sd{N, s.cin}, wd{s.cin, s.cout}, bd{1, s.cout}, dd{N, s.cout};
      dnnl::matmul::desc d(memory::desc(sd, f32, tag::ab), memory::desc(wd, f32, tag::any), memory::desc(bd, f32, tag::ab),
                           memory::desc(dd, f32, tag::ab));
      dnnl::matmul::primitive_desc pd(d, attr, eng);
      setup(pd.src_desc(), pd.weights_desc(), pd.dst_desc(), memory::desc(sd, f32, tag::ab), memory::desc(wd, f32, tag::ba),
            memory::desc(dd, f32, tag::ab), memory::desc(bd, f32, tag::ab), w, x, y);
      prim = dnnl::matmul(pd);
    }
  }

  void setup(const dnnl::memory::desc& src_d, const dnnl::memory::desc& w_d, const dnnl::memory::desc& dst_d,
             const dnnl::memory::desc& user_src_d, const dnnl::memory::desc& user_w_d, const dnnl::memory::desc& user_dst_d,
             const dnnl::memory::desc& bias_d, const Weights& w, float* x, float* y) {
    user_src = dnnl::memory(user_src_d, eng, x);
    user_dst = dnnl::memory(user_dst_d, eng, y);
    src = src_d == user_src_d ? user_src : dnnl::memory(src_d, eng);
    dst = dst_d == user_dst_d ? user_dst : dnnl::memory(dst_d, eng);
    if (src_d != user_src_d) src_re = dnnl::reorder(user_src, src);
    if (dst_d != user_dst_d) dst_re = dnnl::reorder(dst, user_dst);
    // Weights: reordered once here, outside every timed region.
    dnnl::memory user_w(user_w_d, eng, const_cast<float*>(w.fp32.data()));
    wts = w_d == user_w_d ? user_w : dnnl::memory(w_d, eng);
    if (w_d != user_w_d) dnnl::reorder(user_w, wts).execute(strm, user_w, wts);
    bias = dnnl::memory(bias_d, eng, const_cast<float*>(w.bias.data()));
    // The source is reordered once so that onednn_native reads the same input.
    if (src_re) src_re->execute(strm, user_src, src);
    strm.wait();
  }

  void run_native() {
    prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
    strm.wait();
  }
  void run_nchw() {
    if (src_re) src_re->execute(strm, user_src, src);
    prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
    if (dst_re) dst_re->execute(strm, dst, user_dst);
    strm.wait();
  }
};
#endif

// ---------------------------------------------------------------- contenders

struct Contender {
  std::string name;    // ds, ds:<kernel>, ds_zero, ds_prefix, onednn, onednn_native, openblas
  std::string kernel;  // for ds*: the kernel that runs
  int threads = 1;
  size_t weight_bytes = 0;
  std::function<void()> set_threads;
  std::function<void()> fn;
  int iters = 1;
  double calib_ms = 0;     // one run, after the warm-up one
  std::vector<double> ms;  // per round
};

struct Options {
  std::string out = "bench_layers.json", only;
  int rounds = 5;
  double min_ms = 20;
  std::vector<int> batches{1, 8}, threads;
  bool variants_all_batches = false, fc_variants = false, all_kernels = false;
  std::vector<std::string> skip_kernels;
  int est_rounds = 7;
  double est_min_ms = 30;
};

double process_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// The idle gap before a contender's run (see the header): waits until no thread of this process
// burns CPU (< 0.1 ms of CPU in 2 ms of sleep), at most 500 ms. The caller is the only thread
// meant to run, and it sleeps.
void wait_until_idle() {
  const auto t0 = Clock::now();
  double prev = process_cpu_ms();
  while (std::chrono::duration<double, std::milli>(Clock::now() - t0).count() < 500) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double now = process_cpu_ms();
    if (now - prev < 0.1) return;
    prev = now;
  }
}

// Collects Google Benchmark's per-iteration real time (ms) of every run by name.
class Collector : public benchmark::BenchmarkReporter {
 public:
  std::map<std::string, double> ms;
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) ms[r.run_name.function_name] = r.GetAdjustedRealTime();
  }
};

double max_rel_diff(const std::vector<float>& a, const float* b, size_t n) {
  double mx = 0, ref = 1e-30;
  for (size_t i = 0; i < n; ++i) {
    mx = std::max(mx, double(std::fabs(a[i] - b[i])));
    ref = std::max(ref, double(std::fabs(a[i])));
  }
  return mx / ref;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenBLAS's idle workers spin ~2^28 cycles after each call by default, taking a core from the
  // next contender; 2^20 keeps them hot within a measurement only. Read when OpenBLAS loads, so
  // set it and start again.
  if (!std::getenv("OPENBLAS_THREAD_TIMEOUT")) {
    ::setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1);
    ::execv("/proc/self/exe", argv);
  }
  Options o;
  const int all = int(std::max(1u, std::thread::hardware_concurrency()));
  bool quick = false;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : argv[i]; };
    if (!std::strcmp(argv[i], "--out")) o.out = next();
    else if (!std::strcmp(argv[i], "--rounds")) o.rounds = std::max(1, std::atoi(next()));
    else if (!std::strcmp(argv[i], "--min-ms")) o.min_ms = std::atof(next());
    else if (!std::strcmp(argv[i], "--only")) o.only = next();
    else if (!std::strcmp(argv[i], "--batches")) o.batches = parse_list(next());
    else if (!std::strcmp(argv[i], "--threads")) o.threads = parse_list(next());
    else if (!std::strcmp(argv[i], "--variants-all-batches")) o.variants_all_batches = true;
    else if (!std::strcmp(argv[i], "--fc-variants")) o.fc_variants = true;
    else if (!std::strcmp(argv[i], "--skip-kernel")) o.skip_kernels.push_back(next());
    else if (!std::strcmp(argv[i], "--all-kernels")) o.all_kernels = true;
    else if (!std::strcmp(argv[i], "--estimate-for")) {
      const std::vector<int> v = parse_list(next());
      if (!v.empty()) o.est_rounds = std::max(1, v[0]);
      if (v.size() > 1) o.est_min_ms = v[1];
    } else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else rest.push_back(argv[i]);
  }
  if (quick) o.rounds = 3, o.min_ms = 2;  // smoke run: every code path, few rounds, short measurements
  // The portable and FP16 kernels are slow and not what the engine would pick: left out unless asked.
  if (!o.all_kernels) o.skip_kernels.insert(o.skip_kernels.end(), {"scalar", "f16"});
  // f32_winograd_3x3_fma_avx512 runs each layer as f32_winograd_3x3_avx512 (stride-1 3x3) or
  // f32_pgemm_fma_6x16_avx512 (the rest) does: per layer it would repeat one of their rows.
  o.skip_kernels.push_back("winograd_3x3_fma");
  if (o.threads.empty()) o.threads = all > 1 ? std::vector<int>{1, all} : std::vector<int>{1};
  int n_args = int(rest.size());
  benchmark::Initialize(&n_args, rest.data());

  using ds::kernels::KernelInfo;
  const KernelInfo& def = ds::kernels::select_kernel();
  // The multiply-free kernel of the DenseShift-vs-zero-weight target (see the header).
  const KernelInfo* mf = nullptr;
  {
    auto fp32_mf = [](const KernelInfo& k) {
      return k.weights == ds::kernels::WeightSet::kDenseShift && k.multiply_free && !k.fp16_activations && k.supported();
    };
    for (const char* n : {"f32_pgemm_expadd_6x16_avx2", "f32_expadd_neon", "f32_expadd_avx2"})
      for (const auto& k : ds::kernels::all_kernels())
        if (!mf && k.name == std::string(n) && fp32_mf(k)) mf = &k;
    if (!mf && fp32_mf(def)) mf = &def;
    for (const auto& k : ds::kernels::all_kernels())
      if (!mf && fp32_mf(k)) mf = &k;
    if (!mf) mf = &def;  // none multiply-free: the target compares the default kernel
  }
  const bool mf_is_default = std::string(mf->name) == def.name;
  const std::string mf_contender = mf_is_default ? std::string("ds") : std::string("ds:") + mf->name;
  // Other kernels by name: panel kernels on every conv case, tile kernels at batch 1, 1 thread.
  std::vector<const KernelInfo*> variants;
  for (const auto& k : ds::kernels::all_kernels())
    if (k.weights == ds::kernels::WeightSet::kDenseShift && k.supported() && &k != &def && &k != mf &&
        std::none_of(o.skip_kernels.begin(), o.skip_kernels.end(),
                     [&](const std::string& s) { return std::string(k.name).find(s) != std::string::npos; }))
      variants.push_back(&k);

  std::vector<LayerShape> shapes;
  for (const auto& s : all_shapes())
    if (o.only.empty() || s.group == o.only || s.name == o.only) shapes.push_back(s);
  double total_work = 0, done_work = 0;
  for (const auto& s : shapes)
    for (int b : o.batches) total_work += s.macs(b) * double(o.threads.size());

  FILE* out = std::fopen(o.out.c_str(), "w");
  if (!out) {
    std::perror(o.out.c_str());
    return 1;
  }
  const std::string zero_kernel = ds::kernels::zero_weight_kernel(*mf).name;  // what the engine runs ds_zero on
#ifdef DS_HAVE_DNNL
  const auto* dv = dnnl::version();
  const std::string dnnl_version = std::to_string(dv->major) + "." + std::to_string(dv->minor) + "." + std::to_string(dv->patch);
#else
  const std::string dnnl_version;
#endif
  std::fprintf(out,
               "{\n\"meta\": {\"rounds\": %d, \"min_ms\": %g, \"threads_all\": %d, \"default_kernel\": %s, "
               "\"mf_kernel\": %s, \"mf_contender\": %s, \"zero_kernel\": %s, \"onednn\": %s, \"openblas\": %s, \"bits\": %d, "
               "\"quick\": %s, \"kernels\": [",
               o.rounds, o.min_ms, all, json_str(def.name).c_str(), json_str(mf->name).c_str(), json_str(mf_contender).c_str(),
               json_str(zero_kernel).c_str(), json_str(dnnl_version).c_str(), json_str(openblas_get_config()).c_str(), kBits,
               quick ? "true" : "false");
  {
    bool first = true;  // every kernel built in, for the report's legend and its choice of the fastest
    for (const auto& k : ds::kernels::all_kernels()) {
      std::fprintf(out, "%s\n  {\"name\": %s, \"denseshift\": %s, \"multiply_free\": %s, \"fp16\": %s, \"panel\": %s, "
                   "\"winograd\": %s, \"supported\": %s}",
                   first ? "" : ",", json_str(k.name).c_str(), k.weights == ds::kernels::WeightSet::kDenseShift ? "true" : "false",
                   k.multiply_free ? "true" : "false", k.fp16_activations ? "true" : "false", k.panel ? "true" : "false",
                   k.winograd ? "true" : "false", k.supported() ? "true" : "false");
      first = false;
    }
  }
  std::fprintf(out, "]},\n\"records\": [\n");
  bool first_record = true;
  const auto t_start = Clock::now();
  std::printf("[layers] %zu shapes x batches {", shapes.size());
  for (int b : o.batches) std::printf(" %d", b);
  std::printf(" } x threads {");
  for (int t : o.threads) std::printf(" %d", t);
  std::printf(" }, %d rounds, >= %g ms per measurement; default kernel %s; multiply-free %s vs zero-weight %s%s\n", o.rounds,
              o.min_ms, def.name, mf->name, zero_kernel.c_str(), dnnl_version.empty() ? ", no oneDNN" : "");
  std::printf("[layers] other kernels:");
  for (const auto* k : variants) std::printf(" %s%s", k->name, k->panel || o.variants_all_batches ? "" : " (batch 1, 1 thread)");
  std::printf("%s\n", variants.empty() ? " none" : "");
  std::fflush(stdout);
  double est_full_s = 0;  // estimate of a full run (--estimate-for)

  for (const auto& s : shapes)
    for (int batch : o.batches) {
      const auto t_case = Clock::now();
      const uint64_t seed = std::hash<std::string>{}(s.group + s.name) ^ uint64_t(batch);
      const Weights w = make_weights(s.cout, s.K(), false, seed, true);
      const Weights wz = make_weights(s.cout, s.K(), true, seed + 1, false);
      const uint32_t in_c = model_input_channels(s);
      if (s.conv && in_c == 0) {
        std::fprintf(stderr, "[layers] %s: %d input channels cannot be built from <= 64, skipped\n", s.name.c_str(), s.cin);
        continue;
      }
      // Input: in_c random channels, doubled to cin for the baselines exactly as the engine's prefix does.
      const size_t in_plane = s.conv ? size_t(s.h) * s.w : size_t(s.cin);
      const size_t in_per_image = s.conv ? size_t(s.cin) * in_plane : size_t(s.cin);
      const std::vector<float> x_model = random_floats(size_t(batch) * (s.conv ? in_c : 1) * in_plane, seed + 2, -1.f, 1.f);
      std::vector<float> x(size_t(batch) * in_per_image);
      for (int b = 0; b < batch; ++b)
        for (int c = 0; c < (s.conv ? s.cin : 1); ++c)
          std::memcpy(x.data() + (size_t(b) * (s.conv ? s.cin : 1) + size_t(c)) * in_plane,
                      x_model.data() + (size_t(b) * (s.conv ? in_c : 1) + size_t(c) % (s.conv ? in_c : 1)) * in_plane,
                      in_plane * sizeof(float));
      const size_t out_per_image = size_t(s.cout) * s.oh() * s.ow();
      const std::vector<uint8_t> bytes = layer_model(s, w, false), zbytes = layer_model(s, wz, true);
      const std::vector<uint8_t> pbytes = has_prefix(s) ? ds::core::serialize_model(base_model(s)) : std::vector<uint8_t>{};

      std::vector<std::unique_ptr<ds::rt::Engine>> engines;
      std::vector<std::unique_ptr<std::vector<float>>> bufs;
      auto buffer = [&](size_t n) {
        bufs.push_back(std::make_unique<std::vector<float>>(n, 0.f));
        return bufs.back()->data();
      };
      std::vector<Contender> cs;
      const bool conv_or_fc_variants = s.conv || o.fc_variants;
      const float* xm = x_model.data();
      double check_dnnl = -1, check_blas = -1;
      std::vector<float> y_ref;
      for (int t : o.threads) {
        auto add_engine = [&](const std::string& name, const std::vector<uint8_t>& b, const std::string& kernel) {
          engines.push_back(std::make_unique<ds::rt::Engine>(
              ds::rt::Engine::from_bytes(b, s.name + ".dsm", ds::rt::EngineOptions{kernel, t})));
          const ds::rt::Engine* e = engines.back().get();
          Contender c;
          c.name = name, c.threads = t, c.weight_bytes = e->weight_bytes();
          c.kernel = name == "ds_zero" ? zero_kernel : name == "ds_prefix" ? "" : e->kernel().name;
          c.set_threads = [] {};
          c.fn = [e, xm, batch] { benchmark::DoNotOptimize(e->run(xm, batch)); };
          cs.push_back(std::move(c));
          return e;
        };
        const ds::rt::Engine* ours = add_engine("ds", bytes, "");
        if (y_ref.empty()) y_ref = ours->run(xm, batch);
        if (!mf_is_default && conv_or_fc_variants) add_engine(mf_contender, bytes, mf->name);
        for (const auto* k : variants)
          if (conv_or_fc_variants && (k->panel || (batch == 1 && t == 1) || o.variants_all_batches))
            add_engine(std::string("ds:") + k->name, bytes, k->name);
        add_engine("ds_zero", zbytes, zero_kernel);  // the engine runs a model only on a kernel for its weights
        if (has_prefix(s)) add_engine("ds_prefix", pbytes, "");
#ifdef DS_HAVE_DNNL
        {
          omp_set_num_threads(t);  // oneDNN sizes its work split at creation: one primitive per thread count
          float* y = buffer(size_t(batch) * out_per_image);
          auto d = std::make_shared<Dnnl>(s, batch, w, x.data(), y);
          Contender c;
          c.threads = t, c.weight_bytes = w.fp32.size() * sizeof(float);
          c.set_threads = [t] { omp_set_num_threads(t); };
          c.name = "onednn", c.fn = [d] { d->run_nchw(); };
          cs.push_back(c);
          c.name = "onednn_native", c.fn = [d] { d->run_native(); };
          cs.push_back(c);
          if (check_dnnl < 0) {
            d->run_nchw();
            check_dnnl = max_rel_diff(y_ref, y, y_ref.size());
          }
        }
#endif
        {
          Contender c;
          c.name = "openblas", c.threads = t, c.weight_bytes = w.fp32.size() * sizeof(float);
          c.set_threads = [t] { set_blas_threads(t); };
          float* y = buffer(size_t(batch) * out_per_image);
          const float* W = w.fp32.data();
          const float* X = x.data();
          if (s.conv) {
            const int N = s.oh() * s.ow(), K = s.K();
            const bool direct = s.k == 1 && s.stride == 1 && s.pad == 0;
            float* col = direct ? nullptr : buffer(size_t(K) * N);
            const float* bias = w.bias.data();
            c.fn = [=] {
              for (int b = 0; b < batch; ++b) {
                const float* xb = X + size_t(b) * in_per_image;
                if (!direct) {
                  im2col(xb, s.cin, s.h, s.w, s.k, s.stride, s.pad, s.oh(), s.ow(), col);
                  xb = col;
                }
                float* yb = y + size_t(b) * out_per_image;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.cout, N, K, 1.f, W, K, xb, N, 0.f, yb, N);
                for (int m = 0; m < s.cout; ++m)
                  for (int j = 0; j < N; ++j) yb[size_t(m) * N + j] = std::max(yb[size_t(m) * N + j] + bias[m], 0.f);
              }
            };
          } else if (batch == 1) {
            c.fn = [=] { cblas_sgemv(CblasRowMajor, CblasNoTrans, s.cout, s.cin, 1.f, W, s.cin, X, 1, 0.f, y, 1); };
          } else {
            c.fn = [=] {
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, s.cout, s.cin, 1.f, X, s.cin, W, s.cin, 0.f, y, s.cout);
            };
          }
          cs.push_back(c);
          if (check_blas < 0) {
            set_blas_threads(t);
            c.fn();
            if (s.conv) {
              check_blas = max_rel_diff(y_ref, y, y_ref.size());
            } else {  // the bare product: add the bias for the check
              std::vector<float> yb(y, y + y_ref.size());
              for (int b = 0; b < batch; ++b)
                for (int m = 0; m < s.cout; ++m) yb[size_t(b) * s.cout + m] += w.bias[size_t(m)];
              check_blas = max_rel_diff(y_ref, yb.data(), y_ref.size());
            }
          }
        }
      }
      for (double e : {check_dnnl, check_blas})
        if (e > 1e-3)
          std::fprintf(stderr, "[layers] WARNING %s batch %d: a baseline differs from the engine by %.2g (relative)\n",
                       s.name.c_str(), batch, e);

      // Calibration (and warm-up): iterations per measurement so that each takes >= min_ms.
      for (auto& c : cs) {
        c.set_threads();
        c.fn();
        auto t0 = Clock::now();
        c.fn();
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        c.calib_ms = ms;
        c.iters = std::max(1, std::min(10000, int(std::ceil(o.min_ms / std::max(ms, 1e-4)))));
      }
      const double setup_s = std::chrono::duration<double>(Clock::now() - t_case).count();
      const auto t_rounds = Clock::now();
      // Rounds: every contender once per round, the order rotated each round.
      benchmark::ClearRegisteredBenchmarks();
      std::map<std::string, std::pair<size_t, int>> which;
      for (int r = 0; r < o.rounds; ++r)
        for (size_t j = 0; j < cs.size(); ++j) {
          Contender* c = &cs[(j + size_t(r)) % cs.size()];
          const std::string name = c->name + "/t" + std::to_string(c->threads) + "/round" + std::to_string(r);
          which[name] = {size_t(c - cs.data()), r};
          benchmark::RegisterBenchmark(name.c_str(),
                                       [c](benchmark::State& st) {
                                         c->set_threads();
                                         wait_until_idle();  // untimed: the timer starts with the loop
                                         c->fn();            // warm start, untimed (see the header)
                                         for (auto _ : st) c->fn();
                                       })
              ->Iterations(c->iters)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
      Collector rep;
      benchmark::RunSpecifiedBenchmarks(&rep);
      {
        // Estimate for a full run: this case's set-up and calibration as here, its rounds at the
        // full run's counts (each measurement max(calibrated run, min_ms), plus the idle wait, ~2 ms,
        // and what this run's rounds spent beyond their measurements).
        double meas = 0, full = 0;
        for (const auto& c : cs) {
          meas += double(o.rounds) * (c.iters + 1) * c.calib_ms;  // + the warm start
          full += double(o.est_rounds) *
                  (1 + std::max(1, std::min(10000, int(std::ceil(o.est_min_ms / std::max(c.calib_ms, 1e-4)))))) * c.calib_ms;
        }
        const double rounds_s = std::chrono::duration<double>(Clock::now() - t_rounds).count();
        const double overhead_s = std::max(0.0, rounds_s - meas / 1e3) / o.rounds;  // per round
        est_full_s += setup_s + full / 1e3 + overhead_s * o.est_rounds;
      }
      for (const auto& [name, v] : rep.ms) {
        auto it = which.find(name);
        if (it != which.end()) cs[it->second.first].ms.push_back(v);
      }

      // Records: ours net of the input prefix (round by round), speedups over every baseline.
      auto find = [&](const std::string& name, int t) -> Contender* {
        for (auto& c : cs)
          if (c.name == name && c.threads == t) return &c;
        return nullptr;
      };
      std::string line;
      for (int t : o.threads) {
        std::map<std::string, double> med;
        std::map<std::string, std::vector<double>> net;
        const Contender* pre = find("ds_prefix", t);
        for (auto& c : cs) {
          if (c.threads != t) continue;
          std::vector<double> v = c.ms;
          if (pre && c.name.rfind("ds", 0) == 0 && c.name != "ds_prefix")
            for (size_t r = 0; r < v.size() && r < pre->ms.size(); ++r) v[r] = std::max(v[r] - pre->ms[r], 1e-6);
          net[c.name] = v;
          med[c.name] = median(v);
        }
        for (auto& c : cs) {
          if (c.threads != t || c.ms.empty()) continue;
          const std::vector<double>& v = net[c.name];
          const double m = med[c.name];
          const double flops = 2 * s.macs(batch);
          std::fprintf(out, "%s{\"group\": %s, \"layer\": %s, \"shape\": %s, \"kind\": %s, \"mult\": %d, \"cin\": %d, \"cout\": %d, "
                       "\"k\": %d, \"stride\": %d, \"pad\": %d, \"h\": %d, \"w\": %d, \"oh\": %d, \"ow\": %d, \"batch\": %d, "
                       "\"threads\": %d, \"contender\": %s, \"kernel\": %s, \"iters\": %d, \"median_ms\": %.6g, \"p10_ms\": %.6g, "
                       "\"p90_ms\": %.6g, \"raw_median_ms\": %.6g, \"prefix_median_ms\": %.6g, \"rounds_ms\": [",
                       first_record ? "" : ",\n", json_str(s.group).c_str(), json_str(s.name).c_str(), json_str(s.describe()).c_str(),
                       s.conv ? "\"conv\"" : "\"fc\"", s.mult, s.cin, s.cout, s.k, s.stride, s.pad, s.h, s.w, s.oh(), s.ow(), batch, t,
                       json_str(c.name).c_str(), json_str(c.kernel).c_str(), c.iters, m, quantile(v, 0.1), quantile(v, 0.9),
                       median(c.ms), pre && c.name.rfind("ds", 0) == 0 && c.name != "ds_prefix" ? median(pre->ms) : 0.0);
          first_record = false;
          for (size_t r = 0; r < v.size(); ++r) std::fprintf(out, "%s%.6g", r ? ", " : "", v[r]);
          std::fprintf(out, "], \"flops\": %.6g, \"gflops\": %.6g, \"weight_bytes\": %zu, \"act_bytes\": %zu, \"check_rel_err\": {\"onednn\": %.3g, "
                       "\"openblas\": %.3g}, \"speedup_vs\": {",
                       flops, flops / (m * 1e6), c.weight_bytes, (size_t(batch) * (in_per_image + out_per_image)) * sizeof(float),
                       check_dnnl, check_blas);
          bool first = true;
          for (const char* base : {"onednn", "onednn_native", "openblas", "ds_zero", "ds"}) {
            auto it = med.find(base);
            if (it == med.end() || base == c.name) continue;
            std::fprintf(out, "%s\"%s\": %.6g", first ? "" : ", ", base, it->second / m);
            first = false;
          }
          std::fprintf(out, "}}");
        }
        char buf[256];
        std::snprintf(buf, sizeof buf, "  t%d: ds %.3g", t, med["ds"]);
        line += buf;
        for (const auto& [name, v] : med)
          if (name.rfind("ds:", 0) == 0) {
            std::snprintf(buf, sizeof buf, " %s %.3g", short_kernel(name.substr(3)).c_str(), v);
            line += buf;
          }
        for (const char* base : {"ds_zero", "onednn", "openblas"})
          if (med.count(base)) {
            std::snprintf(buf, sizeof buf, " %s %.3g", base, med[base]);
            line += buf;
          }
        line += " ms";
      }
      std::fflush(out);
      done_work += s.macs(batch) * double(o.threads.size());
      const double el = std::chrono::duration<double>(Clock::now() - t_start).count();
      std::printf("[layers] %-9s %-24s b%d:%s | %.0f s, ETA %.0f s\n", s.group.c_str(), s.name.c_str(), batch, line.c_str(), el,
                  el / done_work * (total_work - done_work));
      std::fflush(stdout);
    }
  std::fprintf(out, "\n]}\n");
  std::fclose(out);
  std::printf("[layers] wrote %s (%.0f s); a full run of these cases (--rounds %d --min-ms %g) would take about %.0f s\n",
              o.out.c_str(), std::chrono::duration<double>(Clock::now() - t_start).count(), o.est_rounds, o.est_min_ms,
              est_full_s);
  return 0;
}
