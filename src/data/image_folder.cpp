// ImageFolder: split_dir/<class>/<image>, decoded lazily in load().
#include <algorithm>
#include <filesystem>
#include <map>

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

[[noreturn]] void list_error(const fs::filesystem_error& e) {
  throw DataError(e.path1().string() + ": cannot list directory (" + e.code().message() + ")");
}

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(const std::string& dir, const Transform& t, const std::string& split,
                     const detail::Classes& classes)
      : dir_(dir), split_(split), t_(t) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw DataError(dir + ": no such directory");
    if (!fs::is_directory(dir, ec)) throw DataError(dir + " is not a directory");
    check_transform(t_, 3, dir);
    if (t_.crop <= 0) {
      throw DataError(dir + ": ImageFolder images vary in size, the transform needs crop > 0");
    }
    out_ = transform_output_shape(t_, {3, 0, 0});
    scan(classes);
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
    return detail::describe_dataset("ImageFolder", split_, dir_, size(), out_, num_classes(),
                                    t_);
  }

 private:
  // Same order as torchvision: images are found recursively below each class folder, sorted by
  // path. Labels index the given classes by name (a validation split may lack some of them), or
  // this split's own sorted folders when none are given.
  void scan(const detail::Classes& given) {
    const std::vector<std::string> folders = detail::class_folders(dir_);
    classes_ = given.names.empty() ? folders : given.names;
    std::map<std::string, int> index;
    for (size_t c = 0; c < classes_.size(); ++c) index.emplace(classes_[c], int(c));
    for (const std::string& folder : folders) {
      const auto it = index.find(folder);
      if (it == index.end()) {
        throw DataError((fs::path(dir_) / folder).string() + ": class '" + folder +
                        "' is not among the " + std::to_string(classes_.size()) + " classes of " +
                        given.from + " (" + detail::list_text(classes_) + "); " + dir_ +
                        " has class folders " + detail::list_text(folders));
      }
      add_images(folder, it->second);
    }
    if (files_.empty()) {
      throw DataError(dir_ + ": no .jpg/.jpeg/.png images found (" +
                      std::to_string(folders.size()) + " class folders)");
    }
  }

  void add_images(const std::string& folder, int label) {
    std::vector<std::string> found;
    try {
      const auto opts = fs::directory_options::follow_directory_symlink;
      for (const auto& e : fs::recursive_directory_iterator(fs::path(dir_) / folder, opts)) {
        if (!e.is_directory() && is_image_name(e.path())) found.push_back(e.path().string());
      }
    } catch (const fs::filesystem_error& e) {
      list_error(e);
    }
    std::sort(found.begin(), found.end());
    for (std::string& f : found) {
      files_.push_back(std::move(f));
      labels_.push_back(label);
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

std::vector<std::string> class_folders(const std::string& dir) {
  std::vector<std::string> folders;
  try {
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
      if (e.is_directory()) folders.push_back(e.path().filename().string());
    }
  } catch (const fs::filesystem_error& e) {
    list_error(e);
  }
  std::sort(folders.begin(), folders.end());
  return folders;
}

std::unique_ptr<Dataset> make_image_folder(const std::string& split_dir, const Transform& t,
                                           const std::string& split, const Classes& classes) {
  return std::make_unique<ImageFolderDataset>(split_dir, t, split, classes);
}

}  // namespace detail

std::unique_ptr<Dataset> open_image_folder(const std::string& split_dir, const Transform& t) {
  return detail::make_image_folder(split_dir, t, "", {});
}

}  // namespace ds::data
