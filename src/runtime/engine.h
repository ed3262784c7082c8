// The inference engine: loads a .dsm model and runs it on float images, with no libtorch.
//
//   auto engine = ds::rt::Engine::load("model.dsm", {/*kernel*/ "", /*threads*/ 0});
//   std::vector<float> logits = engine.run(images, batch);   // batch x num_classes
//
// Quantized layers run on a kernel from kernels/kernels.h (picked by CPU features, or by
// name); their weights stay b-bit packed codes in memory. Full-precision layers (stem, fc)
// use a plain float product. Every layer applies its folded BatchNorm (scale, bias), an
// optional residual add and ReLU after the product.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/model_format.h"
#include "kernels/kernels.h"

namespace ds::rt {

// The activations one run (a batch) may take: `bench --batch 100000` on the Fashion-MNIST
// smallcnn reached 16.5 GB before. run() refuses a larger batch before allocating.
constexpr size_t kMaxRunBytes = size_t(4) << 30;

struct EngineOptions {
  std::string kernel;  // empty: the fastest supported float-activation kernel
  int threads = 0;     // 0: all cores
};

struct Shape {
  uint32_t c = 0, h = 0, w = 0;
  size_t numel() const { return size_t(c) * h * w; }
};

class Engine {
 public:
  // Reads, validates (format, then shapes: every layer must connect to its inputs) and
  // prepares the model. Throws core::FormatError naming the file and the problem, and
  // std::invalid_argument naming the file when opt.kernel cannot run the model's weights
  // (kernels::why_cannot_run: a zero-weight kernel for DenseShift codes, FP16 for 5-bit ones).
  static Engine load(const std::string& path, const EngineOptions& opt = {});
  static Engine from_bytes(std::vector<uint8_t> bytes, const std::string& name, const EngineOptions& opt = {});

  const core::ModelInfo& info() const;
  const kernels::KernelInfo& kernel() const;
  int threads() const;
  size_t file_size() const;
  size_t weight_bytes() const;  // bytes of weights as stored (packed codes + FP32 layers)
  std::string summary() const;  // one line per layer
  // What the quantized layers hold: kernels::kernels_for() of it lists the kernels that can run them.
  const kernels::ModelWeights& quantized_weights() const;
  // The largest batch run() takes: a run may hold at most kMaxRunBytes of activations.
  int max_batch() const;

  // images: batch x in_c x in_h x in_w floats, already normalized. Returns batch x num_classes.
  // Throws std::invalid_argument for a batch outside 1..max_batch().
  std::vector<float> run(const float* images, int batch) const;
  // run() followed by a softmax over each image's logits: class probabilities.
  std::vector<float> probabilities(const float* images, int batch) const;

  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  // Layers [l0, l1) on `batch` images of a chunk: `in` holds value l0 (the input of layer l0,
  // the only value alive there), and the last layer writes value l1 into out, each layer on up to
  // `threads` threads.
  void run_chunk(size_t l0, size_t l1, const float* in, int batch, float* out, int threads) const;
  std::unique_ptr<Impl> impl_;
};

// Softmax over each of `rows` rows of C values, in place.
void softmax_rows(float* p, size_t rows, size_t C);
// How many of `rows` rows of C values hold a NaN or an infinity.
size_t count_non_finite_rows(const float* p, size_t rows, size_t C);

}  // namespace ds::rt
