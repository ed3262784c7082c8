// The ONNX graph of a .dsm model. One ONNX node (or two: the product, then Add for a residual and
// Relu) per engine node; value i + 1 of the engine is the ONNX tensor "v<i+1>", the last one
// "logits". Engine semantics to keep (docs/format.md section 9): conv output = ReLU?(scale * Wx +
// bias + residual); linear flattens its input; avgpool counts padding; shortcut_a is
// x[:, :, ::s, ::s] with zero channels before and after.
#include "onnx_export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/atomic_file.h"
#include "core/codes.h"
#include "core/container.h"

namespace ds::onnx_export {
namespace {

using core::NodeDesc;
using core::OpKind;

// A JSON string literal, for the metadata values (class names may hold quotes or any byte).
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string json_floats(const std::vector<float>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", double(v[i]));
    out += (i ? ", " : "") + std::string(buf);
  }
  return out + "]";
}

// Row r of a node's weights as floats: packed codes decoded (core/codes.h), or FP32 as stored.
std::vector<float> decoded_weights(const NodeDesc& n) {
  std::vector<float> w(size_t(n.rows) * n.cols);
  for (uint32_t r = 0; r < n.rows; ++r) {
    float* out = w.data() + size_t(r) * n.cols;
    if (n.wkind == core::WeightKind::kFloat32) {
      const float* src = reinterpret_cast<const float*>(n.wdata) + size_t(r) * n.cols;
      std::copy(src, src + n.cols, out);
      continue;
    }
    const uint8_t* row = n.wdata + size_t(r) * n.row_bytes;
    const int bits = int(n.bits);
    for (uint32_t c = 0; c < n.cols; ++c) {
      const uint8_t code = core::packed_code_at(row, c, bits);
      out[c] = n.wkind == core::WeightKind::kDenseShift ? core::decode_code(code, bits) : core::decode_zero_code(code, bits);
    }
  }
  return w;
}

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* g) : g_(g) {}

  static std::string value(uint32_t id) { return id == 0 ? "input" : "v" + std::to_string(id); }

  onnx::NodeProto* node(const std::string& op, std::vector<std::string> in, const std::string& out) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(out + "_" + op);
    for (auto& s : in) n->add_input(s);
    n->add_output(out);
    return n;
  }

  static void ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void int1(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }

  std::string floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    // raw_data is little-endian IEEE; so is every machine this builds for.
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    parameters_ += v.size();
    return name;
  }
  std::string int64s(const std::string& name, const std::vector<int64_t>& v) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(int64_t(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return name;
  }

  // The product's raw output, then + residual and ReLU as the node asks; ends in `out`.
  void epilogue(std::string x, const std::string& out, const std::string* residual, bool relu) {
    if (residual) {
      const std::string sum = relu ? out + "_sum" : out;
      node("Add", {x, *residual}, sum);
      x = sum;
    }
    if (relu) node("Relu", {x}, out);
  }

  // Weights with the folded BatchNorm scale multiplied into each output row, and its bias.
  std::pair<std::string, std::string> weights(const NodeDesc& n, const std::string& prefix, std::vector<int64_t> dims) {
    std::vector<float> w = decoded_weights(n);
    for (uint32_t r = 0; r < n.rows; ++r)
      for (uint32_t c = 0; c < n.cols; ++c) w[size_t(r) * n.cols + c] *= n.scale[r];
    return {floats(prefix + ".weight", dims, w), floats(prefix + ".bias", {int64_t(n.rows)}, std::vector<float>(n.bias, n.bias + n.rows))};
  }

  void conv(const NodeDesc& n, const std::string& out) {
    const auto& p = n.params;
    const bool relu = p[core::kConvRelu] != 0, residual = n.inputs.size() == 2;
    const std::string name = out + "_conv";
    auto [w, b] = weights(n, out, {p[core::kOutC], p[core::kInC] / p[core::kGroups], p[core::kKernelH], p[core::kKernelW]});
    const std::string y = (relu || residual) ? name : out;
    onnx::NodeProto* c = node("Conv", {value(n.inputs[0]), w, b}, y);
    ints(c, "kernel_shape", {p[core::kKernelH], p[core::kKernelW]});
    ints(c, "strides", {p[core::kStride], p[core::kStride]});
    ints(c, "pads", {p[core::kPad], p[core::kPad], p[core::kPad], p[core::kPad]});
    ints(c, "dilations", {p[core::kDilation], p[core::kDilation]});
    int1(c, "group", p[core::kGroups]);
    const std::string res = residual ? value(n.inputs[1]) : "";
    epilogue(y, out, residual ? &res : nullptr, relu);
  }

  void linear(const NodeDesc& n, const std::string& out) {
    const bool relu = n.params[2] != 0;
    node("Flatten", {value(n.inputs[0])}, out + "_flat");
    auto [w, b] = weights(n, out, {int64_t(n.rows), int64_t(n.cols)});
    const std::string y = relu ? out + "_gemm" : out;
    int1(node("Gemm", {out + "_flat", w, b}, y), "transB", 1);
    epilogue(y, out, nullptr, relu);
  }

  void pool(const NodeDesc& n, const std::string& out) {
    const auto& p = n.params;  // kernel, stride, pad
    onnx::NodeProto* q = node(n.op == OpKind::kMaxPool ? "MaxPool" : "AveragePool", {value(n.inputs[0])}, out);
    ints(q, "kernel_shape", {p[0], p[0]});
    ints(q, "strides", {p[1], p[1]});
    ints(q, "pads", {p[2], p[2], p[2], p[2]});
    if (n.op == OpKind::kAvgPool) int1(q, "count_include_pad", 1);  // as PyTorch's default and the engine
  }

  void shortcut_a(const NodeDesc& n, const std::string& out) {
    const int64_t s = n.params[0], lo = n.params[1], hi = n.params[2];
    const int64_t end = std::numeric_limits<int64_t>::max();
    node("Slice", {value(n.inputs[0]), int64s(out + ".starts", {0, 0}), int64s(out + ".ends", {end, end}),
                   int64s(out + ".axes", {2, 3}), int64s(out + ".steps", {s, s})},
         out + "_sub");
    // pads: begin of N, C, H, W, then their ends: zero channels before and after.
    node("Pad", {out + "_sub", int64s(out + ".pads", {0, lo, 0, 0, 0, hi, 0, 0})}, out);
  }

  size_t parameters() const { return parameters_; }

 private:
  onnx::GraphProto* g_;
  size_t parameters_ = 0;
};

void tensor_type(onnx::ValueInfoProto* v, const std::string& name, std::vector<int64_t> dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("batch");  // dynamic batch
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

onnx::ModelProto build(const core::ModelDesc& m, const std::string& name) {
  onnx::ModelProto model;
  model.set_ir_version(7);  // the IR of opset 13: the widest range of runtimes reads it
  model.set_producer_name("denseshift");
  model.set_doc_string("DenseShift " + m.info.arch + " " + m.info.method + ", exported from " + name +
                       "; power-of-two weights decoded to FP32 with the folded BatchNorm scale");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  const auto& i = m.info;
  metadata(model, "class_names", [&] {
    std::string s = "[";
    for (size_t k = 0; k < i.class_names.size(); ++k) s += (k ? ", " : "") + json_string(i.class_names[k]);
    return s + "]";
  }());
  metadata(model, "mean", json_floats(i.mean));
  metadata(model, "std", json_floats(i.std));
  metadata(model, "input_shape", "[" + std::to_string(i.in_c) + ", " + std::to_string(i.in_h) + ", " + std::to_string(i.in_w) + "]");
  if (i.audio) {
    // The graph starts after the log-mel front end, which ONNX has no standard op for: the
    // metadata says so and carries its parameters (docs/format.md section 10).
    const core::AudioFrontEnd& a = *i.audio;
    const auto num = [](float v) { const std::string s = json_floats({v}); return s.substr(1, s.size() - 2); };
    metadata(model, "normalization", "input = the log-mel front end of docs/format.md section 10 (not in this graph)");
    metadata(model, "audio_frontend",
             "{\"sample_rate\": " + std::to_string(a.sample_rate) + ", \"clip_samples\": " + std::to_string(a.clip_samples) +
                 ", \"n_fft\": " + std::to_string(a.n_fft) + ", \"win_length\": " + std::to_string(a.win_length) +
                 ", \"hop_length\": " + std::to_string(a.hop_length) + ", \"n_mels\": " + std::to_string(a.n_mels) +
                 ", \"f_min\": " + num(a.f_min) + ", \"f_max\": " + num(a.f_max) +
                 ", \"log_floor\": " + num(a.log_floor) +
                 ", \"window\": \"periodic hann\", \"mel_scale\": \"htk\", \"normalization\": \"per utterance\"}");
  } else {
    metadata(model, "normalization", "input = (pixel / 255 - mean[c]) / std[c], NCHW float32");
  }
  metadata(model, "arch", i.arch);
  metadata(model, "method", i.method);

  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(i.arch.empty() ? "denseshift" : i.arch);
  tensor_type(g->add_input(), "input", {i.in_c, i.in_h, i.in_w});
  tensor_type(g->add_output(), "logits", {i.num_classes});
  GraphBuilder b(g);
  for (size_t k = 0; k < m.nodes.size(); ++k) {
    const NodeDesc& n = m.nodes[k];
    const std::string out = k + 1 == m.nodes.size() ? "logits" : GraphBuilder::value(uint32_t(k + 1));
    switch (n.op) {
      case OpKind::kConv2d: b.conv(n, out); break;
      case OpKind::kLinear: b.linear(n, out); break;
      case OpKind::kMaxPool:
      case OpKind::kAvgPool: b.pool(n, out); break;
      case OpKind::kGlobalAvgPool: b.node("GlobalAveragePool", {GraphBuilder::value(n.inputs[0])}, out); break;
      case OpKind::kAdd: {
        const std::string y = n.params[0] ? out + "_sum" : out;
        b.node("Add", {GraphBuilder::value(n.inputs[0]), GraphBuilder::value(n.inputs[1])}, y);
        if (n.params[0]) b.node("Relu", {y}, out);
        break;
      }
      case OpKind::kRelu: b.node("Relu", {GraphBuilder::value(n.inputs[0])}, out); break;
      case OpKind::kShortcutA: b.shortcut_a(n, out); break;
      default: throw std::runtime_error(name + ": node " + std::to_string(k) + ": op " + core::op_name(n.op) + " has no ONNX form here");
    }
  }
  return model;
}

}  // namespace

namespace {

// What onnx.checker.check_model(full_check=True) does: the checker, then strict shape inference
// with type checks. A graph that failed it would fail in every runtime.
onnx::ModelProto checked_model(const core::ModelDesc& m, const std::string& name) {
  onnx::ModelProto model = build(m, name);
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(), onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw std::runtime_error(name + ": the ONNX graph does not pass ONNX's checker: " + e.what());
  }
  return model;
}

std::string serialize(const onnx::ModelProto& model, const std::string& name) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw std::runtime_error(name + ": ONNX serialization failed (a model over 2 GiB?)");
  return bytes;
}

}  // namespace

std::string to_onnx_bytes(const core::ModelDesc& m, const std::string& name) { return serialize(checked_model(m, name), name); }

OnnxReport export_onnx(const std::string& dsm_path, const std::string& out_path) {
  const core::Container c = core::Container::open(dsm_path);
  const onnx::ModelProto model = checked_model(core::read_model(c), dsm_path);
  const std::string bytes = serialize(model, dsm_path);
  core::write_file_atomic(out_path, bytes.data(), bytes.size());
  OnnxReport r;
  r.path = out_path;
  r.file_bytes = bytes.size();
  r.onnx_nodes = size_t(model.graph().node_size());
  for (const auto& t : model.graph().initializer())
    if (t.data_type() == onnx::TensorProto::FLOAT) r.parameters += t.raw_data().size() / sizeof(float);
  return r;
}

OnnxReport export_onnx_from(const std::string& input, const std::string& out_path,
                            const std::function<void(const std::string& dsm_path)>& checkpoint_to_dsm) {
  if (is_dsm_file(input)) return export_onnx(input, out_path);
  const std::string dsm = out_path + ".export.dsm";
  struct Remove {
    const std::string& path;
    ~Remove() { std::remove(path.c_str()); }
  } remove_after{dsm};
  checkpoint_to_dsm(dsm);
  OnnxReport r = export_onnx(dsm, out_path);
  return r;
}

std::string describe(const OnnxReport& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%.3f MB, %zu ONNX operators (opset %d, FP32, dynamic batch), %zu parameters",
                double(r.file_bytes) / 1e6, r.onnx_nodes, kOpset, r.parameters);
  return "wrote " + r.path + ": " + buf;
}

bool is_dsm_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "DSM1";
}

}  // namespace ds::onnx_export
