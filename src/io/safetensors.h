// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}, then the data section.
// The file is memory-mapped and validated once at open; reads are zero-copy views that keep the mapping alive.
// Every validation error is BadFile naming the file and the offending tensor/field/number.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sdpp {

class MappedFile;

class SafetensorsFile {
 public:
  // Largest JSON header accepted. Real checkpoints stay well under 1 MB; the bound stops a corrupt length from
  // making us parse (or allocate for) gigabytes of garbage.
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  struct Entry {
    std::string dtype_name;       // the file's spelling: "F16", "F8_E4M3", ...
    std::optional<DType> dtype;   // empty for dtypes we list but cannot compute with (F8, unsigned wide ints)
    Shape shape;
    uint64_t begin = 0;           // byte range inside the data section
    uint64_t end = 0;
  };

  // Throws NotFound when the path does not exist, BadFile when it is not a valid safetensors file.
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const Entry* find(const std::string& name) const;
  // The tensor as stored, a cpu view of the mapping (a copy only when the bytes are misaligned for the dtype).
  // Throws MissingTensor for an unknown name, Unsupported for a dtype we cannot compute with.
  Tensor read(const std::string& name) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> mapping_;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device; copied to the host) in safetensors layout, header padded to 8 bytes as the reference
// writer does; creates missing parent folders. Throws BadFile when the file cannot be written.
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sdpp
