// Audio files -> float samples: libsndfile reads (WAV, FLAC, Ogg/Vorbis, AIFF, ...), channels are
// averaged to mono, libsamplerate resamples to the model's rate. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::data {

struct Audio {
  std::vector<float> samples;  // mono, in [-1, 1] for integer formats
  uint32_t rate = 0;           // Hz
};

// The longest file read, in samples per channel (about 70 minutes at 16 kHz), and the most
// channels: a corrupt header must cost an error, not the machine's memory.
constexpr uint64_t kMaxAudioFrames = uint64_t(1) << 26;
constexpr int kMaxAudioChannels = 64;

// Reads a whole file. DataError naming `path` and the problem: missing, not audio or a format
// libsndfile does not know, truncated, empty, too long, NaN or infinite samples.
Audio read_audio(const std::string& path);

// `in` at `from` Hz -> `to` Hz (libsamplerate's sinc, medium quality); the same vector when the
// rates are equal. DataError naming `what` when libsamplerate fails.
std::vector<float> resample(const std::vector<float>& in, uint32_t from, uint32_t to, const std::string& what);

// read_audio() then resample() to `rate`.
std::vector<float> load_audio(const std::string& path, uint32_t rate);

// Whether the first bytes of a file are a container libsndfile reads (RIFF/WAVE, RF64, FLAC,
// Ogg, AIFF, AU): how `infer` tells audio from pictures.
bool looks_like_audio(const uint8_t* head, size_t n);

// `samples` cut or zero-padded at the end to n; shifted right by `shift` (left when negative),
// zeros coming in: the time-shift augmentation and the model's fixed clip length in one place.
void fit_clip(const std::vector<float>& samples, size_t n, long shift, float* out);

}  // namespace ds::data
