#include "sample_ends.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace ds::fuzz {

void sample_ends(const data::Dataset& ds) {
  std::vector<float> out(ds.sample_shape().numel());
  std::mt19937 rng(1);
  for (size_t i : {size_t(0), ds.size() - 1}) {
    const int label = ds.load(i, out.data(), rng);
    if (label < 0 || label >= ds.num_classes()) {
      std::fprintf(stderr, "fuzz: sample %zu has label %d outside [0, %d)\n", i, label, ds.num_classes());
      std::abort();
    }
  }
  ds.class_names();
  ds.describe();
}

}  // namespace ds::fuzz
