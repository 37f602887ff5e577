#include "io/weight_files.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors_source.h"

namespace sdpp {
namespace {

const char* const kStems[] = {"diffusion_pytorch_model", "model"};

bool is_index(const std::filesystem::path& p) { return p.extension() == ".json"; }

}  // namespace

std::filesystem::path find_component_weights(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(ErrorCode::NotFound, dir.string() + ": no such folder");
  std::vector<std::string> candidates;
  for (const char* variant : {"", ".fp16"}) {
    for (const char* stem : kStems) {
      const std::string s = stem;
      candidates.push_back(s + variant + ".safetensors");
      candidates.push_back(s + ".safetensors.index" + variant + ".json");
      if (*variant) candidates.push_back(s + variant + ".safetensors.index.json");
    }
  }
  for (const auto& name : candidates) {
    if (std::filesystem::is_regular_file(dir / name, ec)) return dir / name;
  }
  for (const char* name : {"diffusion_pytorch_model.bin", "pytorch_model.bin", "diffusion_pytorch_model.fp16.bin",
                           "pytorch_model.fp16.bin", "model.ckpt"}) {
    if (std::filesystem::is_regular_file(dir / name, ec))
      throw Error(ErrorCode::Unsupported, (dir / name).string() +
                                              ": PyTorch pickle weights are not supported; convert them to "
                                              ".safetensors (e.g. with diffusers' save_pretrained(safe_serialization=True))");
  }
  throw Error(ErrorCode::NotFound, dir.string() + ": no weights found (expected diffusion_pytorch_model.safetensors, "
                                                  "model.safetensors, an .fp16 variant or a .safetensors.index.json)");
}

std::shared_ptr<const TensorSource> open_component_weights(const std::filesystem::path& dir) {
  const auto path = find_component_weights(dir);
  if (is_index(path)) return ShardedSource::open(path);
  return SafetensorsSource::open(path);
}

}  // namespace sdpp
