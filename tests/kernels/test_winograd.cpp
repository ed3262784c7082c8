// Winograd F(2x2, 3x3) (winograd.h): every kernel that has it against a direct convolution in
// double - odd and even sizes, 1x1 images, batches, input channels across the transform's chunks,
// partial 16-channel blocks, every weight kind, pieces of the product and the fused epilogue, U
// made per piece or kept from load - and the argument checks. Winograd rounds differently from the direct product, so the comparison is
// to within a bound on the rounding, relative to the sum of |w * x|.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernel_test_util.h"
#include "kernels/winograd.h"

namespace ds::kernels::test {
namespace {

std::vector<const KernelInfo*> winograd_kernels() {
  return supported_kernels([](const KernelInfo& k) { return k.winograd != nullptr; });
}

struct Case {
  int m, batch, C, M, H, W, bits;
  PanelWeightKind kind;
};

// Runs the input transform per plane and the product in pieces (2 x 2 when there is room), with
// scale, bias, residual and ReLU, and checks every output against the double reference.
void check(const KernelInfo& k, const Case& cs, std::mt19937& rng) {
  SCOPED_TRACE(std::string(k.name) + " F(" + std::to_string(cs.m) + "x" + std::to_string(cs.m) + ") batch " + std::to_string(cs.batch) + " C " + std::to_string(cs.C) + " M " +
               std::to_string(cs.M) + " " + std::to_string(cs.H) + "x" + std::to_string(cs.W) + " bits " +
               std::to_string(cs.bits) + " kind " + std::to_string(int(cs.kind)));
  const int K = cs.C * 9, plane = cs.H * cs.W;
  std::vector<float> wf(size_t(cs.M) * K);  // the weights as floats, k = c * 9 + i * 3 + j
  std::vector<uint8_t> rows;
  size_t row_bytes;
  if (cs.kind == PanelWeightKind::kF32) {
    std::normal_distribution<float> nd;
    for (auto& v : wf) v = nd(rng);
    rows.resize(wf.size() * 4);
    std::memcpy(rows.data(), wf.data(), rows.size());
    row_bytes = size_t(K) * 4;
  } else {
    const PackedCodes p = random_codes(rng, cs.M, K, cs.bits, 1);
    for (int m = 0; m < cs.M; ++m)
      for (int kk = 0; kk < K; ++kk)
        wf[size_t(m) * K + kk] = cs.kind == PanelWeightKind::kDenseShift ? dense_weight(p.code(m, kk), cs.bits)
                                                                          : zero_weight(p.code(m, kk), cs.bits);
    rows = p.packed;
    row_bytes = p.row_bytes;
  }
  const PanelWeights w = pack_panel_weights(cs.kind, cs.kind == PanelWeightKind::kF32 ? 32 : cs.bits, cs.M, K,
                                            rows.data(), row_bytes, kWideRows);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(cs.batch) * cs.C * plane), res(size_t(cs.batch) * cs.M * plane), scale(size_t(cs.M)),
      bias(size_t(cs.M));
  for (auto* v : {&x, &res, &scale, &bias})
    for (auto& f : *v) f = nd(rng);

  const int th = winograd_tiles(cs.H, cs.m), tw = winograd_tiles(cs.W, cs.m), T = cs.batch * th * tw;
  // V per image in two calls, channel 0 alone and the rest as one run of channels, and again a
  // plane per call: the same values bit for bit.
  std::vector<float> v(size_t(winograd_positions(cs.m)) * cs.C * T, NAN), v_planes(v.size(), NAN);
  auto input = [&](std::vector<float>& out, int b, int c0, int n) {
    WinogradInputArgs a;
    a.m = cs.m;
    a.x = x.data() + (size_t(b) * cs.C + c0) * plane;
    a.H = cs.H, a.W = cs.W;
    a.v = out.data() + size_t(c0) * T + size_t(b) * th * tw;
    a.xi_stride = size_t(cs.C) * T;
    a.channels = n, a.c_stride = size_t(T);
    k.winograd->input(a);
  };
  for (int b = 0; b < cs.batch; ++b) {
    input(v, b, 0, 1);
    if (cs.C > 1) input(v, b, 1, cs.C - 1);
    for (int c = 0; c < cs.C; ++c) input(v_planes, b, c, 1);
  }
  for (float f : v) ASSERT_FALSE(std::isnan(f)) << "the input transform left a value of V unwritten";
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(f2u(v[i]), f2u(v_planes[i])) << "a run of channels against a plane a call, V " << i;

  std::vector<float> y(res.size(), NAN), y_kept(res.size(), NAN);
  // U made by each piece, then kept from WinogradKernel::weights: the same transforms, so the
  // same outputs bit for bit.
  std::vector<float> u(winograd_u_floats(w, cs.m), NAN);
  WinogradWeightsArgs wa;
  wa.m = cs.m, wa.w = &w, wa.u = u.data();
  k.winograd->weights(wa);
  const int blocks = w.blocks(), groups = (T + k.winograd->group - 1) / k.winograd->group;
  const int bsplit = blocks > 1 ? blocks / 2 : blocks, gsplit = groups > 1 ? groups / 2 : groups;
  for (const bool kept : {false, true})
  for (int bp = 0; bp < 2; ++bp)
    for (int gp = 0; gp < 2; ++gp) {
      WinogradProductArgs a;
      a.m = cs.m;
      a.w = &w;
      a.mb0 = bp ? bsplit : 0, a.mb1 = bp ? blocks : bsplit;
      a.g0 = gp ? gsplit : 0, a.g1 = gp ? groups : gsplit;
      a.v = v.data(), a.xi_stride = size_t(cs.C) * T, a.c_stride = size_t(T), a.T = T;
      a.tiles_h = th, a.tiles_w = tw, a.OH = cs.H, a.OW = cs.W;
      a.y = kept ? y_kept.data() : y.data(), a.image_stride = size_t(cs.M) * plane;
      a.ep.scale = scale.data(), a.ep.bias = bias.data(), a.ep.residual = res.data(), a.ep.relu = true;
      a.u = kept ? u.data() : nullptr;
      k.winograd->product(a);
    }
  for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(f2u(y[i]), f2u(y_kept[i])) << "U kept from load, output " << i;

  for (int b = 0; b < cs.batch; ++b)
    for (int m = 0; m < cs.M; ++m)
      for (int oy = 0; oy < cs.H; ++oy)
        for (int ox = 0; ox < cs.W; ++ox) {
          double sum = 0, mag = 0;
          for (int c = 0; c < cs.C; ++c)
            for (int i = 0; i < 3; ++i)
              for (int j = 0; j < 3; ++j) {
                const int yy = oy + i - 1, xx = ox + j - 1;
                if (yy < 0 || yy >= cs.H || xx < 0 || xx >= cs.W) continue;
                const double p = double(wf[size_t(m) * K + c * 9 + i * 3 + j]) *
                                 x[(size_t(b) * cs.C + c) * plane + size_t(yy) * cs.W + xx];
                sum += p, mag += std::fabs(p);
              }
          const size_t at = (size_t(b) * cs.M + m) * plane + size_t(oy) * cs.W + ox;
          const double want = std::max(0.0, sum * scale[size_t(m)] + bias[size_t(m)] + res[at]);
          // The transforms add (and scale) up to 36 terms per product: a few hundred ulps of the
          // magnitude at most (F(4x4)'s entries go up to 25 and 1/24).
          const double tol = (cs.m == 2 ? 64 : 512) * 6e-8 * (mag * std::fabs(scale[size_t(m)]) + std::fabs(bias[size_t(m)]) + std::fabs(res[at])) + 1e-30;
          ASSERT_NEAR(y[at], want, tol) << "image " << b << " channel " << m << " pixel " << oy << "," << ox;
        }
}

TEST(Winograd, MatchesDirectConvolution) {
  const auto ks = winograd_kernels();
  if (ks.empty()) GTEST_SKIP() << "no Winograd kernel runs on this CPU";
  std::mt19937 rng(7);
  const Case cases[] = {
      {2, 1, 3, 5, 7, 7, 3, PanelWeightKind::kDenseShift},      // odd size: the last tile row and column half outside
      {2, 2, 16, 16, 8, 6, 2, PanelWeightKind::kDenseShift},    // a batch: tiles of two images in one group
      {2, 1, 70, 33, 5, 9, 4, PanelWeightKind::kDenseShift},    // two chunks of input channels, a partial block
      {2, 1, 130, 17, 4, 4, 5, PanelWeightKind::kDenseShift},   // three chunks
      {2, 3, 4, 20, 1, 1, 3, PanelWeightKind::kDenseShift},     // 1x1 images: only the centre tap
      {2, 1, 2, 3, 2, 17, 3, PanelWeightKind::kDenseShift},     // 9 tiles a row: a partial vector of 16
      {2, 1, 5, 18, 3, 35, 3, PanelWeightKind::kShiftWithZero}, // 18 tiles a row: two input vectors
      {2, 2, 9, 16, 6, 5, 32, PanelWeightKind::kF32},
      {2, 1, 70, 80, 12, 12, 3, PanelWeightKind::kDenseShift}, // 5 blocks, 6 groups: pieces of a pair and an odd one of each
      {4, 1, 3, 5, 7, 7, 3, PanelWeightKind::kDenseShift},      // 7 = 4 + 3: the last tiles partly outside
      {4, 2, 16, 16, 8, 6, 2, PanelWeightKind::kDenseShift},
      {4, 1, 70, 33, 5, 9, 4, PanelWeightKind::kDenseShift},
      {4, 3, 4, 20, 1, 1, 3, PanelWeightKind::kDenseShift},
      {4, 1, 5, 18, 3, 69, 3, PanelWeightKind::kShiftWithZero}, // 18 tiles a row: two input vectors
      {4, 1, 2, 7, 13, 61, 5, PanelWeightKind::kDenseShift},    // 16 tiles a row: one full vector
      {4, 2, 9, 16, 6, 5, 32, PanelWeightKind::kF32},
      {4, 2, 24, 80, 11, 10, 4, PanelWeightKind::kDenseShift}, // 5 blocks, 5 groups over two images
  };
  for (const KernelInfo* k : ks)
    for (const Case& cs : cases) check(*k, cs, rng);
}

TEST(Winograd, RejectsPiecesOutsideTheProduct) {
  const auto ks = winograd_kernels();
  if (ks.empty()) GTEST_SKIP() << "no Winograd kernel runs on this CPU";
  std::mt19937 rng(3);
  const PackedCodes p = random_codes(rng, 16, 18, 3, 0);
  const PanelWeights w = pack_panel_weights(PanelWeightKind::kDenseShift, 3, 16, 18, p.packed.data(), p.row_bytes, kWideRows);
  std::vector<float> v(16 * 2 * 4), y(16 * 16);
  WinogradProductArgs a;
  a.m = 2, a.w = &w, a.mb0 = 0, a.mb1 = 1, a.g0 = 0, a.g1 = 1, a.v = v.data(), a.xi_stride = 8, a.c_stride = 4, a.T = 4;
  a.tiles_h = 2, a.tiles_w = 2, a.OH = 4, a.OW = 4, a.y = y.data(), a.image_stride = 256;
  EXPECT_NO_THROW(ks[0]->winograd->product(a));
  WinogradProductArgs bad = a;
  bad.mb1 = 2;
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  bad = a, bad.g1 = 2;
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  bad = a, bad.OW = 6;  // 3 tiles a row, not 2
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  bad = a, bad.m = 4;  // 4x4 outputs are 1 tile of 4x4, not 2x2 tiles
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  bad = a, bad.m = 3;
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  bad = a, bad.c_stride = 3;  // channels of V overlapping
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  bad = a, bad.image_stride = 100;  // images of y overlapping
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
  const PanelWeights six = pack_panel_weights(PanelWeightKind::kDenseShift, 3, 16, 18, p.packed.data(), p.row_bytes);
  bad = a, bad.w = &six;  // blocks of 6 rows
  EXPECT_THROW(ks[0]->winograd->product(bad), std::invalid_argument);
}

}  // namespace
}  // namespace ds::kernels::test
