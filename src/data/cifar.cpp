// CIFAR binary batches: fixed-size records of label byte(s) + 3x32x32 planar RGB.
#include <filesystem>
#include <fstream>

#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace {

constexpr int kSide = 32;
constexpr size_t kPixels = 3 * kSide * kSide;

// Class names live beside the batches in the official archives; one name per line.
std::vector<std::string> read_names(const std::filesystem::path& file, int classes) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    for (int c = 0; c < classes; ++c) names.push_back(std::to_string(c));
    return names;
  }
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (int(names.size()) != classes) {
    throw DataError(file.string() + " lists " + std::to_string(names.size()) +
                    " class names, expected " + std::to_string(classes));
  }
  return names;
}

class CifarDataset : public Dataset {
 public:
  CifarDataset(const std::vector<std::string>& files, bool cifar100, const Transform& t,
               const std::string& split)
      : cifar100_(cifar100), split_(split), t_(t) {
    if (files.empty()) throw DataError("CIFAR: no batch files given");
    const size_t label_bytes = cifar100 ? 2 : 1;
    record_ = label_bytes + kPixels;
    classes_ = cifar100 ? 100 : 10;
    const char* kind = cifar100 ? "CIFAR-100" : "CIFAR-10";
    for (const std::string& f : files) {
      const std::vector<uint8_t> bytes = detail::read_file(f);
      if (bytes.size() % record_ != 0) {
        throw DataError(f + ": size " + std::to_string(bytes.size()) + " is not a multiple of the " +
                        std::to_string(record_) + "-byte " + kind + " record");
      }
      for (size_t r = 0; r < bytes.size() / record_; ++r) {
        // CIFAR-100 records are <coarse label><fine label><pixels>; we train on the fine label.
        const uint8_t label = bytes[r * record_ + label_bytes - 1];
        if (label >= classes_) {
          throw DataError(f + ": record " + std::to_string(r) + " has label " +
                          std::to_string(label) + ", outside [0, " + std::to_string(classes_) +
                          ")");
        }
        labels_.push_back(label);
      }
      data_.insert(data_.end(), bytes.begin(), bytes.end());
    }
    if (labels_.empty()) throw DataError(files.front() + ": contains no " + kind + " records");
    check_transform(t_, 3, files.front());
    out_ = transform_output_shape(t_, {3, kSide, kSide});
    const std::filesystem::path dir = std::filesystem::path(files.front()).parent_path();
    path_ = files.size() == 1 ? files.front() : dir.string();
    names_ = read_names(dir / (cifar100 ? "fine_label_names.txt" : "batches.meta.txt"), classes_);
  }

  size_t size() const override { return labels_.size(); }
  int num_classes() const override { return classes_; }
  Shape sample_shape() const override { return out_; }
  std::vector<std::string> class_names() const override { return names_; }

  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (i >= size()) throw DataError(path_ + ": sample index out of range");
    const uint8_t* px = data_.data() + i * record_ + (record_ - kPixels);
    apply_transform(t_, ImageView::planar(px, 3, kSide, kSide), out, rng);
    return labels_[i];
  }

  std::string describe() const override {
    return detail::describe_dataset(cifar100_ ? "CIFAR-100" : "CIFAR-10", split_, path_, size(),
                                    out_, classes_);
  }

 private:
  bool cifar100_;
  std::string split_, path_;
  Transform t_;
  size_t record_ = 0;
  int classes_ = 0;
  std::vector<uint8_t> data_;  // whole records, back to back
  std::vector<uint8_t> labels_;
  Shape out_;
  std::vector<std::string> names_;
};

}  // namespace

namespace detail {
std::unique_ptr<Dataset> make_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t, const std::string& split) {
  return std::make_unique<CifarDataset>(batch_files, cifar100, t, split);
}
}  // namespace detail

std::unique_ptr<Dataset> open_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t) {
  return detail::make_cifar(batch_files, cifar100, t, "");
}

}  // namespace ds::data
