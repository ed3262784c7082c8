// Bit-for-bit comparison of named tensors (name, dtype, shape and bytes; NaN payloads included),
// for the checkpoint tests and the crash test, where "close" would hide a wrong resume.
#pragma once

#include <cstring>

#include "train/checkpoint.h"

namespace ds::testing {

inline bool same_tensors(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const torch::Tensor x = a[i].second.contiguous(), y = b[i].second.contiguous();
    if (a[i].first != b[i].first || x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes() ||
        std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) != 0)
      return false;
  }
  return true;
}

}  // namespace ds::testing
