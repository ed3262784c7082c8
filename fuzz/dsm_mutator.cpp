// Field offsets and the table/header reseal come from tests/core/core_test_util.h, which
// writes the layout out from docs/format.md independently of container.cpp; this adds the
// file size and the section CRCs.
#include "dsm_checksums.h"

#include <cstring>
#include <vector>

#include "core/core_test_util.h"

namespace ds::fuzz {

using namespace ds::core::testing;

namespace {

// [offset, offset + len) inside a buffer of `size` bytes, without overflow.
bool inside(uint64_t offset, uint64_t len, size_t size) { return offset <= size && len <= size - offset; }

}  // namespace

void reseal_dsm(uint8_t* data, size_t size) {
  if (size < kHeader) return;
  std::vector<uint8_t> b(data, data + size);
  put64(b, kFileSizeAt, size);
  const uint64_t count = get32(b, kCountAt);
  if (inside(get64(b, kTableOffsetAt), count * kEntry, size)) {
    for (uint64_t i = 0; i < count; ++i) {
      const size_t e = entry_at(b, size_t(i));
      const uint64_t off = get64(b, e + kOffsetAt), len = get64(b, e + kSizeAt);
      if (inside(off, len, size)) put32(b, e + kCrcAt, core::crc32(b.data() + off, size_t(len)));
    }
  }
  reseal(b);  // table CRC (when the table is inside), then header CRC
  std::memcpy(data, b.data(), size);
}

}  // namespace ds::fuzz
