#include "data/audio_file.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "data/dataset.h"

namespace ds::data {

namespace {

struct SndCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

}  // namespace

Audio read_audio(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw DataError(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw DataError(path + " is a directory, not an audio file");
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  std::unique_ptr<SNDFILE, SndCloser> f(sf_open(path.c_str(), SFM_READ, &info));
  if (!f) throw DataError(path + ": cannot read as audio (" + sf_strerror(nullptr) + ")");
  if (info.channels < 1 || info.channels > kMaxAudioChannels)
    throw DataError(path + ": " + std::to_string(info.channels) + " channels (at most " +
                    std::to_string(kMaxAudioChannels) + ")");
  if (info.samplerate < 1) throw DataError(path + ": sample rate " + std::to_string(info.samplerate) + " Hz");
  if (info.frames <= 0) throw DataError(path + ": no audio samples in the file");
  if (uint64_t(info.frames) > kMaxAudioFrames)
    throw DataError(path + ": " + std::to_string(info.frames) + " samples, more than the " +
                    std::to_string(kMaxAudioFrames) + " read");
  // Normalized float reads: integer formats come in [-1, 1) whatever their bit depth.
  sf_command(f.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
  const size_t ch = size_t(info.channels);
  std::vector<float> inter(size_t(info.frames) * ch);
  const sf_count_t got = sf_readf_float(f.get(), inter.data(), info.frames);
  if (sf_error(f.get()) != SF_ERR_NO_ERROR)
    throw DataError(path + ": cannot decode audio (" + sf_strerror(f.get()) + ")");
  if (got != info.frames)
    throw DataError(path + ": truncated: the header says " + std::to_string(info.frames) + " samples, the file holds " +
                    std::to_string(got));
  Audio a;
  a.rate = uint32_t(info.samplerate);
  a.samples.resize(size_t(got));
  for (size_t i = 0; i < a.samples.size(); ++i) {
    double s = 0;
    for (size_t c = 0; c < ch; ++c) s += inter[i * ch + c];
    const float v = float(s / double(ch));
    if (!std::isfinite(v)) throw DataError(path + ": sample " + std::to_string(i) + " is not a finite number");
    a.samples[i] = v;
  }
  return a;
}

std::vector<float> resample(const std::vector<float>& in, uint32_t from, uint32_t to, const std::string& what) {
  if (from == to) return in;
  if (from == 0 || to == 0) throw DataError(what + ": cannot resample from " + std::to_string(from) + " to " + std::to_string(to) + " Hz");
  const double ratio = double(to) / double(from);
  // src_simple's ratio limit: 1/256 .. 256.
  if (ratio < 1.0 / 256 || ratio > 256)
    throw DataError(what + ": " + std::to_string(from) + " Hz is too far from the model's " + std::to_string(to) +
                    " Hz to resample (ratio above 256)");
  const size_t n_out = size_t(std::llround(double(in.size()) * ratio));
  std::vector<float> out(std::max<size_t>(n_out, 1));
  SRC_DATA d;
  std::memset(&d, 0, sizeof d);
  d.data_in = in.data();
  d.input_frames = long(in.size());
  d.data_out = out.data();
  d.output_frames = long(out.size());
  d.src_ratio = ratio;
  d.end_of_input = 1;
  const int err = src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1);
  if (err != 0) throw DataError(what + ": resampling failed (" + src_strerror(err) + ")");
  out.resize(size_t(d.output_frames_gen));
  return out;
}

std::vector<float> load_audio(const std::string& path, uint32_t rate) {
  Audio a = read_audio(path);
  return resample(a.samples, a.rate, rate, path);
}

bool looks_like_audio(const uint8_t* h, size_t n) {
  auto is = [&](size_t at, const char* s) { return n >= at + std::strlen(s) && std::memcmp(h + at, s, std::strlen(s)) == 0; };
  return ((is(0, "RIFF") || is(0, "RF64") || is(0, "RIFX")) && is(8, "WAVE")) || is(0, "fLaC") || is(0, "OggS") ||
         (is(0, "FORM") && (is(8, "AIFF") || is(8, "AIFC"))) || is(0, ".snd");
}

void fit_clip(const std::vector<float>& samples, size_t n, long shift, float* out) {
  for (size_t t = 0; t < n; ++t) {
    const long src = long(t) - shift;
    out[t] = src >= 0 && size_t(src) < samples.size() ? samples[size_t(src)] : 0.f;
  }
}

}  // namespace ds::data
