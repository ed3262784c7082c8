// One class per layer kind (layer_*.cpp), created from a graph node by make_layer().
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model_format.h"
#include "kernels/kernels.h"
#include "kernels/pgemm.h"
#include "runtime/engine.h"

namespace ds::rt {

struct RunContext {
  int batch = 1;
  int threads = 1;
  const kernels::KernelInfo* kernel = nullptr;        // for DenseShift codes
  const kernels::KernelInfo* zero_kernel = nullptr;   // for shift-with-zero codes (baseline models)
  const kernels::KernelInfo* float_kernel = nullptr;  // for FP32 weights (a panel kernel)
};

// A value of the graph: `batch` images of one shape, contiguous NCHW.
struct Value {
  Shape shape;
  const float* data;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // Output shape for these inputs; throws core::FormatError("<at>: problem") when they do not fit.
  virtual Shape infer(const std::vector<Shape>& in, const std::string& at) const = 0;
  // Once, after infer, with the kernels chosen (batch unset) and the shapes infer accepted: layers
  // with weights repack them for their kernel here, and precompute what depends on shapes alone.
  virtual void prepare(const RunContext&, const std::vector<Shape>& /*in*/, Shape /*out*/) {}
  virtual void run(const std::vector<Value>& in, float* out, Shape out_shape, const RunContext& ctx) const = 0;
  virtual std::string describe() const = 0;
};

std::unique_ptr<Layer> make_layer(const core::NodeDesc& n);

[[noreturn]] void shape_error(const std::string& at, const std::string& problem);

// Rows [r0, r1) of a conv's or linear layer's weights, repacked for a panel kernel (pgemm.h) when
// the kernel for their kind has one. Runs y = epilogue(W x) from x in panels, split into tasks
// over row blocks and column panels on the engine's threads.
class PanelProduct {
 public:
  // False when the kernel for these weights has no panel form (the tile kernels): use
  // weight_product and epilogue instead. wide: weights in blocks of 16 rows (kWideRows), for the
  // wide form or Winograd (kernels/winograd.h).
  bool prepare(const core::NodeDesc& n, int r0, int r1, const RunContext& ctx, bool wide = false);
  // Whether the kernel for these weights has the wide form (KernelInfo::wide_form) and takes it
  // for this layer: `wide_pays` unless the layer is a strided stem of a few channels (a kernel with
  // wide_selective takes the wide form only where it pays; Conv2d::prepare).
  static bool wide_available(const core::NodeDesc& n, const RunContext& ctx, bool wide_pays = true);
  int K() const { return w_.K; }
  // x already in panels (kernels::pack_panel_x), N columns.
  void run(const float* xp, int N, float* y, size_t ldy, const kernels::PanelEpilogue& ep, int threads) const;
  // The indirect form (pgemm.h): column tiles read x at x_base + tile offset + koff[k].
  void run_indirect(const std::vector<kernels::ColumnTile>& tiles, const float* x_base, const int32_t* koff, float* y,
                    size_t ldy, const kernels::PanelEpilogue& ep, int threads) const;
  // The wide form (prepared with wide = true): pixel tiles of kernels::kWidePixels output pixels.
  // count pixels in order, kWidePixels a tile (a tile may span rows and images); the last tile
  // repeats its last pixel and stores only the real ones. at(q) -> {x offset, y offset} of pixel q.
  template <class At>
  static std::vector<kernels::PixelTile> pixel_tiles(int count, At at) {
    std::vector<kernels::PixelTile> tiles;
    for (int first = 0; first < count; first += kernels::kWidePixels) {
      kernels::PixelTile t{};
      t.n = std::min(kernels::kWidePixels, count - first);
      for (int j = 0; j < kernels::kWidePixels; ++j) {
        const auto [x, y] = at(std::min(first + j, count - 1));
        t.x[j] = x, t.y[j] = y;
      }
      tiles.push_back(t);
    }
    return tiles;
  }
  void run_wide(const std::vector<kernels::PixelTile>& tiles, const float* x_base, const int32_t* koff, float* y,
                size_t ldy, const kernels::PanelEpilogue& ep, int threads) const;
  bool wide() const { return w_.block_rows == kernels::kWideRows; }
  size_t bytes() const { return w_.bytes(); }
  const kernels::PanelWeights& weights() const { return w_; }

 private:
  // Runs piece(args with w, rows and columns [p0, p1) set) as tasks over the engine's threads.
  void for_pieces(int columns, int threads, const std::function<void(kernels::PanelGemmArgs&)>& piece) const;

  kernels::PanelWeights w_;
  kernels::PanelGemmFn fn_ = nullptr;
};

// y = W x for rows [r0, r1) of the node's weights: x is K x N (K = weight cols), y is
// (r1 - r0) x N, on a tile kernel (kernels.h): DenseShift or shift-with-zero codes only. FP32
// weights always run on the float panel kernel (PanelProduct), which every build has.
void weight_product(const core::NodeDesc& n, int r0, int r1, const float* x, int N, float* y, const RunContext& ctx);

// Per output row r: y = y * scale[r] + bias[r] (+ residual), then ReLU if asked.
void epilogue(const core::NodeDesc& n, int r0, int r1, int N, float* y, const float* residual, bool relu);

}  // namespace ds::rt
