// Audio reading (libsndfile), resampling (libsamplerate), bad files, and the speech datasets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include "audio_writers.h"
#include "data/audio_file.h"
#include "data/dataset.h"
#include "test_util.h"

namespace ds::data {
namespace {

using testing::sine;
using testing::TempDir;

const std::string kClips = DS_SPEECH_CLIPS_DIR;

// The frequency of the strongest DFT bin of `s` (a coarse check that a tone survived resampling).
double peak_hz(const std::vector<float>& s, int rate) {
  double best = 0, best_hz = 0;
  for (double hz = 50; hz < rate / 2.0; hz += 10) {
    double re = 0, im = 0;
    for (size_t i = 0; i < s.size(); ++i) re += s[i] * std::cos(2 * M_PI * hz * i / rate), im += s[i] * std::sin(2 * M_PI * hz * i / rate);
    if (re * re + im * im > best) best = re * re + im * im, best_hz = hz;
  }
  return best_hz;
}

double rms(const std::vector<float>& s, size_t from, size_t to) {
  double q = 0;
  for (size_t i = from; i < to; ++i) q += double(s[i]) * s[i];
  return std::sqrt(q / double(to - from));
}

TEST(Audio, ReadsWavMonoMixesStereoAndReadsFlac) {
  TempDir d;
  const std::vector<float> tone = sine(440, 0.5, 8000, 4000);
  testing::write_audio(d.path / "m.wav", tone, 8000, 1);
  const Audio m = read_audio(d.str("m.wav"));
  EXPECT_EQ(m.rate, 8000u);
  ASSERT_EQ(m.samples.size(), tone.size());
  for (size_t i = 0; i < tone.size(); ++i) ASSERT_NEAR(m.samples[i], tone[i], 1.0 / 32768 + 1e-6) << i;
  // Stereo: left = tone, right = 0 -> the mean of the two.
  std::vector<float> st;
  for (float v : tone) st.push_back(v), st.push_back(0.f);
  testing::write_audio(d.path / "s.wav", st, 8000, 2);
  const Audio s = read_audio(d.str("s.wav"));
  ASSERT_EQ(s.samples.size(), tone.size());
  for (size_t i = 0; i < tone.size(); ++i) ASSERT_NEAR(s.samples[i], tone[i] / 2, 1.0 / 32768 + 1e-6) << i;
  testing::write_audio(d.path / "f.flac", tone, 8000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  const Audio f = read_audio(d.str("f.flac"));
  ASSERT_EQ(f.samples.size(), tone.size());
  EXPECT_NEAR(f.samples[1000], tone[1000], 1e-4);
}

TEST(Audio, ResamplingKeepsFrequencyLoudnessAndDuration) {
  const std::vector<float> tone = sine(1000, 0.5, 8000, 8000);  // 1 s at 8 kHz
  const std::vector<float> up = resample(tone, 8000, 16000, "tone");
  EXPECT_NEAR(double(up.size()), 16000.0, 2.0);
  EXPECT_NEAR(peak_hz(std::vector<float>(up.begin() + 4000, up.begin() + 12000), 16000), 1000.0, 10.0);
  EXPECT_NEAR(rms(up, 2000, 14000), 0.5 / std::sqrt(2.0), 0.01);
  const std::vector<float> down = resample(sine(1000, 0.5, 44100, 44100), 44100, 16000, "tone");
  EXPECT_NEAR(double(down.size()), 16000.0, 2.0);
  EXPECT_NEAR(peak_hz(std::vector<float>(down.begin() + 4000, down.begin() + 12000), 16000), 1000.0, 10.0);
  // A tone above the new Nyquist frequency is filtered out, not folded back in.
  const std::vector<float> alias = resample(sine(7000, 0.5, 22050, 22050), 22050, 8000, "tone");
  EXPECT_LT(rms(alias, 1000, alias.size() - 1000), 0.02);
  EXPECT_EQ(resample(tone, 8000, 8000, "same"), tone);
}

TEST(Audio, CommittedClipsReadAtTheModelRate) {
  for (const char* name : {"lights_on_8k.wav", "music_off_8k_stereo_u8.wav", "bring_shoes_11k.flac"}) {
    const std::string path = kClips + "/" + name;
    const Audio a = read_audio(path);
    const std::vector<float> at16 = load_audio(path, 16000);
    EXPECT_NEAR(double(at16.size()), double(a.samples.size()) * 16000.0 / a.rate, 2.0) << name;
    EXPECT_GT(rms(at16, 0, at16.size()), 0.01) << name;  // speech, not silence
    EXPECT_LE(*std::max_element(at16.begin(), at16.end()), 1.5f) << name;
  }
}

TEST(Audio, BadFilesAreErrorsNamingTheFile) {
  TempDir d;
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      read_audio(path);
      ADD_FAILURE() << path << " was read";
    } catch (const DataError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path), std::string::npos) << m;
      EXPECT_NE(m.find(part), std::string::npos) << m;
    }
  };
  expect_error(d.str("missing.wav"), "no such file");
  expect_error(d.str(), "is a directory");
  testing::write_bytes(d.path / "text.wav", std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o', '\n'});
  expect_error(d.str("text.wav"), "cannot read as audio");
  testing::write_audio(d.path / "good.wav", sine(440, 0.5, 8000, 4000), 8000, 1);
  std::vector<uint8_t> bytes = testing::read_bytes(d.path / "good.wav");
  testing::write_bytes(d.path / "header_only.wav", std::vector<uint8_t>(bytes.begin(), bytes.begin() + 44));
  expect_error(d.str("header_only.wav"), "");
  testing::write_audio(d.path / "empty.wav", {}, 8000, 1);
  expect_error(d.str("empty.wav"), "no audio samples");
  // A float WAV holding NaN.
  std::vector<float> nan_tone = sine(440, 0.5, 8000, 100);
  nan_tone[50] = std::nanf("");
  testing::write_audio(d.path / "nan.wav", nan_tone, 8000, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_error(d.str("nan.wav"), "not a finite number");
}

TEST(Audio, LooksLikeAudioByContent) {
  const uint8_t wav[] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'};
  const uint8_t flac[] = {'f', 'L', 'a', 'C'};
  const uint8_t png[] = {0x89, 'P', 'N', 'G'};
  EXPECT_TRUE(looks_like_audio(wav, sizeof wav));
  EXPECT_TRUE(looks_like_audio(flac, sizeof flac));
  EXPECT_FALSE(looks_like_audio(png, sizeof png));
  EXPECT_FALSE(looks_like_audio(wav, 4));  // RIFF alone could be anything (AVI, WebP)
}

TEST(SpeechData, ManifestDatasetYieldsFixedLengthClipsAndClasses) {
  TempDir d;
  testing::write_tone_manifest(d.path, 3, 2);
  EXPECT_EQ(detect_kind(d.str()), Kind::kSpeechManifest);
  EXPECT_EQ(default_augment(Kind::kSpeechManifest), Augment::kSpeech);
  auto test = open_dataset(d.str(), Split::kTest);
  EXPECT_EQ(test->size(), 6u);
  EXPECT_EQ(test->num_classes(), 3);
  EXPECT_EQ(test->class_names(), (std::vector<std::string>{"tone0", "tone1", "tone2"}));
  const core::AudioFrontEnd fe;
  const Shape s = test->sample_shape();
  EXPECT_EQ(s.c * s.h, 1);
  EXPECT_EQ(uint32_t(s.w), fe.clip_samples);
  std::vector<float> x(s.numel());
  std::mt19937 rng(1);
  const int label = test->load(2, x.data(), rng);
  EXPECT_EQ(label, 1);
  EXPECT_GT(rms(x, 0, 8000), 0.05);                     // the 0.5 s tone ...
  EXPECT_EQ(rms(x, 8000, x.size()), 0.0);               // ... then zeros up to 3 s
  // Training: shifted by up to 100 ms, the same for the same RNG state.
  OpenOptions opt;
  opt.augment = Augment::kSpeech;
  auto train = open_dataset(d.str(), Split::kTrain, opt);
  std::vector<float> a(s.numel()), b(s.numel());
  bool moved = false;
  for (uint32_t seed = 0; seed < 8; ++seed) {
    std::mt19937 r1(seed), r2(seed);
    train->load(0, a.data(), r1);
    train->load(0, b.data(), r2);
    ASSERT_EQ(a, b);
    size_t first = 0;
    while (first < a.size() && a[first] == 0.f) ++first;
    EXPECT_LE(first, 1601u);
    moved |= first > 1;
  }
  EXPECT_TRUE(moved);
}

TEST(SpeechData, AugmentationsOfTheOtherModalityAreRefused) {
  TempDir d;
  testing::write_tone_manifest(d.path, 2, 1);
  for (Augment a : {Augment::kCrop, Augment::kCropFlip, Augment::kImageNet}) {
    OpenOptions opt;
    opt.augment = a;
    try {
      open_dataset(d.str(), Split::kTrain, opt);
      ADD_FAILURE() << augment_name(a) << " accepted on audio";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("is for pictures"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(check_augment(Augment::kSpeech, Kind::kIdx, "fmnist"), DataError);
  EXPECT_THROW(check_augment(Augment::kSpeech, Kind::kImageFolder, "imagenet"), DataError);
}

TEST(SpeechData, BadManifestsAreErrorsNamingTheProblem) {
  TempDir d;
  testing::write_tone_manifest(d.path, 2, 1);
  auto expect_error = [&](const std::string& csv, const std::string& part) {
    std::ofstream(d.path / "test.csv") << csv;
    try {
      open_dataset(d.str(), Split::kTest);
      ADD_FAILURE() << csv;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error("file,label\nwav/test/0_0.wav,tone0\n", "has no column 'path'");
  expect_error("path,intent\nwav/test/0_0.wav\n", "line 2 has 1 fields");
  expect_error("path,intent\nwav/test/nothere.wav,tone0\n", "does not exist");
  expect_error("path,intent\nwav/test/0_0.wav,tone9\n", "class 'tone9', which is not among the 2 classes");
  expect_error("path,intent\n", "no clips listed");
}

TEST(SpeechData, SpeechCommandsLayout) {
  TempDir d;
  for (const char* cls : {"yes", "no"})
    for (int i = 0; i < 3; ++i)
      testing::write_audio(d.path / cls / (std::to_string(i) + ".wav"), sine(cls[0] == 'y' ? 500 : 900, 0.3, 16000, 16000), 16000, 1);
  testing::write_audio(d.path / "_background_noise_" / "n.wav", sine(50, 0.1, 16000, 16000), 16000, 1);
  std::ofstream(d.path / "testing_list.txt") << "yes/0.wav\nno/0.wav\n";
  std::ofstream(d.path / "validation_list.txt") << "yes/1.wav\n";
  EXPECT_EQ(detect_kind(d.str()), Kind::kSpeechCommands);
  auto train = open_dataset(d.str(), Split::kTrain);
  auto test = open_dataset(d.str(), Split::kTest);
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(train->size(), 3u);  // no/1, no/2, yes/2
  EXPECT_EQ(test->size(), 2u);
  EXPECT_EQ(test->class_names(), train->class_names());
}

}  // namespace
}  // namespace ds::data
