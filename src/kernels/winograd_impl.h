// The Winograd kernels' algorithm (winograd.h), written once over a 16-float vector type V that
// each ISA's file supplies (f32_winograd_3x3_avx512.cpp: one ZMM; _avx2: two YMM; _neon: four
// Q registers). Internal linkage throughout (internal.h): units compiled with AVX2 decode the
// codes with pgemm_avx2.h's decoder, the others with a portable loop.
//
// V supplies, on a value type V::T of 16 floats:
//   load(p), store(p, v), store_first(p, v, n) (lanes < n only), load_first(p, n) (others 0),
//   zero(), set1(f), add, sub, mul, fmadd(a, b, c) = a * b + c, fnmadd(a, b, c) = c - a * b,
//   fma_bcast(acc, u, p) = acc + u * (*p on every lane), and either a one-register row type
//   V::Row (the two-pass input transform, wino_input_two_pass) or
//   strided<kM>(r, j): lane l = r[kM * l + j], for j < kM + 2 (reads up to r + 16 * kM + 4).
//
// Input transform: with V::Row, in two 1-D passes over whole rows (wino_input_two_pass); else 16
// tiles of a tile row at a time, one per lane, a tile's input columns every m-th float of a run
// (two short rows to a vector where V has strided_rows). Product: 16
// output channels in V x V::kGroup tiles, per input channel one V of U and one FMA with a broadcast
// of V per tile - once per transformed position xi, in register tiles of V::kTileBlocks blocks x
// V::kTileGroups groups. The codes of one 16-channel block are decoded and transformed to U per
// chunk of 64 input channels (a^2 x 64 x 16 floats: L2), so the model stays b-bit in memory,
// unless the layer keeps U from load (WinogradProductArgs::u, made by wino_weights).
// Output transform, folded BN, residual and ReLU as each tile is stored.
#pragma once

#include "kernels/internal.h"
#include "kernels/winograd.h"
#if defined(__AVX2__)
#include "kernels/pgemm_avx2.h"
#endif

namespace ds::kernels::detail {
namespace {

// Columns [k0, k0 + kc) of 16-row block b of codes as floats, k-major (kc * 16 of them).
inline void wino_decode(const PanelWeights& w, int b, int k0, int kc, float* out) {
#if defined(__AVX2__)
  decode_panel_floats(w, b, k0, kc, reinterpret_cast<uint32_t*>(out));
#else
  // Code i of the block starts at bit i * B; blocks are followed by 16 zero bytes, so 8 bytes
  // may be read from any code's byte. P = code & (2^(B-1) - 1), sign = code >> (B-1).
  const int B = w.bits;
  const uint64_t mask = (uint64_t(1) << B) - 1, pmask = (uint64_t(1) << (B - 1)) - 1;
  const bool zero = w.kind == PanelWeightKind::kShiftWithZero;
  const uint8_t* base = w.block(b);
  const size_t first = size_t(k0) * kWideRows, n = size_t(kc) * kWideRows;
  for (size_t i = 0; i < n; ++i) {
    const size_t bit = (first + i) * size_t(B);
    uint64_t word;
    __builtin_memcpy(&word, base + bit / 8, 8);
    const uint64_t c = (word >> (bit % 8)) & mask, P = c & pmask, sign = c >> (B - 1);
    uint32_t f = uint32_t(sign << 31) | uint32_t(P + (zero ? 126 : 127)) << 23;
    if (zero && P == 0) f = 0;  // shift with zero: E = 0 is 0, else +-2^(E-1)
    __builtin_memcpy(out + i, &f, 4);
  }
#endif
}

// Channels ahead that the product prefetches V: a channel's tiles are c_stride floats past the
// last one's (T floats: 784 bytes at 56x56), a new line of L2 per channel, and the FMAs stalled on
// the first broadcast of each (ResNet-18, 1 thread, the 56x56 layers' product 0.85 -> 0.71 ms;
// 3, 6, 12 and 20 ahead all within noise of each other). A prefetch never faults past V's end.
constexpr int kWinoPrefetch = 8;

inline size_t wino_min(size_t a, size_t b) { return a < b ? a : b; }

// The 1-D transforms of F(m, 3) on 16 lanes at once. In place of matrices with constant entries,
// the formulas with their common terms shared (x * 0 cannot be folded away in IEEE arithmetic, so
// a generic matrix product would do every zero).
template <class V, int kM>
struct WinoTransforms;

template <class V>
struct WinoTransforms<V, 2> {
  using T = typename V::T;
  // B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
  static void input(const T* d, T* r) {
    r[0] = V::sub(d[0], d[2]);
    r[1] = V::add(d[1], d[2]);
    r[2] = V::sub(d[2], d[1]);
    r[3] = V::sub(d[1], d[3]);
  }
  // G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  static void weight(const T* g, T* w) {
    const T s = V::add(g[0], g[2]);
    w[0] = g[0];
    w[1] = V::mul(V::add(s, g[1]), V::set1(0.5f));
    w[2] = V::mul(V::sub(s, g[1]), V::set1(0.5f));
    w[3] = g[2];
  }
  // A^T = [1 1 1 0; 0 1 -1 -1]
  static void output(const T* m, T* o) {
    o[0] = V::add(V::add(m[0], m[1]), m[2]);
    o[1] = V::sub(V::sub(m[1], m[2]), m[3]);
  }
};

template <class V>
struct WinoTransforms<V, 4> {
  using T = typename V::T;
  // B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
  static void input(const T* d, T* r) {
    const T four = V::set1(4.f), five = V::set1(5.f);
    const T a = V::fnmadd(four, d[2], d[4]);  // d4 - 4 d2
    const T b = V::fnmadd(four, d[1], d[3]);  // d3 - 4 d1
    const T c = V::sub(d[4], d[2]);
    const T e = V::mul(V::sub(d[3], d[1]), V::set1(2.f));
    r[0] = V::fmadd(four, d[0], V::fnmadd(five, d[2], d[4]));
    r[1] = V::add(a, b);
    r[2] = V::sub(a, b);
    r[3] = V::add(c, e);
    r[4] = V::sub(c, e);
    r[5] = V::fmadd(four, d[1], V::fnmadd(five, d[3], d[5]));
  }
  // G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
  static void weight(const T* g, T* w) {
    const T s = V::add(g[0], g[2]);
    const T t = V::fmadd(g[0], V::set1(1.f / 24), V::mul(g[2], V::set1(1.f / 6)));
    const T u = V::mul(g[1], V::set1(1.f / 12));
    w[0] = V::mul(g[0], V::set1(0.25f));
    w[1] = V::mul(V::add(s, g[1]), V::set1(-1.f / 6));
    w[2] = V::mul(V::sub(s, g[1]), V::set1(-1.f / 6));
    w[3] = V::add(t, u);
    w[4] = V::sub(t, u);
    w[5] = g[2];
  }
  // A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
  static void output(const T* m, T* o) {
    const T a = V::add(m[1], m[2]), b = V::sub(m[1], m[2]);
    const T c = V::add(m[3], m[4]), d = V::sub(m[3], m[4]);
    o[0] = V::add(V::add(m[0], a), c);
    o[1] = V::fmadd(V::set1(2.f), d, b);
    o[2] = V::fmadd(V::set1(4.f), c, a);
    o[3] = V::add(V::fmadd(V::set1(8.f), d, b), m[5]);
  }
};

// Applies a 1-D transform F (n inputs -> k outputs) to the rows, then the columns, of an n x n
// block: out = T x T^T, out[i * k + j].
template <class T, int kN, int kK, class F>
inline void wino_transform_2d(const T* x, T* out, F f) {
  T rows[kN][kK];
  for (int i = 0; i < kN; ++i) f(x + i * kN, rows[i]);
  for (int j = 0; j < kK; ++j) {
    T col[kN], t[kK];
    for (int i = 0; i < kN; ++i) col[i] = rows[i][j];
    f(col, t);
    for (int i = 0; i < kK; ++i) out[i * kK + j] = t[i];
  }
}

// Whether V writes a tile row's outputs itself: V::store_rows(v, count, n, rows, y, residual, ldy,
// relu) stores vectors v[0 .. n) (of `count`, each 16 channels of one pixel; n consecutive pixels)
// down the rows of y, channel r < rows at y + r * ldy, with the residual and ReLU. Needs ldy >= 8.
template <class V, class = void>
struct HasStoreRows {
  static constexpr bool value = false;
};
template <class V>
struct HasStoreRows<V, decltype(void(&V::store_rows))> {
  static constexpr bool value = true;
};

// Whether V has strided_rows<kM>(r0, r1, j, n): lane l = r0[kM l + j] for l < n, r1[kM (l - n) + j]
// for l >= n (reads the 32 floats from r0 and from r1).
template <class V, class = void>
struct HasStridedRows {
  static constexpr bool value = false;
};
template <class V>
struct HasStridedRows<V, decltype(void(&V::template strided_rows<2>))> {
  static constexpr bool value = true;
};

// Whether V names a one-register row type V::Row for the two-pass input transform
// (wino_input_two_pass): T (kLanes floats), load, load_first(p, n) (others 0), store, store_first,
// store_half(p, v, h) (half h of the lanes, kLanes / 2 floats at p), zero, set1, add, sub, mul,
// fmadd, fnmadd, and phases<kM>(lo, hi, d): for all j < kM + 2 at once, d[j] lane l =
// lo[kM l + j] in the low half of the lanes (l < kLanes / 2) and hi[kM (l - kLanes / 2) + j] in
// the high half (one row of tiles: hi = lo + kM kLanes / 2; two planes' rows side by side:
// wino_input_plane_pair).
template <class V, class = void>
struct HasRowType {
  static constexpr bool value = false;
};
template <class V>
struct HasRowType<V, decltype(void(sizeof(typename V::Row)))> {
  static constexpr bool value = true;
};

// The padded input rows of wino_input_two_pass go through a ring of kWinoRing buffers (zero, x's
// row, zeros), each copied kWinoRing - 1 rows before pass 1 reads it: read right after the copy,
// the loads straddled the copy's pending stores and waited on every one (store-to-load forwarding
// fails), 29% of the transform's samples on one load (perf, Zen 3).
constexpr int kWinoRing = 4;

// Padded row r of plane x (H x W) into its ring buffer (row_n floats each, borders already zero),
// if it holds an input row. Vectors, not memcpy: ResNet-20's rows are 7 to 28 floats, where the
// call cost more than the copy. The last, partial vector is a masked load (zeros past the row)
// stored whole: it rewrites the zeros right of the row with zeros (row_n >= W + 1 + kLanes).
template <class R>
inline void wino_copy_row(const float* x, int H, int W, float* ring, size_t row_n, int r) {
  constexpr int kL = R::kLanes;
  if (r < 1 || r > H) return;
  const float* src = x + size_t(r - 1) * W;
  float* dst = ring + size_t(r % kWinoRing) * row_n + 1;
  int i = 0;
  for (; i + kL <= W; i += kL) R::store(dst + i, R::load(src + i));
  if (i < W) R::store(dst + i, R::load_first(src + i, W - i));
}

// Pass 2 of one plane: the column transform from h into V at v (see wino_input_two_pass).
template <class R, int kM>
inline void wino_input_columns(const float* h, size_t plane, int tw, int tiles, float* v, size_t xi_stride) {
  using T = typename R::T;
  constexpr int kA = kM + 2, kL = R::kLanes;
  for (int t0 = 0; t0 < tiles; t0 += kL) {
    const int n = tiles - t0 < kL ? tiles - t0 : kL;
    for (int j = 0; j < kA; ++j) {
      T d[kA], o[kA];
      for (int i = 0; i < kA; ++i) d[i] = R::load(h + size_t(j * kM + i % kM) * plane + size_t(i / kM) * tw + t0);
      WinoTransforms<R, kM>::input(d, o);
      for (int i = 0; i < kA; ++i) {
        float* out = v + size_t(i * kA + j) * xi_stride + t0;
        if (n == kL) R::store(out, o[i]);
        else R::store_first(out, o[i], n);
      }
    }
  }
}

// One plane (H x W at x) of wino_input_two_pass into V at v, through the planes h (plane floats
// each) and the ring (row_n floats a buffer, borders already zero).
template <class R, int kM>
inline void wino_input_plane(const float* x, int H, int W, float* v, size_t xi_stride, float* h, float* ring,
                             size_t plane, size_t row_n) {
  using T = typename R::T;
  constexpr int kA = kM + 2, kL = R::kLanes;
  const int th = winograd_tiles(H, kM), tw = winograd_tiles(W, kM);
  const int vecs = (tw + kL - 1) / kL, padded_rows = kM * th + 2;
  for (int r = 0; r < kWinoRing - 1; ++r) wino_copy_row<R>(x, H, W, ring, row_n, r);
  for (int r = 0; r < padded_rows; ++r) {  // pass 1
    wino_copy_row<R>(x, H, W, ring, row_n, r + kWinoRing - 1);
    const bool zero = r == 0 || r > H;  // the padding above and below
    const float* row = ring + size_t(r % kWinoRing) * row_n;
    float* hr = h + size_t(r % kM) * plane + size_t(r / kM) * tw;
    for (int vi = 0; vi < vecs; ++vi) {
      T d[kA], o[kA];
      if (zero) {
        for (int j = 0; j < kA; ++j) o[j] = R::zero();
      } else {
        const float* p = row + size_t(kM) * kL * vi;
        R::template phases<kM>(p, p + size_t(kM) * kL / 2, d);
        WinoTransforms<R, kM>::input(d, o);
      }
      for (int j = 0; j < kA; ++j) R::store(hr + size_t(j) * kM * plane + size_t(kL) * vi, o[j]);
    }
  }
  wino_input_columns<R, kM>(h, plane, tw, th * tw, v, xi_stride);
}

// Two planes at once (x0 and x1, into V at v0 and v1), where a plane's tile row fits half a
// vector (tw <= kLanes / 2: ResNet-20's 14x14 and 7x7 layers): pass 1 puts the first plane's
// row in the low half of the lanes and the second's in the high half, where one plane would leave
// half or more of them idle; each half goes to its plane's h (h0, h1), and pass 2 runs per plane.
// Lane by lane the same operations as wino_input_plane: V is bit-equal.
template <class R, int kM>
inline void wino_input_plane_pair(const float* x0, const float* x1, int H, int W, float* v0, float* v1,
                                  size_t xi_stride, float* h0, float* h1, float* ring0, float* ring1, size_t plane,
                                  size_t row_n) {
  using T = typename R::T;
  constexpr int kA = kM + 2;
  const int th = winograd_tiles(H, kM), tw = winograd_tiles(W, kM), padded_rows = kM * th + 2;
  for (int r = 0; r < kWinoRing - 1; ++r) {
    wino_copy_row<R>(x0, H, W, ring0, row_n, r);
    wino_copy_row<R>(x1, H, W, ring1, row_n, r);
  }
  for (int r = 0; r < padded_rows; ++r) {  // pass 1
    wino_copy_row<R>(x0, H, W, ring0, row_n, r + kWinoRing - 1);
    wino_copy_row<R>(x1, H, W, ring1, row_n, r + kWinoRing - 1);
    const size_t at = size_t(r % kM) * plane + size_t(r / kM) * tw;
    T d[kA], o[kA];
    if (r == 0 || r > H) {  // the padding above and below
      for (int j = 0; j < kA; ++j) o[j] = R::zero();
    } else {
      R::template phases<kM>(ring0 + size_t(r % kWinoRing) * row_n, ring1 + size_t(r % kWinoRing) * row_n, d);
      WinoTransforms<R, kM>::input(d, o);
    }
    for (int j = 0; j < kA; ++j) {
      R::store_half(h0 + at + size_t(j) * kM * plane, o[j], 0);
      R::store_half(h1 + at + size_t(j) * kM * plane, o[j], 1);
    }
  }
  wino_input_columns<R, kM>(h0, plane, tw, th * tw, v0, xi_stride);
  wino_input_columns<R, kM>(h1, plane, tw, th * tw, v1, xi_stride);
}

// The input transform as two 1-D passes over whole rows, for a V with a row type R.
//   Pass 1, along each zero-padded input row R: the row transform of every tile column at once
//   (lanes = tiles), from the row's kM + 2 phases (R::phases, one transpose per kLanes tiles).
//   Its kM + 2 outputs j go to planes h[j][q] at row s, where R = kM s + q.
//   Pass 2, down the columns: for position (i, j) the tiles t = ty tw + tx read h[j][i % kM] at
//   s = ty + i / kM, so t + (i / kM) tw: one contiguous run for ALL tiles, whatever the row width.
// The one-pass form gathered every row kM + 2 times per tile row (1.5 tile rows each) with four
// shuffles per gather, and spilled its 36 x 2 transformed vectors: on AMD Zen 3 it was a quarter
// of ResNet-20's time (perf), with the zero-fill and copy of a whole padded plane besides. The
// additions are the same, in the same order: V is bit-equal to the one-pass form's.
// Where a tile row fits half a vector, pass 1 takes two channels at once (wino_input_plane_pair):
// AMD Zen 3, 1 thread, bench_winograd's input_s, three interleaved A/Bs: 32 channels at 14x14
// 18.2-19.0 -> 15.7-16.5 us, 64 at 7x7 14.5-15.0 -> 10.6-11.6; ResNet-20's per-layer minima (8
// rounds) 0.593 -> 0.577 ms, its 7x7 layers 0.030 -> 0.0285.
template <class R, int kM>
void wino_input_two_pass(const WinogradInputArgs& a) {
  constexpr int kA = kM + 2, kL = R::kLanes;
  const int th = winograd_tiles(a.H, kM), tw = winograd_tiles(a.W, kM), vecs = (tw + kL - 1) / kL;
  // Plane h[j][q]: rows s = 0 .. th, tw floats each, then slack for the last row's whole vectors
  // (pass 1 stores kLanes tiles a vector; the lanes past tw land on row s + 1, which is stored
  // later, or in the slack) and for pass 2's last vector. Two sets of planes and rings: the
  // second for wino_input_plane_pair.
  const size_t plane = size_t(th + 1) * size_t(tw) + size_t(kL), row_n = size_t(kM) * kL * vecs + kL;
  const bool pairs = 2 * tw <= kL && a.channels > 1;
  const size_t set = size_t(kA) * kM * plane + kWinoRing * row_n;
  float* const h0 = reinterpret_cast<float*>(scratch_words((pairs ? 2 : 1) * set));
  float* const h1 = h0 + set;  // only with pairs
  float* const ring0 = h0 + size_t(kA) * kM * plane;
  float* const ring1 = h1 + size_t(kA) * kM * plane;
  for (int s = 0; s < (pairs ? 2 : 1); ++s)
    for (int q = 0; q < kWinoRing; ++q) {  // the zeros left and right of x's row, which the copies keep
      float* slot = (s ? ring1 : ring0) + size_t(q) * row_n;
      slot[0] = 0.f;
      for (size_t i = size_t(a.W) + 1; i < row_n; ++i) slot[i] = 0.f;
    }
  int c = 0;
  for (; pairs && c + 1 < a.channels; c += 2)
    wino_input_plane_pair<R, kM>(a.x + size_t(c) * a.H * a.W, a.x + size_t(c + 1) * a.H * a.W, a.H, a.W,
                                 a.v + size_t(c) * a.c_stride, a.v + size_t(c + 1) * a.c_stride, a.xi_stride, h0, h1,
                                 ring0, ring1, plane, row_n);
  for (; c < a.channels; ++c)
    wino_input_plane<R, kM>(a.x + size_t(c) * a.H * a.W, a.H, a.W, a.v + size_t(c) * a.c_stride, a.xi_stride, h0,
                            ring0, plane, row_n);
}

template <class V, int kM>
void wino_input(const WinogradInputArgs& a) {
  using T = typename V::T;
  constexpr int kA = kM + 2;
  const int th = winograd_tiles(a.H, kM), tw = winograd_tiles(a.W, kM);
  const int Hp = kM * th + 2, Wp = kM * tw + 2;
  // The zero-padded plane (pad 1 on top and left, the rest of the last tiles on the bottom and
  // right), with slack for the last run's over-read (16 m + 4 floats).
  const size_t n = size_t(Hp) * Wp + 80;
  float* p = reinterpret_cast<float*>(scratch_words(n));
  for (size_t i = 0; i < n; ++i) p[i] = 0.f;
  for (int yy = 0; yy < a.H; ++yy) __builtin_memcpy(p + size_t(yy + 1) * Wp + 1, a.x + size_t(yy) * a.W, size_t(a.W) * 4);
  for (int ty = 0; ty < th; ++ty) {
    if constexpr (HasStridedRows<V>::value) {
      // Rows of few tiles (ResNet's 7-tile rows at 28x28 with F(4x4), 14x14 with F(2x2)) go two
      // at a time: row ty in lanes 0 .. tw-1, row ty + 1 in the next tw, where one row a vector
      // would leave more than half the lanes idle. Tiles are numbered row by row, so the 2 tw
      // tiles are consecutive in V. Each row's run is the 32 floats from its start: tw <= 7
      // (F(4x4)) or 8 (F(2x2)) keeps kM (tw - 1) + kA - 1 below 32.
      if (2 * tw <= 16 && kM * (tw - 1) + kA - 1 < 32 && ty + 1 < th) {
        T d[kA * kA], v[kA * kA];
        for (int i = 0; i < kA; ++i) {
          const float* r0 = p + size_t(kM * ty + i) * Wp;
          const float* r1 = p + size_t(kM * (ty + 1) + i) * Wp;
          for (int j = 0; j < kA; ++j) d[i * kA + j] = V::template strided_rows<kM>(r0, r1, j, tw);
        }
        wino_transform_2d<T, kA, kA>(d, v, WinoTransforms<V, kM>::input);
        float* out = a.v + size_t(ty) * tw;
        for (int xi = 0; xi < kA * kA; ++xi) V::store_first(out + size_t(xi) * a.xi_stride, v[xi], 2 * tw);
        ++ty;
        continue;
      }
    }
    for (int tx0 = 0; tx0 < tw; tx0 += 16) {
      const int lanes = tw - tx0 < 16 ? tw - tx0 : 16;
      T d[kA * kA], v[kA * kA];
      for (int i = 0; i < kA; ++i) {
        const float* r = p + size_t(kM * ty + i) * Wp + size_t(kM) * tx0;
        for (int j = 0; j < kA; ++j) d[i * kA + j] = V::template strided<kM>(r, j);
      }
      wino_transform_2d<T, kA, kA>(d, v, WinoTransforms<V, kM>::input);
      float* out = a.v + size_t(ty) * tw + tx0;
      for (int xi = 0; xi < kA * kA; ++xi) V::store_first(out + size_t(xi) * a.xi_stride, v[xi], lanes);
    }
  }
}

// The sums of one position xi for kB blocks x kG groups, over the cc channels of a chunk: block
// b's U at u[b], the tiles' V at vx + off[g * V::kGroup + j] (channel c: + c * c_stride), the sums so far
// at ab[b] + g * gs + j * 16 (unless `first`), where they are stored back.
//
// kRun: the tiles are consecutive (off[i] = off[0] + i), so one pointer per channel and constant
// displacements address them all. The general form keeps kG x kGroup offsets, more than the
// free general registers: they were reloaded from the stack for every broadcast, 30 loads per 28
// FMAs, which held the 56x56 and 28x28 layers' product to about a third of the FMA peak.
// kN: tiles computed per group (fewer than V::kGroup only for a short last group, wino_tile_short).
template <class V, int kB, int kG, bool kRun, int kN = V::kGroup>
inline void wino_tile(const float* const* u, const float* vx, size_t c_stride, int cc, const size_t* off,
                      float* const* ab, size_t gs, bool first) {
  using T = typename V::T;
  // The loops over blocks, groups and tiles are unrolled before the channel loop is optimized
  // (the pragmas): otherwise GCC kept acc in memory and, with two YMM per T (AVX2), stored all 12
  // accumulators on every channel, one 256-bit store per FMA pair - the product ran at half the
  // FMA rate on AMD Zen 3 (bench_winograd, 512 channels at 7x7: 6.7 -> 4.0 ms).
  T acc[kB][kG][kN];
  #pragma GCC unroll 16
  for (int b = 0; b < kB; ++b)
    #pragma GCC unroll 16
    for (int g = 0; g < kG; ++g)
      #pragma GCC unroll 16
      for (int j = 0; j < kN; ++j)
        acc[b][g][j] = first ? V::zero() : V::load(ab[b] + size_t(g) * gs + size_t(j) * kWideRows);
  // kRun: the run's first tile, so that tile i is at a constant displacement from one pointer
  // (written as vx + off[i], the compiler kept every off[i] in a register of its own).
  const float* vc = kRun ? vx + off[0] : vx;
  for (int c = 0; c < cc; ++c, vc += c_stride) {
    if constexpr (kRun) {
      __builtin_prefetch(vc + kWinoPrefetch * c_stride);
      __builtin_prefetch(vc + kWinoPrefetch * c_stride + (kG * V::kGroup - 1));
    }
    // The same channel of the next position's U panel (kWinogradUStride on: after the last
    // position, the next chunk's first), one line a channel, so that each panel is in L1 by the
    // time it is read. Kept U (ResNet-20: 3.9 MB in all) comes from L3 or memory, and the
    // hardware prefetcher did not keep up with 4 KB panels read for a few tiles each: 30% of
    // ResNet-20's product samples sat on the U load (perf, 1 thread).
    #pragma GCC unroll 16
    for (int b = 0; b < kB; ++b) __builtin_prefetch(u[b] + kWinogradUStride + size_t(c) * kWideRows);
    T uv[kB];
    #pragma GCC unroll 16
    for (int b = 0; b < kB; ++b) uv[b] = V::load(u[b] + size_t(c) * kWideRows);
    #pragma GCC unroll 16
    for (int g = 0; g < kG; ++g)
      #pragma GCC unroll 16
      for (int j = 0; j < kN; ++j) {
        const float* x = kRun ? vc + (g * V::kGroup + j) : vc + off[g * V::kGroup + j];
        #pragma GCC unroll 16
        for (int b = 0; b < kB; ++b) acc[b][g][j] = V::fma_bcast(acc[b][g][j], uv[b], x);
      }
  }
  #pragma GCC unroll 16
  for (int b = 0; b < kB; ++b)
    #pragma GCC unroll 16
    for (int g = 0; g < kG; ++g)
      #pragma GCC unroll 16
      for (int j = 0; j < kN; ++j) V::store(ab[b] + size_t(g) * gs + size_t(j) * kWideRows, acc[b][g][j]);
}

// A short last group (n < V::kGroup real tiles, consecutive): only those n, from one pointer.
// Computing the whole group (its missing tiles repeat tile T - 1 and are never stored) wasted 2
// of 18 tiles at 7x7 and 5 of 54 at 14x14 and 28x28 with groups of 6.
template <class V, int kB, int kN = V::kGroup - 1>
inline void wino_tile_short(int n, const float* const* u, const float* vx, size_t c_stride, int cc, const size_t* off,
                            float* const* ab, size_t gs, bool first) {
  if constexpr (kN >= 1) {
    if (n == kN) return wino_tile<V, kB, 1, true, kN>(u, vx, c_stride, cc, off, ab, gs, first);
    wino_tile_short<V, kB, kN - 1>(n, u, vx, c_stride, cc, off, ab, gs, first);
  }
}

// U = G g G^T for block b's 16 output channels and input channels [c0, c0 + cc) (a chunk): the
// a^2 panels from U on, kWinogradUStride floats apart, channel c of the chunk at c * 16 in each.
// dec: scratch for the chunk's decoded codes (kWinogradChunk * 9 * 16 floats).
template <class V, int kM>
inline void wino_u_chunk(const PanelWeights& w, int b, int c0, int cc, float* dec, float* U) {
  using T = typename V::T;
  constexpr int kA = kM + 2, kRows = kWideRows;
  const float* g;
  if (w.kind == PanelWeightKind::kF32) {
    g = reinterpret_cast<const float*>(w.block(b)) + size_t(c0) * 9 * kRows;
  } else {
    wino_decode(w, b, c0 * 9, cc * 9, dec);
    g = dec;
  }
  for (int c = 0; c < cc; ++c) {
    T gv[9], u[kA * kA];
    for (int t = 0; t < 9; ++t) gv[t] = V::load(g + (size_t(c) * 9 + size_t(t)) * kRows);
    T rows3[3][kA];  // g G^T per filter row, then G down the columns
    for (int r = 0; r < 3; ++r) WinoTransforms<V, kM>::weight(gv + 3 * r, rows3[r]);
    for (int j = 0; j < kA; ++j) {
      const T col[3] = {rows3[0][j], rows3[1][j], rows3[2][j]};
      T t[kA];
      WinoTransforms<V, kM>::weight(col, t);
      for (int r = 0; r < kA; ++r) u[r * kA + j] = t[r];
    }
    for (int xi = 0; xi < kA * kA; ++xi) V::store(U + size_t(xi) * kWinogradUStride + size_t(c) * kRows, u[xi]);
  }
}

// All of U (winograd.h, WinogradWeightsArgs), chunk by chunk as the product would make it.
template <class V, int kM>
void wino_weights(const WinogradWeightsArgs& a) {
  const PanelWeights& w = *a.w;
  const int C = w.K / 9, chunks = winograd_chunks(C);
  float* dec = reinterpret_cast<float*>(scratch_words(size_t(kWinogradChunk) * 9 * kWideRows));
  for (int b = 0; b < w.blocks(); ++b)
    for (int q = 0; q < chunks; ++q) {
      const int c0 = q * kWinogradChunk, cc = C - c0 < kWinogradChunk ? C - c0 : kWinogradChunk;
      wino_u_chunk<V, kM>(w, b, c0, cc, dec,
                          a.u + (size_t(b) * size_t(chunks) + size_t(q)) * size_t(winograd_positions(kM)) * kWinogradUStride);
    }
}

// The product runs in register tiles of V::kTileBlocks 16-channel blocks x V::kTileGroups groups
// of V::kGroup tiles (an odd last block or group alone), the additions per output in the same
// order whatever the tile.
template <class V, int kM>
void wino_product(const WinogradProductArgs& a) {
  using T = typename V::T;
  constexpr int kA = kM + 2, kXi = kA * kA;
  constexpr int kRows = kWideRows, kTB = V::kTileBlocks, kTG = V::kTileGroups;
  const PanelWeights& w = *a.w;
  const int C = w.K / 9, M = w.M, groups = a.g1 - a.g0;
  const size_t dec_n = size_t(kWinogradChunk) * 9 * kRows, u_n = size_t(kXi) * kWinogradUStride;
  const size_t acc_n = size_t(groups) * kXi * V::kGroup * kRows;
  uint32_t* scratch = scratch_words(dec_n + kTB * (u_n + acc_n));
  float* dec = reinterpret_cast<float*>(scratch);
  const size_t per_image = size_t(a.tiles_h) * a.tiles_w, plane = size_t(a.OH) * a.OW;
  for (int b0 = a.mb0; b0 < a.mb1; b0 += kTB) {
    const int nb = a.mb1 - b0 < kTB ? a.mb1 - b0 : kTB;
    // Per block of the tile: its U (made here, unless precomputed), then its sums
    // ([group][xi][tile][16 channels]).
    float* made[kTB];
    const float* U[kTB];
    float* acc_buf[kTB];
    for (int i = 0; i < kTB; ++i) made[i] = dec + dec_n + size_t(i) * (u_n + acc_n), acc_buf[i] = made[i] + u_n;
    for (int c0 = 0; c0 < C; c0 += kWinogradChunk) {
      const int cc = C - c0 < kWinogradChunk ? C - c0 : kWinogradChunk;
      for (int i = 0; i < nb; ++i) {
        if (a.u) {  // precomputed (WinogradKernel::weights)
          U[i] = a.u + (size_t(b0 + i) * size_t(winograd_chunks(C)) + size_t(c0 / kWinogradChunk)) * u_n;
          continue;
        }
        wino_u_chunk<V, kM>(w, b0 + i, c0, cc, dec, made[i]);
        U[i] = made[i];
      }
      for (int xi = 0; xi < kXi; ++xi) {
        const float* u[kTB];
        for (int i = 0; i < kTB; ++i) u[i] = U[i] + size_t(xi) * kWinogradUStride;
        const float* vx = a.v + size_t(xi) * a.xi_stride + size_t(c0) * a.c_stride;
        for (int gi = 0; gi < groups; gi += kTG) {
          const int ng = groups - gi < kTG ? groups - gi : kTG;
          // Tiles past the end repeat the last one (computed, never stored): no read past V.
          size_t off[kTG * V::kGroup];
          for (int j = 0; j < kTG * V::kGroup; ++j)
            off[j] = wino_min(size_t(a.g0 + gi) * V::kGroup + size_t(j), size_t(a.T) - 1);
          float* ab[kTB];
          for (int i = 0; i < kTB; ++i) ab[i] = acc_buf[i] + (size_t(gi) * kXi + size_t(xi)) * V::kGroup * kRows;
          const size_t gs = size_t(kXi) * V::kGroup * kRows;  // from group gi to gi + 1 in acc_buf
          // Consecutive unless the last group is short (its missing tiles repeat tile T - 1).
          const bool run = size_t(a.g0 + gi + ng) * V::kGroup <= size_t(a.T);
          if (kTG == 2 && ng == 2) {
            if (nb == kTB && run) wino_tile<V, kTB, kTG, true>(u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
            else if (nb == kTB) wino_tile<V, kTB, kTG, false>(u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
            else if (run) wino_tile<V, 1, kTG, true>(u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
            else wino_tile<V, 1, kTG, false>(u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
            continue;
          }
          if (!run) {  // the last group, short (ng = 1 here: a short group is the last)
            const int n = int(size_t(a.T) - size_t(a.g0 + gi) * V::kGroup);
            if (nb == kTB) wino_tile_short<V, kTB>(n, u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
            else wino_tile_short<V, 1>(n, u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
            continue;
          }
          if (nb == kTB) wino_tile<V, kTB, 1, true>(u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
          else wino_tile<V, 1, 1, true>(u, vx, a.c_stride, cc, off, ab, gs, c0 == 0);
        }
      }
    }
    // Output transform Y = A^T M A, then the epilogue.
    for (int i = 0; i < nb; ++i) {
      const int m0 = (b0 + i) * kRows, rows = M - m0 < kRows ? M - m0 : kRows;
      const T scale = a.ep.scale ? V::load_first(a.ep.scale + m0, rows) : V::set1(1.f);
      const T bias = a.ep.bias ? V::load_first(a.ep.bias + m0, rows) : V::zero();
      for (int gi = 0; gi < groups; ++gi)
        for (int j = 0; j < V::kGroup; ++j) {
          const size_t t = size_t(a.g0 + gi) * V::kGroup + size_t(j);
          if (t >= size_t(a.T)) break;
          const float* ab = acc_buf[i] + size_t(gi) * kXi * V::kGroup * kRows + size_t(j) * kRows;
          T m[kXi], y[kM * kM];
          for (int xi = 0; xi < kXi; ++xi) m[xi] = V::load(ab + size_t(xi) * V::kGroup * kRows);
          wino_transform_2d<T, kA, kM>(m, y, WinoTransforms<V, kM>::output);
          for (int q = 0; q < kM * kM; ++q) y[q] = V::add(V::mul(y[q], scale), bias);
          const size_t img = t / per_image, in_img = t % per_image;
          const int oy = int(in_img / size_t(a.tiles_w)) * kM, ox = int(in_img % size_t(a.tiles_w)) * kM;
          if constexpr (HasStoreRows<V>::value) {
            // A tile row's pixels are consecutive in y: the vector type writes them down the rows.
            if (plane >= 8) {
              for (int i = 0; i < kM && oy + i < a.OH; ++i) {
                const size_t at = img * a.image_stride + size_t(m0) * plane + size_t(oy + i) * a.OW + size_t(ox);
                V::store_rows(y + i * kM, kM, a.OW - ox < kM ? a.OW - ox : kM, rows, a.y + at,
                              a.ep.residual ? a.ep.residual + at : nullptr, plane, a.ep.relu);
              }
              continue;
            }
          }
          float out[kM * kM][kRows];
          for (int q = 0; q < kM * kM; ++q) V::store(out[q], y[q]);
          for (int q = 0; q < kM * kM; ++q) {
            const int py = oy + q / kM, px = ox + q % kM;
            if (py >= a.OH || px >= a.OW) continue;
            const size_t at0 = img * a.image_stride + size_t(m0) * plane + size_t(py) * a.OW + size_t(px);
            for (int r = 0; r < rows; ++r) {
              const size_t at = at0 + size_t(r) * plane;
              float o = out[q][r];
              if (a.ep.residual) o += a.ep.residual[at];
              if (a.ep.relu) o = o > 0.f ? o : 0.f;
              a.y[at] = o;
            }
          }
        }
    }
  }
}

// The entry points of one ISA's kernel (its file defines V and calls these).
template <class V>
void wino_input_any(const WinogradInputArgs& a) {
  if constexpr (HasRowType<V>::value) {
    if (a.m == 4) return wino_input_two_pass<typename V::Row, 4>(a);
    return wino_input_two_pass<typename V::Row, 2>(a);
  } else {
    for (int c = 0; c < a.channels; ++c) {  // the one-pass form, a plane at a time
      WinogradInputArgs p = a;
      p.x = a.x + size_t(c) * a.H * a.W, p.v = a.v + size_t(c) * a.c_stride, p.channels = 1;
      if (a.m == 4) wino_input<V, 4>(p);
      else wino_input<V, 2>(p);
    }
  }
}

template <class V>
void wino_weights_any(const WinogradWeightsArgs& a) {
  validate_winograd_weights(a);
  if (a.m == 4) return wino_weights<V, 4>(a);
  wino_weights<V, 2>(a);
}

template <class V>
void wino_product_any(const WinogradProductArgs& a) {
  validate_winograd(a, V::kGroup);
  if (a.m == 4) return wino_product<V, 4>(a);
  wino_product<V, 2>(a);
}

}  // namespace
}  // namespace ds::kernels::detail
