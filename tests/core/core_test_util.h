// Helpers for the core tests: a scratch folder, file I/O, and raw access to .dsm fields at the
// offsets docs/format.md gives (written out here independently of container.cpp, so a layout
// change there that the spec does not follow makes these tests fail).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/container.h"

#include "common/temp_dir.h"

namespace ds::core::testing {

namespace fs = std::filesystem;

// Layout from docs/format.md.
constexpr size_t kHeader = 64, kEntry = 32;
constexpr size_t kVersionAt = 8, kCountAt = 12, kTableOffsetAt = 16, kFileSizeAt = 24,
                 kHeaderCrcAt = 32, kTableCrcAt = 36;
constexpr size_t kTagAt = 0, kFlagsAt = 4, kOffsetAt = 8, kSizeAt = 16, kCrcAt = 24,
                 kEntryReservedAt = 28;

struct TempDir : ds::testing::TempDirBase {
  TempDir() : TempDirBase("denseshift_core") {}
};

inline void write_file(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline uint32_t get32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | b.at(at + i);
  return v;
}
inline uint64_t get64(const std::vector<uint8_t>& b, size_t at) {
  return uint64_t(get32(b, at)) | uint64_t(get32(b, at + 4)) << 32;
}
inline void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = uint8_t(v >> (8 * i));
}
inline void put64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  put32(b, at, uint32_t(v));
  put32(b, at + 4, uint32_t(v >> 32));
}

// Where table entry i starts (the table offset as the header says it).
inline size_t entry_at(const std::vector<uint8_t>& b, size_t i) {
  return size_t(get64(b, kTableOffsetAt)) + i * kEntry;
}

// Recomputes the table CRC (when the table is inside the buffer) and then the header CRC, so a
// deliberately broken field reaches the structural check behind the checksums.
inline void reseal(std::vector<uint8_t>& b) {
  if (b.size() < kHeader) return;
  const uint64_t off = get64(b, kTableOffsetAt), len = uint64_t(get32(b, kCountAt)) * kEntry;
  if (off <= b.size() && len <= b.size() - off) put32(b, kTableCrcAt, crc32(b.data() + off, len));
  put32(b, kHeaderCrcAt, 0);
  put32(b, kHeaderCrcAt, crc32(b.data(), kHeader));
}

inline std::vector<uint8_t> payload(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> p(n);
  for (auto& x : p) x = uint8_t(rng());
  return p;
}

// Three sections with sizes that leave padding between them.
inline std::vector<uint8_t> sample_file() {
  ContainerWriter w;
  w.add("META", payload(10, 1));
  w.add("GRPH", payload(100, 2));
  w.add("WGTS", payload(200, 3));
  return w.serialize();
}

}  // namespace ds::core::testing
