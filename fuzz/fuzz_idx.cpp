// IDX reader (MNIST / Fashion-MNIST files, raw or gzipped): open_idx on an images file and a
// labels file, then the first and last samples through pad-crop + flip.
// Input layout: u32 little-endian n, then n bytes of the images file, then the labels file
// (n is cut to what is there). Documented errors: data::DataError.
#include <algorithm>

#include "data/dataset.h"
#include "harness.h"
#include "sample_ends.h"

DS_FUZZ_TARGET(idx) {
  uint32_t n = 0;
  for (size_t i = 0; i < 4 && i < size; ++i) n |= uint32_t(data[i]) << (8 * i);
  const size_t rest = size - std::min<size_t>(size, 4), images = std::min<size_t>(n, rest);
  const uint8_t* p = data + (size - rest);
  try {
    const std::string ipath = ds::fuzz::write_temp_file("train-images-idx3-ubyte", p, images);
    const std::string lpath = ds::fuzz::write_temp_file("train-labels-idx1-ubyte", p + images, rest - images);
    ds::data::Transform t;
    t.pad_crop = 4, t.hflip = true, t.mean = {0.5f}, t.std = {0.25f};
    ds::fuzz::sample_ends(*ds::data::open_idx(ipath, lpath, t));
    ds::fuzz::note_accepted();
  } catch (const ds::data::DataError&) {
  }
  return 0;
}
