// bench_winograd: Winograd F(2x2, 3x3) against F(4x4, 3x3) on the stride-1 3x3 convolutions of
// ResNet-18 (batch 1, one thread: the input transform of every channel, then the whole product
// with its output transform and epilogue), for the fastest supported Winograd kernel. The numbers
// behind the engine's choice of tile size (kWinograd4MinPixels in src/runtime/layer_conv2d.cpp).
// Random 3-bit DenseShift codes and inputs; the timing does not depend on the values.
// Run: build/bench/bench_winograd [Google Benchmark flags, e.g. --benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <vector>

#include "core/codes.h"
#include "kernels/kernels.h"
#include "kernels/winograd.h"

namespace {

using namespace ds::kernels;

const KernelInfo* winograd_kernel() {
  const KernelInfo& k = select_kernel("fastest");
  return k.winograd ? &k : nullptr;
}

// state.range: channels (in = out), output side, m.
void BM_Winograd(benchmark::State& state) {
  const KernelInfo* k = winograd_kernel();
  if (!k) {
    state.SkipWithError("no Winograd kernel runs on this CPU");
    return;
  }
  const int C = int(state.range(0)), HW = int(state.range(1)), m = int(state.range(2)), K = C * 9, bits = 3;
  std::mt19937 rng(1);
  const size_t row_bytes = ds::core::packed_bytes(size_t(K), bits);
  std::vector<uint8_t> rows(row_bytes * size_t(C));
  for (auto& b : rows) b = uint8_t(rng());
  const PanelWeights w = pack_panel_weights(PanelWeightKind::kDenseShift, bits, C, K, rows.data(), row_bytes, kWideRows);
  const int t = winograd_tiles(HW, m), T = t * t;
  std::vector<float> x(size_t(C) * HW * HW), v(size_t(winograd_positions(m)) * C * T), y(x.size());
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (auto& f : x) f = d(rng);
  // U kept from load where the engine keeps it (up to 1 MB, layer_conv2d.cpp's kMaxKeptU), else
  // made by the product.
  std::vector<float> u;
  if (winograd_u_floats(w, m) * sizeof(float) <= (size_t(1) << 20)) {
    u.resize(winograd_u_floats(w, m));
    WinogradWeightsArgs wa;
    wa.m = m, wa.w = &w, wa.u = u.data();
    k->winograd->weights(wa);
  }
  double input_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    {  // every channel in one call, as the engine makes it on one thread
      WinogradInputArgs a;
      a.m = m, a.x = x.data(), a.H = a.W = HW;
      a.v = v.data(), a.xi_stride = size_t(C) * T;
      a.channels = C, a.c_stride = size_t(T);
      k->winograd->input(a);
    }
    input_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WinogradProductArgs a;
    a.m = m, a.w = &w, a.mb0 = 0, a.mb1 = w.blocks();
    a.v = v.data(), a.xi_stride = size_t(C) * T, a.c_stride = size_t(T), a.T = T;
    a.g0 = 0, a.g1 = (T + k->winograd->group - 1) / k->winograd->group, a.tiles_h = a.tiles_w = t, a.OH = a.OW = HW;
    a.y = y.data(), a.image_stride = y.size();
    a.u = u.empty() ? nullptr : u.data();
    k->winograd->product(a);
    benchmark::DoNotOptimize(y.data());
  }
  // The input transform's time per iteration (the rest: product, output transform, epilogue).
  state.counters["input_s"] = benchmark::Counter(input_s, benchmark::Counter::kAvgIterations);
  state.SetLabel(std::string(k->name) + " F(" + std::to_string(m) + "x" + std::to_string(m) + ")");
}

// The stride-1 3x3 shapes of ResNet-18 (224x224 inputs): 64 channels at 56x56, 128 at 28x28, 256 at 14x14, 512 at 7x7.
BENCHMARK(BM_Winograd)
    ->ArgNames({"C", "HW", "m"})
    ->ArgsProduct({{64}, {56}, {2, 4}})
    ->ArgsProduct({{128}, {28}, {2, 4}})
    ->ArgsProduct({{256}, {14}, {2, 4}})
    ->ArgsProduct({{512}, {7}, {2, 4}})
    ->Unit(benchmark::kMillisecond);

// ResNet-20's (28x28 inputs): 16 channels at 28x28, 32 at 14x14, 64 at 7x7.
BENCHMARK(BM_Winograd)
    ->ArgNames({"C", "HW", "m"})
    ->ArgsProduct({{16}, {28}, {2, 4}})
    ->ArgsProduct({{32}, {14}, {2, 4}})
    ->ArgsProduct({{64}, {7}, {2, 4}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
