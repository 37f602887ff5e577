#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sdpp {

// A read-only view of a whole file. Mapped private + writable so that a caller writing into a tensor view gets
// copy-on-write pages instead of a crash, and the file on disk is never modified.
class MappedFile {
 public:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}
  ~MappedFile() {
    if (data_) munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  uint8_t* data() const { return static_cast<uint8_t*>(data_); }
  size_t size() const { return size_; }

 private:
  void* data_;
  size_t size_;
};

namespace {

struct DTypeSpec {
  const char* name;
  size_t size;
  std::optional<DType> dtype;  // empty: listed, not computable
};

// The safetensors dtype names. Byte-sized-or-wider only; sub-byte formats (F4, F6_*) are rejected at open.
const DTypeSpec* find_dtype(const std::string& name) {
  static const DTypeSpec table[] = {
      {"F16", 2, DType::F16},  {"BF16", 2, DType::BF16}, {"F32", 4, DType::F32},   {"F64", 8, DType::F64},
      {"I64", 8, DType::I64},  {"I32", 4, DType::I32},   {"I16", 2, DType::I16},   {"I8", 1, DType::I8},
      {"U8", 1, DType::U8},    {"BOOL", 1, DType::Bool}, {"F8_E4M3", 1, {}},       {"F8_E5M2", 1, {}},
      {"F8_E8M0", 1, {}},      {"U16", 2, {}},           {"U32", 4, {}},           {"U64", 8, {}},
  };
  for (const auto& row : table) {
    if (name == row.name) return &row;
  }
  return nullptr;
}

[[noreturn]] void bad(const std::filesystem::path& path, const std::string& what) {
  throw Error(ErrorCode::BadFile, path.string() + ": " + what);
}

std::shared_ptr<MappedFile> map_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::NotFound, path.string() + ": no such file");
  if (std::filesystem::is_directory(path, ec)) bad(path, "is a directory, expected a .safetensors file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) bad(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    bad(path, std::string("cannot stat: ") + std::strerror(err));
  }
  const size_t size = size_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    bad(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte safetensors header length");
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (data == MAP_FAILED) bad(path, std::string("cannot map: ") + std::strerror(err));
  return std::make_shared<MappedFile>(data, size);
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Shape parse_shape(const std::filesystem::path& path, const std::string& name, const nlohmann::json& j) {
  if (!j.is_array()) bad(path, "tensor '" + name + "': shape is not an array");
  Shape shape;
  for (const auto& d : j) {
    if (!d.is_number_integer()) bad(path, "tensor '" + name + "': shape " + j.dump() + " has a non-integer dimension");
    if (d.is_number_unsigned()) {
      const uint64_t u = d.get<uint64_t>();
      if (u > uint64_t(INT64_MAX)) bad(path, "tensor '" + name + "': dimension " + std::to_string(u) + " is too large");
      shape.push_back(int64_t(u));
    } else {
      const int64_t v = d.get<int64_t>();
      if (v < 0) bad(path, "tensor '" + name + "': shape " + j.dump() + " has a negative dimension " + std::to_string(v));
      shape.push_back(v);
    }
  }
  return shape;
}

uint64_t parse_offset(const std::filesystem::path& path, const std::string& name, const nlohmann::json& j) {
  if (!j.is_number_integer()) bad(path, "tensor '" + name + "': data_offsets must be integers, got " + j.dump());
  if (!j.is_number_unsigned() && j.get<int64_t>() < 0)
    bad(path, "tensor '" + name + "': negative data offset " + j.dump());
  return j.get<uint64_t>();
}

std::string shape_text(const Shape& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) t += ',';
    t += std::to_string(s[i]);
  }
  t += ']';
  return t;
}

}  // namespace

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  auto mapping = map_file(path);
  const uint8_t* bytes = mapping->data();
  const uint64_t file_size = mapping->size();
  const uint64_t header_len = read_le64(bytes);
  if (header_len > kMaxHeaderBytes)
    bad(path, "header length " + std::to_string(header_len) + " exceeds the limit of " +
                  std::to_string(kMaxHeaderBytes) + " bytes (not a safetensors file?)");
  if (header_len > file_size - 8)
    bad(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                  std::to_string(file_size) + " bytes): truncated or not a safetensors file");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    bad(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) bad(path, std::string("header is JSON ") + header.type_name() + ", expected an object");

  auto file = std::make_shared<SafetensorsFile>();
  file->path_ = path;
  const uint64_t data_size = file_size - 8 - header_len;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) bad(path, "__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) file->metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    if (!value.is_object()) bad(path, "tensor '" + name + "': entry is not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
      if (!value.contains(field)) bad(path, "tensor '" + name + "': missing field '" + field + "'");
    }
    Entry e;
    if (!value["dtype"].is_string()) bad(path, "tensor '" + name + "': dtype is not a string");
    e.dtype_name = value["dtype"].get<std::string>();
    const DTypeSpec* spec = find_dtype(e.dtype_name);
    if (!spec) {
      if (e.dtype_name == "F4" || e.dtype_name.rfind("F6_", 0) == 0)
        throw Error(ErrorCode::Unsupported, path.string() + ": tensor '" + name + "': sub-byte dtype " +
                                                e.dtype_name + " is not supported");
      bad(path, "tensor '" + name + "': unknown dtype '" + e.dtype_name + "'");
    }
    e.dtype = spec->dtype;
    e.shape = parse_shape(path, name, value["shape"]);
    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2)
      bad(path, "tensor '" + name + "': data_offsets must be [begin, end], got " + offsets.dump());
    e.begin = parse_offset(path, name, offsets[0]);
    e.end = parse_offset(path, name, offsets[1]);
    if (e.end < e.begin)
      bad(path, "tensor '" + name + "': data_offsets end " + std::to_string(e.end) + " is before begin " +
                    std::to_string(e.begin));
    if (e.end > data_size)
      bad(path, "tensor '" + name + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                    "] run past the data section (" + std::to_string(data_size) + " bytes)");
    uint64_t need = spec->size;
    for (int64_t d : e.shape) {
      if (__builtin_mul_overflow(need, uint64_t(d), &need))
        bad(path, "tensor '" + name + "': shape " + shape_text(e.shape) + " is too large");
    }
    if (need != e.end - e.begin)
      bad(path, "tensor '" + name + "': shape " + shape_text(e.shape) + " " + e.dtype_name + " needs " +
                    std::to_string(need) + " bytes, data_offsets give " + std::to_string(e.end - e.begin));
    file->entries_.emplace(name, std::move(e));
  }

  // Overlap check over byte ranges sorted by start; empty tensors occupy nothing.
  std::vector<std::pair<const std::string*, const Entry*>> order;
  for (const auto& [name, e] : file->entries_) {
    if (e.end > e.begin) order.emplace_back(&name, &e);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < order.size(); ++i) {
    const Entry& prev = *order[i - 1].second;
    const Entry& cur = *order[i].second;
    if (cur.begin < prev.end)
      bad(path, "tensors '" + *order[i - 1].first + "' [" + std::to_string(prev.begin) + ", " +
                    std::to_string(prev.end) + "] and '" + *order[i].first + "' [" + std::to_string(cur.begin) +
                    ", " + std::to_string(cur.end) + "] overlap");
  }

  file->data_ = bytes + 8 + header_len;
  file->mapping_ = std::move(mapping);
  return file;
}

const SafetensorsFile::Entry* SafetensorsFile::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

Tensor SafetensorsFile::read(const std::string& name) const {
  const Entry* e = find(name);
  if (!e) throw Error(ErrorCode::MissingTensor, "missing tensor '" + name + "' in " + path_.string());
  if (!e->dtype)
    throw Error(ErrorCode::Unsupported, "tensor '" + name + "' in " + path_.string() + ": dtype " + e->dtype_name +
                                            " is not supported (supported: F16, BF16, F32, F64, I64, I32, I16, I8, "
                                            "U8, BOOL)");
  uint8_t* src = const_cast<uint8_t*>(data_) + e->begin;
  const size_t align = dtype_size(*e->dtype);
  if (reinterpret_cast<uintptr_t>(src) % align == 0)
    return Tensor::wrap(src, e->shape, *e->dtype, Device::cpu(), mapping_);
  // A header length that is not a multiple of 8 misaligns the data; typed access needs aligned memory.
  Tensor copy = Tensor::empty(e->shape, *e->dtype, Device::cpu());
  if (e->end > e->begin) std::memcpy(copy.raw(), src, e->end - e->begin);
  return copy;
}

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw Error(ErrorCode::InvalidArgument, "write_safetensors: tensor '" + name + "' is undefined");
    host.push_back(t.to(Device::cpu()));
    const uint64_t bytes = host.back().nbytes();
    header[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(ErrorCode::BadFile, path.string() + ": cannot open for writing");
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), std::streamsize(text.size()));
  for (const Tensor& t : host) out.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
  if (!out) throw Error(ErrorCode::BadFile, path.string() + ": write failed");
}

}  // namespace sdpp
