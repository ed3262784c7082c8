#include "runtime/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "runtime/layer.h"

namespace ds::rt {
namespace {

// Activations of one image above this are refused at load: a hostile file must not make the
// engine allocate gigabytes (2^28 floats = 1 GiB over all values of one image).
constexpr size_t kMaxFloatsPerImage = size_t(1) << 28;
constexpr size_t kMaxRunFloats = kMaxRunBytes / sizeof(float);
// A batch's chunk (Engine::run). ResNet-18 at batch 32, 2 threads, fastest kernel (widest value
// 3.2 MB an image, so chunks of 1, 2, 5, 32 images): 4 MB 89-94 images/s, 8 MB 87-91, 16 MB
// 86-87, the whole batch 84-85; the multiply-free kernel 48 either way. It also bounds a large
// batch's activation memory.
constexpr size_t kRunChunkBytes = size_t(4) << 20;

// Activation buffers, kept per thread from one run to the next. A fresh multi-megabyte
// allocation is a new mmap whose pages fault in on first touch, on every run and serially; the
// free list hands back the smallest buffer that fits instead. It holds at most what one run's
// peak needed (the values alive at once), and nothing is ever zero-filled: every layer writes
// all of its output.
class Buffers {
 public:
  struct Buffer {
    std::unique_ptr<float[]> data;
    size_t size = 0;
  };
  Buffer take(size_t n) {
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].size >= n && (best == free_.size() || free_[i].size < free_[best].size)) best = i;
    if (best == free_.size()) return Buffer{std::unique_ptr<float[]>(new float[n]), n};
    Buffer b = std::move(free_[best]);
    free_.erase(free_.begin() + long(best));
    return b;
  }
  void give(Buffer b) {
    if (b.data) free_.push_back(std::move(b));
  }

 private:
  std::vector<Buffer> free_;
};

kernels::ModelWeights weights_of(const core::ModelDesc& m) {
  kernels::ModelWeights w;
  for (const auto& n : m.nodes) {
    if (n.wkind == core::WeightKind::kDenseShift) w.dense_shift = true, w.dense_shift_bits = std::max(w.dense_shift_bits, int(n.bits));
    if (n.wkind == core::WeightKind::kShiftWithZero) w.shift_with_zero = true;
  }
  return w;
}

}  // namespace

struct Engine::Impl {
  core::Container file;
  core::ModelDesc desc;
  std::vector<std::unique_ptr<Layer>> layers;
  std::vector<Shape> shapes;  // value shapes: [0] input, [i + 1] node i
  std::vector<size_t> last_use;  // per value: the last node that reads it
  const kernels::KernelInfo* kernel = nullptr;
  const kernels::KernelInfo* zero_kernel = nullptr;
  const kernels::KernelInfo* float_kernel = nullptr;
  kernels::ModelWeights weights;
  size_t floats_per_image = 0;  // all values of one image: what run() allocates per image at most
  size_t widest = 0;            // the largest value of one image, in floats
  int threads = 1;
  bool profile = false;  // DS_PROFILE=1 in the environment: per-layer times on stderr

  explicit Impl(core::Container c) : file(std::move(c)) {}

  // Format checks (read_model), then shapes: every layer must accept its inputs.
  void prepare(const EngineOptions& opt) {
    desc = core::read_model(file);
    const auto& info = desc.info;
    shapes.push_back(Shape{info.in_c, info.in_h, info.in_w});
    size_t total = shapes[0].numel();
    floats_per_image = 0;
    for (size_t i = 0; i < desc.nodes.size(); ++i) {
      const auto& n = desc.nodes[i];
      const std::string at = file.name() + ": node " + std::to_string(i) + " (" + core::op_name(n.op) + ")";
      layers.push_back(make_layer(n));
      std::vector<Shape> in;
      for (uint32_t v : n.inputs) in.push_back(shapes[v]);
      Shape s = layers.back()->infer(in, at);
      total += s.numel();
      if (s.numel() == 0 || total > kMaxFloatsPerImage)
        throw core::FormatError(at + ": activations would need more than 1 GiB per image");
      shapes.push_back(s);
      widest = std::max(widest, s.numel());
    }
    floats_per_image = total;
    last_use.assign(shapes.size(), 0);
    for (size_t i = 0; i < desc.nodes.size(); ++i)
      for (uint32_t v : desc.nodes[i].inputs) last_use[v] = i;
    const Shape& last = shapes.back();
    if (last.numel() != info.num_classes)
      throw core::FormatError(file.name() + ": the last layer gives " + std::to_string(last.numel()) + " outputs for " +
                              std::to_string(info.num_classes) + " classes");
    weights = weights_of(desc);
    try {
      // The kernel must run every quantized layer's weights itself (a zero-weight kernel reads
      // DenseShift codes as other weights); the default picks one that does.
      kernel = &kernels::select_kernel(opt.kernel, &weights);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(file.name() + ": " + e.what());
    }
    // select_kernel chose a kernel that runs the model's zero weights itself when it has any; a
    // DenseShift model's zero_kernel is never used.
    zero_kernel = kernel->weights == kernels::WeightSet::kShiftWithZero ? kernel : &kernels::zero_weight_kernel(*kernel);
    float_kernel = &kernels::float_panel_kernel();
    threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    const char* prof = std::getenv("DS_PROFILE");
    profile = prof && *prof && std::string(prof) != "0";
    const RunContext ctx{1, threads, kernel, zero_kernel, float_kernel};
    for (size_t i = 0; i < layers.size(); ++i) {
      std::vector<Shape> in;
      for (uint32_t v : desc.nodes[i].inputs) in.push_back(shapes[v]);
      layers[i]->prepare(ctx, in, shapes[i + 1]);
    }
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

Engine Engine::load(const std::string& path, const EngineOptions& opt) {
  auto impl = std::make_unique<Impl>(core::Container::open(path));
  impl->prepare(opt);
  return Engine(std::move(impl));
}

Engine Engine::from_bytes(std::vector<uint8_t> bytes, const std::string& name, const EngineOptions& opt) {
  auto impl = std::make_unique<Impl>(core::Container::from_bytes(std::move(bytes), name));
  impl->prepare(opt);
  return Engine(std::move(impl));
}

const core::ModelInfo& Engine::info() const { return impl_->desc.info; }
const kernels::KernelInfo& Engine::kernel() const { return *impl_->kernel; }
int Engine::threads() const { return impl_->threads; }
size_t Engine::file_size() const { return impl_->file.file_size(); }

size_t Engine::weight_bytes() const {
  size_t n = 0;
  for (const auto& node : impl_->desc.nodes) n += node.wsize;
  return n;
}

std::string Engine::summary() const {
  std::string s;
  for (size_t i = 0; i < impl_->layers.size(); ++i) {
    const Shape& o = impl_->shapes[i + 1];
    s += std::to_string(i) + ": " + impl_->layers[i]->describe() + " -> " + std::to_string(o.c) + "x" +
         std::to_string(o.h) + "x" + std::to_string(o.w) + "\n";
  }
  return s;
}

const kernels::ModelWeights& Engine::quantized_weights() const { return impl_->weights; }

int Engine::max_batch() const {
  return int(std::min<size_t>(kMaxRunFloats / impl_->floats_per_image, size_t(std::numeric_limits<int>::max())));
}

std::vector<float> Engine::run(const float* images, int batch) const {
  if (batch <= 0) throw std::invalid_argument("batch must be positive");
  if (batch > max_batch())
    throw std::invalid_argument(impl_->file.name() + ": a batch of " + std::to_string(batch) + " needs more than the " +
                                std::to_string(kMaxRunBytes >> 30) + " GiB of activations a run may take (at most " +
                                std::to_string(max_batch()) + " images of this model)");
  const Impl& m = *impl_;
  // A batch runs through the network in chunks whose widest activation fits in kRunChunkBytes:
  // each layer then reads what the one before wrote from the caches, not from memory. Every
  // image's outputs are the same whatever the chunk (no product mixes images).
  const int chunk = int(std::max<size_t>(1, std::min<size_t>(size_t(batch), kRunChunkBytes / (m.widest * sizeof(float)))));
  const size_t in_image = m.shapes[0].numel(), out_image = m.shapes.back().numel();
  std::vector<float> out(out_image * size_t(batch));
  for (int b0 = 0; b0 < batch; b0 += chunk)
    run_chunk(images + size_t(b0) * in_image, std::min(chunk, batch - b0), out.data() + size_t(b0) * out_image);
  return out;
}

void Engine::run_chunk(const float* images, int batch, float* out) const {
  const Impl& m = *impl_;
  RunContext ctx{batch, m.threads, m.kernel, m.zero_kernel, m.float_kernel};
  // Uninitialised buffers: every layer writes all of its output, so zero-filling them first
  // (what std::vector would do) is a wasted pass over memory on every layer.
  thread_local Buffers buffers;
  std::vector<Buffers::Buffer> values(m.layers.size());
  auto data_of = [&](uint32_t v) { return v == 0 ? images : values[v - 1].data.get(); };
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& n = m.desc.nodes[i];
    std::vector<Value> in;
    for (uint32_t v : n.inputs) in.push_back(Value{m.shapes[v], data_of(v)});
    values[i] = buffers.take(m.shapes[i + 1].numel() * size_t(batch));
    const auto t0 = std::chrono::steady_clock::now();
    m.layers[i]->run(in, values[i].data.get(), m.shapes[i + 1], ctx);
    if (m.profile)
      std::fprintf(stderr, "[profile] %3zu | %s | %ux%ux%u | %.4f ms\n", i, m.layers[i]->describe().c_str(),
                   m.shapes[i + 1].c, m.shapes[i + 1].h, m.shapes[i + 1].w,
                   std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    // Give back values no later node reads, to keep the peak memory near the widest layer.
    for (uint32_t v : n.inputs)
      if (v != 0 && m.last_use[v] == i) buffers.give(std::move(values[v - 1]));
  }
  const float* logits = values.back().data.get();
  std::copy(logits, logits + m.shapes.back().numel() * size_t(batch), out);
  for (auto& v : values) buffers.give(std::move(v));
}

std::vector<float> Engine::probabilities(const float* images, int batch) const {
  std::vector<float> p = run(images, batch);
  softmax_rows(p.data(), size_t(batch), impl_->desc.info.num_classes);
  return p;
}

void softmax_rows(float* p, size_t rows, size_t C) {
  for (size_t b = 0; b < rows; ++b) {
    float* l = p + b * C;
    // Subtract the largest logit first so exp() cannot overflow.
    const float mx = *std::max_element(l, l + C);
    double z = 0;
    for (size_t c = 0; c < C; ++c) z += std::exp(double(l[c] - mx));
    for (size_t c = 0; c < C; ++c) l[c] = float(std::exp(double(l[c] - mx)) / z);
  }
}

size_t count_non_finite_rows(const float* p, size_t rows, size_t C) {
  size_t bad = 0;
  for (size_t b = 0; b < rows; ++b) bad += !std::all_of(p + b * C, p + (b + 1) * C, [](float v) { return std::isfinite(v); });
  return bad;
}

}  // namespace ds::rt
