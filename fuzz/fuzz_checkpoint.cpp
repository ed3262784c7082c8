// The checkpoint reader: parse_checkpoint (torch::pickle_load of the zip archive, then the
// dict's entries). Documented errors: CheckpointError.
#include "harness.h"
#include "train/checkpoint.h"

DS_FUZZ_TARGET(checkpoint) {
  try {
    ds::parse_checkpoint(std::vector<char>(data, data + size), "fuzz.pt");
    ds::fuzz::note_accepted();
  } catch (const ds::CheckpointError&) {
  }
  return 0;
}
