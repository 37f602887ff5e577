// Opens what users have on disk: a diffusers folder (model_index.json + unet/ vae/ text_encoder[_2]/ tokenizer[_2]/
// scheduler/, fp16 or fp32 weight files) or a single-file checkpoint (.safetensors with LDM / SGM key names), and
// presents each component as a config + a TensorSource in the diffusers key scheme.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "io/model_config.h"
#include "io/tensor_source.h"

namespace sdpp {

template <class Config>
struct Component {
  Config config;
  std::shared_ptr<const TensorSource> weights;
};

struct Checkpoint {
  std::filesystem::path path;
  bool single_file = false;
  ModelFamily family = ModelFamily::Unknown;
  std::optional<Component<UNetConfig>> unet;
  std::optional<Component<VaeConfig>> vae;
  std::optional<Component<ClipTextConfig>> text_encoder;
  std::optional<Component<ClipTextConfig>> text_encoder_2;  // SDXL
  std::optional<Component<TaesdConfig>> taesd;              // an AutoencoderTiny folder
  std::filesystem::path tokenizer_dir;    // empty for a single file (the caller supplies one)
  std::filesystem::path tokenizer_2_dir;
  nlohmann::json scheduler_config;        // null for a single file (callers use the family default)
};

// Throws BadFile / NotFound / MissingTensor / ShapeMismatch with messages naming the file and key.
Checkpoint open_checkpoint(const std::filesystem::path& path);

}  // namespace sdpp
