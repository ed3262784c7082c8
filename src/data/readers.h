// Private reader constructors. `split` ("train", "test" or empty) only feeds describe().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace ds::data::detail {

std::unique_ptr<Dataset> make_idx(const std::string& images_path, const std::string& labels_path,
                                  const Transform& t, const std::string& split);
std::unique_ptr<Dataset> make_cifar(const std::vector<std::string>& batch_files, bool cifar100,
                                    const Transform& t, const std::string& split);
std::unique_ptr<Dataset> make_image_folder(const std::string& split_dir, const Transform& t,
                                           const std::string& split);

// "IDX train: /path (60000 samples of 1x28x28, 10 classes)".
std::string describe_dataset(const char* kind, const std::string& split, const std::string& path,
                             size_t count, Shape shape, int classes);

}  // namespace ds::data::detail
