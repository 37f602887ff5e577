#include "io/safetensors_source.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sdpp {

TensorInfo entry_info(const SafetensorsFile::Entry& entry) {
  TensorInfo info;
  info.dtype = entry.dtype.value_or(DType::U8);
  info.shape = entry.shape;
  info.stored_dtype = entry.dtype_name;
  info.readable = entry.dtype.has_value();
  return info;
}

std::shared_ptr<SafetensorsSource> SafetensorsSource::open(const std::filesystem::path& path) {
  return std::make_shared<SafetensorsSource>(SafetensorsFile::open(path));
}

std::vector<std::string> SafetensorsSource::keys() const {
  std::vector<std::string> out;
  out.reserve(file_->entries().size());
  for (const auto& [name, entry] : file_->entries()) out.push_back(name);
  return out;
}

std::optional<TensorInfo> SafetensorsSource::info(const std::string& key) const {
  const auto* entry = file_->find(key);
  if (!entry) return std::nullopt;
  return entry_info(*entry);
}

Tensor SafetensorsSource::read(const std::string& key) const { return file_->read(key); }

std::shared_ptr<ShardedSource> ShardedSource::open(const std::filesystem::path& index_path) {
  std::ifstream in(index_path);
  if (!in) throw Error(ErrorCode::NotFound, index_path.string() + ": cannot open the shard index");
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, index_path.string() + ": not valid JSON: " + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw Error(ErrorCode::BadFile, index_path.string() + ": expected an object with a \"weight_map\" object");

  auto source = std::make_shared<ShardedSource>();
  source->index_path_ = index_path;
  std::map<std::string, std::shared_ptr<const SafetensorsFile>> shards;
  const std::filesystem::path dir = index_path.parent_path();
  for (const auto& [key, value] : index["weight_map"].items()) {
    if (!value.is_string())
      throw Error(ErrorCode::BadFile, index_path.string() + ": weight_map entry '" + key + "' is not a file name");
    const std::string shard_name = value.get<std::string>();
    // A shard name is a plain file name beside the index; anything else could read outside the model folder.
    if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name.find('\\') != std::string::npos ||
        shard_name == "." || shard_name == "..")
      throw Error(ErrorCode::BadFile, index_path.string() + ": weight_map entry '" + key + "' names '" + shard_name +
                                          "', expected a file name in the same folder");
    auto& shard = shards[shard_name];
    if (!shard) shard = SafetensorsFile::open(dir / shard_name);
    if (!shard->find(key))
      throw Error(ErrorCode::MissingTensor, index_path.string() + ": tensor '" + key + "' is listed in shard " +
                                                shard_name + " but that file does not contain it");
    source->key_to_shard_[key] = shard;
  }
  return source;
}

std::vector<std::string> ShardedSource::keys() const {
  std::vector<std::string> out;
  out.reserve(key_to_shard_.size());
  for (const auto& [key, shard] : key_to_shard_) out.push_back(key);
  return out;
}

std::optional<TensorInfo> ShardedSource::info(const std::string& key) const {
  auto it = key_to_shard_.find(key);
  if (it == key_to_shard_.end()) return std::nullopt;
  return entry_info(*it->second->find(key));
}

Tensor ShardedSource::read(const std::string& key) const {
  auto it = key_to_shard_.find(key);
  if (it == key_to_shard_.end())
    throw Error(ErrorCode::MissingTensor, "missing tensor '" + key + "' in " + index_path_.string());
  return it->second->read(key);
}

}  // namespace sdpp
