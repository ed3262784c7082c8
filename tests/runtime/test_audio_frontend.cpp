// The engine's log-mel front end (runtime/audio_frontend) on signals whose answer is known: a
// tone lands in the mel band that holds its frequency, the output is normalized per utterance,
// silence gives zeros, and a speech model's input comes from any clip length. (Equality with the
// trainer's libtorch implementation: tests/train/test_speech.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/audio_frontend.h"
#include "runtime/audio_frontend.h"

namespace ds::rt {
namespace {

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }

std::vector<float> tone(double hz, double amp, const core::AudioFrontEnd& fe) {
  std::vector<float> s(fe.clip_samples);
  for (size_t i = 0; i < s.size(); ++i) s[i] = float(amp * std::sin(2 * M_PI * hz * double(i) / fe.sample_rate));
  return s;
}

TEST(AudioFrontEnd, AToneLandsInItsMelBand) {
  const core::AudioFrontEnd fe;
  const LogMel lm(fe);
  const uint32_t frames = fe.frames();
  std::vector<float> out(size_t(fe.n_mels) * frames);
  for (double hz : {250.0, 1000.0, 3000.0, 6000.0}) {
    lm.compute(tone(hz, 0.3, fe).data(), out.data());
    // Band m is centred on edge m+1 of n_mels + 2 equally spaced mel points.
    const double lo = hz_to_mel(fe.f_min), hi = hz_to_mel(fe.f_max);
    const double want = (hz_to_mel(hz) - lo) / (hi - lo) * (fe.n_mels + 1) - 1;
    const uint32_t t = frames / 2;
    uint32_t best = 0;
    for (uint32_t m = 0; m < fe.n_mels; ++m)
      if (out[size_t(m) * frames + t] > out[size_t(best) * frames + t]) best = m;
    EXPECT_NEAR(double(best), want, 1.0) << hz << " Hz";
  }
}

TEST(AudioFrontEnd, NormalizedPerUtteranceSoLoudnessDoesNotMatter) {
  const core::AudioFrontEnd fe;
  const LogMel lm(fe);
  const size_t n = size_t(fe.n_mels) * fe.frames();
  std::vector<float> quiet(n), loud(n);
  // A tone over broadband noise, loud enough that no mel band is at the log floor.
  std::vector<float> s = tone(700, 0.1, fe);
  for (size_t i = 0; i < s.size(); ++i) s[i] += float(0.02 * std::sin(0.37 * double(i) * double(i % 7)));
  lm.compute(s.data(), quiet.data());
  for (float& v : s) v *= 3.f;
  lm.compute(s.data(), loud.data());
  double mean = 0, sq = 0, worst = 0;
  for (size_t i = 0; i < n; ++i) mean += quiet[i], sq += double(quiet[i]) * quiet[i];
  EXPECT_NEAR(mean / double(n), 0.0, 1e-5);
  EXPECT_NEAR(sq / double(n), 1.0, 1e-4);
  // Above the log floor a gain is an additive constant in the log domain, which the mean removes.
  for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(quiet[i]) - loud[i]));
  EXPECT_LT(worst, 1e-3);
  std::vector<float> silence(fe.clip_samples, 0.f), out(n, 1.f);
  lm.compute(silence.data(), out.data());
  // Every value at the floor: the deviation is 0 and the output 0 (up to the mean's rounding).
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](float v) { return std::abs(v) < 1e-6f; }));
}

TEST(AudioFrontEnd, PreprocessAudioFitsAnyClipLength) {
  core::ModelInfo info;
  info.audio = core::AudioFrontEnd{};
  const core::AudioFrontEnd& fe = *info.audio;
  info.in_c = 1, info.in_h = fe.n_mels, info.in_w = fe.frames();
  const std::vector<float> full = tone(440, 0.2, fe);
  const std::vector<float> x = preprocess_audio(full, info, "tone");
  ASSERT_EQ(x.size(), size_t(fe.n_mels) * fe.frames());
  std::vector<float> longer = full;
  longer.resize(full.size() * 2, 0.5f);  // what comes after the clip length is not heard
  EXPECT_EQ(preprocess_audio(longer, info, "long"), x);
  std::vector<float> shorter(full.begin(), full.begin() + 8000), padded(full.size(), 0.f);
  std::copy(shorter.begin(), shorter.end(), padded.begin());
  EXPECT_EQ(preprocess_audio(shorter, info, "short"), preprocess_audio(padded, info, "padded"));
  EXPECT_THROW(preprocess_audio({}, info, "empty"), std::invalid_argument);
  core::ModelInfo picture = info;
  picture.audio.reset();
  try {
    preprocess_audio(full, picture, "clip.wav");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("clip.wav: the model takes pictures"), std::string::npos) << e.what();
  }
  core::AudioFrontEnd bad;
  bad.hop_length = 0;
  EXPECT_THROW(LogMel{bad}, std::invalid_argument);
}

}  // namespace
}  // namespace ds::rt
