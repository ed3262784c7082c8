#include "runtime/engine.h"

#include "runtime/thread_pool.h"

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
// A batch's chunk (Engine::run): per stage, as many images as keep its widest value (input
// included) within this, so that a layer's input and output stay in one core's L2. ResNet-18 at
// batch 32, 2 threads, fastest kernel, one chunk for the whole network (widest value 3.2 MB an
// image, so chunks of 1, 2, 5, 32 images): 4 MB 89-94 images/s, 8 MB 87-91, 16 MB 86-87, the
// whole batch 84-85. Per stage (chunks of 1 image at 56x56 up to 10 at 7x7 with 1 MB), against
// one image at a time: 9 interleaved rounds 1 MB 360 ms, 2 MB 375, one image at a time 372, in
// a spread of 300-390 (the 7x7 layers 0.87 -> 0.75-0.8 ms an image, the classifier 0.14 ->
// 0.014; the 1x1 stride-2 downsamples slower at 2 images and more: 0.16 -> 0.21 at 28x28). It
// also bounds a large batch's activation memory.
constexpr size_t kRunChunkBytes = size_t(1) << 20;

// Whether a batch runs its images in parallel, a thread per image, rather than each layer on all
// threads. Per layer, 2 threads gave only about 1.5x on ResNet-18 on an AMD Zen 3 (a temporary
// count of each thread's busy time, not kept, found them busy 93-96% of each parallel section, so
// it is not the waits: each thread's share runs slower beside the other); whole images gave about
// 1.8x (batch 32, build/bench/engine_bench: 1411-1478 ms on 1 thread, 750-828 on 2), as long as
// the images divide evenly or are many enough that the last one's imbalance is small.
bool images_in_parallel(size_t batch, size_t threads) { return batch % threads == 0 || batch >= 4 * threads; }

// Activation buffers, kept per thread from one run to the next. A fresh multi-megabyte
// allocation is a new mmap whose pages fault in on first touch, on every run and serially; the
// free list hands back the smallest buffer that fits instead. It holds at most what one run's
// peak needed (the values alive at once), and nothing is ever zero-filled: every layer writes
// all of its output.
class Buffers {
 public:
  struct Buffer {
    std::unique_ptr<float[]> storage;
    size_t size = 0;
    size_t offset = 0;  // floats into storage (see take)
    float* data() const { return storage ? storage.get() + offset : nullptr; }
  };
  // A new buffer starts 64 bytes times a number that changes from one buffer to the next into its
  // allocation: large allocations are fresh mappings, all at the same offset in a 4 KiB page, and
  // a layer that reads one while it writes another at the same offsets modulo 4 KiB has its loads
  // wait on unrelated stores (4K aliasing: ResNet-18's max pool took 0.33 ms instead of 0.18 on
  // 2 threads, depending on where the model's path left the heap).
  Buffer take(size_t n) {
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].size >= n && (best == free_.size() || free_[i].size < free_[best].size)) best = i;
    if (best == free_.size()) {
      return Buffer{std::unique_ptr<float[]>(new float[n + kColors * 16]), n, size_t(made_++ * 7 % kColors) * 16};
    }
    Buffer b = std::move(free_[best]);
    free_.erase(free_.begin() + long(best));
    return b;
  }
  void give(Buffer b) {
    if (b.storage) free_.push_back(std::move(b));
  }

 private:
  static constexpr size_t kColors = 64;  // offsets 0, 64, ..., 4032 bytes
  std::vector<Buffer> free_;
  size_t made_ = 0;
};

// The calling thread's buffers (activations are reused from one run to the next).
Buffers& thread_buffers() {
  thread_local Buffers buffers;
  return buffers;
}

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
  int threads = 1;
  bool profile = false;  // DS_PROFILE=1 in the environment: per-layer times on stderr
  // Stages: runs of layers [first, next stage's first) between cuts, where the graph's only live
  // value is the one the layer before wrote (the input, or a residual block's output). A batch
  // runs through each stage in chunks of `images` (kRunChunkBytes over the stage's widest value
  // per image), so the late, narrow layers run many images at once: one decoding of their
  // weights and one weight transform serves all of them, and their few pixels fill whole tiles.
  struct Stage {
    size_t first;
    size_t images;
  };
  std::vector<Stage> stages;

  explicit Impl(core::Container c) : file(std::move(c)) {}

  // Stages [l0, l1) run as one, in chunks of `chunk` images (Engine::run).
  struct Group {
    size_t l0, l1, chunk;
  };
  // Group k's outputs for images [first, first + n) (n <= its chunk) into dst: its input comes
  // from group k - 1, run on chunks of that group's size into a buffer of n images. So every
  // buffer between groups holds one chunk of the group after it (kRunChunkBytes at most), not the
  // whole batch: a whole batch's value at an early cut (ResNet-18: 25 MB at batch 32) went to
  // memory and back, and the early layers lost more than the late ones gained.
  void run_group(const Engine& e, const std::vector<Group>& groups, size_t k, const float* images, size_t first, size_t n,
                 float* dst, int threads) const {
    const Group& g = groups[k];
    const size_t in_image = shapes[g.l0].numel(), out_image = shapes[g.l1].numel();
    Buffers& buffers = thread_buffers();
    Buffers::Buffer held;
    const float* in = images + first * in_image;
    if (k > 0) {
      held = buffers.take(n * in_image);
      const size_t c = groups[k - 1].chunk;
      for (size_t s = 0; s < n; s += c)
        run_group(e, groups, k - 1, images, first + s, std::min(c, n - s), held.data() + s * in_image, threads);
      in = held.data();
    }
    for (size_t s = 0; s < n; s += g.chunk)
      e.run_chunk(g.l0, g.l1, in + s * in_image, int(std::min(g.chunk, n - s)), dst + s * out_image, threads);
    buffers.give(std::move(held));
  }

  // Cuts before layer i where value i (layer i - 1's output, or the input at i = 0) is the only
  // one a later layer reads; a stage between each two (run() merges those of equal chunks).
  void plan_stages() {
    const size_t n = desc.nodes.size();
    stages.clear();
    // A stage's widest value counts its input, which the buffer before it holds a chunk of.
    size_t widest_here = shapes[0].numel(), first = 0;
    auto chunk = [](size_t floats) { return std::max<size_t>(1, kRunChunkBytes / (floats * sizeof(float))); };
    auto close = [&]() { stages.push_back(Stage{first, chunk(widest_here)}); };
    size_t live_past = 0;  // the last layer that reads any value written before the current cut
    for (size_t i = 0; i < n; ++i) {
      // A cut before layer i: no layer from i on reads a value older than i.
      if (i > 0 && live_past < i) {
        close();
        first = i, widest_here = shapes[i].numel();
      }
      widest_here = std::max(widest_here, shapes[i + 1].numel());
      // Value i (read by layer i, maybe later): it stays live until its last reader.
      live_past = std::max(live_past, last_use[i]);
    }
    close();
  }

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
    }
    floats_per_image = total;
    last_use.assign(shapes.size(), 0);
    for (size_t i = 0; i < desc.nodes.size(); ++i)
      for (uint32_t v : desc.nodes[i].inputs) last_use[v] = i;
    plan_stages();
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
  // Stage by stage (Impl::stages), each in chunks of its images: a layer then reads what the one
  // before wrote from the caches, not from memory. Stages whose chunks are equal at this batch run
  // as one (at batch 1, the whole network). Every image's outputs are the same whatever the chunk
  // (no product mixes images).
  std::vector<Impl::Group> groups;
  const size_t b = size_t(batch);
  for (size_t s = 0; s < m.stages.size(); ++s) {
    const size_t chunk = std::min(b, m.stages[s].images);
    if (!groups.empty() && groups.back().chunk == chunk) continue;
    if (!groups.empty()) groups.back().l1 = m.stages[s].first;
    groups.push_back(Impl::Group{m.stages[s].first, m.layers.size(), chunk});
  }
  const size_t out_image = m.shapes.back().numel(), last = groups.size() - 1;
  std::vector<float> out(out_image * b);
  // A thread per image where images_in_parallel says so: each thread runs whole images on its
  // own (one thread inside every layer), in units handed out as threads become free, so no layer
  // waits for the slower core and each thread's layers read what its previous layer wrote from
  // its own L2. Units of at most the last group's chunk (the memory bound above) and then at most
  // half a thread's share, so that a core that stalls hands its later units to the other.
  // Otherwise the units run one after another, each layer on all threads.
  const size_t t = size_t(m.threads);
  const bool per_image = t > 1 && images_in_parallel(b, t);
  const size_t unit = per_image ? std::min(groups[last].chunk, (b + 2 * t - 1) / (2 * t)) : groups[last].chunk;
  parallel_tasks(int((b + unit - 1) / unit), per_image ? int(t) : 1, [&](int u) {
    const size_t b0 = size_t(u) * unit;
    m.run_group(*this, groups, last, images, b0, std::min(unit, b - b0), out.data() + b0 * out_image,
                per_image ? 1 : m.threads);
  });
  return out;
}

void Engine::run_chunk(size_t l0, size_t l1, const float* in, int batch, float* out, int threads) const {
  const Impl& m = *impl_;
  RunContext ctx{batch, threads, m.kernel, m.zero_kernel, m.float_kernel};
  // Uninitialised buffers: every layer writes all of its output, so zero-filling them first
  // (what std::vector would do) is a wasted pass over memory on every layer.
  Buffers& buffers = thread_buffers();
  std::vector<Buffers::Buffer> values(l1 - l0);  // layer i's output at values[i - l0] (the last: out)
  auto data_of = [&](uint32_t v) -> const float* {
    if (v == l0) return in;
    if (v < l0 || v > l1) throw std::logic_error("stage reads a value outside it");  // plan_stages' cuts forbid it
    return v == l1 ? out : values[v - 1 - l0].data();
  };
  for (size_t i = l0; i < l1; ++i) {
    const auto& nd = m.desc.nodes[i];
    std::vector<Value> inputs;
    for (uint32_t v : nd.inputs) inputs.push_back(Value{m.shapes[v], data_of(v)});
    if (i + 1 < l1) values[i - l0] = buffers.take(m.shapes[i + 1].numel() * size_t(batch));
    float* const y = i + 1 < l1 ? values[i - l0].data() : out;
    const auto t0 = std::chrono::steady_clock::now();
    m.layers[i]->run(inputs, y, m.shapes[i + 1], ctx);
    if (m.profile)
      std::fprintf(stderr, "[profile] %3zu | %s | %ux%ux%u | %.4f ms\n", i, m.layers[i]->describe().c_str(),
                   m.shapes[i + 1].c, m.shapes[i + 1].h, m.shapes[i + 1].w,
                   std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    // Give back values no later layer reads, to keep the peak memory near the widest layer.
    for (uint32_t v : nd.inputs)
      if (v > l0 && m.last_use[v] == i) buffers.give(std::move(values[v - 1 - l0]));
  }
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
