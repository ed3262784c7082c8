// What the dataset harnesses do with a dataset that opened: the calls a trainer makes.
#pragma once

#include "data/dataset.h"

namespace ds::fuzz {

// Loads the first and the last sample (each label must lie in [0, num_classes()), or this
// aborts) and calls class_names() and describe().
void sample_ends(const data::Dataset& ds);

}  // namespace ds::fuzz
