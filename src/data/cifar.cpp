// CIFAR binary batches: fixed-size records of label byte(s) + 3x32x32 planar RGB.
#include <filesystem>

#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace {

using detail::kCifarPixels;
using detail::kCifarSide;

constexpr int kCoarseClasses = 20;  // CIFAR-100's first label byte
constexpr uint64_t kMaxNamesBytes = uint64_t(1) << 20;  // a names file lists <= 100 short names

const char* kind_text(bool cifar100) { return cifar100 ? "CIFAR-100" : "CIFAR-10"; }
size_t record_bytes(bool cifar100) { return (cifar100 ? 2 : 1) + kCifarPixels; }
int format_classes(bool cifar100) { return cifar100 ? 100 : 10; }

// Whether every record of `bytes` has labels valid for the format (whole records assumed).
bool labels_valid(const std::vector<uint8_t>& bytes, bool cifar100) {
  const size_t rec = record_bytes(cifar100);
  for (size_t off = 0; off < bytes.size(); off += rec) {
    if (cifar100 ? bytes[off] >= kCoarseClasses || bytes[off + 1] >= 100 : bytes[off] >= 10) {
      return false;
    }
  }
  return true;
}

// Class names live beside the batches in the official archives; one name per line.
std::vector<std::string> read_names(const std::filesystem::path& file, int classes) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    for (int c = 0; c < classes; ++c) names.push_back(std::to_string(c));
    return names;
  }
  const std::vector<uint8_t> bytes = detail::read_file(file.string(), kMaxNamesBytes);
  std::string line;
  for (size_t i = 0; i <= bytes.size(); ++i) {
    if (i < bytes.size() && bytes[i] != '\n') {
      line += char(bytes[i]);
      continue;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
    line.clear();
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
               const std::string& split, const detail::Classes& classes)
      : cifar100_(cifar100), split_(split), t_(t), records_(detail::read_cifar(files, cifar100, classes)) {
    check_transform(t_, 3, files.front());
    out_ = transform_output_shape(t_, {3, kCifarSide, kCifarSide});
    const std::filesystem::path dir = std::filesystem::path(files.front()).parent_path();
    path_ = files.size() == 1 ? files.front() : dir.string();
    names_ = !classes.names.empty()
                 ? classes.names
                 : read_names(dir / (cifar100 ? "fine_label_names.txt" : "batches.meta.txt"),
                              format_classes(cifar100));
  }

  size_t size() const override { return records_.labels.size(); }
  int num_classes() const override { return int(names_.size()); }
  Shape sample_shape() const override { return out_; }
  std::vector<std::string> class_names() const override { return names_; }

  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (i >= size()) throw DataError(path_ + ": sample index out of range");
    const uint8_t* px = records_.data.data() + (i + 1) * records_.record - kCifarPixels;
    apply_transform(t_, ImageView::planar(px, 3, kCifarSide, kCifarSide), out, rng);
    return records_.labels[i];
  }

  std::string describe() const override {
    return detail::describe_dataset(kind_text(cifar100_), split_, path_, size(), out_,
                                    num_classes(), t_);
  }

 private:
  bool cifar100_;
  std::string split_, path_;
  Transform t_;
  detail::CifarRecords records_;
  Shape out_;
  std::vector<std::string> names_;
};

}  // namespace

namespace detail {

CifarRecords read_cifar(const std::vector<std::string>& files, bool cifar100,
                        const Classes& classes) {
  if (files.empty()) throw DataError("CIFAR: no batch files given");
  const char* kind = kind_text(cifar100);
  CifarRecords r;
  r.record = record_bytes(cifar100);
  const size_t other_record = record_bytes(!cifar100);
  const size_t label_bytes = r.record - kCifarPixels;
  // The model's classes may be fewer than the format's: labels must index both.
  size_t limit = size_t(format_classes(cifar100));
  std::string from = std::string("the ") + kind + " format";
  if (!classes.names.empty() && classes.names.size() < limit) {
    limit = classes.names.size();
    from = classes.from;
  }
  for (const std::string& f : files) {
    const std::vector<uint8_t> bytes = read_file(f, kMaxDataBytes);
    // Every named batch must hold data: an empty one is a failed download or copy, not a
    // batch to skip.
    if (bytes.empty()) throw DataError(f + ": empty file, expected " + kind + " records");
    if (bytes.size() % r.record != 0) {
      throw DataError(f + ": size " + std::to_string(bytes.size()) + " is not a multiple of the " +
                      std::to_string(r.record) + "-byte " + kind + " record (truncated, or not a " +
                      kind + " batch?)");
    }
    // The format has no header, so only the size and the labels tell the two layouts apart. A
    // file that is whole records of both sizes with labels valid in the other layout too (say
    // 3073 CIFAR-100 records under a CIFAR-10 name, all dark) would be read as garbage records
    // with plausible labels: refuse it rather than guess.
    if (bytes.size() % other_record == 0 && labels_valid(bytes, !cifar100)) {
      throw DataError(f + ": " + std::to_string(bytes.size()) + " bytes are whole " +
                      std::to_string(r.record) + "-byte " + kind + " records and also whole " +
                      std::to_string(other_record) + "-byte " + kind_text(!cifar100) +
                      " records with valid labels; cannot tell which it holds (official batches "
                      "have 10000 records, CIFAR-100's train.bin 50000)");
    }
    for (size_t rec = 0; rec < bytes.size() / r.record; ++rec) {
      const uint8_t* head = bytes.data() + rec * r.record;
      // CIFAR-100 records are <coarse label><fine label><pixels>; we train on the fine label.
      const uint8_t label = head[label_bytes - 1];
      if (label >= limit) {
        throw DataError(f + ": record " + std::to_string(rec) + " has label " +
                        std::to_string(label) + ", outside [0, " + std::to_string(limit) + ") (" +
                        from + ")");
      }
      if (cifar100 && head[0] >= kCoarseClasses) {
        throw DataError(f + ": record " + std::to_string(rec) + " has coarse label " +
                        std::to_string(head[0]) + ", outside [0, " +
                        std::to_string(kCoarseClasses) + ")");
      }
      r.labels.push_back(label);
    }
    r.data.insert(r.data.end(), bytes.begin(), bytes.end());
  }
  return r;
}

std::unique_ptr<Dataset> make_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t, const std::string& split,
                                    const Classes& classes) {
  return std::make_unique<CifarDataset>(batch_files, cifar100, t, split, classes);
}

}  // namespace detail

std::unique_ptr<Dataset> open_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t) {
  return detail::make_cifar(batch_files, cifar100, t, "", {});
}

}  // namespace ds::data
