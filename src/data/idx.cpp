// IDX files (MNIST, Fashion-MNIST): a big-endian header then raw uint8 data, optionally gzipped.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace {

// How much trailing data an error message counts before it stops reading (a gzip bomb after
// a valid header would otherwise be inflated to the end just to report its size).
constexpr uint64_t kTrailingReportLimit = uint64_t(1) << 20;

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

[[noreturn]] void truncated(const std::string& path, uint64_t expected, uint64_t got) {
  throw DataError(path + " truncated: expected " + std::to_string(expected) + " bytes, got " +
                  std::to_string(got));
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path, const Transform& t,
             const std::string& split, const detail::Classes& classes)
      : images_path_(images_path), split_(split), t_(t) {
    detail::IdxFile images = detail::read_idx(images_path, detail::kIdxImageMagic);
    const auto& idims = images.dims;
    if (idims[1] == 0 || idims[2] == 0 || idims[1] > 65535 || idims[2] > 65535) {
      throw DataError(images_path + ": unsupported image size " + std::to_string(idims[1]) + "x" +
                      std::to_string(idims[2]));
    }
    detail::IdxFile labels = detail::read_idx(labels_path, detail::kIdxLabelMagic);
    if (idims[0] != labels.dims[0]) {
      throw DataError(images_path + " has " + std::to_string(idims[0]) + " images but " +
                      labels_path + " has " + std::to_string(labels.dims[0]) + " labels");
    }
    if (idims[0] == 0) throw DataError(images_path + ": contains no images");
    pixels_ = std::move(images.data);
    labels_ = std::move(labels.data);
    in_ = {1, int(idims[1]), int(idims[2])};
    check_transform(t_, 1, images_path);
    out_ = transform_output_shape(t_, in_);
    names_ = classes.names.empty() ? detail::idx_class_names(labels_, labels_path) : classes.names;
    for (size_t i = 0; i < labels_.size(); ++i) {
      if (labels_[i] >= names_.size()) {
        throw DataError(labels_path + ": record " + std::to_string(i) + " has label " +
                        std::to_string(labels_[i]) + ", outside [0, " +
                        std::to_string(names_.size()) + ") (" + classes.from + ")");
      }
    }
  }

  size_t size() const override { return labels_.size(); }
  int num_classes() const override { return int(names_.size()); }
  Shape sample_shape() const override { return out_; }
  std::vector<std::string> class_names() const override { return names_; }

  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (i >= size()) throw DataError(images_path_ + ": sample index out of range");
    const uint8_t* px = pixels_.data() + i * in_.numel();
    apply_transform(t_, ImageView::planar(px, 1, in_.h, in_.w), out, rng);
    return labels_[i];
  }

  std::string describe() const override {
    return detail::describe_dataset("IDX", split_, images_path_, size(), out_, num_classes(), t_);
  }

 private:
  std::string images_path_, split_;
  Transform t_;
  std::vector<uint8_t> pixels_, labels_;
  Shape in_, out_;
  std::vector<std::string> names_;
};

}  // namespace

namespace detail {

IdxFile read_idx(const std::string& path, uint32_t magic) {
  const int ndims = magic == kIdxImageMagic ? 3 : 1;
  const char* what = magic == kIdxImageMagic ? "image" : "label";
  const size_t header = 4 + 4 * size_t(ndims);
  // The file itself (compressed or not) is bounded like the data it may hold.
  const std::vector<uint8_t> file = read_file(path, kMaxDataBytes + header);
  ByteStream in(file, path);
  uint8_t head[16];
  size_t got = in.read(head, 4);
  if (got < 4) truncated(path, header, got);
  const uint32_t found = be32(head);
  if (found != magic) {
    throw DataError(path + " is not an IDX " + what + " file (magic " + hex32(found) +
                    ", expected " + hex32(magic) + ")");
  }
  got += in.read(head + 4, header - 4);
  if (got < header) truncated(path, header, got);
  IdxFile r;
  uint64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    r.dims.push_back(be32(head + 4 + 4 * d));
    // Checked per factor, so the product cannot overflow before it is compared.
    if (r.dims.back() != 0 && count > kMaxDataBytes / r.dims.back()) {
      throw DataError(path + ": corrupt IDX header? its dimensions imply more than " +
                      bytes_text(kMaxDataBytes) + " of data, the most this reader accepts");
    }
    count *= r.dims.back();
  }
  const uint64_t expected = header + count;
  // Memory grows with the data actually read, never with what the header claims.
  if (!in.read_rest(r.data, count)) {
    const uint64_t extra = r.data.size() - count + in.skip(kTrailingReportLimit);
    throw DataError(path + " has " + (extra > kTrailingReportLimit ? "more than " : "") +
                    std::to_string(std::min(extra, kTrailingReportLimit)) +
                    " unexpected bytes after the data (its header implies " +
                    std::to_string(expected) + " bytes" + (in.gzip() ? " decompressed" : "") + ")");
  }
  if (r.data.size() < count) truncated(path, expected, header + r.data.size());
  return r;
}

std::vector<std::string> idx_class_names(const std::vector<uint8_t>& labels,
                                         const std::string& labels_path) {
  bool seen[256] = {};
  for (uint8_t l : labels) seen[l] = true;
  const int classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  // A label far beyond the rest (a flipped bit, a file of another dataset) would otherwise build
  // a model with classes that never train, so every class must occur.
  std::vector<std::string> missing;
  for (int c = 0; c < classes; ++c) {
    if (!seen[c]) missing.push_back(std::to_string(c));
  }
  if (!missing.empty()) {
    throw DataError(labels_path + ": labels " + list_text(missing) +
                    " never occur, yet the largest label is " + std::to_string(classes - 1) +
                    " (corrupt label file?); every class in [0, largest] must have samples");
  }
  // IDX files carry no class names. Fashion-MNIST and MNIST share the layout, so the folder
  // name is the only hint which one this is.
  std::vector<std::string> names;
  const std::string dir = to_lower(std::filesystem::path(labels_path).parent_path().string());
  if (dir.find("fashion") != std::string::npos) {
    names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  names.resize(std::min<size_t>(names.size(), size_t(classes)));
  for (int c = int(names.size()); c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

std::unique_ptr<Dataset> make_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t, const std::string& split,
                                  const Classes& classes) {
  return std::make_unique<IdxDataset>(images_path, labels_path, t, split, classes);
}

}  // namespace detail

std::unique_ptr<Dataset> open_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t) {
  return detail::make_idx(images_path, labels_path, t, "", {});
}

}  // namespace ds::data
