// The model inside a .dsm container: metadata (META), the layer graph (GRPH) and the weights
// (WGTS). docs/format.md describes the bytes. Reading returns views into the container's
// memory (no copies of the weights); writing takes owned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/audio_frontend.h"
#include "core/container.h"

namespace ds::core {

enum class OpKind : uint32_t {
  kConv2d = 1,         // inputs [x] or [x, residual]; params kConvParams; weights
  kLinear = 2,         // inputs [x] (flattened); params [in, out, relu]; weights
  kMaxPool = 3,        // params [kernel, stride, pad]
  kAvgPool = 4,        // params [kernel, stride, pad] (padding counted, as PyTorch's default)
  kGlobalAvgPool = 5,  // params []
  kAdd = 6,            // inputs [a, b]; params [relu]
  kRelu = 7,           // params []
  kShortcutA = 8,      // params [stride, pad_lo, pad_hi]: x[:, :, ::s, ::s] with zero channels added
};
const char* op_name(OpKind k);

// Conv2d params, in this order.
enum ConvParam { kInC, kOutC, kKernelH, kKernelW, kStride, kPad, kDilation, kGroups, kConvRelu, kConvParamCount };

enum class WeightKind : uint32_t {
  kNone = 0,
  kFloat32 = 1,        // rows x cols floats
  kDenseShift = 2,     // rows of cols packed b-bit DenseShift codes (core/codes.h)
  kShiftWithZero = 3,  // rows of cols packed b-bit codes with zero (baseline)
};

struct NodeDesc {
  OpKind op = OpKind::kRelu;
  std::vector<uint32_t> inputs;  // value ids: 0 = model input, i + 1 = output of node i
  std::vector<int32_t> params;
  // Weights of conv and linear: row r is output channel r; after the product every row gets
  // y = y * scale[r] + bias[r] (folded BatchNorm, or 1 and the layer's bias).
  WeightKind wkind = WeightKind::kNone;
  uint32_t bits = 0, rows = 0, cols = 0, row_bytes = 0;
  const uint8_t* wdata = nullptr;  // views (reading) ...
  size_t wsize = 0;
  const float* scale = nullptr;
  const float* bias = nullptr;
  std::vector<uint8_t> own_w;  // ... or owned data (writing)
  std::vector<float> own_scale, own_bias;
};

struct ModelInfo {
  uint32_t in_c = 0, in_h = 0, in_w = 0, num_classes = 0;
  std::vector<float> mean, std;  // per input channel, applied to pixels in [0, 1]
  std::vector<std::string> class_names;
  std::string arch, method;  // descriptive
  // The training dataset's folder, absolute, as the training run saw it: what `eval MODEL` reads
  // when no dataset is given. Format version 2 on; empty for version-1 files.
  std::string dataset;
  // Speech models (section AUDF, format version 3): the log-mel front end that turns a waveform
  // into the 1 x n_mels x frames input. Empty for image models.
  std::optional<AudioFrontEnd> audio;
};

// Limits on what a model file may ask of the engine: a hostile or corrupt file must not make it
// allocate or compute without bound (docs/format.md section 9).
constexpr uint32_t kMaxInputChannels = 64;
constexpr uint32_t kMaxInputSide = 4096;
constexpr size_t kMaxInputFloats = size_t(1) << 22;  // one image's input: 16 MiB of floats

struct ModelDesc {
  ModelInfo info;
  std::vector<NodeDesc> nodes;  // topological order; the last node's output is the logits
};

// Serializes into a container (META, GRPH, WGTS) and writes it atomically.
std::vector<uint8_t> serialize_model(const ModelDesc& m);
void write_model(const ModelDesc& m, const std::string& path);
// Parses and checks everything that can be checked without running shapes: META's values (input
// size within the limits above, finite mean, finite positive std, no bytes after its fields),
// counts bounded by the section sizes, input ids refer to earlier values, parameter counts per
// op, weights consistent with rows/cols/bits and laid out in WGTS exactly as the writer lays them
// out (so no two nodes share bytes and no byte is unexplained), finite scale, bias and FP32
// weights. Throws FormatError naming the file.
ModelDesc read_model(const Container& c);

}  // namespace ds::core
