// Matrix-vector kernels for fully connected layers at small batch (1..8 and more): the weights
// are vectorized along K, so one vector of codes serves one row and batch 1 uses every lane
// (the GEMM kernels of kernels.h vectorize along the batch N and idle 7 of 8 AVX2 lanes at N = 1).
//
// They read their own weight layout, built once at model load by matvec_pack from the tight rows
// of core/codes.h, and compute for rows m in [m0, m1) and vectors n < N
//
//   y[n * M + m] = act( (sum_{k < K} w(m, k) * x[n * K + k]) * scale[m] + bias[m] )
//
// with act = max(., 0) when relu is set, else identity. The sum order differs from kernels.h
// (partial sums per lane and per panel of k), so results agree with a float loop only to
// rounding, not bit for bit.
//
// Layout (the same for every kernel and ISA), for b-bit codes, b = 2..5:
//   W = 32 / b codes share a 32-bit word (16, 10, 8, 6), so a word carries 32 or 30 code bits;
//   a group is G = 8 * W consecutive k (128, 80, 64, 48) of one row, held in 8 words (32 bytes):
//   word i (i = 0..7, "lane i") of group g (counted from k = 0) holds slot j = 0..W-1 for
//   k = g * G + 8 * j + i.
//   Slot j's code (sign s, exponent index P) sits in the word as
//     b = 2, 3: the whole code s << (b-1) | P at bits [b*j, b*j + b)         (tight)
//     b = 4, 5: P at bits [(b-1)*j, (b-1)*(j+1)), i.e. all P fields in bits 0..23,
//               and s at bit 31 - j                                           (split)
//   so that a SIMD decoder gets P at the bottom of a word by one shift (and s at bit 31 by one
//   shift for b = 4, 5).
//   Rows come in blocks of R = matvec_row_block() rows (block q: rows q*R .. q*R+R-1), and k in
//   panels of KP = 1920 (a multiple of every G: 15, 24, 30 or 40 groups; the last panel may
//   hold fewer). The buffer is panel after panel; a panel is block after block; a block's part
//   of a panel is group after group; a group is the R rows' 32 bytes, row after row:
//     panel p starts at  p * blocks * PG * R * 32      (PG = KP / G, blocks = ceil(M / R))
//     block q's part     + q * gp * R * 32              (gp = groups in panel p)
//     row r, group g     + (g * R + r) * 32             (g counted inside the panel)
//   So a kernel streams the codes once in memory order while the x of one panel (7.5 KB per
//   vector) stays in L1; a thread given rows [m0, m1) reads one contiguous range per panel.
//   Words are little-endian. Padding (k >= K, rows >= M, unused bits) is zero; kernels give
//   padded k no weight (x is treated as 0 there), so any padding value would do.
//   Size: ceil(M/R) * R * ceil(K/G) * 32 bytes, about M * K * b/8 (3-bit: 3.2 bits per weight).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::kernels {

// Rows per block of the matvec layout (m0 and m1 of MatvecArgs are multiples of it, or m1 == M).
int matvec_row_block();

// Bytes of the matvec layout for M x K codes of `bits` bits (bits 2..5, M, K >= 0).
size_t matvec_packed_bytes(int M, int K, int bits);

// Repacks M tight rows (core/codes.h: row m at codes + m * row_bytes, row_bytes >=
// packed_bytes(K, bits)) into the matvec layout: out must hold matvec_packed_bytes(M, K, bits)
// bytes. Throws std::invalid_argument for bad widths, sizes or strides.
void matvec_pack(const uint8_t* codes, size_t row_bytes, int bits, int M, int K, uint8_t* out);

// Code (s << (bits-1) | P) of row m, column k of a matvec-layout buffer: the inverse of
// matvec_pack, for tests and tools (slow).
uint8_t matvec_code_at(const uint8_t* packed, int bits, int M, int K, int m, int k);

struct MatvecArgs {
  const uint8_t* packed;  // matvec_pack output for these bits, M, K
  int bits;               // 2..5
  int M, K, N;            // N: number of vectors (batch); any N >= 0
  const float* x;         // N vectors of K floats, vector n at x + n * K
  float* y;               // y[n * M + m]; only rows [m0, m1) are written. Must not overlap x:
                          // it holds partial sums (one per panel of k) until the call returns
  const float* scale;     // per row m, or null = 1
  const float* bias;      // per row m, or null = 0
  bool relu;
  int m0, m1;             // rows [m0, m1): multiples of matvec_row_block(), except m1 == M
};

using MatvecFn = void (*)(const MatvecArgs&);

struct MatvecKernelInfo {
  const char* name;      // e.g. "f32_matvec_scalar", "f32_matvec_fma_avx2", "f32_matvec_neon"
  bool (*supported)();   // CPU can run it
  MatvecFn fn;           // validates its arguments (std::invalid_argument) and computes
  const char* doc;       // one line: how it decodes and sums
  bool multiply_free;    // forms w * x by exponent addition, without a floating-point multiply
};

// Every matvec kernel built into this binary, supported here or not.
const std::vector<MatvecKernelInfo>& all_matvec_kernels();
// The fastest supported matvec kernel, unless `name` picks one (throws std::invalid_argument
// naming the choices when `name` is unknown or unsupported).
const MatvecKernelInfo& select_matvec_kernel(const std::string& name = "");
// The fastest supported multiply-free matvec kernel, or null where there is none.
const MatvecKernelInfo* multiply_free_matvec_kernel();

}  // namespace ds::kernels
