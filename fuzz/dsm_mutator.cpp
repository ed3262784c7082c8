// reseal_dsm's field offsets and table/header reseal come from tests/core/core_test_util.h,
// which writes the layout out from docs/format.md independently of container.cpp; it adds the
// file size and the section CRCs. mutate_dsm_section uses the container's own reader and writer.
#include "dsm_mutator.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
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

size_t mutate_dsm_section(uint8_t* data, size_t size, size_t max_size, unsigned pick, ByteMutator mutate) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections;
  try {
    const core::Container c = core::Container::from_bytes(std::vector<uint8_t>(data, data + size), "mutant");
    for (const std::string& tag : c.tags()) {
      const core::SectionView v = c.section(tag);
      sections.emplace_back(tag, std::vector<uint8_t>(v.data, v.data + v.size));
    }
  } catch (const core::FormatError&) {
    return 0;
  }
  if (sections.empty()) return 0;
  std::vector<uint8_t>& payload = sections[pick % sections.size()].second;
  // Room to grow by what the whole file may still grow.
  const size_t old = std::max<size_t>(payload.size(), 1);  // libFuzzer mutates at least one byte
  payload.resize(old + (max_size > size ? max_size - size : 0) + 1);
  payload.resize(mutate(payload.data(), old, payload.size()));
  core::ContainerWriter w;
  for (auto& [tag, bytes] : sections) w.add(tag, std::move(bytes));
  const std::vector<uint8_t> out = w.serialize();
  if (out.size() > max_size) return 0;
  std::copy(out.begin(), out.end(), data);
  return out.size();
}

}  // namespace ds::fuzz
