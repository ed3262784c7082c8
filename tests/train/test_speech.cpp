// Speech in the trainer: its libtorch front end equals the engine's (FFTW) within 1e-4, SpecAugment
// depends on the sample keys only, a tiny run lowers the loss, and the exported model gives the
// trainer's logits on the engine for the committed clips (front end included on both sides).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "data/audio_file.h"
#include "data/audio_writers.h"
#include "common/temp_dir.h"
#include "runtime/audio_frontend.h"
#include "runtime/engine.h"
#include "train/checkpoint.h"
#include "train/export.h"
#include "train/speech_frontend.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace ds {
namespace {

namespace fs = std::filesystem;

const std::string kClips = DS_SPEECH_CLIPS_DIR;
const char* const kClipNames[] = {"lights_on_8k.wav", "music_off_8k_stereo_u8.wav", "bring_shoes_11k.flac"};

struct TempDir : testing::TempDirBase {
  TempDir() : TempDirBase("denseshift_speech") {}
};

// The committed clips at fe's rate, cut or padded to its clip length: [3, clip_samples].
std::vector<std::vector<float>> committed_clips(const core::AudioFrontEnd& fe) {
  std::vector<std::vector<float>> out;
  for (const char* name : kClipNames) {
    std::vector<float> w = data::load_audio(kClips + "/" + name, fe.sample_rate), clip(fe.clip_samples);
    data::fit_clip(w, clip.size(), 0, clip.data());
    out.push_back(clip);
  }
  return out;
}

TEST(SpeechFrontEnd, TrainerAndEngineAgreeWithin1e4) {
  for (uint32_t hop : {320u, 160u}) {
    core::AudioFrontEnd fe;
    fe.hop_length = hop;
    std::vector<std::vector<float>> clips = committed_clips(fe);
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.f, 0.1f);
    std::vector<float> white(fe.clip_samples), tone(fe.clip_samples);
    for (auto& v : white) v = noise(rng);
    for (size_t i = 0; i < tone.size(); ++i) tone[i] = float(0.5 * std::sin(2 * M_PI * 1234.5 * double(i) / fe.sample_rate));
    clips.push_back(white), clips.push_back(tone), clips.push_back(std::vector<float>(fe.clip_samples, 0.f));
    torch::Tensor wave = torch::empty({int64_t(clips.size()), 1, 1, int64_t(fe.clip_samples)});
    for (size_t i = 0; i < clips.size(); ++i) std::memcpy(wave[int64_t(i)].data_ptr<float>(), clips[i].data(), clips[i].size() * 4);
    const torch::Tensor trainer = log_mel(wave, fe);
    ASSERT_EQ(trainer.sizes(), (std::vector<int64_t>{int64_t(clips.size()), 1, fe.n_mels, fe.frames()}));
    const rt::LogMel engine(fe);
    std::vector<float> mine(size_t(fe.n_mels) * fe.frames());
    for (size_t i = 0; i < clips.size(); ++i) {
      engine.compute(clips[i].data(), mine.data());
      const float* ref = trainer[int64_t(i)].data_ptr<float>();
      double worst = 0;
      for (size_t k = 0; k < mine.size(); ++k) worst = std::max(worst, std::abs(double(mine[k]) - ref[k]));
      EXPECT_LT(worst, 1e-4) << "clip " << i << ", hop " << hop;
    }
  }
}

TEST(SpeechFrontEnd, SpecAugmentDependsOnTheKeysOnly) {
  const torch::Tensor x = torch::randn({3, 1, 40, 149}) + 5;  // no value is 0 before masking
  const std::vector<uint64_t> keys = {11, 12, 13};
  const torch::Tensor a = spec_augment(x, keys), b = spec_augment(x, keys);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, spec_augment(x, {11, 12, 14})));
  EXPECT_TRUE(torch::equal(a[0], spec_augment(x.narrow(0, 0, 1), {11})[0]));  // per sample, not per batch
  // Masked values are 0, the rest untouched; at most 2 x 7 bands and 2 x 14 frames per sample.
  const torch::Tensor masked = a.eq(0);
  EXPECT_TRUE(torch::equal(a.masked_fill(masked, 0), x.masked_fill(masked, 0)));
  const torch::Tensor band_masked = masked.all(3), frame_masked = masked.all(2);
  EXPECT_LE(band_masked.sum().item<int64_t>(), 3 * 2 * kFreqMaskMax);
  EXPECT_LE(frame_masked.sum().item<int64_t>(), 3 * 2 * 14);
  EXPECT_GT(masked.sum().item<int64_t>(), 0);
}

// One tiny training run for the two tests below: tones of 4 classes, res8-narrow, DenseShift 3-bit, 6 epochs of 3 steps.
class SpeechRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    data::testing::write_tone_manifest(dir_->path / "data", 4, 6);
    TrainConfig c;
    c.data = (dir_->path / "data").string();
    c.arch = "res8-narrow";
    c.policy.body = QuantSpec{Method::kDenseShift, 3};
    c.epochs = 6, c.batch_size = 8, c.lr = 0.05, c.workers = 0, c.threads = 2, c.seed = 5, c.quiet = true;
    c.augment = "none";  // a frequency mask can hide a tone entirely
    c.out = (dir_->path / "run").string();
    run_training(c);
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
};
TempDir* SpeechRun::dir_ = nullptr;

// Without --epochs and --batch-size a small speech corpus gets enough optimizer steps (trainer.cpp,
// kSpeechMinSteps = 6000): 24 clips in batches of 16 are 2 steps an epoch, so 3000 epochs; a
// given value is kept. One epoch of each run is enough to read what it was set to.
TEST(SpeechDefaults, SmallCorpusGetsStepsNotAFixedEpochCount) {
  TempDir dir;
  data::testing::write_tone_manifest(dir.path / "data", 4, 6);
  auto settings = [&](int epochs, int batch) {
    TrainConfig c;
    c.data = (dir.path / "data").string();
    c.arch = "res8-narrow", c.policy.body = QuantSpec{Method::kFp32, 32};
    c.epochs = epochs, c.batch_size = batch, c.stop_after = 1, c.max_steps = 1;
    c.workers = 0, c.threads = 1, c.quiet = true, c.fresh = true;
    c.out = (dir.path / "run").string();
    run_training(c);
    const Checkpoint ck = load_checkpoint((dir.path / "run" / "last.pt").string());
    const TrainConfig saved = config_from_json(ck.config_json, "last.pt");
    return std::pair(saved.epochs, saved.batch_size);
  };
  EXPECT_EQ(settings(0, 0), std::pair(3000, 16));
  EXPECT_EQ(settings(0, 8), std::pair(2000, 8));  // 3 steps an epoch
  EXPECT_EQ(settings(5, 0), std::pair(5, 16));
}

TEST_F(SpeechRun, TinyTrainingLowersTheLoss) {
  std::ifstream metrics(dir_->path / "run" / "metrics.jsonl");
  std::vector<double> loss;
  for (std::string line; std::getline(metrics, line);) loss.push_back(nlohmann::json::parse(line).at("train_loss"));
  ASSERT_EQ(loss.size(), 6u);
  EXPECT_LT(loss.back(), loss.front() * 0.8) << loss.front() << " -> " << loss.back();
}

TEST_F(SpeechRun, EngineGivesTheTrainersLogitsOnCommittedClips) {
  const std::string model = (dir_->path / "model.dsm").string();
  export_checkpoint((dir_->path / "run").string(), model);
  const rt::Engine engine = rt::Engine::load(model);
  ASSERT_TRUE(engine.info().audio.has_value());
  const core::AudioFrontEnd fe = *engine.info().audio;
  EXPECT_EQ(engine.info().in_h, fe.n_mels);
  TrainConfig over;
  over.quiet = true;
  TrainedModel t = load_trained_model((dir_->path / "run").string(), over);
  torch::NoGradGuard ng;
  for (const char* name : kClipNames) {
    const std::string path = kClips + "/" + name;
    // The engine's path, as `infer` takes it: file -> resample -> front end -> network.
    const std::vector<float> wave = data::load_audio(path, fe.sample_rate);
    const std::vector<float> x = rt::preprocess_audio(wave, engine.info(), path);
    const std::vector<float> mine = engine.run(x.data(), 1);
    // The trainer's: the same waveform, its own front end inside the model.
    std::vector<float> clip(fe.clip_samples);
    data::fit_clip(wave, clip.size(), 0, clip.data());
    const torch::Tensor ref = t.model->forward(torch::from_blob(clip.data(), {1, 1, 1, int64_t(clip.size())}).clone());
    ASSERT_EQ(int64_t(mine.size()), ref.numel());
    double worst = 0, scale = 1;
    for (int64_t k = 0; k < ref.numel(); ++k) {
      worst = std::max(worst, std::abs(double(mine[size_t(k)]) - ref[0][k].item<double>()));
      scale = std::max(scale, std::abs(ref[0][k].item<double>()));
    }
    EXPECT_LT(worst / scale, 1e-4) << name;
    EXPECT_EQ(std::max_element(mine.begin(), mine.end()) - mine.begin(), ref.argmax(1).item<int64_t>()) << name;
  }
}

}  // namespace
}  // namespace ds
