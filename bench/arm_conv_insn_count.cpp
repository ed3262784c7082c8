// arm_conv_insn_count: runs the engine `reps` times on a one-layer model - a stride-1 3x3
// convolution, C -> C channels on an HW x HW image, 3-bit codes (DenseShift, or shift-with-zero
// for the shiftzero kernels), scale, bias, ReLU -
// for counting the aarch64 instructions each kernel executes on a whole layer under qemu
// (bench/arm_insn_count.sh): the tile kernels' direct product against the Winograd kernel.
// Torch-free. Usage: arm_conv_insn_count KERNEL REPS C HW  (KERNEL "none" loads but runs nothing).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/codes.h"
#include "core/model_format.h"
#include "runtime/engine.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s KERNEL REPS C HW\n", argv[0]);
    return 2;
  }
  const int reps = std::atoi(argv[2]), C = std::atoi(argv[3]), HW = std::atoi(argv[4]), bits = 3;
  // The engine takes up to 64 input channels straight from the image.
  if (C < 1 || C > 64 || HW < 1) {
    std::fprintf(stderr, "C must be 1..64, HW >= 1\n");
    return 2;
  }
  ds::core::ModelDesc m;
  m.info.in_c = uint32_t(C), m.info.in_h = uint32_t(HW), m.info.in_w = uint32_t(HW);
  m.info.mean.assign(size_t(C), 0.f), m.info.std.assign(size_t(C), 1.f);
  m.info.num_classes = uint32_t(C * HW * HW);
  ds::core::NodeDesc n;
  n.op = ds::core::OpKind::kConv2d;
  n.inputs = {0};
  n.params = {C, C, 3, 3, 1, 1, 1, 1, 1};
  // The shift-with-zero kernels run only shift-with-zero weights (0, +-2^p): theirs, for them.
  n.wkind = std::strstr(argv[1], "shiftzero") ? ds::core::WeightKind::kShiftWithZero : ds::core::WeightKind::kDenseShift;
  n.bits = bits, n.rows = uint32_t(C), n.cols = uint32_t(C * 9);
  n.row_bytes = uint32_t(ds::core::packed_bytes(n.cols, bits));
  std::mt19937 rng(1);
  n.own_w.resize(size_t(C) * n.row_bytes);
  for (auto& b : n.own_w) b = uint8_t(rng());
  n.own_scale.assign(size_t(C), 0.05f), n.own_bias.assign(size_t(C), 0.01f);
  m.nodes.push_back(n);
  const auto bytes = ds::core::serialize_model(m);
  const bool none = std::strcmp(argv[1], "none") == 0;
  const ds::rt::Engine e = ds::rt::Engine::from_bytes(bytes, "conv.dsm", ds::rt::EngineOptions{none ? "" : argv[1], 1});
  std::vector<float> x(size_t(C) * HW * HW);
  for (auto& v : x) v = rng() % 3 == 0 ? 0.0f : float(rng() % 1000 + 1) / 64.0f;  // ReLU-like
  float y0 = 0;
  for (int r = 0; r < reps && !none; ++r) y0 = e.run(x.data(), 1)[0];
  std::printf("C=%d HW=%d MACs=%lld y0=%g\n", C, HW, (long long)C * C * 9 * HW * HW, double(y0));
  return 0;
}
