// The engine's log-mel front end (core/audio_frontend.h defines it; docs/format.md section 10):
// a waveform at the model's rate -> the speech model's 1 x n_mels x frames input. Torch-free.
//
//   std::vector<float> wave = ds::data::load_audio("clip.wav", engine.info().audio->sample_rate);
//   std::vector<float> x = ds::rt::preprocess_audio(wave, engine.info(), "clip.wav");
//   std::vector<float> logits = engine.run(x.data(), 1);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/model_format.h"

namespace ds::rt {

class LogMel {
 public:
  // std::invalid_argument when core::check_front_end() refuses fe.
  explicit LogMel(const core::AudioFrontEnd& fe);
  ~LogMel();
  LogMel(LogMel&&) noexcept;
  LogMel& operator=(LogMel&&) noexcept;

  const core::AudioFrontEnd& params() const;
  // clip: exactly fe.clip_samples samples at fe.sample_rate. Writes n_mels x frames floats
  // (row-major: band, then frame). Thread-safe: any number of threads may share one LogMel.
  void compute(const float* clip, float* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The model's input from a waveform at its rate, of any length: cut or zero-padded at the end to
// the clip length, then the front end. std::invalid_argument naming `what` for a model without a
// front end (an image model) or an empty waveform.
std::vector<float> preprocess_audio(const std::vector<float>& wave, const core::ModelInfo& info, const std::string& what);

}  // namespace ds::rt
