// IDX files (MNIST, Fashion-MNIST): a big-endian header then raw uint8 data, optionally gzipped.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace {

constexpr uint32_t kImageMagic = 0x00000803;  // ubyte, 3 dimensions
constexpr uint32_t kLabelMagic = 0x00000801;  // ubyte, 1 dimension
constexpr int kMinClasses = 10;

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  std::vector<uint8_t> bytes = detail::read_file(path);
  return detail::is_gzip(bytes) ? detail::gunzip(bytes, path) : bytes;
}

void check_size(const std::vector<uint8_t>& bytes, uint64_t expected, const std::string& path) {
  if (bytes.size() < expected) {
    throw DataError(path + " truncated: expected " + std::to_string(expected) + " bytes, got " +
                    std::to_string(bytes.size()));
  }
  if (bytes.size() > expected) {
    throw DataError(path + " has " + std::to_string(bytes.size() - expected) +
                    " unexpected bytes after the data (expected " + std::to_string(expected) +
                    " bytes, got " + std::to_string(bytes.size()) + ")");
  }
}

// Checks the magic, then the exact size implied by the dimensions; returns the dimensions.
std::vector<uint32_t> parse_header(const std::vector<uint8_t>& bytes, uint32_t magic, int ndims,
                                   const char* what, const std::string& path) {
  const size_t header = 4 + 4 * size_t(ndims);
  if (bytes.size() < 4) check_size(bytes, header, path);
  const uint32_t found = be32(bytes.data());
  if (found != magic) {
    throw DataError(path + " is not an IDX " + what + " file (magic " + hex32(found) +
                    ", expected " + hex32(magic) + ")");
  }
  if (bytes.size() < header) check_size(bytes, header, path);
  std::vector<uint32_t> dims;
  uint64_t total = header, count = 1;
  for (int d = 0; d < ndims; ++d) {
    dims.push_back(be32(bytes.data() + 4 + 4 * d));
    // A corrupt header can claim more than 2^64 bytes; nothing that large can be on disk.
    if (dims.back() != 0 && count > (uint64_t(1) << 62) / dims.back()) {
      throw DataError(path + ": corrupt IDX header (dimensions imply an impossible size)");
    }
    count *= dims.back();
  }
  total += count;
  check_size(bytes, total, path);
  return dims;
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path, const Transform& t,
             const std::string& split)
      : images_path_(images_path), split_(split), t_(t) {
    pixels_ = read_maybe_gzip(images_path);
    const auto idims = parse_header(pixels_, kImageMagic, 3, "image", images_path);
    if (idims[1] == 0 || idims[2] == 0 || idims[1] > 65535 || idims[2] > 65535) {
      throw DataError(images_path + ": unsupported image size " + std::to_string(idims[1]) + "x" +
                      std::to_string(idims[2]));
    }
    labels_ = read_maybe_gzip(labels_path);
    const auto ldims = parse_header(labels_, kLabelMagic, 1, "label", labels_path);
    if (idims[0] != ldims[0]) {
      throw DataError(images_path + " has " + std::to_string(idims[0]) + " images but " +
                      labels_path + " has " + std::to_string(ldims[0]) + " labels");
    }
    if (idims[0] == 0) throw DataError(images_path + ": contains no images");
    // Drop the headers so sample i starts at i * rows * cols.
    pixels_.erase(pixels_.begin(), pixels_.begin() + 16);
    labels_.erase(labels_.begin(), labels_.begin() + 8);
    in_ = {1, int(idims[1]), int(idims[2])};
    check_transform(t_, 1, images_path);
    out_ = transform_output_shape(t_, in_);
    classes_ = std::max<int>(kMinClasses, *std::max_element(labels_.begin(), labels_.end()) + 1);
    init_names();
  }

  size_t size() const override { return labels_.size(); }
  int num_classes() const override { return classes_; }
  Shape sample_shape() const override { return out_; }
  std::vector<std::string> class_names() const override { return names_; }

  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (i >= size()) throw DataError(images_path_ + ": sample index out of range");
    const uint8_t* px = pixels_.data() + i * in_.numel();
    apply_transform(t_, ImageView::planar(px, 1, in_.h, in_.w), out, rng);
    return labels_[i];
  }

  std::string describe() const override {
    return detail::describe_dataset("IDX", split_, images_path_, size(), out_, classes_);
  }

 private:
  // IDX files carry no class names. Fashion-MNIST and MNIST share the layout, so the folder
  // name is the only hint which one this is.
  void init_names() {
    const std::string dir =
        detail::to_lower(std::filesystem::path(images_path_).parent_path().string());
    if (dir.find("fashion") != std::string::npos) {
      names_ = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    }
    for (int c = int(names_.size()); c < classes_; ++c) names_.push_back(std::to_string(c));
  }

  std::string images_path_, split_;
  Transform t_;
  std::vector<uint8_t> pixels_, labels_;
  Shape in_, out_;
  int classes_ = 0;
  std::vector<std::string> names_;
};

}  // namespace

namespace detail {
std::unique_ptr<Dataset> make_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t, const std::string& split) {
  return std::make_unique<IdxDataset>(images_path, labels_path, t, split);
}
}  // namespace detail

std::unique_ptr<Dataset> open_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t) {
  return detail::make_idx(images_path, labels_path, t, "");
}

}  // namespace ds::data
