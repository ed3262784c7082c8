// Recognizes a dataset folder's layout and finds the files of each split.
#include <filesystem>

#include "data/readers.h"

namespace ds::data {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// "<prefix>-<what>-ubyte" or its .gz; empty if neither exists.
std::string idx_file(const fs::path& root, const std::string& prefix, const std::string& what) {
  const fs::path raw = root / (prefix + "-" + what + "-ubyte");
  if (is_file(raw)) return raw.string();
  fs::path gz = raw;
  gz += ".gz";
  return is_file(gz) ? gz.string() : "";
}

bool has_idx(const fs::path& root) {
  return !idx_file(root, "train", "images-idx3").empty() ||
         !idx_file(root, "t10k", "images-idx3").empty();
}

bool has_cifar10(const fs::path& dir) {
  return is_file(dir / "data_batch_1.bin") || is_file(dir / "test_batch.bin");
}

bool has_cifar100(const fs::path& dir) {
  return is_file(dir / "train.bin") || is_file(dir / "test.bin");
}

// The batches may sit in root itself or in the folder the official archive unpacks to.
fs::path cifar_dir(const fs::path& root, bool cifar100) {
  const auto has = cifar100 ? has_cifar100 : has_cifar10;
  if (has(root)) return root;
  const fs::path sub = root / (cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin");
  return has(sub) ? sub : fs::path();
}

void check_root(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) throw DataError(root + ": no such directory");
  if (!is_dir(root)) throw DataError(root + " is not a directory");
}

std::string require_file(const fs::path& dir, const std::string& name) {
  if (!is_file(dir / name)) throw DataError(name + " not found in " + dir.string());
  return (dir / name).string();
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kIdx: return "IDX";
    case Kind::kCifar10: return "CIFAR-10";
    case Kind::kCifar100: return "CIFAR-100";
    case Kind::kImageFolder: return "ImageFolder";
    case Kind::kSpeechManifest: return "speech manifest";
    case Kind::kSpeechCommands: return "Speech Commands";
  }
  return "unknown";
}

bool is_speech(Kind k) { return k == Kind::kSpeechManifest || k == Kind::kSpeechCommands; }

Kind detect_kind(const std::string& root) {
  check_root(root);
  if (has_idx(root)) return Kind::kIdx;
  if (is_file(fs::path(root) / "train.csv") || is_file(fs::path(root) / "test.csv")) return Kind::kSpeechManifest;
  if (is_file(fs::path(root) / "testing_list.txt")) return Kind::kSpeechCommands;
  if (!cifar_dir(root, false).empty()) return Kind::kCifar10;
  if (!cifar_dir(root, true).empty()) return Kind::kCifar100;
  if (is_dir(fs::path(root) / "train") || is_dir(fs::path(root) / "val")) return Kind::kImageFolder;
  throw DataError(root +
                  ": not a recognized dataset folder (expected IDX files, CIFAR-10/100 binary "
                  "batches, train/ and val/ class folders, a speech manifest train.csv + test.csv, or "
                  "Speech Commands class folders with testing_list.txt)");
}

namespace detail {

std::vector<std::string> split_files(const std::string& root, Kind kind, Split split) {
  const bool train = split == Split::kTrain;
  switch (kind) {
    case Kind::kIdx: {
      const std::string prefix = train ? "train" : "t10k";
      const std::string images = idx_file(root, prefix, "images-idx3");
      const std::string labels = idx_file(root, prefix, "labels-idx1");
      if (images.empty()) throw DataError(prefix + "-images-idx3-ubyte[.gz] not found in " + root);
      if (labels.empty()) throw DataError(prefix + "-labels-idx1-ubyte[.gz] not found in " + root);
      return {images, labels};
    }
    case Kind::kCifar10: {
      const fs::path dir = cifar_dir(root, false);
      if (!train) return {require_file(dir, "test_batch.bin")};
      std::vector<std::string> files;
      for (int b = 1; b <= 5; ++b) {
        files.push_back(require_file(dir, "data_batch_" + std::to_string(b) + ".bin"));
      }
      return files;
    }
    case Kind::kCifar100:
      return {require_file(cifar_dir(root, true), train ? "train.bin" : "test.bin")};
    case Kind::kImageFolder: {
      const std::string sub = train ? "train" : "val";
      const fs::path dir = fs::path(root) / sub;
      if (!is_dir(dir)) throw DataError(sub + "/ not found in " + root);
      return {dir.string()};
    }
    case Kind::kSpeechManifest: return {require_file(root, train ? "train.csv" : "test.csv")};
    case Kind::kSpeechCommands: return {require_file(root, "testing_list.txt")};
  }
  throw DataError(root + ": unknown dataset kind");
}

std::string describe_dataset(const char* kind, const std::string& split, const std::string& path,
                             size_t count, Shape shape, int classes, const Transform& t) {
  std::string s = kind;
  if (!split.empty()) s += " " + split;
  s += ": " + path + " (" + std::to_string(count) + " samples of " + std::to_string(shape.c) + "x" +
       std::to_string(shape.h) + "x" + std::to_string(shape.w) + ", " + std::to_string(classes) +
       " classes";
  // The augmentation is a choice worth seeing in a training log.
  std::string aug;
  if (t.pad_crop > 0) aug = "pad " + std::to_string(t.pad_crop) + " + random crop";
  if (t.random_resized_crop) aug = "random resized crop " + std::to_string(t.crop);
  if (t.hflip) aug += std::string(aug.empty() ? "" : " + ") + "horizontal flip";
  return s + (aug.empty() ? "" : ", augmentation: " + aug) + ")";
}
}  // namespace detail

}  // namespace ds::data
