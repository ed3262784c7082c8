// The trainer's log-mel front end, in libtorch (core/audio_frontend.h defines it): a batch of
// waveforms -> the speech model's input. The engine has its own implementation
// (runtime/audio_frontend, FFTW); a test holds the two equal within 1e-4.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/audio_frontend.h"

namespace ds {

// wave: [N, clip_samples] or [N, 1, 1, clip_samples] floats at fe.sample_rate. Returns
// [N, 1, n_mels, frames] floats on wave's device. Computed in double, as the engine does.
torch::Tensor log_mel(const torch::Tensor& wave, const core::AudioFrontEnd& fe);

// SpecAugment (Park et al. 2019), as the trainer applies it to features [N, 1, mels, frames]:
// per sample two frequency masks of 0..kFreqMaskMax bands and two time masks of 0..10% of the
// frames, set to 0 (the utterance mean after the front end's normalization). Sample i's masks
// are drawn from an RNG seeded with keys[i] (data::Batch::keys), so they depend on
// (seed, epoch, position) only, like every other augmentation.
constexpr int kFreqMaskMax = 7;
constexpr double kTimeMaskFraction = 0.1;
torch::Tensor spec_augment(const torch::Tensor& features, const std::vector<uint64_t>& keys);

}  // namespace ds
