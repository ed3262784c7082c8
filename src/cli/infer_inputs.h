// What `infer` runs the model on: the files a user names, told apart by their contents, each
// turned into the model's input (runtime/preprocess.h for pictures).
#pragma once

#include <string>
#include <vector>

#include "core/model_format.h"

namespace ds::cli {

struct InferInput {
  std::string name;        // the file, "file[i]" for image i of an IDX file
  std::vector<float> x;    // in_c x in_h x in_w, normalized
};

// JPEG and PNG files (one input each) and IDX image files, raw or gzip (their first `idx_limit`
// images); for a speech model, audio files (WAV, FLAC, ...: resampled to the model's rate, through
// runtime/audio_frontend). A file of another kind, a truncated one, IDX images of another size
// than the model's, audio for a picture model or a picture for a speech model are errors naming
// the file.
std::vector<InferInput> read_infer_inputs(const std::vector<std::string>& files, const core::ModelInfo& info,
                                          size_t idx_limit);

}  // namespace ds::cli
