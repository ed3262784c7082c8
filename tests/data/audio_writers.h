// Writes audio files for the speech tests with libsndfile, and the folders speech datasets take.
#pragma once

#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ds::data::testing {

// `frames` interleaved samples per channel written as `format` (e.g. SF_FORMAT_WAV | SF_FORMAT_PCM_16).
inline void write_audio(const std::filesystem::path& p, const std::vector<float>& interleaved, int rate, int channels,
                        int format = SF_FORMAT_WAV | SF_FORMAT_PCM_16) {
  std::filesystem::create_directories(p.parent_path());
  SF_INFO info{};
  info.samplerate = rate, info.channels = channels, info.format = format;
  SNDFILE* f = sf_open(p.string().c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error("cannot write " + p.string() + ": " + sf_strerror(nullptr));
  sf_writef_float(f, interleaved.data(), sf_count_t(interleaved.size() / size_t(channels)));
  sf_close(f);
}

inline std::vector<float> sine(double hz, double amp, int rate, size_t n) {
  std::vector<float> s(n);
  for (size_t i = 0; i < n; ++i) s[i] = float(amp * std::sin(2 * M_PI * hz * double(i) / rate));
  return s;
}

// A speech manifest dataset of pure tones: class "tone<k>" is a tone of 300 * (k + 1) Hz, so a
// tiny model can learn it. `per_class` clips per class and split, 0.5 s at 16 kHz.
inline void write_tone_manifest(const std::filesystem::path& root, int classes, int per_class) {
  std::filesystem::create_directories(root);
  for (const char* split : {"train", "test"}) {
    std::ofstream csv(root / (std::string(split) + ".csv"));
    csv << "path,intent,action,object,location\n";
    for (int c = 0; c < classes; ++c)
      for (int i = 0; i < per_class; ++i) {
        const std::string rel = std::string("wav/") + split + "/" + std::to_string(c) + "_" + std::to_string(i) + ".wav";
        write_audio(root / rel, sine(300.0 * (c + 1), 0.1 + 0.05 * i, 16000, 8000), 16000, 1);
        csv << rel << ",tone" << c << ",play,tone" << c << ",none\n";
      }
  }
}

}  // namespace ds::data::testing
