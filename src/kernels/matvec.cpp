// The matvec layout (pack, unpack), argument checks and the matvec kernel table. Portable:
// compiled without ISA flags; the AVX2 kernel is only called after its supported() check.
#include <stdexcept>
#include <string>
#include <vector>

#include "core/codes.h"
#include "kernels/internal.h"
#include "kernels/matvec_internal.h"

namespace ds::kernels {
namespace {

void check_shape(const char* who, int bits, int M, int K) {
  if (bits < core::kMinBits || bits > core::kMaxBits) {
    throw std::invalid_argument(std::string(who) + ": code width " + std::to_string(bits) +
                                " is outside 2..5");
  }
  if (M < 0 || K < 0) {
    throw std::invalid_argument(std::string(who) + ": negative size M=" + std::to_string(M) +
                                " K=" + std::to_string(K));
  }
}

// Where code (m, k) lives: its word and the bits of its P field and sign.
struct Slot {
  size_t word_byte;
  int p_bit, s_bit;
};

Slot slot_of(int bits, int M, int K, int m, int k) {
  using namespace detail;
  const MvGeom geo = mv_geom(M, K, bits);
  const int g = k / geo.G, kk = k % geo.G, lane = kk % kMvLanes, j = kk / kMvLanes;
  const int p = g / geo.panel_groups, gp = g % geo.panel_groups;
  const size_t byte = geo.offset(p, m / kMvRows) +
                      (size_t(gp) * kMvRows + size_t(m % kMvRows)) * kMvGroupBytes +
                      size_t(lane) * 4;
  return {byte, mv_p_bit(bits, j), mv_s_bit(bits, j)};
}

// The K codes of a tight row (core/codes.h), read byte by byte: no byte past the row is touched.
// (The kernels library does not link denseshift_core, so this does not call core::unpack_codes.)
void unpack_row(const uint8_t* row, int K, int bits, uint8_t* out) {
  uint32_t acc = 0;
  int avail = 0;
  size_t in = 0;
  for (int k = 0; k < K; ++k) {
    if (avail < bits) {
      acc |= uint32_t(row[in++]) << avail;
      avail += 8;
    }
    out[k] = uint8_t(acc & ((1u << bits) - 1u));
    acc >>= bits;
    avail -= bits;
  }
}

using detail::always;
#if defined(DS_KERNELS_X86)
using detail::has_avx2_fma;
using detail::has_avx512f;
#endif
#if defined(DS_KERNELS_NEON)
using detail::has_neon;
#endif

// Best first: the default is the first supported entry.
const std::vector<MatvecKernelInfo> kTable = {
#if defined(DS_KERNELS_X86)
    {"f32_matvec_fma_avx2", has_avx2_fma, detail::matvec_f32_fma_avx2,
     "AVX2 + FMA: 4 rows at a time, codes decoded by VPERMPS table lookup (3-bit: lookup + "
     "shift per 8 weights; 4/5-bit: sign applied by blend, 5-bit exponent built with integer "
     "ops), FMA against 8 contiguous x shared by the 4 rows, 8 partial sums per row", false},
    {"f32_matvec_expadd_avx512", has_avx512f, detail::matvec_f32_expadd_avx512,
     "multiply-free, AVX-512, batch 1 with 2/3-bit codes: two rows per ZMM (one 64-byte load), "
     "VPERMD table lookup of exponent-add words, integer add to x's bits, float add; other widths "
     "and batches as f32_matvec_expadd_avx2", true},
    {"f32_matvec_expadd_avx2", has_avx2_fma, detail::matvec_f32_expadd_avx2,
     "multiply-free twin of f32_matvec_fma_avx2: the tables give exponent-add words, each FMA is an "
     "integer add on the bits of x plus a float add; finite x, +-0 and subnormal x add < 2^-110",
     true},
#endif
#if defined(DS_KERNELS_NEON)
    {"f32_matvec_neon", has_neon, detail::matvec_f32_neon,
     "NEON: 4 rows at a time, float bits built from the code with shift + bit-select, FMLA "
     "against 4 contiguous x shared by the 4 rows, 8 partial sums per row", false},
#endif
    {"f32_matvec_scalar", always, detail::matvec_f32_scalar,
     "portable reference over the matvec layout: 8 partial float sums per row (one per lane), "
     "as the SIMD kernels", false},
};

}  // namespace

int matvec_row_block() { return detail::kMvRows; }

size_t matvec_packed_bytes(int M, int K, int bits) {
  check_shape("matvec_packed_bytes", bits, M, K);
  return detail::mv_geom(M, K, bits).total_bytes();
}

void matvec_pack(const uint8_t* codes, size_t row_bytes, int bits, int M, int K, uint8_t* out) {
  check_shape("matvec_pack", bits, M, K);
  const size_t bytes = matvec_packed_bytes(M, K, bits);
  if (bytes == 0) return;
  if (M > 0 && row_bytes < core::packed_bytes(size_t(K), bits)) {
    throw std::invalid_argument("matvec_pack: row_bytes " + std::to_string(row_bytes) +
                                " is shorter than a packed row of " + std::to_string(K) +
                                " codes");
  }
  if (out == nullptr || (M > 0 && K > 0 && codes == nullptr)) {
    throw std::invalid_argument("matvec_pack: null buffer");
  }
  for (size_t i = 0; i < bytes; ++i) out[i] = 0;
  using namespace detail;
  const unsigned pmask = (1u << (bits - 1)) - 1u;
  const MvGeom geo = mv_geom(M, K, bits);
  const int G = geo.G, W = mv_codes_per_word(bits);
  std::vector<uint8_t> row(size_t(geo.groups) * size_t(G), 0);  // one row's codes, zero-padded
  for (int m = 0; m < M; ++m) {
    unpack_row(codes + size_t(m) * row_bytes, K, bits, row.data());
    for (int g = 0; g < geo.groups; ++g) {
      const int p = g / geo.panel_groups;
      uint8_t* dst = out + geo.offset(p, m / kMvRows) +
                     (size_t(g - p * geo.panel_groups) * kMvRows + size_t(m % kMvRows)) *
                         kMvGroupBytes;
      const uint8_t* c = row.data() + size_t(g) * size_t(G);
      for (int lane = 0; lane < kMvLanes; ++lane) {
        uint32_t w = 0;
        for (int j = 0; j < W; ++j) {
          const unsigned code = c[kMvLanes * j + lane];
          w |= uint32_t(code & pmask) << mv_p_bit(bits, j);
          w |= uint32_t((code >> (bits - 1)) & 1u) << mv_s_bit(bits, j);
        }
        for (int i = 0; i < 4; ++i) dst[lane * 4 + i] = uint8_t(w >> (8 * i));
      }
    }
  }
}

uint8_t matvec_code_at(const uint8_t* packed, int bits, int M, int K, int m, int k) {
  check_shape("matvec_code_at", bits, M, K);
  if (m < 0 || m >= M || k < 0 || k >= K) {
    throw std::invalid_argument("matvec_code_at: (" + std::to_string(m) + ", " +
                                std::to_string(k) + ") is outside the matrix");
  }
  const Slot s = slot_of(bits, M, K, m, k);
  const uint32_t w = detail::mv_load_word(packed + s.word_byte);
  const unsigned pmask = (1u << (bits - 1)) - 1u;
  return uint8_t(((w >> s.s_bit) & 1u) << (bits - 1) | ((w >> s.p_bit) & pmask));
}

namespace detail {

float* mv_x_scratch(size_t n) {
  // 8 extra floats let the start be rounded up to a 32-byte boundary.
  thread_local std::vector<float> buf;
  if (buf.size() < n + 8) buf.resize(n + 8);
  const auto p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<float*>((p + 31) & ~uintptr_t(31));
}

void validate_matvec(const MatvecArgs& a) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("matvec: " + what); };
  if (a.bits < core::kMinBits || a.bits > core::kMaxBits) {
    fail("code width " + std::to_string(a.bits) + " is outside 2..5");
  }
  if (a.M < 0 || a.K < 0 || a.N < 0) {
    fail("negative size M=" + std::to_string(a.M) + " K=" + std::to_string(a.K) +
         " N=" + std::to_string(a.N));
  }
  if (a.m0 < 0 || a.m1 > a.M || a.m0 > a.m1 || a.m0 % kMvRows != 0 ||
      (a.m1 != a.M && a.m1 % kMvRows != 0)) {
    fail("row range [" + std::to_string(a.m0) + ", " + std::to_string(a.m1) + ") of M=" +
         std::to_string(a.M) + " is not on blocks of " + std::to_string(kMvRows) + " rows");
  }
  const bool rows = a.m1 > a.m0;
  if (rows && a.K > 0 && a.packed == nullptr) fail("packed is null");
  if (rows && a.K > 0 && a.N > 0 && a.x == nullptr) fail("x is null");
  if (rows && a.N > 0 && a.y == nullptr) fail("y is null");
}

}  // namespace detail

const std::vector<MatvecKernelInfo>& all_matvec_kernels() { return kTable; }

const MatvecKernelInfo* multiply_free_matvec_kernel() {
  for (const MatvecKernelInfo& k : kTable)
    if (k.multiply_free && k.supported()) return &k;
  return nullptr;
}

const MatvecKernelInfo& select_matvec_kernel(const std::string& name) {
  const MatvecKernelInfo* found = nullptr;
  for (const MatvecKernelInfo& k : kTable) {
    if (name.empty() ? k.supported() : name == k.name) {
      found = &k;
      break;
    }
  }
  if (found && found->supported()) return *found;
  if (name.empty()) throw std::logic_error("select_matvec_kernel: no kernel is supported");
  std::string list;
  for (const MatvecKernelInfo& e : kTable) {
    if (!e.supported()) continue;
    list += list.empty() ? "" : ", ";
    list += e.name;
  }
  throw std::invalid_argument("select_matvec_kernel: kernel '" + name + "' " +
                              (found ? "is not supported on this CPU" : "is unknown") +
                              "; available here: " + list);
}

}  // namespace ds::kernels
