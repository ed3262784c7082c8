// ImageFolder: split_dir/<class>/<image>, decoded lazily in load().
#include <algorithm>
#include <filesystem>

#include "data/image_decode.h"
#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const fs::path& p) {
  const std::string ext = detail::to_lower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(const std::string& dir, const Transform& t, const std::string& split)
      : dir_(dir), split_(split), t_(t) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw DataError(dir + ": no such directory");
    if (!fs::is_directory(dir, ec)) throw DataError(dir + " is not a directory");
    check_transform(t_, 3, dir);
    if (t_.crop <= 0) {
      throw DataError(dir + ": ImageFolder images vary in size, the transform needs crop > 0");
    }
    out_ = transform_output_shape(t_, {3, 0, 0});
    scan();
  }

  size_t size() const override { return files_.size(); }
  int num_classes() const override { return int(classes_.size()); }
  Shape sample_shape() const override { return out_; }
  std::vector<std::string> class_names() const override { return classes_; }

  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (i >= size()) throw DataError(dir_ + ": sample index out of range");
    const Image img = decode_image(files_[i]);
    apply_transform(t_, img.view(), out, rng);
    return labels_[i];
  }

  std::string describe() const override {
    return detail::describe_dataset("ImageFolder", split_, dir_, size(), out_, num_classes());
  }

 private:
  // Same order as torchvision: classes are the sorted subfolder names, and images are found
  // recursively below each class folder, sorted by path.
  void scan() {
    try {
      for (const fs::directory_entry& e : fs::directory_iterator(dir_)) {
        if (e.is_directory()) classes_.push_back(e.path().filename().string());
      }
      std::sort(classes_.begin(), classes_.end());
      for (size_t c = 0; c < classes_.size(); ++c) {
        std::vector<std::string> found;
        const auto opts = fs::directory_options::follow_directory_symlink;
        for (const auto& e : fs::recursive_directory_iterator(fs::path(dir_) / classes_[c], opts)) {
          if (!e.is_directory() && is_image_name(e.path())) found.push_back(e.path().string());
        }
        std::sort(found.begin(), found.end());
        for (std::string& f : found) {
          files_.push_back(std::move(f));
          labels_.push_back(int(c));
        }
      }
    } catch (const fs::filesystem_error& e) {
      throw DataError(e.path1().string() + ": cannot list directory (" + e.code().message() + ")");
    }
    if (files_.empty()) {
      throw DataError(dir_ + ": no .jpg/.jpeg/.png images found (" +
                      std::to_string(classes_.size()) + " class folders)");
    }
  }

  std::string dir_, split_;
  Transform t_;
  Shape out_;
  std::vector<std::string> classes_, files_;
  std::vector<int> labels_;
};

}  // namespace

namespace detail {
std::unique_ptr<Dataset> make_image_folder(const std::string& split_dir, const Transform& t,
                                           const std::string& split) {
  return std::make_unique<ImageFolderDataset>(split_dir, t, split);
}
}  // namespace detail

std::unique_ptr<Dataset> open_image_folder(const std::string& split_dir, const Transform& t) {
  return detail::make_image_folder(split_dir, t, "");
}

}  // namespace ds::data
