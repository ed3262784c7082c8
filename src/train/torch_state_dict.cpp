#include "train/torch_state_dict.h"

#include <cstring>
#include <stdexcept>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

namespace ds {
namespace {

// Bytes of argument each pickle opcode (protocols 2-4) carries, for walking the stream without
// running it. -1: a length-prefixed argument (handled below); -2: two newline-ended strings.
int arg_bytes(unsigned char op) {
  switch (op) {
    case 'c': return -2;                          // GLOBAL
    case 'q': case 'h': case 'K': case 0x80: return 1;  // BINPUT BINGET BININT1 PROTO
    case 'M': return 2;                           // BININT2
    case 'r': case 'j': case 'J': return 4;       // LONG_BINPUT LONG_BINGET BININT
    case 'G': case 0x95: return 8;                // BINFLOAT FRAME
    case 'X': case 'T': case 'B': case 0x8a: case 0x8b: case 'U': case 'C': case 0x8c: return -1;
    default: return 0;
  }
}

// Length-prefixed arguments: the prefix width per opcode.
size_t prefix_bytes(unsigned char op) {
  return (op == 'X' || op == 'T' || op == 'B' || op == 0x8b) ? 4 : 1;
}

// Where the top-level SETITEMS of a pickled OrderedDict ends, or 0 when the stream is not the
// shape torch.save gives a state_dict.
size_t end_of_top_items(const std::string& p, size_t from) {
  int depth = 0;
  size_t i = from;
  while (i < p.size()) {
    const unsigned char op = static_cast<unsigned char>(p[i++]);
    const int n = arg_bytes(op);
    if (n == -2) {
      for (int k = 0; k < 2; ++k) {
        const size_t nl = p.find('\n', i);
        if (nl == std::string::npos) return 0;
        i = nl + 1;
      }
    } else if (n == -1) {
      const size_t w = prefix_bytes(op);
      if (i + w > p.size()) return 0;
      size_t len = 0;
      for (size_t k = 0; k < w; ++k) len |= size_t(static_cast<unsigned char>(p[i + k])) << (8 * k);
      i += w + len;
    } else {
      i += size_t(n);
    }
    if (op == '(') ++depth;
    if (op == 't' || op == 'u' || op == 'e' || op == 'l' || op == 'd' || op == '1' || op == 'o') {
      if (--depth < 0) return 0;
      if (op == 'u' && depth == 0) return i;
    }
    if (op == '.') return 0;
  }
  return 0;
}

// The two changes described in the header, or the pickle unchanged when it is not an OrderedDict.
// libtorch's unpickler has no POP (nor SETITEM), so the class cannot simply be dropped after it is memoized
// (the tensors' hook arguments fetch it again): it is parked in a tuple under the key "__od__"
// of the new top-level dict, where it is not a tensor and so is never taken for a weight.
std::string as_plain_dict(const std::string& p) {
  static const std::string kHead = std::string("\x80\x02") + "ccollections\nOrderedDict\nq";
  if (p.compare(0, kHead.size(), kHead) != 0 || p.size() < kHead.size() + 5) return p;
  const size_t call = kHead.size() + 1;  // after BINPUT's index byte
  if (p[call] != ')' || p[call + 1] != 'R' || p[call + 2] != 'q') return p;
  const size_t items = call + 4;  // after the dict's own BINPUT
  const size_t end = end_of_top_items(p, items);
  if (end == 0) return p;
  const std::string global = p.substr(2, kHead.size() - 2 + 1);  // GLOBAL ... BINPUT index
  static const std::string kKey("X\x06\x00\x00\x00__od__", 11);  // BINUNICODE "__od__" (NULs inside)
  const std::string head = std::string("\x80\x02}") + p.substr(call + 2, 2) +  // EMPTY_DICT, its BINPUT
                           "(" + kKey + "(" + global + "tu";  // dict["__od__"] = (class,), by SETITEMS
  return head + p.substr(items, end - items) + ".";
}

}  // namespace

c10::IValue load_torch_save(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  at::DataPtr data;
  size_t size = 0;
  std::tie(data, size) = reader.getRecord("data.pkl");
  const std::string pickle = as_plain_dict(std::string(static_cast<const char*>(data.get()), size));
  size_t pos = 0;
  auto read = [&](char* buf, size_t n) {
    n = std::min(n, pickle.size() - pos);
    std::memcpy(buf, pickle.data() + pos, n);
    pos += n;
    return n;
  };
  auto record = [&](const std::string& name) { return std::get<0>(reader.getRecord("data/" + name)); };
  torch::jit::Unpickler unpickler(read, nullptr, nullptr, record, c10::Device(c10::kCPU));
  return unpickler.parse_ivalue();
}

}  // namespace ds
