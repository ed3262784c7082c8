// The training augmentations by name, and the standard transform each gives per dataset kind.
#include "data/transform.h"

namespace ds::data {

namespace {

constexpr Augment kAll[] = {Augment::kNone, Augment::kCrop, Augment::kCropFlip, Augment::kImageNet, Augment::kSpeech};

// Speech: the largest time shift, either way (100 ms at 16 kHz; scaled with the rate).
constexpr double kTimeShiftSeconds = 0.1;

// The small datasets' random crop: zero-pad by this much, crop back to the original size.
constexpr int kPadCrop = 4;
// ImageNet-style sizes: crop side, and the shorter side that evaluation resizes to first.
constexpr int kCrop = 224, kEvalResize = 256;

bool fixed_size(Kind kind) { return kind != Kind::kImageFolder; }

std::string choices() {
  std::string s;
  for (Augment a : kAll) s += std::string(s.empty() ? "" : ", ") + augment_name(a);
  return s;
}

}  // namespace

const char* augment_name(Augment a) {
  switch (a) {
    case Augment::kNone: return "none";
    case Augment::kCrop: return "crop";
    case Augment::kCropFlip: return "crop-flip";
    case Augment::kImageNet: return "imagenet";
    case Augment::kSpeech: return "speech";
  }
  return "unknown";
}

Augment parse_augment(const std::string& name) {
  for (Augment a : kAll) {
    if (name == augment_name(a)) return a;
  }
  throw DataError("unknown augmentation '" + name + "' (choices: " + choices() + ")");
}

Augment default_augment(Kind kind) {
  switch (kind) {
    case Kind::kIdx: return Augment::kCrop;
    case Kind::kCifar10:
    case Kind::kCifar100: return Augment::kCropFlip;
    case Kind::kImageFolder: return Augment::kImageNet;
    case Kind::kSpeechManifest:
    case Kind::kSpeechCommands: return Augment::kSpeech;
  }
  return Augment::kNone;
}

void check_augment(Augment a, Kind kind, const std::string& root) {
  // Crops and flips of a waveform make no sense, nor time shifts of a picture.
  if (is_speech(kind) && a != Augment::kNone && a != Augment::kSpeech)
    throw DataError(root + ": augmentation '" + augment_name(a) + "' is for pictures, this is " + kind_name(kind) +
                    " audio (use speech or none)");
  if (!is_speech(kind) && a == Augment::kSpeech)
    throw DataError(root + ": augmentation 'speech' (time shift + SpecAugment) is for audio, this is " +
                    kind_name(kind) + " (use none, crop, crop-flip or imagenet)");
  if (a == Augment::kImageNet && fixed_size(kind)) {
    throw DataError(root + ": augmentation 'imagenet' (RandomResizedCrop 224 + flip) needs an "
                    "ImageFolder dataset, this is " + kind_name(kind) +
                    " (fixed-size images: use none, crop or crop-flip)");
  }
}

Transform standard_transform(Kind kind, Augment augment, const Normalization& norm) {
  check_augment(augment, kind, kind_name(kind));
  Transform t;
  t.mean = norm.mean;
  t.std = norm.std;
  if (is_speech(kind)) return t;
  const bool crop = augment != Augment::kNone;
  t.hflip = augment == Augment::kCropFlip || augment == Augment::kImageNet;
  if (fixed_size(kind)) {
    t.pad_crop = crop ? kPadCrop : 0;
    return t;
  }
  t.crop = kCrop;
  if (crop) {
    t.random_resized_crop = true;
  } else {
    t.resize = kEvalResize;
  }
  return t;
}

Transform speech_transform(Augment augment, const core::AudioFrontEnd& fe) {
  Transform t;
  if (augment == Augment::kSpeech) t.time_shift = int(kTimeShiftSeconds * fe.sample_rate);
  return t;
}

}  // namespace ds::data
