// open_dataset(): one split of a dataset folder with the standard transform, its labels indexing
// the right classes.
#include <filesystem>
#include <set>

#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace {

// The classes an evaluation split's labels index when the caller names none: the training
// split's, so that labels mean the same thing in both splits. CIFAR's are fixed by the format.
detail::Classes training_classes(const std::string& root, Kind kind) {
  if (kind == Kind::kIdx) {
    const std::string labels = detail::split_files(root, kind, Split::kTrain)[1];
    return {detail::idx_class_names(detail::read_idx(labels, detail::kIdxLabelMagic).data, labels),
            "the training labels " + labels};
  }
  if (kind == Kind::kImageFolder) {
    const std::filesystem::path train = std::filesystem::path(root) / "train";
    std::error_code ec;
    if (!std::filesystem::is_directory(train, ec)) {
      throw DataError("train/ not found in " + root +
                      ": the validation labels index the training class folders");
    }
    return {detail::class_folders(train.string()), train.string()};
  }
  if (is_speech(kind)) {
    const std::vector<std::string> files = detail::split_files(root, kind, Split::kTrain);
    return {detail::speech_class_names(kind, files), "the training split " + files[0]};
  }
  return {};
}

}  // namespace

std::unique_ptr<Dataset> open_dataset(const std::string& root, Split split, const OpenOptions& opt,
                                      const std::optional<core::AudioFrontEnd>& audio) {
  const Kind kind = detect_kind(root);
  check_augment(opt.augment, kind, root);
  const std::set<std::string> unique(opt.classes.begin(), opt.classes.end());
  if (unique.size() != opt.classes.size()) {
    throw DataError(root + ": the given class list names a class twice (" +
                    detail::list_text(opt.classes) + ")");
  }
  const bool train = split == Split::kTrain;
  const std::vector<std::string> files = detail::split_files(root, kind, split);
  // Both splits take the training split's statistics and classes unless the caller (a model)
  // gives them; an evaluation split without a training split beside it needs them given.
  Normalization norm = opt.norm;
  detail::Classes classes{opt.classes, "the model's " + std::to_string(opt.classes.size()) + " classes"};
  try {
    if (norm.empty()) norm = dataset_normalization(root);
    if (classes.names.empty() && !train) classes = training_classes(root, kind);
  } catch (const DataError& e) {
    if (train) throw;
    throw DataError(std::string(e.what()) + " (the " + kind_name(kind) +
                    " test split takes its normalization and classes from the training split "
                    "unless the model's are given)");
  }
  const std::string split_name = train ? "train" : "test";
  if (is_speech(kind)) {
    const core::AudioFrontEnd fe = audio.value_or(core::AudioFrontEnd{});
    const Transform t = speech_transform(train ? opt.augment : Augment::kNone, fe);
    return detail::make_speech(kind, files, fe, t, split_name, classes);
  }
  const Transform t = standard_transform(kind, train ? opt.augment : Augment::kNone, norm);
  switch (kind) {
    case Kind::kIdx: return detail::make_idx(files[0], files[1], t, split_name, classes);
    case Kind::kCifar10:
    case Kind::kCifar100:
      return detail::make_cifar(files, kind == Kind::kCifar100, t, split_name, classes);
    case Kind::kImageFolder: return detail::make_image_folder(files[0], t, split_name, classes);
    case Kind::kSpeechManifest:
    case Kind::kSpeechCommands: break;
  }
  throw DataError(root + ": unknown dataset kind");
}

}  // namespace ds::data
