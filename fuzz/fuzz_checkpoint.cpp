// The checkpoint reader: parse_checkpoint (torch::pickle_load of the zip archive, then the
// checks of every field). Documented errors: CheckpointError.
#include <c10/util/Logging.h>

#include "harness.h"
#include "train/checkpoint.h"

namespace {

// Every c10::Error symbolizes a stack trace when it is built (milliseconds each), and nearly
// every mutated input ends in one: without this the harness runs ~70 inputs/s. The messages
// parse_checkpoint passes on do not depend on the trace.
[[maybe_unused]] const bool g_no_traces = [] {
  c10::SetStackTraceFetcher([] { return std::string(); });
  return true;
}();

}  // namespace

DS_FUZZ_TARGET(checkpoint) {
  try {
    ds::parse_checkpoint(std::vector<char>(data, data + size), "fuzz.pt");
    ds::fuzz::note_accepted();
  } catch (const ds::CheckpointError&) {
  }
  return 0;
}
