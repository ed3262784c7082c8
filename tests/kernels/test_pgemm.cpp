// The blocked GEMM (pgemm.h): panel packing, every panel kernel against plain loops - several K
// blocks, partial row blocks and column panels, pieces of the product, the fused epilogue - and
// the argument checks. Exactness as each kernel documents it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "core/codes.h"
#include "kernel_test_util.h"
#include "kernels/pgemm.h"

namespace ds::kernels::test {
namespace {

std::vector<const KernelInfo*> panel_kernels() {
  return supported_kernels([](const KernelInfo& k) { return k.panel != nullptr; });
}

// Random normal activations (no zeros: the one-add kernels are exact on them), with a wide
// spread of exponents.
std::vector<float> normal_x(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> ex(-20, 20), sign(0, 1);
  std::vector<float> x(n);
  for (auto& v : x) v = std::ldexp(mant(rng), ex(rng)) * (sign(rng) ? -1.f : 1.f);
  return x;
}

TEST(PanelWeights, PacksCodesKMajorInBlocksOfSix) {
  std::mt19937 rng(3);
  for (int bits = 2; bits <= 5; ++bits) {
    const int M = 13, K = 37;
    const PackedCodes p = random_codes(rng, M, K, bits, 3);
    const PanelWeights w = pack_panel_weights(PanelWeightKind::kDenseShift, bits, M, K, p.packed.data(), p.row_bytes);
    ASSERT_EQ(w.blocks(), 3);
    EXPECT_EQ(w.block_bytes % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.block(0)) % 64, 0u);
    for (int m = 0; m < 18; ++m)
      for (int k = 0; k < K; ++k) {
        const uint8_t c = ds::core::packed_code_at(w.block(m / 6), size_t(k) * 6 + size_t(m % 6), bits);
        EXPECT_EQ(c, m < M ? p.code(m, k) : 0) << "bits " << bits << " m " << m << " k " << k;
      }
  }
  EXPECT_THROW(pack_panel_weights(PanelWeightKind::kDenseShift, 6, 1, 1, nullptr, 1), std::invalid_argument);
  EXPECT_THROW(pack_panel_weights(PanelWeightKind::kF32, 3, 1, 1, nullptr, 4), std::invalid_argument);
  const uint8_t row[1] = {0};
  EXPECT_THROW(pack_panel_weights(PanelWeightKind::kDenseShift, 3, 1, 8, row, 1), std::invalid_argument);
}

TEST(PanelX, PanelsOfSixteenColumnsWithZeroTail) {
  const int K = 5, N = 21;
  std::vector<float> x(size_t(K) * N);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i + 1);
  std::vector<float> xp(panel_x_floats(K, N), -1.f);
  ASSERT_EQ(xp.size(), size_t(2 * K * 16));
  pack_panel_x(x.data(), size_t(N), K, N, 0, K, xp.data());
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < 32; ++n)
      EXPECT_EQ(xp[size_t(n / 16 * K + k) * 16 + size_t(n % 16)], n < N ? x[size_t(k) * N + n] : 0.f);
}

// The GemmArgs form: bit-equal to a float dot product on normal x, over several K blocks.
TEST(PanelKernels, EqualPlainLoopsAcrossKBlocks) {
  std::mt19937 rng(11);
  for (const KernelInfo* k : panel_kernels()) {
    SCOPED_TRACE(k->name);
    for (int bits = 2; bits <= 5; ++bits) {
      for (auto [M, K, N] : {std::tuple{1, 1, 1}, {7, 300, 17}, {12, 513, 33}, {5, 256, 16}, {13, 40, 50}}) {
        const PackedCodes p = random_codes(rng, M, K, bits, 1);
        const std::vector<float> x = normal_x(rng, size_t(K) * N);
        const std::vector<float> y = run(*k, p, N, x);
        const bool zero = k->weights == WeightSet::kShiftWithZero;
        const std::vector<float> want = zero ? plain_gemm(p, N, x, zero_weight) : plain_gemm(p, N, x, dense_weight);
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_EQ(f2u(want[i]), f2u(y[i])) << "bits " << bits << " M " << M << " K " << K << " N " << N << " i " << i;
      }
    }
  }
}

// Zero activations: exact for the FMA kernels, a term below 2^-110 each for the one-add ones.
TEST(PanelKernels, ZeroActivationsAsDocumented) {
  std::mt19937 rng(12);
  for (const KernelInfo* k : panel_kernels()) {
    SCOPED_TRACE(k->name);
    const int M = 9, K = 70, N = 20, bits = 5;
    const PackedCodes p = random_codes(rng, M, K, bits, 0);
    std::vector<float> x = normal_x(rng, size_t(K) * N);
    for (size_t i = 0; i < x.size(); i += 3) x[i] = (i % 2) ? 0.f : -0.f;
    for (int kk = 0; kk < K; ++kk) x[size_t(kk) * N] = 0.f;  // column 0 all zeros: y = (almost) 0
    const std::vector<float> y = run(*k, p, N, x);
    const bool zero = k->weights == WeightSet::kShiftWithZero;
    const std::vector<float> want = zero ? plain_gemm(p, N, x, zero_weight) : plain_gemm(p, N, x, dense_weight);
    for (size_t i = 0; i < y.size(); ++i) {
      if (k->tiny_zero_terms)
        ASSERT_NEAR(want[i], y[i], 1e-30) << i;
      else
        ASSERT_EQ(f2u(want[i]), f2u(y[i])) << i;
    }
  }
}

// The panel form on pieces, with scale, bias, residual and ReLU; outside the piece y is untouched.
TEST(PanelKernels, PiecesWithFusedEpilogue) {
  std::mt19937 rng(13);
  for (const KernelInfo* k : panel_kernels()) {
    SCOPED_TRACE(k->name);
    const bool zero = k->weights == WeightSet::kShiftWithZero;
    const auto kind = zero ? PanelWeightKind::kShiftWithZero : PanelWeightKind::kDenseShift;
    const int M = 20, K = 290, N = 45, bits = 3;  // 4 row blocks (the last partial), 3 panels
    const PackedCodes p = random_codes(rng, M, K, bits, 0);
    const PanelWeights w = pack_panel_weights(kind, bits, M, K, p.packed.data(), p.row_bytes);
    const std::vector<float> x = normal_x(rng, size_t(K) * N);
    std::vector<float> xp(panel_x_floats(K, N));
    pack_panel_x(x.data(), size_t(N), K, N, 0, K, xp.data());
    std::vector<float> scale(M), bias(M), res(size_t(M) * N);
    for (auto& v : scale) v = std::uniform_real_distribution<float>(0.5f, 2.f)(rng);
    for (auto& v : bias) v = std::uniform_real_distribution<float>(-1e5f, 1e5f)(rng);
    for (auto& v : res) v = std::uniform_real_distribution<float>(-1e5f, 1e5f)(rng);
    const std::vector<float> prod = zero ? plain_gemm(p, N, x, zero_weight) : plain_gemm(p, N, x, dense_weight);

    const size_t ldy = size_t(N) + 3;
    std::vector<float> y(size_t(M) * ldy, 7.f);
    PanelGemmArgs a;
    a.w = &w, a.mb0 = 1, a.mb1 = 4, a.xp = xp.data(), a.N = N, a.p0 = 1, a.p1 = 3, a.y = y.data(), a.ldy = ldy;
    std::vector<float> res_ld(size_t(M) * ldy);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) res_ld[size_t(m) * ldy + size_t(n)] = res[size_t(m) * N + size_t(n)];
    a.ep.scale = scale.data(), a.ep.bias = bias.data(), a.ep.residual = res_ld.data(), a.ep.relu = true;
    k->panel(a);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < int(ldy); ++n) {
        const float got = y[size_t(m) * ldy + size_t(n)];
        if (m < 6 || n < 16 || n >= N) {
          ASSERT_EQ(got, 7.f) << "outside the piece: m " << m << " n " << n;
          continue;
        }
        const float v = prod[size_t(m) * N + size_t(n)] * scale[size_t(m)] + bias[size_t(m)] + res[size_t(m) * N + size_t(n)];
        ASSERT_EQ(f2u(got), f2u(v > 0.f ? v : 0.f)) << "m " << m << " n " << n;
      }
  }
}

// FP32 weights on the kernels that take them: close to a double-precision reference.
TEST(PanelKernels, Fp32WeightsMatchDoubleReference) {
  std::mt19937 rng(14);
  const int M = 11, K = 300, N = 19;
  std::vector<float> W(size_t(M) * K), x(size_t(K) * N);
  std::normal_distribution<float> d;
  for (auto& v : W) v = d(rng);
  for (auto& v : x) v = d(rng);
  const PanelWeights w =
      pack_panel_weights(PanelWeightKind::kF32, 32, M, K, reinterpret_cast<const uint8_t*>(W.data()), size_t(K) * 4);
  std::vector<float> xp(panel_x_floats(K, N));
  pack_panel_x(x.data(), size_t(N), K, N, 0, K, xp.data());
  int ran = 0;
  for (const KernelInfo* k : panel_kernels()) {
    if (k->multiply_free || k->tiny_zero_terms) {  // the exponent-add kernels take codes only
      PanelGemmArgs a;
      std::vector<float> y(size_t(M) * N);
      a.w = &w, a.mb1 = w.blocks(), a.xp = xp.data(), a.N = N, a.p1 = 2, a.y = y.data(), a.ldy = size_t(N);
      EXPECT_THROW(k->panel(a), std::invalid_argument) << k->name << " must refuse FP32 weights";
      continue;
    }
    SCOPED_TRACE(k->name);
    ++ran;
    std::vector<float> y(size_t(M) * N);
    PanelGemmArgs a;
    a.w = &w, a.mb1 = w.blocks(), a.xp = xp.data(), a.N = N, a.p1 = 2, a.y = y.data(), a.ldy = size_t(N);
    k->panel(a);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double want = 0, mag = 0;
        for (int kk = 0; kk < K; ++kk) {
          want += double(W[size_t(m) * K + kk]) * x[size_t(kk) * N + n];
          mag += std::fabs(double(W[size_t(m) * K + kk]) * x[size_t(kk) * N + n]);
        }
        ASSERT_NEAR(y[size_t(m) * N + n], want, 1e-5 * mag);
      }
  }
  EXPECT_GE(ran, 1);
  EXPECT_EQ(&float_panel_kernel(), find_supported(float_panel_kernel().name));
  EXPECT_NE(float_panel_kernel().panel, nullptr);
}

// The indirect form (implicit im2col over a padded image) gives the packed form's result bit for
// bit: a 3x3 stride-1 convolution, rows of 11 pixels (halves of 8 and 3), tiles across rows,
// codes of 2 to 5 bits (the wide form decodes up to 4 with its own decoder). 40 output channels: the wide form's 16-row blocks run as a pair and a partial odd one; K = 207:
// its K runs in two slices (kWideDepth).
TEST(PanelKernels, IndirectConvolutionEqualsPackedIm2col) {
  std::mt19937 rng(16);
  const int C = 23, H = 8, W = 11, M = 40, K = C * 9, N = H * W, Hp = H + 2, Wp = W + 2;
  const std::vector<float> img = normal_x(rng, size_t(C) * H * W);
  std::vector<float> col(size_t(K) * N, 0.f), padded(size_t(C) * Hp * Wp + 16, 0.f);
  std::vector<int32_t> koff;
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const int k = (c * 3 + i) * 3 + j;
        koff.push_back((c * Hp + i) * Wp + j);
        for (int oy = 0; oy < H; ++oy)
          for (int ox = 0; ox < W; ++ox) {
            const int yy = oy + i - 1, xx = ox + j - 1;
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) col[size_t(k) * N + size_t(oy * W + ox)] = img[size_t((c * H + yy) * W + xx)];
          }
      }
  for (int c = 0; c < C; ++c)
    for (int yy = 0; yy < H; ++yy)
      for (int xx = 0; xx < W; ++xx) padded[size_t((c * Hp + yy + 1) * Wp + xx + 1)] = img[size_t((c * H + yy) * W + xx)];
  std::vector<ColumnTile> tiles;
  int half = 0;
  for (int oy = 0; oy < H; ++oy)
    for (int ox = 0; ox < W; ox += 8) {
      if (half == 0) tiles.emplace_back();
      tiles.back().x[half] = oy * Wp + ox, tiles.back().y[half] = oy * W + ox, tiles.back().n[half] = std::min(8, W - ox);
      half ^= 1;
    }
  if (half) tiles.back().x[1] = tiles.back().x[0], tiles.back().y[1] = tiles.back().y[0], tiles.back().n[1] = 0;
  std::vector<float> xp(panel_x_floats(K, N));
  pack_panel_x(col.data(), size_t(N), K, N, 0, K, xp.data());
  for (const KernelInfo* k : panel_kernels()) for (int bits = 2; bits <= 5; ++bits) {
    SCOPED_TRACE(k->name + (", " + std::to_string(bits) + "-bit codes"));
    const bool zero = k->weights == WeightSet::kShiftWithZero;
    const PackedCodes p = random_codes(rng, M, K, bits, 0);
    const PanelWeights w = pack_panel_weights(zero ? PanelWeightKind::kShiftWithZero : PanelWeightKind::kDenseShift, bits,
                                              M, K, p.packed.data(), p.row_bytes);
    std::vector<float> scale(M), bias(M);
    for (int m = 0; m < M; ++m) scale[size_t(m)] = 0.25f + 0.125f * float(m % 5), bias[size_t(m)] = 0.0625f * float(m % 7) - 0.2f;
    const std::vector<float> residual = normal_x(rng, size_t(M) * N);
    std::vector<float> y_packed(size_t(M) * N, 1.f), y_ind(size_t(M) * N, 2.f);
    PanelGemmArgs a;
    a.w = &w, a.mb1 = w.blocks(), a.xp = xp.data(), a.N = N, a.p1 = (N + 15) / 16, a.y = y_packed.data();
    a.ldy = size_t(N), a.ep.scale = scale.data(), a.ep.bias = bias.data(), a.ep.relu = true;
    a.ep.residual = residual.data();
    k->panel(a);
    PanelGemmArgs b = a;
    b.xp = nullptr, b.tiles = tiles.data(), b.N = int(tiles.size()), b.p1 = int(tiles.size());
    b.x_base = padded.data(), b.koff = koff.data(), b.y = y_ind.data();
    k->panel(b);
    for (size_t i = 0; i < y_packed.size(); ++i) ASSERT_EQ(f2u(y_packed[i]), f2u(y_ind[i])) << i;
    if (!k->wide_form) continue;

    // The wide form: the same convolution as 7-pixel tiles (any pixels: in order, the last tile
    // partial, whose stores go down rows; then in reverse, scattered pixel by pixel), weights in
    // blocks of 16 rows. The FMA kernel is bit-equal; kernels with exponent-add terms give the
    // padding's zeros a term below 2^-110 each.
    const PanelWeights ww = pack_panel_weights(zero ? PanelWeightKind::kShiftWithZero : PanelWeightKind::kDenseShift, bits,
                                               M, K, p.packed.data(), p.row_bytes, kWideRows);
    PanelGemmArgs c = b;
    for (const bool reversed : {false, true}) {
      SCOPED_TRACE(reversed ? "pixels in reverse" : "pixels in order");
      std::vector<PixelTile> px;
      for (int n = 0; n < N; n += kWidePixels) {
        PixelTile t{};
        t.n = std::min(kWidePixels, N - n);
        for (int j = 0; j < kWidePixels; ++j) {
          int q = std::min(n + j, N - 1);
          if (reversed) q = N - 1 - q;
          t.x[j] = (q / W) * Wp + q % W, t.y[j] = q;
        }
        px.push_back(t);
      }
      std::vector<float> y_wide(size_t(M) * N, 3.f);
      c.w = &ww, c.mb1 = ww.blocks(), c.tiles = nullptr, c.pixels = px.data(), c.N = int(px.size()), c.p1 = int(px.size());
      c.y = y_wide.data();
      k->panel(c);
      for (size_t i = 0; i < y_packed.size(); ++i) {
        if (k->tiny_zero_terms)
          ASSERT_NEAR(y_packed[i], y_wide[i], 1e-30) << i;
        else
          ASSERT_EQ(f2u(y_packed[i]), f2u(y_wide[i])) << i;
      }
    }
    c.pixels = nullptr;  // 16-row weights without the wide form: refused
    EXPECT_THROW(k->panel(c), std::invalid_argument);
  }
}

// The wide form past its blocking, for every kernel that has it: 100 rows (7 blocks of 16, the
// last of 4: more than one chunk of blocks on AVX2), K = 400 (three slices), 500 pixels (72 tiles,
// the last of 3: more than one run of tiles). Pixels read x along a row at stride 1 or 2 (one
// pointer and constant displacements) or in a shuffled order (a pointer each), and are written
// in order (row stores) or shuffled (one float at a time); FP32 weights where the kernel takes
// them, else 3-bit codes. Bit-equal to the 6x16 packed form of the same kernel (x has no zeros).
TEST(PanelKernels, WideFormPastItsBlockingEqualsPackedForm) {
  std::mt19937 rng(23);
  const int M = 100, K = 400, N = 500, row = 2 * N + 16;
  const std::vector<float> xs = normal_x(rng, size_t(K) * row + 16);
  std::vector<int32_t> koff(K);
  for (int k = 0; k < K; ++k) koff[size_t(k)] = k * row;
  std::vector<int> order(N);
  for (int n = 0; n < N; ++n) order[size_t(n)] = n;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<float> W(size_t(M) * K);
  std::normal_distribution<float> d;
  for (auto& v : W) v = d(rng);
  const PackedCodes codes = random_codes(rng, M, K, 3, 0);
  std::vector<float> scale(M), bias(M);
  for (int m = 0; m < M; ++m) scale[size_t(m)] = 0.5f + 0.0625f * float(m % 9), bias[size_t(m)] = 0.03125f * float(m % 5);
  const std::vector<float> residual = normal_x(rng, size_t(M) * N);
  int ran = 0;
  for (const KernelInfo* k : panel_kernels()) {
    if (!k->wide_form) continue;
    ++ran;
    const bool f32 = !k->multiply_free && !k->tiny_zero_terms && k->weights == WeightSet::kDenseShift;
    const PanelWeightKind kind = f32 ? PanelWeightKind::kF32
                                 : k->weights == WeightSet::kShiftWithZero ? PanelWeightKind::kShiftWithZero
                                                                           : PanelWeightKind::kDenseShift;
    const uint8_t* rows = f32 ? reinterpret_cast<const uint8_t*>(W.data()) : codes.packed.data();
    const size_t row_bytes = f32 ? size_t(K) * 4 : codes.row_bytes;
    const int bits = f32 ? 32 : 3;
    const PanelWeights w6 = pack_panel_weights(kind, bits, M, K, rows, row_bytes);
    const PanelWeights w16 = pack_panel_weights(kind, bits, M, K, rows, row_bytes, kWideRows);
    for (const int step : {1, 2, 0}) {
      for (const bool shuffled_y : {false, true}) {
        SCOPED_TRACE(std::string(k->name) + ", x step " + std::to_string(step) + (shuffled_y ? ", y shuffled" : ""));
        // Pixel n reads x at xoff(n) + koff[k] and writes y column ycol(n).
        auto xoff = [&](int n) { return step ? step * n : 2 * order[size_t(n)]; };
        auto ycol = [&](int n) { return shuffled_y ? order[size_t(n)] : n; };
        std::vector<float> col(size_t(K) * N);
        for (int kk = 0; kk < K; ++kk)
          for (int n = 0; n < N; ++n) col[size_t(kk) * N + size_t(ycol(n))] = xs[size_t(xoff(n) + koff[size_t(kk)])];
        std::vector<float> xp(panel_x_floats(K, N)), y_packed(size_t(M) * N), y_wide(size_t(M) * N, 7.f);
        pack_panel_x(col.data(), size_t(N), K, N, 0, K, xp.data());
        PanelGemmArgs a;
        a.w = &w6, a.mb1 = w6.blocks(), a.xp = xp.data(), a.N = N, a.p1 = (N + 15) / 16, a.y = y_packed.data();
        a.ldy = size_t(N), a.ep.scale = scale.data(), a.ep.bias = bias.data(), a.ep.residual = residual.data();
        a.ep.relu = true;
        k->panel(a);
        std::vector<PixelTile> px;
        for (int n0 = 0; n0 < N; n0 += kWidePixels) {
          PixelTile t{};
          t.n = std::min(kWidePixels, N - n0);
          for (int j = 0; j < kWidePixels; ++j) {
            const int n = std::min(n0 + j, N - 1);
            t.x[j] = xoff(n0 + j < N ? n0 + j : n), t.y[j] = ycol(n);
          }
          px.push_back(t);
        }
        PanelGemmArgs b = a;
        b.w = &w16, b.mb1 = w16.blocks(), b.xp = nullptr, b.pixels = px.data(), b.N = int(px.size());
        b.p1 = int(px.size()), b.x_base = xs.data(), b.koff = koff.data(), b.y = y_wide.data();
        k->panel(b);
        for (size_t i = 0; i < y_packed.size(); ++i) ASSERT_EQ(f2u(y_packed[i]), f2u(y_wide[i])) << i;
      }
    }
  }
  if (!ran) GTEST_SKIP() << "no kernel with the wide form runs on this CPU";
}

// Every run length from 1 to 60 pixels, for every kernel with the wide form: the AVX2 kernels
// regroup a run 6 pixels at a time, or 6 and 5 with none padded where the count allows (49 = 4 x 6
// + 5 x 5, 11 = 6 + 5, but 7 = 6 + 1 padded); each split must give the 6x16 packed form's bits.
TEST(PanelKernels, WideFormEveryRunLengthEqualsPackedForm) {
  std::mt19937 rng(41);
  const int M = 20, K = 40, max_n = 60;
  const std::vector<float> xs = normal_x(rng, size_t(K) * max_n + 16);
  std::vector<int32_t> koff(K);
  for (int k = 0; k < K; ++k) koff[size_t(k)] = k * max_n;
  const PackedCodes codes = random_codes(rng, M, K, 3, 0);
  int ran = 0;
  for (const KernelInfo* k : panel_kernels()) {
    if (!k->wide_form) continue;
    ++ran;
    const PanelWeightKind kind = k->weights == WeightSet::kShiftWithZero ? PanelWeightKind::kShiftWithZero
                                                                         : PanelWeightKind::kDenseShift;
    const PanelWeights w6 = pack_panel_weights(kind, 3, M, K, codes.packed.data(), codes.row_bytes);
    const PanelWeights w16 = pack_panel_weights(kind, 3, M, K, codes.packed.data(), codes.row_bytes, kWideRows);
    for (int N = 1; N <= max_n; ++N) {
      SCOPED_TRACE(std::string(k->name) + ", " + std::to_string(N) + " pixels");
      std::vector<float> col(size_t(K) * N);
      for (int kk = 0; kk < K; ++kk)
        for (int n = 0; n < N; ++n) col[size_t(kk) * N + size_t(n)] = xs[size_t(koff[size_t(kk)] + n)];
      std::vector<float> xp(panel_x_floats(K, N)), y_packed(size_t(M) * N), y_wide(size_t(M) * N, 7.f);
      pack_panel_x(col.data(), size_t(N), K, N, 0, K, xp.data());
      PanelGemmArgs a;
      a.w = &w6, a.mb1 = w6.blocks(), a.xp = xp.data(), a.N = N, a.p1 = (N + 15) / 16, a.y = y_packed.data();
      a.ldy = size_t(N), a.ep.relu = true;
      k->panel(a);
      std::vector<PixelTile> px;
      for (int n0 = 0; n0 < N; n0 += kWidePixels) {
        PixelTile t{};
        t.n = std::min(kWidePixels, N - n0);
        for (int j = 0; j < kWidePixels; ++j) t.x[j] = t.y[j] = std::min(n0 + j, N - 1);
        px.push_back(t);
      }
      PanelGemmArgs b = a;
      b.w = &w16, b.mb1 = w16.blocks(), b.xp = nullptr, b.pixels = px.data(), b.N = b.p1 = int(px.size());
      b.x_base = xs.data(), b.koff = koff.data(), b.y = y_wide.data();
      k->panel(b);
      for (size_t i = 0; i < y_packed.size(); ++i) ASSERT_EQ(f2u(y_packed[i]), f2u(y_wide[i])) << i;
    }
  }
  if (!ran) GTEST_SKIP() << "no kernel with the wide form runs on this CPU";
}

// A batch in one call, its images' pixels tiled end to end (as the engine tiles a batch): tiles
// and a kernel's own register groups then span two images, whose pixels are consecutive in y
// only within an image, so a group's store splits where the image changes (AVX2 regroups the
// 7-pixel tiles 6 at a time: with 25 pixels an image, groups start mid-image). Bit-equal to the
// same images run one call each; residual, ReLU and the channel tail included (M = 20).
TEST(PanelKernels, WideFormBatchAcrossImagesEqualsImageByImage) {
  std::mt19937 rng(31);
  const int M = 20, K = 45, P = 25, B = 3, in_image = 2 * P + 64;
  const std::vector<float> x = normal_x(rng, size_t(B) * in_image + size_t(K) * 2 + 16);
  std::vector<int32_t> koff(K);
  for (int k = 0; k < K; ++k) koff[size_t(k)] = 2 * k;  // stride-2 reads, every image at in_image floats
  const PackedCodes codes = random_codes(rng, M, K, 3, 0);
  std::vector<float> scale(M), bias(M);
  for (int m = 0; m < M; ++m) scale[size_t(m)] = 0.75f + 0.125f * float(m % 3), bias[size_t(m)] = -0.25f * float(m % 4);
  const size_t image_out = size_t(M) * P;
  const std::vector<float> residual = normal_x(rng, size_t(B) * image_out);
  // Pixel q of image b reads x at b * in_image + 2 q (+ koff) and writes y at b * image_out + q.
  auto tiles = [&](int b0, int nb) {
    std::vector<PixelTile> px;
    const int count = nb * P;
    for (int first = 0; first < count; first += kWidePixels) {
      PixelTile t{};
      t.n = std::min(kWidePixels, count - first);
      for (int j = 0; j < kWidePixels; ++j) {
        const int q = std::min(first + j, count - 1), b = b0 + q / P, n = q % P;
        t.x[j] = b * in_image + 2 * n, t.y[j] = int32_t(size_t(b) * image_out) + n;
      }
      px.push_back(t);
    }
    return px;
  };
  int ran = 0;
  for (const KernelInfo* k : panel_kernels()) {
    if (!k->wide_form) continue;
    ++ran;
    SCOPED_TRACE(k->name);
    const PanelWeightKind kind = k->weights == WeightSet::kShiftWithZero ? PanelWeightKind::kShiftWithZero
                                                                         : PanelWeightKind::kDenseShift;
    const PanelWeights w = pack_panel_weights(kind, 3, M, K, codes.packed.data(), codes.row_bytes, kWideRows);
    PanelGemmArgs a;
    a.w = &w, a.mb1 = w.blocks(), a.x_base = x.data(), a.koff = koff.data(), a.ldy = size_t(P);
    a.ep.scale = scale.data(), a.ep.bias = bias.data(), a.ep.residual = residual.data(), a.ep.relu = true;
    std::vector<float> one(size_t(B) * image_out, 5.f), all(size_t(B) * image_out, 9.f);
    for (int b = 0; b < B; ++b) {
      const std::vector<PixelTile> px = tiles(b, 1);
      PanelGemmArgs c = a;
      c.pixels = px.data(), c.N = c.p1 = int(px.size()), c.y = one.data();
      k->panel(c);
    }
    const std::vector<PixelTile> px = tiles(0, B);
    PanelGemmArgs c = a;
    c.pixels = px.data(), c.N = c.p1 = int(px.size()), c.y = all.data();
    k->panel(c);
    for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(f2u(one[i]), f2u(all[i])) << i;
  }
  if (!ran) GTEST_SKIP() << "no kernel with the wide form runs on this CPU";
}

TEST(PanelKernels, RejectPiecesOutsideTheProduct) {
  std::mt19937 rng(15);
  const PackedCodes p = random_codes(rng, 7, 9, 3, 0);
  const PanelWeights w = pack_panel_weights(PanelWeightKind::kDenseShift, 3, 7, 9, p.packed.data(), p.row_bytes);
  std::vector<float> xp(panel_x_floats(9, 20)), y(7 * 20);
  for (const KernelInfo* k : panel_kernels()) {
    if (k->weights == WeightSet::kShiftWithZero) continue;
    SCOPED_TRACE(k->name);
    PanelGemmArgs a;
    a.w = &w, a.mb1 = 2, a.xp = xp.data(), a.N = 20, a.p1 = 2, a.y = y.data(), a.ldy = 20;
    EXPECT_NO_THROW(k->panel(a));
    a.mb1 = 3;
    EXPECT_THROW(k->panel(a), std::invalid_argument);
    a.mb1 = 2, a.p1 = 3;
    EXPECT_THROW(k->panel(a), std::invalid_argument);
    a.p1 = 2, a.ldy = 19;
    EXPECT_THROW(k->panel(a), std::invalid_argument);
  }
}

}  // namespace
}  // namespace ds::kernels::test
