// FFTW (Debian's libfftw3-dev) computes the frames' spectra. Why FFTW: it is packaged for every
// target we build (amd64 and the arm64 cross build), has SIMD codelets for x86 and NEON, takes
// any n_fft (not only powers of two, which a stored front end may ask for), and its real-to-
// complex plans are reused across calls. KissFFT is slower and not packaged as a library in
// Debian 12; pocketfft would do but is a header copied into each user. The FFT runs in double
// precision: the front end is a small part of a clip's cost (a 3 s clip is 149 FFTs of 512), and
// double keeps the engine within 1e-4 of the trainer's libtorch implementation (a test).
#include "runtime/audio_frontend.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>

namespace ds::rt {

namespace {

// FFTW's planner is not thread-safe; executing a plan on new arrays is.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

struct FftwFree {
  void operator()(void* p) const { fftw_free(p); }
};

}  // namespace

struct LogMel::Impl {
  core::AudioFrontEnd fe;
  std::vector<double> window, filters;  // filters: n_mels x bins
  // Each filter's non-zero bins, so the product skips the zeros (most of every row).
  std::vector<uint32_t> first, last;
  fftw_plan plan = nullptr;

  explicit Impl(const core::AudioFrontEnd& p) : fe(p) {
    const std::string bad = core::check_front_end(fe);
    if (!bad.empty()) throw std::invalid_argument("audio front end: " + bad);
    window = core::hann_window(fe.win_length);
    filters = core::mel_filterbank(fe);
    const uint32_t bins = fe.bins();
    for (uint32_t m = 0; m < fe.n_mels; ++m) {
      uint32_t a = 0, b = 0;
      for (uint32_t k = 0; k < bins; ++k)
        if (filters[size_t(m) * bins + k] != 0) a = b == 0 ? k : a, b = k + 1;
      first.push_back(a), last.push_back(b);
    }
    std::unique_ptr<double, FftwFree> in(fftw_alloc_real(fe.n_fft));
    std::unique_ptr<fftw_complex, FftwFree> out(fftw_alloc_complex(bins));
    std::lock_guard<std::mutex> lk(planner_mutex());
    // FFTW_ESTIMATE: no timing runs, so the plan (and its rounding) is the same every time.
    plan = fftw_plan_dft_r2c_1d(int(fe.n_fft), in.get(), out.get(), FFTW_ESTIMATE);
    if (!plan) throw std::runtime_error("audio front end: FFTW could not plan a transform of " + std::to_string(fe.n_fft));
  }
  ~Impl() {
    std::lock_guard<std::mutex> lk(planner_mutex());
    fftw_destroy_plan(plan);
  }
};

LogMel::LogMel(const core::AudioFrontEnd& fe) : impl_(std::make_unique<Impl>(fe)) {}
LogMel::~LogMel() = default;
LogMel::LogMel(LogMel&&) noexcept = default;
LogMel& LogMel::operator=(LogMel&&) noexcept = default;

const core::AudioFrontEnd& LogMel::params() const { return impl_->fe; }

void LogMel::compute(const float* clip, float* out) const {
  const Impl& p = *impl_;
  const core::AudioFrontEnd& fe = p.fe;
  const uint32_t frames = fe.frames(), bins = fe.bins();
  std::unique_ptr<double, FftwFree> in(fftw_alloc_real(fe.n_fft));
  std::unique_ptr<fftw_complex, FftwFree> spec(fftw_alloc_complex(bins));
  std::vector<double> power(bins), logmel(size_t(fe.n_mels) * frames);
  std::fill(in.get(), in.get() + fe.n_fft, 0.0);  // the zero padding past win_length stays zero
  for (uint32_t t = 0; t < frames; ++t) {
    const float* x = clip + size_t(t) * fe.hop_length;
    for (uint32_t n = 0; n < fe.win_length; ++n) in.get()[n] = double(x[n]) * p.window[n];
    fftw_execute_dft_r2c(p.plan, in.get(), spec.get());
    for (uint32_t k = 0; k < bins; ++k) power[k] = spec.get()[k][0] * spec.get()[k][0] + spec.get()[k][1] * spec.get()[k][1];
    for (uint32_t m = 0; m < fe.n_mels; ++m) {
      const double* w = p.filters.data() + size_t(m) * bins;
      double e = 0;
      for (uint32_t k = p.first[m]; k < p.last[m]; ++k) e += w[k] * power[k];
      logmel[size_t(m) * frames + t] = std::log(std::max(e, double(fe.log_floor)));
    }
  }
  double sum = 0, sq = 0;
  for (double v : logmel) sum += v;
  const double mean = sum / double(logmel.size());
  for (double v : logmel) sq += (v - mean) * (v - mean);
  const double sd = std::max(std::sqrt(sq / double(logmel.size())), core::kNormStdFloor);
  for (size_t i = 0; i < logmel.size(); ++i) out[i] = float((logmel[i] - mean) / sd);
}

std::vector<float> preprocess_audio(const std::vector<float>& wave, const core::ModelInfo& info, const std::string& what) {
  if (!info.audio) throw std::invalid_argument(what + ": the model takes pictures, not audio (it has no audio front end)");
  if (wave.empty()) throw std::invalid_argument(what + ": no audio samples");
  const core::AudioFrontEnd& fe = *info.audio;
  std::vector<float> clip(fe.clip_samples, 0.f);
  std::copy_n(wave.begin(), std::min<size_t>(wave.size(), clip.size()), clip.begin());
  std::vector<float> x(size_t(fe.n_mels) * fe.frames());
  LogMel(fe).compute(clip.data(), x.data());
  return x;
}

}  // namespace ds::rt
