#include "train/speech_frontend.h"

#include <random>
#include <stdexcept>
#include <string>

#include "data/transform.h"

namespace ds {

using torch::Tensor;

Tensor log_mel(const Tensor& wave, const core::AudioFrontEnd& fe) {
  const int64_t n = wave.size(0);
  if (wave.numel() != n * int64_t(fe.clip_samples))
    throw std::invalid_argument("log_mel: expected " + std::to_string(fe.clip_samples) + " samples per clip, got " +
                                std::to_string(n ? wave.numel() / n : 0));
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble).device(wave.device());
  const std::vector<double> win = core::hann_window(fe.win_length), fb = core::mel_filterbank(fe);
  const Tensor window = torch::tensor(win, dbl);
  const Tensor filters = torch::tensor(fb, dbl).reshape({int64_t(fe.n_mels), int64_t(fe.bins())});
  Tensor frames = wave.reshape({n, int64_t(fe.clip_samples)}).to(torch::kDouble).unfold(1, fe.win_length, fe.hop_length);
  Tensor spec = torch::view_as_real(torch::fft::rfft(frames * window, int64_t(fe.n_fft), -1));  // [N, T, bins, 2]
  Tensor power = spec.pow(2).sum(-1);
  Tensor logmel = torch::log(torch::clamp_min(torch::matmul(power, filters.t()), double(fe.log_floor))).transpose(1, 2);
  Tensor mean = logmel.mean({1, 2}, true);
  Tensor sd = (logmel - mean).pow(2).mean({1, 2}, true).sqrt().clamp_min(core::kNormStdFloor);
  return ((logmel - mean) / sd).to(torch::kFloat).unsqueeze(1).contiguous();
}

Tensor spec_augment(const Tensor& features, const std::vector<uint64_t>& keys) {
  const int64_t n = features.size(0), mels = features.size(2), frames = features.size(3);
  if (int64_t(keys.size()) != n) throw std::invalid_argument("spec_augment: one key per sample needed");
  Tensor keep = torch::ones({n, 1, mels, frames});
  auto k = keep.accessor<float, 4>();
  const int time_max = int(kTimeMaskFraction * double(frames));
  for (int64_t i = 0; i < n; ++i) {
    // A stream apart from the data layer's (which drew the time shift from the same key).
    std::mt19937 rng(uint32_t(keys[i] >> 32) ^ uint32_t(keys[i]) ^ 0x5ec0a06u);
    for (int m = 0; m < 2; ++m) {
      const int w = data::uniform_int(rng, 0, std::min<int>(kFreqMaskMax, int(mels)));
      const int f0 = data::uniform_int(rng, 0, int(mels) - w);
      for (int f = f0; f < f0 + w; ++f)
        for (int64_t t = 0; t < frames; ++t) k[i][0][f][t] = 0.f;
    }
    for (int m = 0; m < 2; ++m) {
      const int w = data::uniform_int(rng, 0, time_max);
      const int t0 = data::uniform_int(rng, 0, int(frames) - w);
      for (int64_t f = 0; f < mels; ++f)
        for (int t = t0; t < t0 + w; ++t) k[i][0][f][t] = 0.f;
    }
  }
  return features * keep.to(features.device());
}

}  // namespace ds
