#include "train/torch_state_dict.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>
#include <stdexcept>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include "train/torch_archive_check.h"

namespace ds {
namespace {

// Where the top-level SETITEMS of a pickled OrderedDict ends, or 0 when the stream is not the
// shape torch.save gives a state_dict.
size_t end_of_top_items(const std::string& p, size_t from) {
  int depth = 0;
  size_t i = from;
  while (i < p.size()) {
    const unsigned char op = static_cast<unsigned char>(p[i++]);
    const int arg = torch_archive::pickle_arg(op);  // the one opcode table (torch_archive_check.h)
    if (arg == -100) return 0;
    if (arg >= 0) {
      i += size_t(arg);
    } else if (arg == -1 || arg == -2) {
      for (int line = 0; line < -arg; ++line) {
        const size_t nl = p.find('\n', i);
        if (nl == std::string::npos) return 0;
        i = nl + 1;
      }
    } else {
      const int k = -arg - 10;
      if (i + size_t(k) > p.size()) return 0;
      i += size_t(k) + size_t(torch_archive::le(p.data() + i, k));
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
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // libtorch sizes allocations from the zip directory and the pickle's string lengths before
  // checking them: refuse claims larger than the file first (as the checkpoint reader does).
  if (const std::string problem = torch_archive::check_torch_archive(bytes); !problem.empty())
    throw std::runtime_error(path + ": damaged torch.save archive: " + problem);
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  caffe2::serialize::PyTorchStreamReader reader(&in);
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
