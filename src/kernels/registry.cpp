// The kernel table: every kernel's traits in one place, and the choice of kernel at run time.
// Compiled without ISA flags; the AVX2 kernels (and the ARMv8.2 FP16 one) are only called after
// their supported() check.
#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/codes.h"
#include "kernels/internal.h"

namespace ds::kernels {
namespace {

using detail::always;
#if defined(DS_KERNELS_X86)
using detail::has_avx2;
using detail::has_avx2_f16c;
using detail::has_avx2_fma;
using detail::has_avx512f;
#endif
#if defined(DS_KERNELS_NEON)
using detail::has_neon;
using detail::has_neon_fp16;
#endif

#if defined(DS_KERNELS_X86)
// From 16 input channels. ResNet-20 (28x28 input) on 1 thread of an AMD Zen 3, per-layer minimum
// of 7 rounds pinned to one core (taskset -c 0 scripts/ab_engine.sh -l -m): its six 16-channel
// 28x28 layers as F(4x4) 0.050-0.052 ms against 0.062 for the direct FMA product. (From 32, the
// choice of an earlier measurement on Zen 4, before the product kept its accumulators in
// registers on AVX2: 16 channels 0.086 ms against 0.075 for the hybrid's direct product.)
const WinogradKernel kWinogradAvx2 = {detail::winograd_input_f32_3x3_avx2, detail::winograd_product_f32_3x3_avx2, detail::winograd_weights_f32_3x3_avx2, 0, 16, kWinogradGroupAvx2};
const WinogradKernel kWinogradAvx512 = {detail::winograd_input_f32_3x3_avx512, detail::winograd_product_f32_3x3_avx512, detail::winograd_weights_f32_3x3_avx512, 0, 32, kWinogradGroupAvx512};
// The same transforms beside the FMA direct product (f32_winograd_3x3_fma_avx512), from 10x10
// outputs on. On an Intel Xeon (DS_PROFILE=1 build/bench/engine_bench, medians of 15 runs) the
// direct FMA product beat F(2x2) on every 7x7 layer (ResNet-18's 512 channels 1.13-1.21x, ResNet-20's
// 64 channels 1.3-1.6x) and lost at 14x14 with 256 channels (0.70-0.77x); ResNet-20's 32 at 14x14
// were even on 1 thread. Whole networks against f32_winograd_3x3_avx512, batch 1, median of 7
// interleaved rounds (scripts/ab_engine.sh): ResNet-20 1 thread 0.68 against 0.78 ms, ResNet-18 2 threads 15.4
// against 15.8. From 16 input channels: with the product's 2 x 2 register tile, ResNet-20's 16-channel
// 28x28 layers are faster as F(4x4) (the network on 1 thread: 0.563 against 0.595 ms from 32, 11
// interleaved rounds); Winograd on the 7x7 layers too (no pixel floor) still loses (0.695 against 0.609).
const WinogradKernel kWinogradAvx512Fma = {detail::winograd_input_f32_3x3_avx512, detail::winograd_product_f32_3x3_avx512, detail::winograd_weights_f32_3x3_avx512,
                                           10 * 10, 16, kWinogradGroupAvx512};
#endif
#if defined(DS_KERNELS_NEON)
const WinogradKernel kWinogradNeon = {detail::winograd_input_f32_3x3_neon, detail::winograd_product_f32_3x3_neon, detail::winograd_weights_f32_3x3_neon, 0, 32, kWinogradGroupNeon};
#endif

const std::vector<KernelInfo> kTable = {
    {"f32_expadd_scalar", WeightSet::kDenseShift, true, false, always,
     detail::gemm_f32_expadd_scalar,
     "DenseShift reference, portable: exponent add on FP32 bits; zeros, subnormals, inf, NaN and "
     "overflow formed exactly as IEEE x*w with integer ops, so bit-equal to a float dot product "
     "(k ascending)",
     nullptr, false, false, false, nullptr},
    {"f32_pgemm_scalar", WeightSet::kDenseShift, false, false, always,
     detail::gemm_f32_pgemm_scalar,
     "blocked GEMM, portable: weights repacked in 6-row blocks, decoded to floats per 256-column "
     "panel, 6x16 float tiles; any weight kind (the FP32 layers' fallback); bit-equal for codes",
     detail::panel_f32_scalar, false, false, false, nullptr},
    {"f32_shiftzero_scalar", WeightSet::kShiftWithZero, true, false, always,
     detail::gemm_f32_shiftzero_scalar,
     "zero-weight baseline, portable: f32_expadd_scalar plus a branch per weight; zero weights "
     "add nothing (even for inf/NaN x), the rest IEEE-exact",
     nullptr, false, false, false, nullptr},
#if defined(DS_KERNELS_X86)
    {"f32_expadd_avx2", WeightSet::kDenseShift, true, false, has_avx2,
     detail::gemm_f32_expadd_avx2,
     "DenseShift, AVX2 exponent add, 6x16 tiles: subnormal x flushed (adds nothing), overflow "
     "-> +-inf, inf/NaN kept; else bit-equal to f32_expadd_scalar",
     nullptr, false, false, false, nullptr},
    {"f32_shiftzero_avx2", WeightSet::kShiftWithZero, true, false, has_avx2,
     detail::gemm_f32_shiftzero_avx2,
     "zero-weight baseline, AVX2: f32_expadd_avx2 plus a mask per weight; zero weights add "
     "nothing (even for inf/NaN x)",
     nullptr, false, false, false, nullptr},
    {"f32_decode_fma_avx2", WeightSet::kDenseShift, false, false, has_avx2_fma,
     detail::gemm_f32_decode_fma_avx2,
     "DenseShift, codes decoded to floats + FMA, 6x16 tiles: bit-equal to f32_expadd_scalar "
     "(subnormals, inf, NaN included) unless a product overflows, which FMA keeps unrounded",
     nullptr, false, false, false, nullptr},
    {"f32_pgemm_fma_6x16_avx2", WeightSet::kDenseShift, false, false, has_avx2_fma,
     detail::gemm_f32_pgemm_fma_6x16_avx2,
     "blocked GEMM, AVX2+FMA: 6-row code blocks decoded to floats per 256-column panel (L2), x in "
     "16-column panels (L1), 6x16 FMA tiles (16 channels x 6 pixels on all but a strided stem, and linear "
     "layers), fused BN/residual/ReLU; bit-equal to f32_expadd_scalar unless a product overflows; "
     "also runs FP32 and zero-weight layers",
     detail::panel_f32_fma_6x16_avx2, false, true, true, nullptr},
    {"f32_pgemm_hybrid_6x16_avx2", WeightSet::kDenseShift, false, false, has_avx2_fma,
     detail::gemm_f32_pgemm_hybrid_6x16_avx2,
     "blocked GEMM, AVX2+FMA, both pipe pairs: per 6x16 tile 4 rows by FMA and 2 rows by exponent "
     "add (integer add + float add), which FP32 weights cannot do; FMA rows exact, exponent rows as "
     "f32_pgemm_expadd_6x16_avx2 (finite x; +-0 and subnormal x add a term below 2^-110)",
     detail::panel_f32_hybrid_6x16_avx2, true, false, false, nullptr},
    {"f32_winograd_3x3_avx2", WeightSet::kDenseShift, false, false, has_avx2_fma,
     detail::gemm_f32_pgemm_hybrid_6x16_avx2,
     "f32_winograd_3x3_avx512 on AVX2+FMA (16 lanes as two YMM): Winograd F(4x4,3x3) / F(2x2,3x3) "
     "for stride-1 3x3 convolutions, not multiply-free; every other layer as "
     "f32_pgemm_hybrid_6x16_avx2",
     detail::panel_f32_hybrid_6x16_avx2, true, false, false, &kWinogradAvx2},
    {"f32_winograd_3x3_fma_avx2", WeightSet::kDenseShift, false, false, has_avx2_fma,
     detail::gemm_f32_pgemm_fma_6x16_avx2,
     "f32_winograd_3x3_avx2 with every other layer as f32_pgemm_fma_6x16_avx2 (codes decoded to "
     "floats, FMA) instead of the hybrid: the faster choice on AVX2-only cores (AMD Zen 3: the "
     "hybrid's 256-bit integer adds compete with its float adds); Winograd at any size, as F(2x2) "
     "still beats the direct product on ResNet-18's 7x7 layers on Zen 3",
     detail::panel_f32_fma_6x16_avx2, false, true, true, &kWinogradAvx2},
    {"f32_pgemm_expadd_6x16_avx2", WeightSet::kDenseShift, true, false, has_avx2,
     detail::gemm_f32_pgemm_expadd_6x16_avx2,
     "blocked GEMM, AVX2, multiply-free: bits(x) + (s<<31 | P<<23) per product (one integer add) "
     "+ float add, 6x16 tiles (16 channels x 6 pixels on all but a strided stem, and linear layers); assumes "
     "finite x with |x*w| < 2^128; +-0 and subnormal x add a "
     "term below 2^-110 instead of 0; else bit-equal to f32_expadd_scalar",
     detail::panel_f32_expadd_6x16_avx2, true, true, true, nullptr},
    {"f32_pgemm_shiftzero_6x16_avx2", WeightSet::kShiftWithZero, true, false, has_avx2,
     detail::gemm_f32_pgemm_shiftzero_6x16_avx2,
     "zero-weight baseline of f32_pgemm_expadd_6x16_avx2: same blocking and tiles, plus a keep "
     "mask per weight (one AND per product, a panel twice as large); zero weights add nothing",
     detail::panel_f32_shiftzero_6x16_avx2, true, false, false, nullptr},
    {"f32_pgemm_expadd_6x16_avx512", WeightSet::kDenseShift, true, false, has_avx512f,
     detail::gemm_f32_pgemm_expadd_6x16_avx512,
     "f32_pgemm_expadd_6x16_avx2 with ZMM accumulators (AVX-512F): multiply-free, one integer add "
     "+ one float add per product; same assumptions (finite x; +-0 and subnormal x add < 2^-110)",
     detail::panel_f32_expadd_6x16_avx512, true, true, false, nullptr},
    {"f32_pgemm_shiftzero_6x16_avx512", WeightSet::kShiftWithZero, true, false, has_avx512f,
     detail::gemm_f32_pgemm_shiftzero_6x16_avx512,
     "zero-weight baseline of f32_pgemm_expadd_6x16_avx512: same tile, plus a keep mask per weight",
     detail::panel_f32_shiftzero_6x16_avx512, true, true, false, nullptr},
    {"f32_pgemm_fma_6x16_avx512", WeightSet::kDenseShift, false, false, has_avx512f,
     detail::gemm_f32_pgemm_fma_6x16_avx512,
     "f32_pgemm_fma_6x16_avx2 with ZMM accumulators and embedded-broadcast FMAs (AVX-512F): a third "
     "of the instructions; bit-equal unless a product overflows; also FP32 and zero-weight layers",
     detail::panel_f32_fma_6x16_avx512, false, true, false, nullptr},
    {"f32_pgemm_hybrid_6x16_avx512", WeightSet::kDenseShift, false, false, has_avx512f,
     detail::gemm_f32_pgemm_hybrid_6x16_avx512,
     "f32_pgemm_hybrid_6x16_avx2 with ZMM accumulators: 4 FMA rows + 2 exponent-add rows per tile",
     detail::panel_f32_hybrid_6x16_avx512, true, true, false, nullptr},
    {"f32_winograd_3x3_avx512", WeightSet::kDenseShift, false, false, has_avx512f,
     detail::gemm_f32_pgemm_hybrid_6x16_avx512,
     "Winograd for stride-1 3x3 convolutions, AVX-512F: F(4x4,3x3) on outputs of 28x28 and more, "
     "F(2x2,3x3) below; codes decoded and transformed (U = G g G^T) per 64-channel panel, FMA GEMMs "
     "on 16-channel x 6-tile tiles, fused BN/residual/ReLU; 4x / 2.25x fewer multiply-adds, not "
     "multiply-free, rounding differs from the direct product (relative ~1e-6) and an inf/NaN input "
     "may make its whole tile NaN; every other layer as f32_pgemm_hybrid_6x16_avx512",
     detail::panel_f32_hybrid_6x16_avx512, true, true, false, &kWinogradAvx512},
    {"f32_winograd_3x3_fma_avx512", WeightSet::kDenseShift, false, false, has_avx512f,
     detail::gemm_f32_pgemm_fma_6x16_avx512,
     "f32_winograd_3x3_avx512 with every other layer as f32_pgemm_fma_6x16_avx512 (codes decoded to "
     "floats, FMA) instead of the hybrid: the faster choice where 512-bit integer adds take the FMA "
     "ports (Intel AVX-512 cores), so that exponent-add rows cost FMA slots",
     detail::panel_f32_fma_6x16_avx512, false, true, false, &kWinogradAvx512Fma},
    {"f16_expadd_f16c", WeightSet::kDenseShift, true, true, has_avx2_f16c,
     detail::gemm_f16_expadd_f16c,
     "DenseShift, x rounded to FP16 (RNE), exponent add on FP16 bits, FP32 sums: FP16 subnormal "
     "x flushed, FP16 overflow -> +-inf, inf/NaN kept; codes of at most 4 bits (kFp16MaxExponent: "
     "5-bit models refused at load)",
     nullptr, false, false, false, nullptr},
#endif
#if defined(DS_KERNELS_NEON)
    {"f32_expadd_neon", WeightSet::kDenseShift, true, false, has_neon,
     detail::gemm_f32_expadd_neon,
     "DenseShift, NEON exponent add (saturating add + min + xor), 6x8 tiles: subnormal x "
     "flushed (adds nothing), overflow -> +-inf, inf/NaN kept; else bit-equal to "
     "f32_expadd_scalar",
     nullptr, false, false, false, nullptr},
    {"f32_shiftzero_neon", WeightSet::kShiftWithZero, true, false, has_neon,
     detail::gemm_f32_shiftzero_neon,
     "zero-weight baseline, NEON: f32_expadd_neon plus a mask per weight; zero weights add "
     "nothing (even for inf/NaN x)",
     nullptr, false, false, false, nullptr},
    {"f32_decode_fmla_neon", WeightSet::kDenseShift, false, false, has_neon,
     detail::gemm_f32_decode_fmla_neon,
     "DenseShift, codes decoded to floats + FMLA, 6x8 tiles: bit-equal to f32_expadd_scalar "
     "unless a product overflows, which FMLA keeps unrounded",
     nullptr, false, false, false, nullptr},
    {"f32_winograd_3x3_neon", WeightSet::kDenseShift, false, false, has_neon,
     detail::gemm_f32_decode_fmla_neon,
     "Winograd F(4x4,3x3) / F(2x2,3x3) for stride-1 3x3 convolutions with NEON (16 lanes as four Q "
     "registers, FMLA on transformed weights; not multiply-free, rounding differs from the direct "
     "product by ~1e-6); every other layer as f32_decode_fmla_neon",
     nullptr, false, false, false, &kWinogradNeon},
    {"f16_expadd_neon", WeightSet::kDenseShift, true, true, has_neon,
     detail::gemm_f16_expadd_neon,
     "DenseShift, x rounded to FP16 (RNE), exponent add on FP16 bits, FP32 sums (ARMv8.0): FP16 "
     "subnormal x flushed, FP16 overflow -> +-inf, inf/NaN kept; equals f16_expadd_f16c; codes of "
     "at most 4 bits (kFp16MaxExponent)",
     nullptr, false, false, false, nullptr},
    {"f16_expadd_fp16arith_neon", WeightSet::kDenseShift, true, true, has_neon_fp16,
     detail::gemm_f16_expadd_fp16arith_neon,
     "DenseShift, as f16_expadd_neon but summed in FP16 (ARMv8.2 FP16 arithmetic): partial sums "
     "rounded to FP16 and overflow at 65504, not bit-equal to FP32 sums; codes of at most 4 bits "
     "(kFp16MaxExponent)",
     nullptr, false, false, false, nullptr},
#endif
};

// Preference for the default float-activation DenseShift kernel, best first.
// The default is multiply-free (exponent addition), as DenseShift inference is meant to be. The
// AVX-512 exponent-add kernel comes first: it has the wide form for small images (ResNet-18 batch 1
// on 2 cores: 24.3-24.7 ms against 29.0-37.4 for the AVX2 one, two runs each of
// `build/bench/engine_bench MODEL KERNEL 2 1 15` on the bench_e2e --save-model file).
const char* const kDefaultOrder[] = {"f32_pgemm_expadd_6x16_avx512", "f32_pgemm_expadd_6x16_avx2", "f32_expadd_neon",
                                     "f32_expadd_scalar"};
// select_kernel("fastest"): the fastest measured, multiply-free or not: Winograd for the stride-1
// 3x3 convolutions (ResNet-18 batch 1 on 2 threads of an AMD Zen 4: 14.5 ms against 19.9 for the
// hybrid alone, build/bench/engine_bench) and, for the other layers, the kernel that suits the
// core's pipes:
//   - AMD Zen 4 (this list): the hybrid, whose exponent-add rows run on the integer and float add
//     pipes beside the FMA rows (only power-of-two weights allow that);
//   - Intel AVX-512 (kFastestWhereAddsShareFmaPorts, tried before the list): plain FMA on decoded
//     codes, since there every ZMM add takes an FMA port and the hybrid's add rows slow it down
//     (docs/benchmarks_notes.md, per-layer tables).
//   - AVX2 without AVX-512: Winograd beside plain FMA (f32_winograd_3x3_fma_avx2). On AMD Zen 3
//     the hybrid lost to FMA on every direct layer (ResNet-18, 2 threads, strided 3x3: 1.9-2.0
//     against 1.3-1.4 ms; 1x1 stride 2: 0.29-0.37 against 0.21-0.24).
const char* const kFastestOrder[] = {"f32_winograd_3x3_avx512",    "f32_winograd_3x3_fma_avx2", "f32_winograd_3x3_avx2",
                                     "f32_pgemm_hybrid_6x16_avx512", "f32_pgemm_fma_6x16_avx512",
                                     "f32_pgemm_hybrid_6x16_avx2",   "f32_pgemm_fma_6x16_avx2",
                                     "f32_winograd_3x3_neon",        "f32_decode_fmla_neon",
                                     "f32_expadd_scalar"};
const char* const kFastestWhereAddsShareFmaPorts = "f32_winograd_3x3_fma_avx512";

const KernelInfo* find(const std::string& name) {
  for (const KernelInfo& k : kTable) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

// DenseShift kernel -> its zero-weight sibling (zero_weight_kernel). A kernel paired with itself
// decodes zero weights itself.
const char* const kZeroPairs[][2] = {
    {"f32_pgemm_expadd_6x16_avx2", "f32_pgemm_shiftzero_6x16_avx2"},
    {"f32_pgemm_fma_6x16_avx2", "f32_pgemm_fma_6x16_avx2"},
    {"f32_pgemm_hybrid_6x16_avx2", "f32_pgemm_fma_6x16_avx2"},
    {"f32_pgemm_expadd_6x16_avx512", "f32_pgemm_shiftzero_6x16_avx512"},
    {"f32_pgemm_fma_6x16_avx512", "f32_pgemm_fma_6x16_avx512"},
    {"f32_pgemm_hybrid_6x16_avx512", "f32_pgemm_fma_6x16_avx512"},
    {"f32_winograd_3x3_avx512", "f32_pgemm_fma_6x16_avx512"},
    {"f32_winograd_3x3_fma_avx512", "f32_pgemm_fma_6x16_avx512"},
    {"f32_winograd_3x3_avx2", "f32_pgemm_fma_6x16_avx2"},
    {"f32_winograd_3x3_fma_avx2", "f32_pgemm_fma_6x16_avx2"},
    {"f32_pgemm_scalar", "f32_pgemm_scalar"},
    {"f32_expadd_avx2", "f32_shiftzero_avx2"},
    {"f32_decode_fma_avx2", "f32_shiftzero_avx2"},
    {"f16_expadd_f16c", "f32_shiftzero_avx2"},
    {"f32_expadd_neon", "f32_shiftzero_neon"},
    {"f32_decode_fmla_neon", "f32_shiftzero_neon"},
    {"f32_winograd_3x3_neon", "f32_shiftzero_neon"},
    {"f16_expadd_neon", "f32_shiftzero_neon"},
    {"f16_expadd_fp16arith_neon", "f32_shiftzero_neon"},
};

}  // namespace

const std::vector<KernelInfo>& all_kernels() { return kTable; }

const KernelInfo& float_panel_kernel() {
  for (const char* n : {"f32_pgemm_fma_6x16_avx512", "f32_pgemm_fma_6x16_avx2", "f32_pgemm_scalar"}) {
    const KernelInfo* k = find(n);
    if (k && k->supported()) return *k;
  }
  throw std::logic_error("float_panel_kernel: none supported");  // the scalar one always is
}

const KernelInfo& zero_weight_kernel(const KernelInfo& k) {
  for (const auto& p : kZeroPairs) {
    const KernelInfo* z = std::string(p[0]) == k.name ? find(p[1]) : nullptr;
    if (z && z->supported()) return *z;
  }
  return *find("f32_shiftzero_scalar");
}

// The widest code FP16 kernels take (kFp16MaxExponent).
constexpr int kFp16MaxBits = 4;
static_assert(core::max_exponent(kFp16MaxBits) <= kFp16MaxExponent && core::max_exponent(kFp16MaxBits + 1) > kFp16MaxExponent);

std::string why_cannot_run(const KernelInfo& k, const ModelWeights& w) {
  if (w.dense_shift && k.weights != WeightSet::kDenseShift)
    return "runs shift-with-zero weights (0, +-2^p) and the model has DenseShift weights";
  const bool zero_itself = k.weights == WeightSet::kShiftWithZero ||
                           std::any_of(std::begin(kZeroPairs), std::end(kZeroPairs), [&](const auto& p) {
                             return std::string(p[0]) == k.name && std::string(p[1]) == k.name;
                           });
  if (w.shift_with_zero && !zero_itself) return "runs DenseShift weights and the model has shift-with-zero weights (0, +-2^p)";
  const int P = w.dense_shift_bits >= core::kMinBits ? core::max_exponent(w.dense_shift_bits) : 0;
  if (w.dense_shift && k.fp16_activations && P > kFp16MaxExponent)
    return "rounds activations to FP16 and the model has " + std::to_string(w.dense_shift_bits) +
           "-bit DenseShift weights (up to 2^" + std::to_string(P) + "), whose products overflow FP16 (65504) for activations of 2^" +
           std::to_string(16 - P) + " or more; FP16 kernels take codes of at most " + std::to_string(kFp16MaxBits) + " bits";
  return "";
}

std::vector<const KernelInfo*> kernels_for(const ModelWeights& w) {
  std::vector<const KernelInfo*> out;
  for (const KernelInfo& k : kTable)
    if (k.supported() && why_cannot_run(k, w).empty()) out.push_back(&k);
  return out;
}

const KernelInfo& select_kernel(const std::string& name, const ModelWeights* model) {
  auto usable = [&](const KernelInfo& k) { return k.supported() && (!model || why_cannot_run(k, *model).empty()); };
  if (name.empty() || name == "fastest") {
    std::vector<const char*> order;
#if defined(DS_KERNELS_X86)
    if (!name.empty() && detail::avx512_adds_share_fma_ports()) order.push_back(kFastestWhereAddsShareFmaPorts);
#endif
    if (name.empty()) order.insert(order.end(), std::begin(kDefaultOrder), std::end(kDefaultOrder));
    else order.insert(order.end(), std::begin(kFastestOrder), std::end(kFastestOrder));
    for (const char* n : order) {
      const KernelInfo* k = find(n);
      if (!k || !k->supported()) continue;
      if (usable(*k)) return *k;
      // A baseline model runs on the zero-weight kernel of the same family (ISA, blocking, arithmetic).
      if (usable(zero_weight_kernel(*k))) return zero_weight_kernel(*k);
    }
    // Both kinds of codes in one model: the float panel kernel decodes either.
    if (usable(float_panel_kernel())) return float_panel_kernel();
    throw std::logic_error("select_kernel: no default kernel is supported");  // the scalar ones always are
  }
  const KernelInfo* k = find(name);
  if (k && usable(*k)) return *k;
  std::string list;
  for (const KernelInfo* e : model ? kernels_for(*model) : kernels_for(ModelWeights{})) {
    list += list.empty() ? "" : ", ";
    list += e->name;
  }
  const std::string why = !k ? "is unknown" : !k->supported() ? "is not supported on this CPU" : why_cannot_run(*k, *model);
  throw std::invalid_argument("kernel '" + name + "' " + why + "; " +
                              (model ? "kernels that can run this model here: " : "available here: ") + list);
}

}  // namespace ds::kernels
