// Private helpers shared by the readers: whole-file reads, gzip, string and hash utilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::data::detail {

// Reads the whole file; DataError naming `path` if it is missing, a directory or unreadable.
std::vector<uint8_t> read_file(const std::string& path);

bool is_gzip(const std::vector<uint8_t>& bytes);

// Inflates a gzip stream (concatenated members allowed); DataError naming `path` on corrupt
// or truncated input.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path);

std::string to_lower(std::string s);

// SplitMix64 finalizer: a cheap, well-mixed, platform-independent way to derive seeds.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace ds::data::detail
