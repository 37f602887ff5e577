// Component configurations, as diffusers/transformers `config.json` spell them. A diffusers folder parses them from
// JSON; a single-file checkpoint infers the same structs from tensor names and shapes (io/config_inference.h).
// Model code reads only these structs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sdpp {

enum class ModelFamily { SD1, SD2, SDXL, TAESD, Unknown };
const char* family_name(ModelFamily family);  // "sd15", "sd21", "sdxl", "taesd", "unknown" (manifest spelling)

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" (OpenAI CLIP) | "gelu" (OpenCLIP)
  float layer_norm_eps = 1e-5f;
  int64_t projection_dim = 0;  // > 0 with a text_projection (CLIPTextModelWithProjection, SDXL encoder 2)
  bool with_projection = false;
  int64_t bos_token_id = 49406;
  int64_t eos_token_id = 49407;  // == 2 means legacy pooling at argmax(input_ids), as transformers does
  int64_t pad_token_id = 49407;

  static ClipTextConfig from_json(const nlohmann::json& j);  // throws BadFile naming the field
};

struct UNetConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  std::vector<std::string> down_block_types;  // "CrossAttnDownBlock2D" | "DownBlock2D"
  std::vector<std::string> up_block_types;    // "CrossAttnUpBlock2D" | "UpBlock2D"
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";  // or "" for none
  int layers_per_block = 2;
  int64_t cross_attention_dim = 768;
  // Per down block. diffusers' naming quirk: `attention_head_dim` in SD configs really is the head COUNT when
  // `num_attention_heads` is null; from_json() resolves that, so these are the true values.
  std::vector<int> num_attention_heads;
  std::vector<int> transformer_layers_per_block;  // per down block (up blocks mirror them reversed)
  bool use_linear_projection = false;
  bool upcast_attention = false;
  bool only_cross_attention = false;
  std::string addition_embed_type;  // "" | "text_time" (SDXL)
  int64_t addition_time_embed_dim = 0;            // SDXL: 256
  int64_t projection_class_embeddings_input_dim = 0;  // SDXL: 2816
  int norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool flip_sin_to_cos = true;
  float freq_shift = 0;
  int downsample_padding = 1;
  int64_t sample_size = 64;
  int64_t time_cond_proj_dim = 0;  // LCM-distilled UNets (w embedding); 0 = none

  static UNetConfig from_json(const nlohmann::json& j);
};

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int layers_per_block = 2;
  int norm_num_groups = 32;
  float scaling_factor = 0.18215f;
  float shift_factor = 0.0f;
  bool force_upcast = true;
  bool mid_block_add_attention = true;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  int64_t sample_size = 512;

  static VaeConfig from_json(const nlohmann::json& j);
};

struct TaesdConfig {  // diffusers AutoencoderTiny
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> encoder_block_out_channels{64, 64, 64, 64};
  std::vector<int64_t> decoder_block_out_channels{64, 64, 64, 64};
  std::vector<int> num_encoder_blocks{1, 3, 3, 3};
  std::vector<int> num_decoder_blocks{3, 3, 3, 1};
  float latent_magnitude = 3.0f;
  float latent_shift = 0.5f;
  float scaling_factor = 1.0f;
  int upsampling_scaling_factor = 2;

  static TaesdConfig from_json(const nlohmann::json& j);
};

}  // namespace sdpp
