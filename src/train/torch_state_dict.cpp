#include "train/torch_state_dict.h"

#include <cstring>
#include <map>
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

// Whether t's view (offset, shape, strides) stays inside its storage.
bool view_fits_storage(const torch::Tensor& t) {
  if (t.numel() == 0) return true;
  const uint64_t item = uint64_t(t.element_size());
  if (t.storage_offset() < 0 || item == 0) return false;
  uint64_t last = uint64_t(t.storage_offset());
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) < 0 || t.size(d) <= 0) return false;
    const uint64_t span = uint64_t(t.size(d) - 1), stride = uint64_t(t.stride(d));
    if (stride != 0 && span > (uint64_t(1) << 62) / stride) return false;
    last += span * stride;
    if (last > (uint64_t(1) << 62)) return false;
  }
  return (last + 1) * item <= uint64_t(t.storage().nbytes());
}

// Every tensor in `v` (dicts, lists and tuples walked) against the records it was read from.
void check_tensors(const c10::IValue& v, const std::map<const void*, size_t>& records, const std::string& name) {
  if (v.isTensor()) {
    const torch::Tensor t = v.toTensor();
    if (t.numel() == 0) return;
    const auto it = records.find(t.storage().data());
    if (it == records.end() || uint64_t(t.storage().nbytes()) > it->second || !view_fits_storage(t))
      throw std::runtime_error(name + ": a tensor of shape " + c10::str(t.sizes()) +
                               " claims more data than the archive holds for it (damaged file)");
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) check_tensors(e.value(), records, name);
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) check_tensors(e, records, name);
  } else if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements()) check_tensors(e, records, name);
  }
}

}  // namespace

c10::IValue load_torch_save(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return load_torch_archive(std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()), path);
}

c10::IValue load_torch_archive(const std::vector<char>& bytes, const std::string& name) {
  // libtorch sizes allocations from the zip directory and the pickle's string lengths before
  // checking them: refuse claims larger than the file first.
  if (const std::string problem = torch_archive::check_torch_archive(bytes); !problem.empty())
    throw std::runtime_error(name + ": damaged torch.save archive: " + problem);
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
  std::map<const void*, size_t> records;  // each storage's buffer and the bytes it really holds
  auto record = [&](const std::string& key) {
    auto [ptr, n] = reader.getRecord("data/" + key);
    records[ptr.get()] = n;
    return std::move(ptr);
  };
  torch::jit::Unpickler unpickler(read, nullptr, nullptr, record, c10::Device(c10::kCPU));
  c10::IValue v = unpickler.parse_ivalue();
  check_tensors(v, records, name);
  return v;
}

}  // namespace ds
