// Internal to the kernels library: the kernel entry points the registry lists, argument
// validation and scratch memory, and the row unpacker every kernel shares.
//
// Some translation units of this library are compiled with -mavx2/-mfma/-mf16c and others are
// not. An inline function or template with external linkage that both kinds of unit emit would
// be merged by the linker into ONE copy, possibly the AVX2-compiled one, which then runs (and
// faults) on a CPU without AVX2 when called from the portable code. So everything defined in
// this header lives in an anonymous namespace (one private copy per unit), and the AVX2 units
// use no standard-library templates; what needs the library (exceptions, vectors) is behind the
// plain functions below, defined in the portable common.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/codes.h"
#include "kernels/kernels.h"
#include "kernels/pgemm.h"
#include "kernels/winograd.h"

namespace ds::kernels::detail {

// What this CPU can run (cpu_features.cpp): the supported() checks of the kernel tables.
bool always();
#if defined(DS_KERNELS_X86)
bool has_avx2();
bool has_avx2_fma();
bool has_avx512f();
bool has_avx2_f16c();
// Whether 512-bit integer and float adds issue on the ports that hold the FMA units, so that an
// exponent-add product costs two FMA slots (Intel's AVX-512 cores) rather than running beside
// the FMAs on pipes of their own (AMD Zen 4). By vendor: the two are the only AVX-512 designs.
bool avx512_adds_share_fma_ports();
#endif
#if defined(DS_KERNELS_NEON)
bool has_neon();
bool has_neon_fp16();
#endif

// Throws std::invalid_argument for a width outside 2..5, negative sizes, a row stride shorter
// than a packed row, or null pointers with non-empty sizes. Called once per kernel call.
void validate(const GemmArgs& a);

// Per-thread scratch that grows and is reused across calls: at least `n` 32-bit words, 32-byte
// aligned. The pointer stays valid until the next call to scratch_words on the same thread.
uint32_t* scratch_words(size_t n);

// Throws std::invalid_argument when a piece of a blocked GEMM is out of range or its weights are
// of a kind the kernel does not take (`accepted`: kAccept* bits).
enum : unsigned { kAcceptF32 = 1, kAcceptDenseShift = 2, kAcceptZero = 4, kAcceptWide = 8 };
void validate_panel(const PanelGemmArgs& a, unsigned accepted);

// A panel kernel behind the GemmArgs interface of kernels.h (tests, benchmarks, --kernel): packs
// the rows as `kind`, packs x, runs the whole product and writes y (M x N). Allocates per call;
// the engine packs once at load instead.
void run_panel_as_gemm(const GemmArgs& a, PanelWeightKind kind, PanelGemmFn panel);

// The panel kernels (pgemm.h), and their GemmArgs forms for the registry.
void panel_f32_scalar(const PanelGemmArgs& a);
void gemm_f32_pgemm_scalar(const GemmArgs& a);
#if defined(DS_KERNELS_X86)
void panel_f32_fma_6x16_avx2(const PanelGemmArgs& a);
void panel_f32_expadd_6x16_avx2(const PanelGemmArgs& a);
void panel_f32_shiftzero_6x16_avx2(const PanelGemmArgs& a);
void gemm_f32_pgemm_fma_6x16_avx2(const GemmArgs& a);
void panel_f32_hybrid_6x16_avx2(const PanelGemmArgs& a);
void gemm_f32_pgemm_hybrid_6x16_avx2(const GemmArgs& a);
void gemm_f32_pgemm_expadd_6x16_avx2(const GemmArgs& a);
void gemm_f32_pgemm_shiftzero_6x16_avx2(const GemmArgs& a);
void panel_f32_fma_6x16_avx512(const PanelGemmArgs& a);
void panel_f32_hybrid_6x16_avx512(const PanelGemmArgs& a);
void panel_f32_expadd_6x16_avx512(const PanelGemmArgs& a);
void panel_f32_shiftzero_6x16_avx512(const PanelGemmArgs& a);
void gemm_f32_pgemm_fma_6x16_avx512(const GemmArgs& a);
void gemm_f32_pgemm_hybrid_6x16_avx512(const GemmArgs& a);
void gemm_f32_pgemm_expadd_6x16_avx512(const GemmArgs& a);
void gemm_f32_pgemm_shiftzero_6x16_avx512(const GemmArgs& a);
void winograd_input_f32_3x3_avx2(const WinogradInputArgs& a);
void winograd_product_f32_3x3_avx2(const WinogradProductArgs& a);
void winograd_weights_f32_3x3_avx2(const WinogradWeightsArgs& a);
void winograd_input_f32_3x3_avx512(const WinogradInputArgs& a);
void winograd_product_f32_3x3_avx512(const WinogradProductArgs& a);
void winograd_weights_f32_3x3_avx512(const WinogradWeightsArgs& a);
#endif

// The kernels. Each file defines one; the table in registry.cpp says what each does.
void gemm_f32_expadd_scalar(const GemmArgs& a);
void gemm_f32_shiftzero_scalar(const GemmArgs& a);
#if defined(DS_KERNELS_X86)
void gemm_f32_expadd_avx2(const GemmArgs& a);
void gemm_f32_shiftzero_avx2(const GemmArgs& a);
void gemm_f32_decode_fma_avx2(const GemmArgs& a);
void gemm_f16_expadd_f16c(const GemmArgs& a);
#endif
#if defined(DS_KERNELS_NEON)
void gemm_f32_expadd_neon(const GemmArgs& a);
void gemm_f32_shiftzero_neon(const GemmArgs& a);
void gemm_f32_decode_fmla_neon(const GemmArgs& a);
void gemm_f16_expadd_neon(const GemmArgs& a);
void gemm_f16_expadd_fp16arith_neon(const GemmArgs& a);
void winograd_input_f32_3x3_neon(const WinogradInputArgs& a);
void winograd_product_f32_3x3_neon(const WinogradProductArgs& a);
void winograd_weights_f32_3x3_neon(const WinogradWeightsArgs& a);
#endif

namespace {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Calls f(i, code) for the K codes of a packed row, i ascending.
//
// Eight b-bit codes take exactly b bytes, so the row is read in chunks of b bytes: one 64-bit
// little-endian load holds a whole chunk (8 * 5 = 40 bits at most). A row may end at the very
// end of its buffer, so the 8-byte load is only used while 8 bytes remain inside the row's
// packed_bytes(K, bits); the last chunk(s) are assembled byte by byte from the bytes that exist.
template <class F>
inline void for_each_code(const uint8_t* row, int K, int bits, F&& f) {
  const size_t nbytes = core::packed_bytes(size_t(K), bits);
  const uint64_t mask = (uint64_t(1) << bits) - 1u;
  int i = 0;
  for (size_t off = 0; i < K; off += size_t(bits)) {
    uint64_t w = 0;
    if (off + 8 <= nbytes) {
      std::memcpy(&w, row + off, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      w = __builtin_bswap64(w);  // the packing is defined as a little-endian bit stream
#endif
    } else {
      const size_t avail = nbytes - off;  // >= 1: code i starts inside the row
      for (size_t j = 0; j < avail && j < 8; ++j) w |= uint64_t(row[off + j]) << (8 * j);
    }
    const int n = (K - i) < 8 ? (K - i) : 8;
    for (int j = 0; j < n; ++j, ++i) f(i, unsigned((w >> (j * bits)) & mask));
  }
}

}  // namespace
}  // namespace ds::kernels::detail
