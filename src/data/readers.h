// Private reader constructors and the file-level helpers open_dataset() and
// dataset_normalization() share. `split` ("train", "test" or empty) only feeds describe().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace ds::data::detail {

// The classes a split's labels index, by name, and where they came from (for messages).
// Empty names: the split defines its own (a training split, or a reader opened directly).
struct Classes {
  std::vector<std::string> names;
  std::string from;
};

std::unique_ptr<Dataset> make_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t, const std::string& split,
                                  const Classes& classes);
std::unique_ptr<Dataset> make_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t, const std::string& split,
                                    const Classes& classes);
std::unique_ptr<Dataset> make_image_folder(const std::string& split_dir, const Transform& t,
                                           const std::string& split, const Classes& classes);

// Speech datasets (speech_dataset.cpp): `files` of split_files(); waveforms at fe's rate and clip
// length, shifted by up to t.time_shift samples with the RNG.
std::unique_ptr<Dataset> make_speech(Kind kind, const std::vector<std::string>& files, const core::AudioFrontEnd& fe,
                                     const Transform& t, const std::string& split, const Classes& classes);
// The class names a speech training split defines (sorted), without reading any audio.
std::vector<std::string> speech_class_names(Kind kind, const std::vector<std::string>& train_files);

// An IDX file's dimensions and the data after its header. The header is read first and the
// data may not exceed what it implies (nor kMaxDataBytes): DataError naming `path` otherwise.
struct IdxFile {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};
constexpr uint32_t kIdxImageMagic = 0x00000803;  // ubyte, 3 dimensions
constexpr uint32_t kIdxLabelMagic = 0x00000801;  // ubyte, 1 dimension
IdxFile read_idx(const std::string& path, uint32_t magic);

// The class names an IDX training label file defines: classes = largest label + 1, every one of
// them present (DataError naming the file and the missing labels otherwise). Fashion-MNIST's
// names when the file's folder name says "fashion", else "0", "1", ...
std::vector<std::string> idx_class_names(const std::vector<uint8_t>& labels,
                                         const std::string& labels_path);

// CIFAR batch files, validated: whole records only, at least one per file, labels in range
// (below `limit` too when it is > 0). Records are back to back, labels in load order.
struct CifarRecords {
  std::vector<uint8_t> data;
  std::vector<uint8_t> labels;
  size_t record = 0;  // bytes per record
};
CifarRecords read_cifar(const std::vector<std::string>& files, bool cifar100, const Classes& classes);
constexpr int kCifarSide = 32;
constexpr size_t kCifarPixels = 3 * kCifarSide * kCifarSide;

// The files of a split of `root`, whose kind is `kind`; DataError naming what is missing.
//   IDX: {images, labels}; CIFAR: the batch files; ImageFolder: {the split's folder}.
std::vector<std::string> split_files(const std::string& root, Kind kind, Split split);

// The subfolders of `dir`, sorted (torchvision's class order). DataError if unlistable.
std::vector<std::string> class_folders(const std::string& dir);

// "IDX train: /path (60000 samples of 1x28x28, 10 classes, augmentation: pad 4 + random crop)".
std::string describe_dataset(const char* kind, const std::string& split, const std::string& path,
                             size_t count, Shape shape, int classes, const Transform& t);

}  // namespace ds::data::detail
