// The quantized-layer kernels: one function type, one implementation per file and ISA.
//
// Every kernel computes the same product of packed b-bit weight codes and float activations:
//
//   y[m * N + n] = sum_{k < K} w(m, k) * x[k * N + n]        for m < M, n < N
//
// where row m of the weights is K codes packed tightly (core/codes.h) starting at
// codes + m * row_bytes (row_bytes >= packed_bytes(K, bits)), and x is K rows of N floats.
// A convolution reaches this form through im2col (K = in/groups * kh * kw, N = out_h * out_w)
// and a linear layer with N = batch after a transpose. y is overwritten, not accumulated.
//
// Kernels differ in how w * x is formed (exponent addition, decode + FMA, FP16) and in
// which weights they accept (DenseShift zero-free codes, or the zero-weight baseline).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/pgemm.h"
#include "kernels/winograd.h"

namespace ds::kernels {

struct GemmArgs {
  const uint8_t* codes;  // M rows, each row_bytes long
  size_t row_bytes;
  int bits;              // 2..5
  int M, K, N;
  const float* x;        // K x N, row-major
  float* y;              // M x N, row-major
};

using GemmFn = void (*)(const GemmArgs&);

enum class WeightSet { kDenseShift, kShiftWithZero };

struct KernelInfo {
  const char* name;       // e.g. "f32_expadd_scalar", "f32_expadd_avx2", "f32_decode_fma_avx2"
  WeightSet weights;
  bool multiply_free;     // forms w * x without a floating-point multiply
  bool fp16_activations;  // rounds activations (and products) through FP16: not bit-equal to FP32
  bool (*supported)();    // CPU can run it
  GemmFn fn;
  const char* doc;        // one line: what it does, its special-value handling
  // Non-null for the blocked-GEMM kernels (pgemm.h): the form the engine runs with weights
  // repacked once at load. `fn` is the same product behind the plain interface.
  PanelGemmFn panel;
  // +-0 and subnormal activations add a term below 2^-110 instead of exactly 0 (the one-add
  // exponent kernels): results differ from the exact kernels only where an output is that tiny.
  bool tiny_zero_terms;
  // The panel kernel also takes the wide form (pgemm.h: PanelGemmArgs::pixels, weights in blocks
  // of kWideRows rows).
  bool wide_form;
  // With wide_form: whether the wide form skips a strided stem of a few input channels on wide
  // rows (the AVX2 kernels: there the 6x16 form's tiles are full and its phase-split copy small;
  // see Conv2d::prepare) rather than running on every layer deep enough (AVX-512).
  bool wide_selective;
  // Non-null: stride-1 pad-1 3x3 convolutions (one group, no dilation) run as Winograd
  // F(2x2, 3x3) (winograd.h) on these functions; every other layer on `panel`.
  const WinogradKernel* winograd;
};

// What a model's quantized layers hold, as far as the choice of kernel goes.
struct ModelWeights {
  bool dense_shift = false;      // DenseShift codes
  bool shift_with_zero = false;  // shift-with-zero codes (the zero-weight baseline)
  int dense_shift_bits = 0;      // the widest DenseShift code
};

// FP16 kernels form x * 2^P in FP16, whose largest finite value is 65504. Taking activations of
// magnitude up to 2^8 as plausible (normalized inputs and folded-BatchNorm activations of the
// networks here stay well below), a product stays finite for P <= 7 (2^7 * 2^8 = 2^15) and
// overflows from P = 8 on (2^8 * 2^8 = 65536). So FP16 kernels take DenseShift codes of at most
// 4 bits (P <= 7) and refuse 5-bit ones (P up to 15: 2^15 * |x| overflows for any |x| >= 2).
constexpr int kFp16MaxExponent = 7;

// Why kernel k cannot run weights `w` itself ("" when it can): DenseShift codes need a DenseShift
// kernel (FP16 ones only up to kFp16MaxExponent); shift-with-zero codes need a zero-weight kernel
// or a panel kernel that decodes zero weights itself (zero_weight_kernel(k) is k).
std::string why_cannot_run(const KernelInfo& k, const ModelWeights& w);
// Every supported kernel that can run weights `w`, in table order.
std::vector<const KernelInfo*> kernels_for(const ModelWeights& w);

// Every kernel built into this binary, supported here or not.
const std::vector<KernelInfo>& all_kernels();
// The panel kernel the engine runs FP32 layers (stem, classifier) on: the best supported one that
// takes FP32 weights.
const KernelInfo& float_panel_kernel();
// The kernel for shift-with-zero weights that matches DenseShift kernel k (same ISA, blocking and
// arithmetic), so a baseline model runs with the same effort as a DenseShift one.
const KernelInfo& zero_weight_kernel(const KernelInfo& k);
// The default DenseShift kernel - the fastest supported multiply-free float-activation one - unless
// `name` picks one; "fastest" picks the fastest supported kernel, multiply-free or not. With
// `model`, the kernel must run its weights itself: the default and "fastest" take the first of
// their order that does, or its zero-weight sibling (a baseline model), else the float panel
// kernel (both kinds of codes). Throws std::invalid_argument naming the kernel, why it cannot be
// used (unknown, not supported here, or why_cannot_run) and the kernels that can.
const KernelInfo& select_kernel(const std::string& name = "", const ModelWeights* model = nullptr);

}  // namespace ds::kernels
