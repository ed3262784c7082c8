// End to end, one network at a time, the engine against libtorch and ONNX Runtime (issues 4, 13
// and 15): ResNet-18 224x224 (--model resnet18, default) or ResNet-20 28x28x1 (--model resnet20), at
// each batch size and thread count asked for:
//
//   ds                    this repository's network, DenseShift 3-bit with the default policy (FP32
//                         first conv and fc, as in the paper), exported to a .dsm file and run by
//                         ds::rt::Engine with its default kernel (multiply-free exponent add)
//   ds_fastest            the same model file with EngineOptions.kernel = "fastest" (on AVX-512 CPUs
//                         Winograd on the stride-1 3x3 layers and, elsewhere, the hybrid kernel - 4
//                         rows of each tile by FMA, 2 by exponent add - on AMD, FMA on decoded
//                         codes on Intel; not multiply-free, faster); left out where it is already
//                         the default
//   ort                   ONNX Runtime (CPU, npm's onnxruntime-node, --ort DIR) on the same weights:
//                         the .dsm's ONNX export (src/onnx_export), run by bench/ort_child.js with all
//                         graph optimizations; left out (with a message) without --ort
//   torch_eager           libtorch FP32 (the same model code with the fp32 method), eval mode,
//                         NoGradGuard; libtorch's eager convolution dispatches to oneDNN (mkldnn)
//   torch_mkldnn          ResNet-18 only: the same network on libtorch's oneDNN tensor path, as
//                         torch.utils.mkldnn does it in Python: BatchNorm folded into the convolutions,
//                         weights reordered once (mkldnn_reorder_conv2d_weight), activations kept as
//                         mkldnn tensors (input.to_mkldnn() inside the timed region), dense before fc
//   torch_eager_nomkldnn  torch_eager with at::globalContext().setUserEnabledMkldnn(false): libtorch
//                         without oneDNN (its own im2col + BLAS convolution)
//
// Every contender lives in its own child process, so its peak memory is its own: the engine in
// bench_e2e_engine (no libtorch in it), libtorch in this program re-executed with --child, ONNX
// Runtime in node. The parent drives them round by round over pipes (bench/e2e_child.h: one round =
// every contender once, the order rotated each round; children wait blocked while another one
// runs) and takes the median over rounds. Peak memory is VmHWM from /proc/self/status after the
// warm-up and timed runs; the high-water mark is reset once the model is built, so it counts the
// resident model and the inference, not the construction. For each of the three runtimes an idle
// child, which loaded the same libraries and did nothing, gives that runtime's floor.
//
// Warm start: each measurement begins with one untimed run, since the contender that ran before
// evicted this one's weights and activations from the caches (ResNet-18 in FP32 is 47 MB, more
// than the L3); the timed runs are then steady-state back-to-back inference, as a serving process
// sees it and as build/bench/engine_bench measures it.
//
// Idle gap between contenders: libtorch's OpenMP workers (libgomp) and ONNX Runtime's pool keep
// spinning for a while after each parallel region, and the OpenBLAS threads behind libtorch's
// non-oneDNN convolutions for ~0.1 s (OPENBLAS_THREAD_TIMEOUT unset), taking a core from whichever
// contender runs next. So after each measurement the parent sleeps --gap-ms (300 ms by default)
// and then waits until no child burns CPU any more (their CPU clocks, read with
// clock_getcpuclockid, advance by < 0.5 ms in 20 ms; at most 2 s more) before it starts the next
// contender. No environment variable is changed: within a measurement every library keeps its own
// waiting policy. The CPU time a child used after its own measurement ended (its spinning) is
// recorded as after_cpu_ms.
// Run: build/bench/bench_e2e [--model resnet18|resnet20] [--out FILE] [--rounds N] [--min-ms MS]
//        [--batches 1,8] [--threads 2,1] [--gap-ms MS] [--ort DIR] [--save-model PATH] [--save-onnx PATH]
//        [--contenders ds,ds_fastest,...] [--input random|grey] [--quick]
//   --ort DIR          the onnxruntime-node package folder (scripts/install_onnxruntime.sh prints it)
//   --contenders LIST  runs only these (default: all above)
//   --input grey       every contender's input is 0.5 everywhere, as build/bench/engine_bench feeds it,
//                      instead of N(0, 1) noise (a normalized image's statistics): the kernels' timing
//                      may depend on the data
//   --save-model PATH  keeps a copy of the generated .dsm (e.g. for build/bench/engine_bench PATH "" THREADS 1)
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "core/model_format.h"
#include "kernels/kernels.h"
#include "train/export.h"
#include "train/models.h"
#ifdef DS_HAVE_ONNX_EXPORT
#include "onnx_export/onnx_export.h"
#endif

#include "bench_common.h"
#include "e2e_child.h"

namespace {

using ds::bench::json_str;
using ds::bench::quantile;
using ds::bench::parse_list;
using namespace ds::bench::e2e;

using Clock = std::chrono::steady_clock;
const char* const kContenders[] = {"ds", "ds_fastest", "ort", "torch_eager", "torch_mkldnn", "torch_eager_nomkldnn"};
// The ds_fastest contender's kernel: the engine's "fastest" choice (multiply-free or not).
const char* fast_kernel() { return ds::kernels::select_kernel("fastest").name; }
bool g_grey_input = false;                      // --input grey
const NetShape* g_net = &net_shape("resnet18");  // --model

// Which process runs a contender (and whose idle floor it is measured against).
enum class Runtime { kEngine, kTorch, kOrt };
Runtime runtime_of(const std::string& contender) {
  if (contender.rfind("ds", 0) == 0 || contender == "engine_idle") return Runtime::kEngine;
  if (contender.rfind("ort", 0) == 0) return Runtime::kOrt;
  return Runtime::kTorch;
}
const char* idle_of(Runtime r) { return r == Runtime::kEngine ? "engine_idle" : r == Runtime::kOrt ? "ort_idle" : "torch_idle"; }

torch::Tensor input_tensor(int batch) {
  const std::vector<int64_t> shape{batch, g_net->c, g_net->h, g_net->w};
  return g_grey_input ? torch::full(shape, 0.5f) : torch::randn(shape);
}

bool kernel_supported(const std::string& name) {
  for (const auto& k : ds::kernels::all_kernels())
    if (name == k.name) return k.supported();
  return false;
}

ds::ModelConfig model_config(ds::QuantSpec body) {
  ds::ModelConfig cfg;
  cfg.arch = g_net->name, cfg.in_channels = g_net->c, cfg.num_classes = g_net->classes;
  cfg.policy.body = body;  // first conv and fc stay FP32 (the default policy)
  return cfg;
}

// ---------------------------------------------------------------- contenders (child side)

class TorchEagerRunner : public Runner {
 public:
  TorchEagerRunner(int batch, bool mkldnn) {
    at::globalContext().setUserEnabledMkldnn(mkldnn);
    torch::manual_seed(1);
    model_ = ds::make_model(model_config(ds::QuantSpec{ds::Method::kFp32, 3}));
    model_->eval();
    x_ = input_tensor(batch);
  }
  void run() override {
    torch::NoGradGuard ng;
    y_ = model_->forward(x_);
  }
  std::string info() const override {
    return std::string("mkldnn_enabled=") + (at::globalContext().userEnabledMkldnn() ? "1" : "0") +
           " has_mkldnn=" + (at::hasMKLDNN() ? "1" : "0");
  }

 private:
  std::shared_ptr<ds::NetImpl> model_;
  torch::Tensor x_, y_;
};

// ResNet-18 only (the 7x7 stem and max pool): ResNet-18 on mkldnn tensors, built from the FP32
// model's parameters by their torchvision names.
class TorchMkldnnRunner : public Runner {
 public:
  explicit TorchMkldnnRunner(int batch) {
    torch::NoGradGuard ng;
    torch::manual_seed(1);  // the same network as torch_eager
    auto model = ds::make_model(model_config(ds::QuantSpec{ds::Method::kFp32, 3}));
    model->eval();
    for (const auto& p : model->named_parameters()) t_[p.key()] = p.value().detach();
    for (const auto& b : model->named_buffers()) t_[b.key()] = b.value().detach();
    stem_ = conv("conv1", "bn1", 2, 3);
    for (int s = 0; s < 4; ++s)
      for (int b = 0; b < 2; ++b) {
        const std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b) + ".";
        Block blk;
        const int stride = (s > 0 && b == 0) ? 2 : 1;
        blk.c1 = conv(p + "conv1", p + "bn1", stride, 1);
        blk.c2 = conv(p + "conv2", p + "bn2", 1, 1);
        if (t_.count(p + "downsample.0.weight")) {
          blk.down = conv(p + "downsample.0", p + "downsample.1", stride, 0);
          blk.has_down = true;
        }
        blocks_.push_back(std::move(blk));
      }
    fc_w_ = t_.at("fc.weight").contiguous(), fc_b_ = t_.at("fc.bias").contiguous();
    x_ = input_tensor(batch);
    // Check against the eager model once: the same weights, so the same logits up to rounding.
    auto ref = model->forward(x_);
    run();
    check_ = ((y_ - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item<double>();
    t_.clear();  // the dense copies go with the model
  }
  void run() override {
    torch::NoGradGuard ng;
    torch::Tensor y = torch::relu(apply(stem_, x_.to_mkldnn()));
    y = torch::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
    for (const auto& b : blocks_) {
      torch::Tensor h = torch::relu(apply(b.c1, y));
      h = apply(b.c2, h);
      y = torch::relu(h + (b.has_down ? apply(b.down, y) : y));
    }
    y = torch::adaptive_avg_pool2d(y, {1, 1}).to_dense().flatten(1);
    y_ = torch::linear(y, fc_w_, fc_b_);
  }
  std::string info() const override {
    char buf[64];
    std::snprintf(buf, sizeof buf, "check_vs_eager=%.3g", check_);
    return buf;
  }

 private:
  struct Conv {
    torch::Tensor w, b;
    int64_t stride = 1, pad = 0;
  };
  struct Block {
    Conv c1, c2, down;
    bool has_down = false;
  };
  Conv conv(const std::string& c, const std::string& bn, int64_t stride, int64_t pad) {
    const torch::Tensor w = t_.at(c + ".weight");
    const torch::Tensor g = t_.at(bn + ".weight"), beta = t_.at(bn + ".bias"), mean = t_.at(bn + ".running_mean"),
                        var = t_.at(bn + ".running_var");
    const torch::Tensor s = g / torch::sqrt(var + 1e-5);
    Conv r;
    r.stride = stride, r.pad = pad;
    r.w = at::mkldnn_reorder_conv2d_weight((w * s.view({-1, 1, 1, 1})).contiguous().to_mkldnn(), {pad, pad}, {stride, stride},
                                           {1, 1}, 1);
    r.b = (beta - mean * s).contiguous().to_mkldnn();
    return r;
  }
  static torch::Tensor apply(const Conv& c, const torch::Tensor& x) {
    return at::mkldnn_convolution(x, c.w, c.b, {c.pad, c.pad}, {c.stride, c.stride}, {1, 1}, 1);
  }
  std::map<std::string, torch::Tensor> t_;
  Conv stem_;
  std::vector<Block> blocks_;
  torch::Tensor fc_w_, fc_b_, x_, y_;
  double check_ = -1;
};

// Child: builds its libtorch contender, then answers the parent (e2e_child.h).
int child_main(const std::string& name, int batch, int threads) {
  torch::set_num_threads(threads);
  std::unique_ptr<Runner> r;
  std::string why;
  try {
    if (name == "torch_eager") r = std::make_unique<TorchEagerRunner>(batch, true);
    else if (name == "torch_eager_nomkldnn") r = std::make_unique<TorchEagerRunner>(batch, false);
    else if (name == "torch_mkldnn") r = std::make_unique<TorchMkldnnRunner>(batch);
    else if (name == "torch_idle") r = std::make_unique<IdleRunner>();
    else why = "unknown contender " + name;
  } catch (const std::exception& e) {
    why = e.what();
  }
  return serve(std::move(r), why);
}

// ---------------------------------------------------------------- parent

struct Child {
  std::string name;
  pid_t pid = -1;
  int cmd = -1, reply = -1;
  std::string info;
  int iters = 1;
  std::vector<double> ms;
  std::vector<double> after_cpu_ms;  // CPU time the child used after each of its measurements (spinning)
  long hwm_kb = -1, rss_kb = -1;
  bool has_clock = false;
  clockid_t clock{};

  // The child's CPU time (all its threads) in ms; 0 where its clock cannot be read.
  double cpu_ms() const {
    timespec ts{};
    if (!has_clock || ::clock_gettime(clock, &ts) != 0) return 0;
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
  }

  std::string ask(const std::string& c) {
    if (!write_all(cmd, c + "\n")) throw std::runtime_error("bench_e2e: child " + name + " died (" + c + ")");
    return answer();
  }
  std::string answer() {
    std::string line;
    if (!read_line(reply, line)) throw std::runtime_error("bench_e2e: child " + name + " died");
    return line;
  }
};

// Where the children come from: the engine's binary beside this one, node for ONNX Runtime.
struct Programs {
  std::string self, engine, node_script, ort_dir, onnx_path;
};

Child spawn(const Programs& p, const std::string& name, int batch, int threads, const std::string& dsm) {
  int to_child[2], from_child[2];
  if (::pipe(to_child) || ::pipe(from_child)) throw std::runtime_error("pipe failed");
  Child c;
  c.name = name;
  const std::string b = std::to_string(batch), t = std::to_string(threads), input = g_grey_input ? "grey" : "random";
  const std::string shape = std::to_string(g_net->c) + "," + std::to_string(g_net->h) + "," + std::to_string(g_net->w);
  std::vector<std::string> argv;
  switch (runtime_of(name)) {
    case Runtime::kEngine:
      argv = {p.engine, "--child", name == "engine_idle" ? "idle" : name, "--model", dsm, "--kernel",
              name == "ds_fastest" ? fast_kernel() : ""};
      break;
    case Runtime::kOrt:
      argv = {"node", p.node_script, "--ort", p.ort_dir, "--child", name, "--model", p.onnx_path, "--shape", shape};
      break;
    case Runtime::kTorch:
      argv = {p.self, "--child", name, "--model", g_net->name};
      break;
  }
  for (const std::string& a : {std::string("--batch"), b, std::string("--threads"), t, std::string("--input"), input})
    argv.push_back(a);
  c.pid = ::fork();
  if (c.pid < 0) throw std::runtime_error("fork failed");
  if (c.pid == 0) {
    ::dup2(to_child[0], kCmdFd);
    ::dup2(from_child[1], kReplyFd);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]})
      if (fd != kCmdFd && fd != kReplyFd) ::close(fd);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::perror(("execvp " + argv[0]).c_str());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  c.cmd = to_child[1], c.reply = from_child[0];
  c.has_clock = ::clock_getcpuclockid(c.pid, &c.clock) == 0;
  return c;
}

double total_cpu_ms(const std::vector<Child*>& cs) {
  double s = 0;
  for (const Child* c : cs) s += c->cpu_ms();
  return s;
}

// The idle gap between two measurements: sleeps gap_ms, then waits until the children together
// use < 0.5 ms of CPU in 20 ms (at most 2 s more). Returns the CPU time `last` used meanwhile.
double settle(const std::vector<Child*>& all, const Child* last, double gap_ms) {
  const double last0 = last ? last->cpu_ms() : 0;
  if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(gap_ms));
  const auto t0 = Clock::now();
  double prev = total_cpu_ms(all);
  while (std::chrono::duration<double, std::milli>(Clock::now() - t0).count() < 2000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double now = total_cpu_ms(all);
    if (now - prev < 0.5) break;
    prev = now;
  }
  return last ? last->cpu_ms() - last0 : 0;
}

void finish(Child& c) {
  if (c.cmd >= 0) {
    write_all(c.cmd, "quit\n");
    ::close(c.cmd);
    ::close(c.reply);
  }
  int st = 0;
  if (c.pid > 0) ::waitpid(c.pid, &st, 0);
  c.cmd = c.reply = -1, c.pid = -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench_e2e.json", child, net = "resnet18", save_model, save_onnx, ort_dir;
  int rounds = 5, batch = 1;
  double min_ms = 300, gap_ms = 300;
  std::vector<int> batches{1, 8}, threads{int(std::max(1u, std::thread::hardware_concurrency()))};
  std::vector<std::string> only;  // --contenders
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : argv[i]; };
    if (!std::strcmp(argv[i], "--out")) out = next();
    else if (!std::strcmp(argv[i], "--model")) net = next();
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::max(1, std::atoi(next()));
    else if (!std::strcmp(argv[i], "--min-ms")) min_ms = std::atof(next());
    else if (!std::strcmp(argv[i], "--batches")) batches = parse_list(next());
    else if (!std::strcmp(argv[i], "--threads")) threads = parse_list(next());
    else if (!std::strcmp(argv[i], "--gap-ms")) gap_ms = std::max(0.0, std::atof(next()));
    else if (!std::strcmp(argv[i], "--ort")) ort_dir = next();
    else if (!std::strcmp(argv[i], "--save-model")) save_model = next();
    else if (!std::strcmp(argv[i], "--save-onnx")) save_onnx = next();
    else if (!std::strcmp(argv[i], "--input")) g_grey_input = !std::strcmp(next(), "grey");
    else if (!std::strcmp(argv[i], "--contenders")) {
      std::stringstream ss(next());
      for (std::string c; std::getline(ss, c, ',');)
        if (!c.empty()) only.push_back(c);
    }
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--child")) child = next();
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(next());
    else {
      std::fprintf(stderr,
                   "usage: %s [--model resnet18|resnet20] [--out FILE] [--rounds N] [--min-ms MS] [--batches 1,8] "
                   "[--threads 2,1] [--gap-ms MS] [--ort DIR] [--save-model PATH] [--save-onnx PATH] "
                   "[--contenders ds,ds_fastest,...] [--input random|grey] [--quick]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    g_net = &net_shape(net);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_e2e: %s\n", e.what());
    return 2;
  }
  for (int t : threads)
    if (t < 1) {
      std::fprintf(stderr, "bench_e2e: --threads takes thread counts >= 1\n");
      return 2;
    }
  if (!child.empty()) return child_main(child, batch, threads.front());
  if (quick) rounds = 3, min_ms = 100, batches = {batches.front()};

  // The DenseShift model file: this repository's network, 3-bit, default policy, random init.
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ds_bench_e2e_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Programs prog;
  prog.self = fs::read_symlink("/proc/self/exe").string();
  prog.engine = (fs::path(prog.self).parent_path() / "bench_e2e_engine").string();
  prog.node_script = std::string(DS_BENCH_SOURCE_DIR) + "/ort_child.js";
  const std::string path = (dir / (net + "_ds3.dsm")).string();
  size_t file_bytes = 0;
  {
    torch::NoGradGuard ng;
    torch::manual_seed(1);
    auto m = ds::make_model(model_config(ds::QuantSpec{ds::Method::kDenseShift, 3}));
    m->eval();
    ds::GraphEmitter g;
    m->emit(g);
    auto& info = g.desc().info;
    info.in_c = uint32_t(g_net->c), info.in_h = uint32_t(g_net->h), info.in_w = uint32_t(g_net->w);
    info.num_classes = uint32_t(g_net->classes);
    if (g_net->c == 3) info.mean = {0.485f, 0.456f, 0.406f}, info.std = {0.229f, 0.224f, 0.225f};
    else info.mean = std::vector<float>(size_t(g_net->c), 0.2860f), info.std = std::vector<float>(size_t(g_net->c), 0.3530f);
    info.arch = g_net->name, info.method = "denseshift3";
    ds::core::write_model(g.desc(), path);
    file_bytes = fs::file_size(path);
  }
  // ONNX Runtime runs the same weights through the ONNX export.
  std::string ort_skip;
  const bool want_ort = only.empty() || std::find(only.begin(), only.end(), "ort") != only.end();
#ifdef DS_HAVE_ONNX_EXPORT
  if (want_ort && ort_dir.empty()) ort_skip = "no --ort DIR given (scripts/install_onnxruntime.sh installs it and prints DIR)";
  else if (want_ort && !fs::exists(fs::path(ort_dir) / "package.json")) ort_skip = ort_dir + " is not an onnxruntime-node package folder";
  if (want_ort || !save_onnx.empty()) {
    prog.onnx_path = (dir / (net + "_ds3.onnx")).string();
    ds::onnx_export::export_onnx(path, prog.onnx_path);
  }
#else
  ort_skip = "built without the ONNX exporter (libonnx-dev)";
#endif
  const bool run_ort = want_ort && ort_skip.empty();
  prog.ort_dir = ort_dir;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{path, save_model}, {prog.onnx_path, save_onnx}}) {
    if (to.empty() || from.empty()) continue;
    std::error_code ec;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      std::fprintf(stderr, "bench_e2e: cannot save %s to %s: %s\n", from.c_str(), to.c_str(), ec.message().c_str());
      return 1;
    }
    std::printf("[e2e] model saved to %s\n", to.c_str());
  }
  if (!fs::exists(prog.engine)) {
    std::fprintf(stderr, "bench_e2e: %s is missing (build the bench_e2e_engine target)\n", prog.engine.c_str());
    return 1;
  }
  const std::string default_kernel = ds::kernels::select_kernel().name;
  const bool run_fast = kernel_supported(fast_kernel()) && default_kernel != fast_kernel();
  std::printf("[e2e] %s %dx%dx%d, threads", g_net->name, g_net->c, g_net->h, g_net->w);
  for (int t : threads) std::printf(" %d", t);
  std::printf(", batches");
  for (int b : batches) std::printf(" %d", b);
  std::printf(", %d rounds, >= %g ms per measurement, >= %g ms idle gap between measurements; libtorch %s, mkldnn %s; "
              "model file %.2f MB; engine kernels: ds %s, ds_fastest %s; ONNX Runtime: %s\n",
              rounds, min_ms, gap_ms, TORCH_VERSION, at::hasMKLDNN() ? "yes" : "no", double(file_bytes) / 1e6,
              default_kernel.c_str(), run_fast ? fast_kernel() : "(not run: unsupported or the default)",
              run_ort ? ort_dir.c_str() : want_ort ? ("not run: " + ort_skip).c_str() : "not asked for");
  std::fflush(stdout);

  FILE* f = std::fopen(out.c_str(), "w");
  if (!f) {
    std::perror(out.c_str());
    return 1;
  }
  std::string tl;
  for (int t : threads) tl += (tl.empty() ? "" : ", ") + std::to_string(t);
  std::fprintf(f,
               "{\n\"meta\": {\"model\": %s, \"input_shape\": [%d, %d, %d], \"threads\": [%s], \"rounds\": %d, "
               "\"min_ms\": %g, \"gap_ms\": %g, \"libtorch\": %s, \"has_mkldnn\": %s, \"model_file_bytes\": %zu, "
               "\"default_kernel\": %s, \"fma_kernel\": %s, \"ort_skipped\": %s, \"input\": %s, \"quick\": %s},\n\"records\": [\n",
               json_str(g_net->name).c_str(), g_net->c, g_net->h, g_net->w, tl.c_str(), rounds, min_ms, gap_ms,
               json_str(TORCH_VERSION).c_str(), at::hasMKLDNN() ? "true" : "false", file_bytes, json_str(default_kernel).c_str(),
               json_str(run_fast ? fast_kernel() : "").c_str(), json_str(want_ort ? ort_skip : "not asked for").c_str(),
               g_grey_input ? "\"grey\"" : "\"random\"", quick ? "true" : "false");
  bool first_record = true;
  const auto t_start = Clock::now();
  int status = 0;
  for (int t : threads)
    for (int b : batches) {
      const std::string at = "t" + std::to_string(t) + " b" + std::to_string(b);
      std::vector<Child> cs, idles;
      try {
        cs.reserve(std::size(kContenders));  // the pointers in `all` stay valid
        idles.reserve(3);
        for (const char* name : kContenders) {
          const std::string n = name;
          if (n == "torch_mkldnn" && (!at::hasMKLDNN() || net != "resnet18")) continue;
          if (n == "ds_fastest" && !run_fast) continue;
          if (n == "ort" && !run_ort) continue;
          if (!only.empty() && std::find(only.begin(), only.end(), n) == only.end()) continue;
          cs.push_back(spawn(prog, n, b, t, path));
        }
        for (Runtime r : {Runtime::kEngine, Runtime::kTorch, Runtime::kOrt})
          if (std::any_of(cs.begin(), cs.end(), [&](const Child& c) { return runtime_of(c.name) == r; }))
            idles.push_back(spawn(prog, idle_of(r), b, t, path));
        std::vector<Child*> all;
        for (auto& c : cs) all.push_back(&c);
        for (auto& c : idles) all.push_back(&c);
        // Every child builds its contender at once; then one at a time warms up, none beside another.
        for (Child* c : all) {
          std::string r = c->answer();  // the child's first line: "ready ..." or "error ..."
          if (r.rfind("ready", 0) != 0) throw std::runtime_error("bench_e2e: " + c->name + ": " + r);
          c->info = r.size() > 6 ? r.substr(6) : "";
        }
        Child* last = nullptr;
        for (Child& c : cs) {
          settle(all, last, gap_ms);
          c.ask("run 1");  // warm-up: primitives, allocator, first-touch
          settle(all, &c, gap_ms);
          const double ms = std::atof(c.ask("run 1").c_str());
          last = &c;
          c.iters = std::max(1, int(std::ceil(min_ms / std::max(ms, 1e-3))));
          std::printf("[e2e] %s %s: %-21s %8.2f ms (warm-up), %d run(s) per measurement  %s\n", net.c_str(), at.c_str(),
                      c.name.c_str(), ms, c.iters, c.info.c_str());
          std::fflush(stdout);
        }
        for (int r = 0; r < rounds; ++r) {
          for (size_t j = 0; j < cs.size(); ++j) {
            Child& c = cs[(j + size_t(r)) % cs.size()];
            const double spun = settle(all, last, gap_ms);  // idle gap: the previous contender's threads stop spinning
            if (last) last->after_cpu_ms.push_back(spun);
            c.ms.push_back(std::atof(c.ask("run " + std::to_string(c.iters) + " warm").c_str()));
            last = &c;
          }
          const double el = std::chrono::duration<double>(Clock::now() - t_start).count();
          std::printf("[e2e] %s %s round %d/%d done, %.0f s elapsed\n", net.c_str(), at.c_str(), r + 1, rounds, el);
          std::fflush(stdout);
        }
        if (last) last->after_cpu_ms.push_back(settle(all, last, gap_ms));
        for (Child* c : all) {
          std::istringstream m(c->ask("mem"));
          m >> c->hwm_kb >> c->rss_kb;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        status = 1;
      }
      for (auto& c : cs) finish(c);
      for (auto& c : idles) finish(c);
      if (status) break;

      std::map<std::string, long> idle_kb;
      for (auto& c : idles) idle_kb[c.name] = c.hwm_kb;
      std::map<std::string, double> med;
      for (auto& c : cs) med[c.name] = quantile(c.ms, 0.5);
      for (auto& c : cs) {
        const double m = med[c.name];
        const Runtime rt = runtime_of(c.name);
        const long idle = idle_kb[idle_of(rt)];
        std::fprintf(f, "%s{\"model\": %s, \"contender\": %s, \"runtime\": %s, \"batch\": %d, \"threads\": %d, \"median_ms\": %.6g, "
                     "\"p10_ms\": %.6g, \"p90_ms\": %.6g, \"iters\": %d, \"images_per_s\": %.6g, \"peak_rss_kb\": %ld, "
                     "\"rss_kb\": %ld, \"idle_peak_rss_kb\": %ld, \"after_cpu_ms\": %.6g, \"kernel\": %s, \"info\": %s, \"rounds_ms\": [",
                     first_record ? "" : ",\n", json_str(net).c_str(), json_str(c.name).c_str(),
                     rt == Runtime::kEngine ? "\"engine\"" : rt == Runtime::kOrt ? "\"onnxruntime\"" : "\"libtorch\"", b, t, m,
                     quantile(c.ms, 0.1), quantile(c.ms, 0.9), c.iters, b * 1000.0 / m, c.hwm_kb, c.rss_kb, idle,
                     quantile(c.after_cpu_ms, 0.5),
                     json_str(c.name == "ds" ? default_kernel : c.name == "ds_fastest" ? fast_kernel() : "").c_str(),
                     json_str(c.info).c_str());
        first_record = false;
        for (size_t r = 0; r < c.ms.size(); ++r) std::fprintf(f, "%s%.6g", r ? ", " : "", c.ms[r]);
        std::fprintf(f, "], \"speedup_vs\": {");
        bool first = true;
        for (auto& [name, v] : med)
          if (name != c.name) {
            std::fprintf(f, "%s\"%s\": %.6g", first ? "" : ", ", name.c_str(), v / m);
            first = false;
          }
        std::fprintf(f, "}}");
        std::printf("[e2e] %s %s: %-21s median %8.3f ms  peak RSS %7.1f MB (idle %s process %.1f MB)  CPU after a "
                    "measurement %.1f ms\n",
                    net.c_str(), at.c_str(), c.name.c_str(), m, double(c.hwm_kb) / 1024, idle_of(rt), double(idle) / 1024,
                    quantile(c.after_cpu_ms, 0.5));
      }
      std::fflush(f);
    }
  std::fprintf(f, "\n]}\n");
  std::fclose(f);
  std::error_code ec;
  fs::remove_all(dir, ec);
  std::printf("[e2e] wrote %s (%.0f s)\n", out.c_str(), std::chrono::duration<double>(Clock::now() - t_start).count());
  return status;
}
