// Quantizers: value sets, init statistics, closed-form gradients, fused vs composite.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "train/layers.h"
#include "train/quant/ops.h"

namespace ds {
namespace {

latent::Layout layout(Method m, int bits) {
  QuantSpec q{m, bits};
  return latent::Layout{exponent_latents(q), m == Method::kShiftWithZero};
}

std::set<float> values_of(const torch::Tensor& w) {
  std::set<float> s;
  auto c = w.contiguous();
  for (int64_t i = 0; i < c.numel(); ++i) s.insert(c.data_ptr<float>()[i]);
  return s;
}

// Latents spread wide enough that every code occurs.
torch::Tensor wide_latents(int rows, int64_t n) { return torch::randn({rows, n}); }

TEST(Quant, DenseShiftValueSetIsZeroFreePowersOfTwo) {
  torch::manual_seed(0);
  for (int bits = 2; bits <= 5; ++bits) {
    auto L = layout(Method::kDenseShift, bits);
    // With random latents P = k needs k consecutive positive v's; 200k samples reach P = 15.
    auto w = latent_weight(wide_latents(L.rows(), 200000) + 0.5, L);
    std::set<float> expect;
    for (int p = 0; p < (1 << (bits - 1)); ++p) expect.insert({float(1 << p), -float(1 << p)});
    EXPECT_EQ(values_of(w), expect) << bits << " bits";
  }
}

TEST(Quant, ShiftWithZeroValueSetHasZeroAndOneExponentFewer) {
  torch::manual_seed(1);
  for (int bits = 2; bits <= 5; ++bits) {
    auto L = layout(Method::kShiftWithZero, bits);
    auto w = latent_weight(wide_latents(L.rows(), 200000) + 0.5, L);
    std::set<float> expect{0.f};
    for (int p = 0; p < (1 << (bits - 1)) - 1; ++p) expect.insert({float(1 << p), -float(1 << p)});
    EXPECT_EQ(values_of(w), expect) << bits << " bits";
  }
}

TEST(Quant, DeepShiftQValueSetAndRounding) {
  for (int bits = 2; bits <= 5; ++bits) {
    auto mag = torch::exp2(torch::linspace(-24, 3, 100000));  // log-spaced: every exponent is hit
    auto w = torch::cat({mag, -mag, torch::zeros({1})});
    auto q = deepshift_q_weight(w, bits);
    std::set<float> expect{0.f};  // only w == 0 exactly maps to 0
    const int top = (1 << (bits - 1)) - 1;
    for (int p = -top; p <= 0; ++p) expect.insert({std::ldexp(1.f, p), -std::ldexp(1.f, p)});
    EXPECT_EQ(values_of(q), expect) << bits << " bits";
  }
  auto q = deepshift_q_weight(torch::tensor({0.3f, -0.2f, 0.7f, 0.01f, 3.f}), 3);
  // round(log2 0.3) = -2, round(log2 0.2) = -2, round(log2 0.7) = -1, 0.01 clips to -3, 3 clips to 0.
  EXPECT_TRUE(torch::equal(q, torch::tensor({0.25f, -0.25f, 0.5f, 0.125f, 1.f})));
}

TEST(Quant, InitHistogramThreeBits) {
  torch::manual_seed(2);
  torch::nn::Module owner;
  QuantWeight qw(owner, {256, 256, 3, 3}, QuantSpec{Method::kDenseShift, 3}, QuantWeight::FpInit::kKaimingNormalFanOut);
  auto lat = qw.param();
  EXPECT_NEAR(lat.std().item<double>(), 1e-3, 2e-5);
  auto codes = qw.codes();
  const double n = double(codes.numel());  // 589824
  const double expect[4] = {0.5, 0.25, 0.125, 0.125};
  for (int p = 0; p < 4; ++p) {
    double frac = codes.abs().eq(p + 1).sum().item<double>() / n;
    double sigma = std::sqrt(expect[p] * (1 - expect[p]) / n);
    EXPECT_NEAR(frac, expect[p], 5 * sigma) << "P = " << p;
  }
  double positive = codes.gt(0).sum().item<double>() / n;
  EXPECT_NEAR(positive, 0.5, 5 * std::sqrt(0.25 / n));
}

// The closed form of DENSESHIFT.md section 2 for K = 3, written out per element.
TEST(Quant, GradientsMatchClosedFormK3) {
  torch::manual_seed(3);
  auto L = layout(Method::kDenseShift, 3);
  auto lat = torch::randn({4, 5000}).requires_grad_(true);
  auto G = torch::randn({5000});
  (latent_weight(lat, L) * G).sum().backward();
  auto g = lat.grad();
  auto b = [](float x) { return x > 0 ? 1.f : 0.f; };
  for (int64_t i = 0; i < 5000; ++i) {
    float u = lat[0][i].item<float>(), v1 = lat[1][i].item<float>(), v2 = lat[2][i].item<float>(),
          v3 = lat[3][i].item<float>(), Gi = G[i].item<float>();
    float P1 = b(v1), P2 = (P1 + 1) * b(v2), P = (P2 + 1) * b(v3);
    float s = u >= 0 ? 1.f : -1.f;
    float dP = Gi * s / (2 * std::sqrt(P + 1));
    ASSERT_FLOAT_EQ(g[0][i].item<float>(), Gi * std::sqrt(P + 1));
    ASSERT_FLOAT_EQ(g[3][i].item<float>(), dP * (P2 + 1));
    ASSERT_FLOAT_EQ(g[2][i].item<float>(), dP * b(v3) * (P1 + 1));
    ASSERT_FLOAT_EQ(g[1][i].item<float>(), dP * b(v3) * b(v2));
  }
}

// For every method with latents and every b, the fused op equals the chain of autograd ops,
// and the tensor-op path (used on GPUs, here forced by double precision) equals both.
TEST(Quant, FusedEqualsCompositeForwardAndBackward) {
  torch::manual_seed(4);
  for (Method m : {Method::kDenseShift, Method::kShiftWithZero}) {
    for (int bits = 2; bits <= 5; ++bits) {
      auto L = layout(m, bits);
      auto base = torch::randn({L.rows(), 3, 7, 5, 5});
      auto G = torch::randn({3, 7, 5, 5});
      auto a = base.clone().requires_grad_(true), c = base.clone().requires_grad_(true);
      auto d = base.to(torch::kDouble).requires_grad_(true);
      auto wa = latent_weight(a, L), wc = latent_weight_composite(c, L), wd = latent_weight(d, L);
      EXPECT_TRUE(torch::equal(wa, wc)) << method_name(m) << bits;
      EXPECT_TRUE(torch::equal(wa, wd.to(torch::kFloat))) << method_name(m) << bits;
      (wa * G).sum().backward();
      (wc * G).sum().backward();
      (wd * G.to(torch::kDouble)).sum().backward();
      EXPECT_TRUE(torch::allclose(a.grad(), c.grad(), 1e-6, 1e-6)) << method_name(m) << bits;
      EXPECT_TRUE(torch::allclose(a.grad(), d.grad().to(torch::kFloat), 1e-6, 1e-6)) << method_name(m) << bits;
    }
  }
}

TEST(Quant, DeepShiftQGradientIsIdentity) {
  auto w = torch::randn({100}).requires_grad_(true);
  auto G = torch::randn({100});
  (deepshift_q_weight(w, 3) * G).sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), G));
}

TEST(Quant, SpecParsingRejectsBadInput) {
  EXPECT_EQ(spec_name(parse_spec("denseshift:4")), "denseshift:4");
  EXPECT_EQ(parse_spec("fp32").method, Method::kFp32);
  EXPECT_THROW(parse_spec("denseshift:6"), std::invalid_argument);
  EXPECT_THROW(parse_spec("denseshift:x"), std::invalid_argument);
  EXPECT_THROW(parse_spec("ternary:2"), std::invalid_argument);
  EXPECT_EQ(latent_rows(QuantSpec{Method::kDenseShift, 3}), 4);
  EXPECT_EQ(latent_rows(QuantSpec{Method::kDenseShift, 2}), 2);
  EXPECT_EQ(latent_rows(QuantSpec{Method::kDenseShift, 4}), 8);
  EXPECT_EQ(latent_rows(QuantSpec{Method::kShiftWithZero, 3}), 4);  // u, z, v1, v2
}

TEST(Quant, ConvLayerComputesWithQuantizedWeight) {
  torch::manual_seed(5);
  QConv2dOptions o;
  o.in = 4, o.out = 6, o.kernel = 3, o.padding = 1, o.groups = 2;
  QConv2d conv(o, QuantSpec{Method::kDenseShift, 3});
  auto x = torch::randn({2, 4, 9, 9});
  auto w = conv->quant_weight().weight();
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{6, 2, 3, 3}));
  auto expect = torch::conv2d(x, w.detach(), {}, 1, 1, 1, 2);
  EXPECT_TRUE(torch::allclose(conv(x), expect));
  EXPECT_TRUE(values_of(w.detach()).size() <= 8);
}

}  // namespace
}  // namespace ds
