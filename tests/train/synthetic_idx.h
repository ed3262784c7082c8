// A learnable IDX dataset for trainer tests: 12x12 images where class k (of 4) lights up
// quadrant k, plus noise. A few steps of training separate the classes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace ds::testing {

inline void put_be32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

// Writes <prefix>-images-idx3-ubyte and <prefix>-labels-idx1-ubyte with n samples.
inline void write_quadrant_idx(const std::filesystem::path& dir, const std::string& prefix, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
  std::ofstream lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
  put_be32(img, 0x803), put_be32(img, uint32_t(n)), put_be32(img, 12), put_be32(img, 12);
  put_be32(lab, 0x801), put_be32(lab, uint32_t(n));
  for (int i = 0; i < n; ++i) {
    int k = int(rng() % 4);
    lab.put(char(k));
    for (int y = 0; y < 12; ++y)
      for (int x = 0; x < 12; ++x) {
        bool lit = (y / 6) * 2 + (x / 6) == k;
        img.put(char(uint8_t((lit ? 160 : 0) + rng() % 64)));
      }
  }
}

}  // namespace ds::testing
