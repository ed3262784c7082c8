// Datasets for training and evaluation, without libtorch.
//
// A Dataset decodes one sample into a caller-owned float buffer (CHW, normalized),
// applying the split's augmentation with a caller-supplied RNG. Keeping this layer
// free of libtorch keeps it fast to compile and lets the Loader run it on plain
// worker threads; the trainer wraps finished batches in tensors without a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/audio_frontend.h"

namespace ds::data {

// Every reader error is a DataError whose message names the file and the problem.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Shape {
  int c = 0, h = 0, w = 0;
  size_t numel() const { return size_t(c) * size_t(h) * size_t(w); }
};

enum class Split { kTrain, kTest };

// What the decoded pixels go through. Defaults are chosen by open_dataset() per kind.
struct Transform {
  // Small datasets: zero-pad by `pad` and take a random crop of the original size.
  int pad_crop = 0;
  bool hflip = false;
  // ImageNet-style: train = RandomResizedCrop(crop) + flip; eval = Resize(resize) + CenterCrop(crop).
  bool random_resized_crop = false;
  int resize = 0;  // shorter side for eval
  int crop = 0;    // output side
  std::vector<float> mean, std;  // per channel, applied to pixels in [0, 1]
  // Speech: shift each clip by up to this many samples either way (zeros come in), train only.
  int time_shift = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual int num_classes() const = 0;
  // Shape of one sample after the transform (what load() writes).
  virtual Shape sample_shape() const = 0;
  // Decodes sample i, applies the transform using rng, writes sample_shape().numel()
  // floats to out and returns the label in [0, num_classes()). Thread-safe.
  virtual int load(size_t i, float* out, std::mt19937& rng) const = 0;
  virtual std::vector<std::string> class_names() const = 0;
  // Human-readable description: kind, path, split, count.
  virtual std::string describe() const = 0;
};

enum class Kind { kIdx, kCifar10, kCifar100, kImageFolder, kSpeechManifest, kSpeechCommands };
// Speech kinds yield waveforms (1 x 1 x clip_samples at the front end's rate), not pictures.
bool is_speech(Kind kind);
const char* kind_name(Kind k);

// Detects the dataset kind from what is in `root`:
//   IDX: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//   CIFAR-10: data_batch_1..5.bin + test_batch.bin (or a cifar-10-batches-bin/ subfolder)
//   CIFAR-100: train.bin + test.bin (or cifar-100-binary/)
//   ImageFolder: train/ and val/ with one subfolder per class (JPEG and PNG files)
//   speech manifest (FSC-style, scripts/make_speech_data.sh): train.csv + test.csv with a header
//     starting "path,intent", paths relative to the folder
//   Speech Commands: one subfolder per class of WAV files + testing_list.txt (the test split;
//     validation_list.txt is left out of training); folders starting with '_' are not classes
// Throws DataError naming `root` if none matches.
Kind detect_kind(const std::string& root);

// Training augmentation, an explicit choice (`denseshift train --augment NAME`):
//   none       no augmentation (ImageFolder: resize 256 + center crop 224, as for evaluation)
//   crop       fixed-size data: zero-pad 4 + random crop; ImageFolder: RandomResizedCrop 224
//   crop-flip  crop + random horizontal flip
//   imagenet   ImageFolder only: RandomResizedCrop 224 + flip (the same as crop-flip there)
//   speech     speech only: time shift by up to 100 ms here, SpecAugment time and frequency masks
//              in the trainer (on the features, which the data layer does not compute)
enum class Augment { kNone, kCrop, kCropFlip, kImageNet, kSpeech };
const char* augment_name(Augment a);
// Throws DataError listing the choices for an unknown name.
Augment parse_augment(const std::string& name);
// The default for a kind, chosen so it cannot hurt that kind's data: IDX holds digits and
// letters, which a mirror turns into other symbols, so IDX gets crop (no flip); CIFAR gets
// crop-flip; ImageFolder gets imagenet (the authors' recipe); speech gets speech.
Augment default_augment(Kind kind);
// DataError when `a` cannot apply to `kind` (imagenet on fixed-size data, a picture augmentation
// on speech, speech on pictures).
void check_augment(Augment a, Kind kind, const std::string& root);

// Per-channel statistics applied to pixels in [0, 1]: (x - mean) / std.
struct Normalization {
  std::vector<float> mean, std;
  bool empty() const { return mean.empty(); }
};
// The statistics of `root`'s training split: IDX and CIFAR computed over every training pixel
// (so MNIST gets MNIST's, not Fashion-MNIST's); ImageFolder: the ImageNet statistics (declared).
Normalization dataset_normalization(const std::string& root);

struct OpenOptions {
  Augment augment = Augment::kNone;  // applied to the training split only
  Normalization norm;                 // empty: dataset_normalization(root)
  // The classes that labels index, by name (a model's or a checkpoint's). Empty: the training
  // split's. ImageFolder maps a split's class folders to these by name: a folder not among them
  // is a DataError naming both lists. IDX/CIFAR: a label >= classes.size() is a DataError.
  std::vector<std::string> classes;
};

// Opens a split of `root` with the standard transform for its kind. Speech kinds: `audio` is the
// front end whose rate and clip length the waveforms take (a model's, or the run's); empty:
// core::AudioFrontEnd's defaults. Image kinds ignore it.
std::unique_ptr<Dataset> open_dataset(const std::string& root, Split split, const OpenOptions& opt = {},
                                      const std::optional<core::AudioFrontEnd>& audio = std::nullopt);

// Readers, for callers (and tests) that want one directly.
std::unique_ptr<Dataset> open_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t);
std::unique_ptr<Dataset> open_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t);
std::unique_ptr<Dataset> open_image_folder(const std::string& split_dir, const Transform& t);

// A batch: n samples, contiguous NCHW floats and int64 labels.
struct Batch {
  int n = 0;
  Shape shape;
  std::vector<float> x;
  std::vector<int64_t> y;
  // Each sample's augmentation seed, a function of (seed, epoch, position) only: what the
  // sample's RNG was seeded with, for augmentation applied after the data layer (SpecAugment).
  std::vector<uint64_t> keys;
};

// Iterates an epoch in batches. Order and augmentation are a function of (seed, epoch)
// only, never of thread timing: sample i of the epoch draws from an RNG seeded with
// (seed, epoch, i), so a resumed run sees exactly the data an uninterrupted one saw.
// `workers` threads decode ahead of the consumer (0 = decode on the calling thread).
class Loader {
 public:
  Loader(const Dataset& ds, int batch_size, bool shuffle, bool drop_last, uint64_t seed,
         int workers);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Data-parallel training: this loader delivers rank `rank`'s share of every batch of
  // `batch_size` (the global batch). Global batch b covers the same positions of the epoch's
  // order as without sharding; rank r takes the r-th of `world` equal contiguous parts, so the
  // ranks together see exactly the single-process batch. The last, partial batch is padded to a
  // multiple of `world` with samples from the start of the epoch's order (as PyTorch's
  // DistributedSampler pads), so every rank gets the same count. Call before start_epoch().
  void shard(int rank, int world);
  // Starts epoch `epoch` (may be called again for the next epoch).
  void start_epoch(int epoch);
  // Fills `b` with the next batch; false at the end of the epoch. Rethrows a worker's DataError.
  bool next(Batch& b);
  size_t batches_per_epoch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::data
