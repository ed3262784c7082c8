// Checks a torch.save archive's size claims before libtorch reads it. libtorch 1.13 sizes
// allocations from two fields it has not checked, so one corrupt byte can cost gigabytes
// (found by fuzz/fuzz_checkpoint.cpp):
//  - PyTorchStreamReader::getRecord allocates a zip entry's uncompressed size as the central
//    directory states it, before extracting;
//  - the Unpickler allocates and zero-fills the length a string opcode of data.pkl states
//    (up to 4 GiB for BINUNICODE, 2^64 for BINUNICODE8), before it reads the bytes, and grows
//    its memo to whatever index a LONG_BINPUT names (16 bytes per entry up to 2^32).
// check_torch_archive refuses an archive where either claim exceeds what the file holds.
// Header-only so that the checkpoint reader and its fuzz build need no extra source.
#pragma once

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace ds::torch_archive {

// Little-endian field of `n` bytes at `p`.
inline uint64_t le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | uint8_t(p[i]);
  return v;
}

// Bytes of a pickle instruction's argument after its opcode: a fixed size (>= 0), or -1 for a
// newline-terminated argument, -2 for one text line per argument of GLOBAL/INST (two lines),
// -(10 + k) for a k-byte length followed by that many bytes, or -100 for an opcode torch's
// Unpickler does not know (it refuses the file there itself, so the scan can stop).
inline int pickle_arg(uint8_t op) {
  switch (op) {
    case '(': case '.': case '0': case '1': case '2': case 'N': case 'R': case 'Q': case ']':
    case 'a': case 'b': case 'd': case '}': case 'e': case 'l': case 'o': case 's': case 'u':
    case 't': case ')': case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89:
    case 0x8f: case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x97: case 0x98:
      return 0;
    case 'K': case 'q': case 'h': case 0x80: case 0x82: return 1;
    case 'M': case 0x83: return 2;
    case 'J': case 'r': case 'j': case 0x84: return 4;
    case 'G': case 0x95: return 8;
    case 'I': case 'L': case 'F': case 'S': case 'V': case 'p': case 'g': case 'P': return -1;
    case 'c': case 'i': return -2;
    case 'U': case 'C': case 0x8c: case 0x8a: return -11;
    case 'T': case 'B': case 'X': case 0x8b: return -14;
    case 0x8d: case 0x8e: case 0x96: return -18;
    default: return -100;
  }
}

// The stack effect of an opcode as torch's Unpickler applies it: how many values it needs on the
// stack, and by how much it changes the stack's size; `mark` for the opcodes that pop back to the
// last MARK. The Unpickler pops without checking (a TUPLE2 over one value freed memory it does
// not own: found by the test command's fuzz stage), so the scan checks for it. Opcodes left out
// (kUnknown) end the stack checks: the scan then only checks lengths.
struct StackEffect {
  int need, delta;
  bool mark = false, known = true;
};
inline StackEffect pickle_stack(uint8_t op) {
  switch (op) {
    case '(': return {0, 0};  // MARK (the scan keeps marks apart)
    case 't': case 'l': case 'd': case 'o': case 0x91: case 'i': return {0, 1, true};  // pop to the mark, push 1
    case 'e': case 'u': case 0x90: return {0, 0, true};  // pop to the mark into the value below it
    case '1': return {0, 0, true};  // POP_MARK
    case 'N': case 'K': case 'M': case 'J': case 'I': case 'L': case 'F': case 'G': case 'S': case 'V': case 'U':
    case 'T': case 'B': case 'X': case 'C': case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x96:
    case 0x88: case 0x89: case ']': case '}': case ')': case 0x8f: case 'c': case 'g': case 'h': case 'j':
    case 'P':
      return {0, 1};
    case 'p': case 'q': case 'r': case 0x94: return {1, 0};  // PUT, MEMOIZE: the top stays
    case '0': return {1, -1};
    case '2': return {1, 1};
    case 'Q': case 0x85: return {1, 0};
    case 'R': case 0x81: case 0x86: case 0x93: return {2, -1};
    case 'b': case 'a': return {2, -1};
    case 's': return {3, -2};
    case 0x87: case 0x92: return {3, -2};
    case 0x80: case 0x95: case '.': return {0, 0};
    default: return {0, 0, false, false};
  }
}

// "" when every length in the pickle fits in what follows it and no instruction pops more than the
// stack holds, else the problem.
inline std::string check_pickle(const char* p, size_t n) {
  size_t at = 0;
  std::vector<size_t> segments{0};  // values on the stack since each MARK (the first: since the start)
  bool tracking = true;
  while (at < n) {
    const uint8_t op = uint8_t(p[at]);
    const int arg = pickle_arg(op);
    if (op == '.' || arg == -100) return "";  // STOP, or an opcode the Unpickler refuses itself
    if (tracking) {
      const StackEffect e = pickle_stack(op);
      size_t depth = 0;
      for (size_t v : segments) depth += v;
      const std::string where = " at offset " + std::to_string(at) + " of data.pkl";
      if (!e.known) {
        tracking = false;
      } else if (op == '(') {
        segments.push_back(0);
      } else if (e.mark) {
        if (segments.size() < 2) return "a pickle instruction pops to a MARK that is not there" + where;
        segments.pop_back();
        if ((op == 'e' || op == 'u' || op == 0x90) && segments.back() == 0)
          return "a pickle instruction adds items to a value that is not there" + where;
        segments.back() += size_t(e.delta);
      } else {
        if (depth < size_t(e.need)) return "a pickle instruction pops more values than the stack holds" + where;
        // Pops may reach below the last MARK (the Unpickler allows it): take them from the
        // segments, newest first.
        size_t pop = size_t(e.need), push = size_t(int64_t(e.need) + e.delta);
        for (size_t i = segments.size(); pop > 0 && i-- > 0;) {
          const size_t k = std::min(pop, segments[i]);
          segments[i] -= k, pop -= k;
        }
        segments.back() += push;
      }
    }
    size_t next = at + 1;
    if (arg >= 0) {
      if (n - next < size_t(arg)) return "data.pkl ends inside an instruction at offset " + std::to_string(at);
      // LONG_BINPUT: the Unpickler grows its memo to the index. Memo ids count up from 0, one per
      // PUT of at least 2 bytes, so an index beyond the pickle's size is corrupt.
      if (op == 'r' && le(p + next, 4) >= n) {
        return "data.pkl stores memo entry " + std::to_string(le(p + next, 4)) + " at offset " + std::to_string(at) +
               " of a " + std::to_string(n) + "-byte pickle";
      }
      next += size_t(arg);
    } else if (arg == -1 || arg == -2) {
      for (int line = 0; line < -arg; ++line) {
        const void* nl = next < n ? std::memchr(p + next, '\n', n - next) : nullptr;
        if (!nl) return "data.pkl ends inside an instruction at offset " + std::to_string(at);
        next = size_t(static_cast<const char*>(nl) - p) + 1;
      }
    } else {
      const int k = -arg - 10;
      if (n - next < size_t(k)) return "data.pkl ends inside an instruction at offset " + std::to_string(at);
      const uint64_t len = le(p + next, k);
      next += size_t(k);
      if (len > n - next) {
        return "data.pkl claims " + std::to_string(len) + " bytes at offset " + std::to_string(at) + ", " +
               std::to_string(n - next) + " left";
      }
      next += size_t(len);
    }
    if (next > n) return "data.pkl ends inside an instruction at offset " + std::to_string(at);
    at = next;
  }
  return "";
}

// "" when the archive's entries and data.pkl claim no more than the file holds, else the
// problem. Archives this cannot follow (no end record, ZIP64) are left to libtorch, which
// refuses them or reads them with sizes the checks here did not need to bound.
inline std::string check_torch_archive(const std::vector<char>& bytes) {
  const size_t n = bytes.size();
  const char* b = bytes.data();
  constexpr size_t kEnd = 22, kCentral = 46, kLocal = 30;
  if (n < kEnd) return "";
  size_t eocd = n - kEnd;  // the end record, searched back over its comment (at most 64 KiB)
  while (std::memcmp(b + eocd, "PK\x05\x06", 4) != 0) {
    if (eocd == 0 || n - eocd > kEnd + 0xFFFF) return "";
    --eocd;
  }
  const uint64_t entries = le(b + eocd + 10, 2), dir_size = le(b + eocd + 12, 4), dir_at = le(b + eocd + 16, 4);
  if (dir_at == 0xFFFFFFFF || entries == 0xFFFF) return "";  // ZIP64
  if (dir_at > n || dir_size > n - dir_at) return "the zip directory lies outside the file";
  size_t at = size_t(dir_at);
  for (uint64_t i = 0; i < entries; ++i) {
    if (n - at < kCentral || std::memcmp(b + at, "PK\x01\x02", 4) != 0) return "corrupt zip directory";
    const uint64_t method = le(b + at + 10, 2), comp = le(b + at + 20, 4), size = le(b + at + 24, 4);
    const uint64_t name_len = le(b + at + 28, 2), extra_len = le(b + at + 30, 2), comment_len = le(b + at + 32, 2);
    const uint64_t local = le(b + at + 42, 4);
    if (comp == 0xFFFFFFFF || size == 0xFFFFFFFF || local == 0xFFFFFFFF) return "";  // ZIP64
    if (n - at - kCentral < name_len) return "corrupt zip directory";
    const std::string name(b + at + kCentral, size_t(name_len));
    // Deflate expands at most 1032:1; a stored entry is its own size.
    if (method == 0 ? size != comp : method != 8 || size > 1032 * comp + 64)
      return "zip entry " + name + " claims " + std::to_string(size) + " bytes from " + std::to_string(comp);
    if (local > n || n - local < kLocal) return "zip entry " + name + " lies outside the file";
    const size_t data_at = size_t(local) + kLocal + size_t(le(b + local + 26, 2)) + size_t(le(b + local + 28, 2));
    if (data_at > n || comp > n - data_at) return "zip entry " + name + " runs past the end of the file";
    // libtorch finds "data.pkl" whatever its case (miniz's lookup ignores case): so does the
    // check (an entry named Data.pkl once got past it with a 4 GiB string length). ASCII only, as
    // miniz folds case; data::detail::to_lower goes through std::tolower, which follows the locale.
    std::string lower = name;
    for (char& c : lower) c = char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    const size_t slash = lower.find('/');
    if (method == 0 && slash != std::string::npos && lower.compare(slash, std::string::npos, "/data.pkl") == 0) {
      const std::string problem = check_pickle(b + data_at, size_t(size));
      if (!problem.empty()) return problem;
    }
    const uint64_t step = kCentral + name_len + extra_len + comment_len;
    if (step > n - at) return "corrupt zip directory";
    at += size_t(step);
  }
  return "";
}

}  // namespace ds::torch_archive
