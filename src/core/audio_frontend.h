// The log-mel front end of speech models: its parameters (stored in a .dsm's AUDF section) and
// the parts of its definition both implementations share. docs/format.md section 10 defines it:
//
//   clip     the waveform at sample_rate, in [-1, 1), cut or zero-padded at the end to clip_samples
//   frames   frame t = samples [t*hop, t*hop + win), t = 0 .. frames()-1 (no centering, no padding)
//   window   periodic Hann of win_length: w[n] = 0.5 - 0.5 cos(2 pi n / win_length)
//   FFT      the windowed frame zero-padded to n_fft; power |X_k|^2, k = 0 .. n_fft/2
//   mel      n_mels triangular filters, HTK mel scale (2595 log10(1 + f/700)), edges equally spaced
//            in mel from f_min to f_max, unnormalized (peak 1): mel_filterbank()
//   log      ln(max(energy, log_floor))
//   norm     per utterance: (x - mean) / max(std, kNormStdFloor) over all n_mels x frames values
//
// The output is a 1 x n_mels x frames "image" (row m = mel band m, column t = frame t). The
// trainer (libtorch, train/speech_frontend) and the engine (FFTW, runtime/audio_frontend) each
// compute it; a test holds them equal within 1e-4. Standard library only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ds::core {

struct AudioFrontEnd {
  uint32_t sample_rate = 16000;
  uint32_t clip_samples = 48000;  // 3.0 s: the longest utterance the model hears
  uint32_t n_fft = 512;
  uint32_t win_length = 400;      // 25 ms
  uint32_t hop_length = 320;      // 20 ms: halves the CNN's work against 10 ms, ample for words
  uint32_t n_mels = 40;
  float f_min = 20.f, f_max = 8000.f;
  float log_floor = 1e-6f;

  uint32_t frames() const { return 1 + (clip_samples - win_length) / hop_length; }
  uint32_t bins() const { return n_fft / 2 + 1; }
  bool operator==(const AudioFrontEnd& o) const;
  bool operator!=(const AudioFrontEnd& o) const { return !(*this == o); }
};

// The definition's fixed choices, stored in the file so that a later definition can be told
// apart (a reader refuses values it does not implement).
constexpr uint32_t kWindowHannPeriodic = 1;
constexpr uint32_t kMelScaleHtk = 1;
constexpr uint32_t kNormPerUtterance = 1;
constexpr double kNormStdFloor = 1e-5;

// Limits a stored front end must respect (a corrupt file must not make the engine allocate or
// compute without bound).
constexpr uint32_t kMaxClipSamples = 1u << 24;  // 17 minutes at 16 kHz
constexpr uint32_t kMaxFft = 1u << 16;
constexpr uint32_t kMaxMels = 512;

// Empty when the parameters are usable, else what is wrong ("hop_length 0 ...").
std::string check_front_end(const AudioFrontEnd& fe);

// n_mels x bins() weights, row-major: filter m's weight of FFT bin k.
std::vector<double> mel_filterbank(const AudioFrontEnd& fe);
// The periodic Hann window of win_length.
std::vector<double> hann_window(uint32_t length);

// "16 kHz, 3.00 s, 40 mels, n_fft 512, window 400, hop 320, 20-8000 Hz": for `info` and logs.
std::string describe_front_end(const AudioFrontEnd& fe);

}  // namespace ds::core
