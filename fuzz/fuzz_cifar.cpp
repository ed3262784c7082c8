// CIFAR-10 and CIFAR-100 binary batches: the same bytes opened as a CIFAR-10 batch and as a
// CIFAR-100 batch, then the first and last samples through pad-crop + flip.
// Documented errors: data::DataError.
#include "data/dataset.h"
#include "harness.h"
#include "sample_ends.h"

DS_FUZZ_TARGET(cifar) {
  const std::string path = ds::fuzz::write_temp_file("data_batch_1.bin", data, size);
  ds::data::Transform t;
  t.pad_crop = 4, t.hflip = true, t.mean = {0.5f, 0.5f, 0.5f}, t.std = {0.25f, 0.25f, 0.25f};
  for (bool cifar100 : {false, true}) {
    try {
      ds::fuzz::sample_ends(*ds::data::open_cifar({path}, cifar100, t));
      ds::fuzz::note_accepted();
    } catch (const ds::data::DataError&) {
    }
  }
  return 0;
}
