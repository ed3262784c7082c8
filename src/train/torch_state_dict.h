// Reads a state_dict that Python wrote with torch.save(model.state_dict(), path).
//
// libtorch's own torch::pickle_load reads these archives except for one thing: a state_dict is a
// collections.OrderedDict, which libtorch's unpickler turns into None (it only expects one as the
// unused backward-hooks argument of a tensor), so filling it fails. This reader runs the same
// unpickler on the archive's data.pkl after two byte-level changes, both checked against the
// exact opcodes torch.save writes: the top-level `OrderedDict()` call becomes an empty dict, and
// the stream stops after the dict's items, before the BUILD that would attach `_metadata`
// (module versions, unused here). Anything else in the pickle is read by libtorch unchanged.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace ds {

// The archive's top-level object (a GenericDict for a state_dict or a dict holding one). Throws
// std::runtime_error when the file is not a torch.save zip archive.
c10::IValue load_torch_save(const std::string& path);

// The same from bytes in memory (`name` goes into messages). Also what checkpoints are read with:
// libtorch builds each tensor from the pickle's claims (storage size, offset, shape, strides)
// without comparing them with the data the archive holds, so a damaged file could make a tensor
// that reads past its buffer (found by fuzz_checkpoint). Every tensor's storage is checked here
// against the size of the record it came from, and its view against its storage.
c10::IValue load_torch_archive(const std::vector<char>& bytes, const std::string& name);

}  // namespace ds
