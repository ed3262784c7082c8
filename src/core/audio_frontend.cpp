#include "core/audio_frontend.h"

#include <cmath>
#include <cstdio>

namespace ds::core {
namespace {

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double mel_to_hz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

}  // namespace

bool AudioFrontEnd::operator==(const AudioFrontEnd& o) const {
  return sample_rate == o.sample_rate && clip_samples == o.clip_samples && n_fft == o.n_fft &&
         win_length == o.win_length && hop_length == o.hop_length && n_mels == o.n_mels && f_min == o.f_min &&
         f_max == o.f_max && log_floor == o.log_floor;
}

std::string check_front_end(const AudioFrontEnd& fe) {
  const auto n = [](uint64_t v) { return std::to_string(v); };
  if (fe.sample_rate < 1000 || fe.sample_rate > 384000) return "sample rate " + n(fe.sample_rate) + " Hz is outside 1000..384000";
  if (fe.n_fft < 16 || fe.n_fft > kMaxFft) return "n_fft " + n(fe.n_fft) + " is outside 16.." + n(kMaxFft);
  if (fe.win_length == 0 || fe.win_length > fe.n_fft)
    return "window length " + n(fe.win_length) + " is outside 1..n_fft (" + n(fe.n_fft) + ")";
  if (fe.hop_length == 0 || fe.hop_length > fe.win_length)
    return "hop length " + n(fe.hop_length) + " is outside 1..window length (" + n(fe.win_length) + ")";
  if (fe.clip_samples < fe.win_length || fe.clip_samples > kMaxClipSamples)
    return "clip of " + n(fe.clip_samples) + " samples is outside window length (" + n(fe.win_length) + ").." + n(kMaxClipSamples);
  if (fe.n_mels == 0 || fe.n_mels > kMaxMels || fe.n_mels > fe.bins())
    return n(fe.n_mels) + " mel bands is outside 1.." + n(std::min(kMaxMels, fe.bins())) + " (n_fft " + n(fe.n_fft) + ")";
  if (!std::isfinite(fe.f_min) || !std::isfinite(fe.f_max) || fe.f_min < 0 || !(fe.f_min < fe.f_max) ||
      double(fe.f_max) > fe.sample_rate / 2.0)
    return "mel range " + std::to_string(fe.f_min) + ".." + std::to_string(fe.f_max) + " Hz is not within 0..Nyquist (" +
           n(fe.sample_rate / 2) + " Hz) with f_min < f_max";
  if (!std::isfinite(fe.log_floor) || !(fe.log_floor > 0) || !(fe.log_floor < 1))
    return "log floor " + std::to_string(fe.log_floor) + " is not in (0, 1)";
  return "";
}

std::vector<double> hann_window(uint32_t length) {
  std::vector<double> w(length);
  for (uint32_t i = 0; i < length; ++i) w[i] = 0.5 - 0.5 * std::cos(2.0 * M_PI * i / length);
  return w;
}

std::vector<double> mel_filterbank(const AudioFrontEnd& fe) {
  const uint32_t bins = fe.bins();
  const double lo = hz_to_mel(fe.f_min), hi = hz_to_mel(fe.f_max);
  std::vector<double> edge(fe.n_mels + 2);
  for (uint32_t i = 0; i < edge.size(); ++i) edge[i] = mel_to_hz(lo + (hi - lo) * i / (fe.n_mels + 1));
  std::vector<double> w(size_t(fe.n_mels) * bins, 0.0);
  for (uint32_t m = 0; m < fe.n_mels; ++m) {
    const double left = edge[m], center = edge[m + 1], right = edge[m + 2];
    for (uint32_t k = 0; k < bins; ++k) {
      const double f = double(k) * fe.sample_rate / fe.n_fft;
      const double up = (f - left) / (center - left), down = (right - f) / (right - center);
      w[size_t(m) * bins + k] = std::max(0.0, std::min(up, down));
    }
  }
  return w;
}

std::string describe_front_end(const AudioFrontEnd& fe) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "log-mel: %u Hz, %.2f s (%u frames), %u mels %g-%g Hz, n_fft %u, window %u, hop %u",
                fe.sample_rate, double(fe.clip_samples) / fe.sample_rate, fe.frames(), fe.n_mels, double(fe.f_min),
                double(fe.f_max), fe.n_fft, fe.win_length, fe.hop_length);
  return buf;
}

}  // namespace ds::core
