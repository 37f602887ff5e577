// Which weight file(s) of a diffusers component folder (unet/, vae/, text_encoder/, ...) to read.
// diffusers names them `diffusion_pytorch_model[.fp16].safetensors`, transformers `model[.fp16].safetensors`, either
// possibly sharded behind `<name>.safetensors.index[.fp16].json`. The full-precision file is preferred when both
// exist: it converts losslessly to any compute dtype. Pickled `.bin` weights are refused (unsafe to load, and the
// format is not implemented).
#pragma once
#include <filesystem>
#include <memory>

#include "io/tensor_source.h"

namespace sdpp {

// The path that open_component_weights() would read: a .safetensors file or a shard index .json.
// Throws Unsupported naming a .bin file when only pickles exist, NotFound when the folder holds no weights.
std::filesystem::path find_component_weights(const std::filesystem::path& dir);

std::shared_ptr<const TensorSource> open_component_weights(const std::filesystem::path& dir);

}  // namespace sdpp
