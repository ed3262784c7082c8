// The .dsm container: a header, a section table, and 64-byte-aligned sections, each with a
// CRC-32. The model's content (graph, weights, metadata) lives in tagged sections on top of
// this; docs/format.md is the byte-level description. No dependencies beyond the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ds::core {

// Every malformed-file error: the message names the file and the problem.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Version 2 added the training dataset's path to META (docs/format.md section 9); version 3 the
// AUDF section of speech models (section 10), so that a build which cannot run a speech model's
// front end refuses the file instead of feeding it pictures. Versions 1 and 2 are still read.
constexpr uint32_t kFormatVersion = 3;

// Bounds-checked little-endian reading of a section payload; every read past the end throws
// FormatError naming `what` (e.g. "model.dsm: section GRPH").
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string what);
  uint8_t u8();
  uint32_t u32();
  int32_t i32();
  uint64_t u64();
  float f32();
  std::string str();                     // u32 length + bytes; length checked against what is left
  const uint8_t* bytes(size_t n);        // pointer to the next n bytes
  size_t remaining() const { return size_ - pos_; }
  size_t position() const { return pos_; }
  const std::string& what() const { return what_; }
  [[noreturn]] void fail(const std::string& problem) const;  // throws FormatError "what: problem"

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  std::string what_;
};

class ByteWriter {
 public:
  void u8(uint8_t v);
  void u32(uint32_t v);
  void i32(int32_t v);
  void u64(uint64_t v);
  void f32(float v);
  void str(const std::string& s);
  void bytes(const void* p, size_t n);
  void align(size_t a);  // zero-pad to a multiple of a
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  std::vector<uint8_t> buf_;
};

class ContainerWriter {
 public:
  // tag: exactly 4 printable ASCII characters, unique within the file.
  void add(const std::string& tag, std::vector<uint8_t> payload);
  std::vector<uint8_t> serialize() const;
  // Writes to path + ".tmp", flushes, renames: never leaves a half-written model behind.
  void write(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections_;
};

struct SectionView {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

class Container {
 public:
  Container() = default;
  // The section views point into bytes_: a copy must re-point them at its own buffer. Moving a
  // std::vector keeps its buffer, so the defaulted moves are correct.
  Container(const Container& other);
  Container& operator=(const Container& other);
  Container(Container&&) noexcept = default;
  Container& operator=(Container&&) noexcept = default;

  // Reads and validates: magic, version (newer or older files are refused with a message
  // saying which versions this build reads), table bounds, section bounds and overlap,
  // alignment, zero padding, CRC-32 of the header, the table and every section. Throws
  // FormatError naming `path`.
  static Container open(const std::string& path);
  static Container from_bytes(std::vector<uint8_t> bytes, const std::string& name);

  uint32_t version() const { return version_; }
  const std::string& name() const { return name_; }
  bool has(const std::string& tag) const;
  SectionView section(const std::string& tag) const;  // throws FormatError if absent
  ByteReader reader(const std::string& tag) const;    // what() = "<name>: section <tag>"
  std::vector<std::string> tags() const;
  size_t file_size() const { return bytes_.size(); }

 private:
  std::string name_;
  uint32_t version_ = 0;
  std::vector<uint8_t> bytes_;
  std::vector<std::pair<std::string, SectionView>> sections_;
};

uint32_t crc32(const uint8_t* data, size_t n);

}  // namespace ds::core
