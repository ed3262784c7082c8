// gzip inflation as the IDX reader uses it: detail::gunzip (the whole stream at once) and
// detail::ByteStream read a few bytes at a time, which must agree byte for byte (the chunked
// path handles member boundaries and the end of the stream on its own).
// Documented errors: data::DataError.
#include <cstdio>
#include <cstdlib>

#include "data/dataset.h"
#include "data/io.h"
#include "harness.h"

namespace {

constexpr uint64_t kMaxOut = uint64_t(64) << 20;  // deflate's 1032:1 on a fuzz input stays far below

std::vector<uint8_t> read_in_steps(const std::vector<uint8_t>& in) {
  ds::data::detail::ByteStream s(in, "fuzz.gz");
  std::vector<uint8_t> out;
  uint8_t buf[7];
  for (size_t got; (got = s.read(buf, sizeof buf)) > 0;) out.insert(out.end(), buf, buf + got);
  return out;
}

}  // namespace

DS_FUZZ_TARGET(gzip) {
  const std::vector<uint8_t> in(data, data + size);
  std::vector<uint8_t> whole;
  try {
    whole = ds::data::detail::gunzip(in, "fuzz.gz", kMaxOut);
  } catch (const ds::data::DataError&) {
    return 0;
  }
  if (read_in_steps(in) != whole) {  // a DataError here, after gunzip succeeded, is a finding too
    std::fprintf(stderr, "fuzz_gzip: reading in 7-byte steps gives other bytes than gunzip\n");
    std::abort();
  }
  ds::fuzz::note_accepted();
  return 0;
}
