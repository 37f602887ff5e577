// TensorSources backed by safetensors files: one file, or a sharded set described by an index
// (`model.safetensors.index.json` / `diffusion_pytorch_model.safetensors.index.json`: {"weight_map": {key: shard}}).
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/tensor_source.h"

namespace sdpp {

class SafetensorsSource : public TensorSource {
 public:
  explicit SafetensorsSource(std::shared_ptr<const SafetensorsFile> file) : file_(std::move(file)) {}
  static std::shared_ptr<SafetensorsSource> open(const std::filesystem::path& path);

  std::vector<std::string> keys() const override;
  std::optional<TensorInfo> info(const std::string& key) const override;
  Tensor read(const std::string& key) const override;
  std::string describe() const override { return file_->path().string(); }
  const SafetensorsFile& file() const { return *file_; }

 private:
  std::shared_ptr<const SafetensorsFile> file_;
};

class ShardedSource : public TensorSource {
 public:
  // Opens every shard the index names (relative to the index's folder) and checks that each key is in its shard.
  static std::shared_ptr<ShardedSource> open(const std::filesystem::path& index_path);

  std::vector<std::string> keys() const override;
  std::optional<TensorInfo> info(const std::string& key) const override;
  Tensor read(const std::string& key) const override;
  std::string describe() const override { return index_path_.string(); }

 private:
  std::filesystem::path index_path_;
  std::map<std::string, std::shared_ptr<const SafetensorsFile>> key_to_shard_;
};

// TensorInfo of one safetensors entry (shared by both sources).
TensorInfo entry_info(const SafetensorsFile::Entry& entry);

}  // namespace sdpp
