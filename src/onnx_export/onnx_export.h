// .dsm model -> ONNX: a standard FP32 graph (opset 13) that any ONNX runtime can run. The
// power-of-two weights are decoded to floats with the folded BatchNorm scale multiplied in, so the
// graph is plain Conv/Gemm + Relu/Add/pooling; the batch dimension is dynamic. Uses Debian's ONNX
// library (libonnx-dev) for the protobuf types and to check what it writes. No libtorch.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "core/model_format.h"

namespace ds::onnx_export {

constexpr int kOpset = 13;

struct OnnxReport {
  std::string path;
  size_t file_bytes = 0;
  size_t onnx_nodes = 0;    // ONNX operators written
  size_t parameters = 0;    // floats in the initializers
};

// Serialized ModelProto for `m`, checked with ONNX's checker and strict shape inference (what
// onnx.checker.check_model(full_check=True) does). Throws std::runtime_error naming `name` when
// the graph has an op this exporter does not know or the checker refuses it.
std::string to_onnx_bytes(const core::ModelDesc& m, const std::string& name);

// Reads the .dsm file `dsm_path` and writes its ONNX graph to `out_path` (atomically, as every
// file the project writes). Throws core::FormatError for a bad model file.
OnnxReport export_onnx(const std::string& dsm_path, const std::string& out_path);

// `denseshift export X --format onnx`: X is a .dsm model (converted as it is) or a checkpoint, which
// `checkpoint_to_dsm(path)` first writes as a .dsm to a temporary file beside `out_path` (removed
// afterwards, also on failure), so both go through the one ModelDesc -> ONNX path.
OnnxReport export_onnx_from(const std::string& input, const std::string& out_path,
                            const std::function<void(const std::string& dsm_path)>& checkpoint_to_dsm);
// One line for the command: the file, its size, its operators and parameters.
std::string describe(const OnnxReport& r);

// Whether `path` starts with the .dsm magic (so `export` tells a model file from a checkpoint).
bool is_dsm_file(const std::string& path);

}  // namespace ds::onnx_export
