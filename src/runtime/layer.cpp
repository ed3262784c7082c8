#include "runtime/layer.h"

namespace ds::rt {

std::unique_ptr<Layer> make_conv2d(const core::NodeDesc& n);
std::unique_ptr<Layer> make_linear(const core::NodeDesc& n);
std::unique_ptr<Layer> make_pool(const core::NodeDesc& n);
std::unique_ptr<Layer> make_elementwise(const core::NodeDesc& n);

std::unique_ptr<Layer> make_layer(const core::NodeDesc& n) {
  switch (n.op) {
    case core::OpKind::kConv2d: return make_conv2d(n);
    case core::OpKind::kLinear: return make_linear(n);
    case core::OpKind::kMaxPool:
    case core::OpKind::kAvgPool:
    case core::OpKind::kGlobalAvgPool: return make_pool(n);
    case core::OpKind::kAdd:
    case core::OpKind::kRelu:
    case core::OpKind::kShortcutA: return make_elementwise(n);
  }
  throw core::FormatError("unknown op");
}

}  // namespace ds::rt
