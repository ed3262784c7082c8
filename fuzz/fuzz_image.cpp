// JPEG (libturbojpeg) and PNG (libpng) decoding from memory, then the decoded image (of any
// size and aspect ratio the file claims) through ImageFolder's two transforms: RandomResizedCrop
// + flip, and resize + center crop. Documented errors: data::DataError.
#include <cstdio>
#include <cstdlib>
#include <random>

#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/transform.h"
#include "harness.h"

namespace {

// Small outputs: the resampling paths are the same at 16 as at 224.
ds::data::Transform folder_transform(bool train) {
  ds::data::Transform t;
  t.crop = 16;
  t.random_resized_crop = train, t.hflip = train, t.resize = train ? 0 : 18;
  t.mean = {0.5f, 0.5f, 0.5f}, t.std = {0.25f, 0.25f, 0.25f};
  return t;
}

}  // namespace

DS_FUZZ_TARGET(image) {
  try {
    const ds::data::Image img = ds::data::decode_image(data, size, "fuzz.img");
    // The decoder's contract: 3-channel RGB with exactly h x w x 3 bytes.
    if (img.c != 3 || img.h <= 0 || img.w <= 0 || img.px.size() != size_t(img.h) * img.w * 3) {
      std::fprintf(stderr, "fuzz_image: decoded image breaks its contract (%dx%dx%d, %zu bytes)\n", img.c, img.h,
                   img.w, img.px.size());
      std::abort();
    }
    std::mt19937 rng{uint32_t(size)};
    std::vector<float> out(3 * 16 * 16);
    for (bool train : {true, false}) ds::data::apply_transform(folder_transform(train), img.view(), out.data(), rng);
    ds::fuzz::note_accepted();
  } catch (const ds::data::DataError&) {
  }
  return 0;
}
