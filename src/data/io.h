// Private helpers shared by the readers: bounded file reads, streaming gzip, string and hash
// utilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ds::data::detail {

// Every size a reader takes from a file (a length, a header's dimensions) is checked against a
// cap before anything is allocated from it, so a corrupt or hostile file costs an error, not the
// machine's memory. 4 GiB is 80x MNIST's training images and 25x CIFAR-100's training batch.
constexpr uint64_t kMaxDataBytes = uint64_t(4) << 30;
std::string bytes_text(uint64_t n);  // "4 GiB", "12 MiB", "123 bytes"

// Reads the whole file; DataError naming `path` if it is missing, a directory, unreadable or
// larger than `max_bytes`.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes);

bool is_gzip(const std::vector<uint8_t>& bytes);

// Sequential reader over a file's bytes (as read_file returned them) that inflates them on the
// fly when they are gzip (concatenated members allowed), so a caller can read a header first and
// decide how much more it will accept. `bytes` must outlive the stream.
class ByteStream {
 public:
  ByteStream(const std::vector<uint8_t>& bytes, const std::string& path);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // Reads up to n bytes into dst and returns how many: fewer than n only at the end of the data.
  // DataError naming the path on corrupt or truncated gzip.
  size_t read(uint8_t* dst, size_t n);
  // Reads the rest into `out` (appending), growing it geometrically, so memory follows the data
  // actually produced and never a size some header claims. Returns false, having stopped at
  // max_out + 1 bytes, when there is more than max_out.
  bool read_rest(std::vector<uint8_t>& out, uint64_t max_out);
  // Skips up to `limit` more bytes and returns how many there were (to report trailing data).
  uint64_t skip(uint64_t limit);
  bool gzip() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Inflates a whole gzip stream (concatenated members allowed); DataError naming `path` on
// corrupt or truncated input, or once the output exceeds max_out bytes.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path,
                            uint64_t max_out);

std::string to_lower(std::string s);

// "a, b, c, ... (1000 in all)": at most `shown` items.
std::string list_text(const std::vector<std::string>& items, size_t shown = 10);

// SplitMix64 finalizer: a cheap, well-mixed, platform-independent way to derive seeds.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace ds::data::detail
