// config.json parsing. Missing or null fields take the defaults of the class that wrote the file (diffusers
// UNet2DConditionModel / AutoencoderKL / AutoencoderTiny, transformers CLIPTextConfig), so a minimal config
// means what it means to the reference.
#include "io/model_config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sdpp {
namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const char* field, const char* expected, const json& got) {
  throw Error(ErrorCode::BadFile, std::string("config field '") + field + "': expected " + expected + ", got " +
                                      got.dump());
}

bool absent(const json& j, const char* field) { return !j.contains(field) || j[field].is_null(); }

int64_t get_int(const json& j, const char* field, int64_t def) {
  if (absent(j, field)) return def;
  const json& v = j[field];
  if (!v.is_number_integer()) {
    // Some writers store integral values as 3.0; accept those, reject 3.5.
    if (v.is_number_float() && v.get<double>() == double(int64_t(v.get<double>()))) return int64_t(v.get<double>());
    bad_field(field, "an integer", v);
  }
  return v.get<int64_t>();
}

int get_small_int(const json& j, const char* field, int def) {
  const int64_t v = get_int(j, field, def);
  if (v < -(1 << 30) || v > (1 << 30)) bad_field(field, "a small integer", j[field]);
  return int(v);
}

double get_number(const json& j, const char* field, double def) {
  if (absent(j, field)) return def;
  if (!j[field].is_number()) bad_field(field, "a number", j[field]);
  return j[field].get<double>();
}

bool get_bool(const json& j, const char* field, bool def) {
  if (absent(j, field)) return def;
  if (!j[field].is_boolean()) bad_field(field, "true or false", j[field]);
  return j[field].get<bool>();
}

std::string get_string(const json& j, const char* field, const std::string& def) {
  if (absent(j, field)) return def;
  if (!j[field].is_string()) bad_field(field, "a string", j[field]);
  return j[field].get<std::string>();
}

std::vector<int64_t> get_ints(const json& j, const char* field, std::vector<int64_t> def) {
  if (absent(j, field)) return def;
  const json& v = j[field];
  if (!v.is_array()) bad_field(field, "a list of integers", v);
  std::vector<int64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_integer()) bad_field(field, "a list of integers", v);
    out.push_back(x.get<int64_t>());
  }
  return out;
}

std::vector<std::string> get_strings(const json& j, const char* field, std::vector<std::string> def) {
  if (absent(j, field)) return def;
  const json& v = j[field];
  if (!v.is_array()) bad_field(field, "a list of strings", v);
  std::vector<std::string> out;
  for (const auto& x : v) {
    if (!x.is_string()) bad_field(field, "a list of strings", v);
    out.push_back(x.get<std::string>());
  }
  return out;
}

// diffusers accepts an int (same for every block) or one value per block for several UNet fields.
std::vector<int> per_block(const char* field, const json& value, size_t blocks) {
  std::vector<int> out;
  if (value.is_number_integer()) {
    out.assign(blocks, int(value.get<int64_t>()));
  } else if (value.is_array()) {
    for (const auto& x : value) {
      if (!x.is_number_integer()) bad_field(field, "an integer or a list of integers", value);
      out.push_back(int(x.get<int64_t>()));
    }
    if (out.size() != blocks)
      throw Error(ErrorCode::BadFile, std::string("config field '") + field + "': " + std::to_string(out.size()) +
                                          " values for " + std::to_string(blocks) + " down blocks");
  } else {
    bad_field(field, "an integer or a list of integers", value);
  }
  for (int v : out) {
    if (v <= 0) bad_field(field, "positive values", value);
  }
  return out;
}

void require_positive(const char* field, const std::vector<int64_t>& values) {
  if (values.empty()) throw Error(ErrorCode::BadFile, std::string("config field '") + field + "' is empty");
  for (int64_t v : values) {
    if (v <= 0) throw Error(ErrorCode::BadFile, std::string("config field '") + field + "' has a non-positive value " +
                                                    std::to_string(v));
  }
}

void require_positive(const char* field, int64_t value) {
  if (value <= 0)
    throw Error(ErrorCode::BadFile, std::string("config field '") + field + "' must be positive, got " +
                                        std::to_string(value));
}

}  // namespace

const char* family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::SD1: return "sd15";
    case ModelFamily::SD2: return "sd21";
    case ModelFamily::SDXL: return "sdxl";
    case ModelFamily::TAESD: return "taesd";
    case ModelFamily::Unknown: return "unknown";
  }
  return "unknown";
}

ClipTextConfig ClipTextConfig::from_json(const json& root) {
  if (!root.is_object()) throw Error(ErrorCode::BadFile, "text encoder config is not a JSON object");
  // A full CLIPConfig nests the text tower's fields.
  const json& j = (root.contains("text_config") && root["text_config"].is_object() && !root.contains("hidden_size"))
                      ? root["text_config"]
                      : root;
  ClipTextConfig c;  // transformers CLIPTextConfig defaults below
  c.vocab_size = get_int(j, "vocab_size", 49408);
  c.hidden_size = get_int(j, "hidden_size", 512);
  c.intermediate_size = get_int(j, "intermediate_size", 2048);
  c.num_hidden_layers = get_small_int(j, "num_hidden_layers", 12);
  c.num_attention_heads = get_small_int(j, "num_attention_heads", 8);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", 77);
  c.hidden_act = get_string(j, "hidden_act", "quick_gelu");
  c.layer_norm_eps = float(get_number(j, "layer_norm_eps", 1e-5));
  c.bos_token_id = get_int(j, "bos_token_id", 49406);
  c.eos_token_id = get_int(j, "eos_token_id", 49407);
  c.pad_token_id = get_int(j, "pad_token_id", 1);
  const auto arch = get_strings(root, "architectures", {});
  c.with_projection = std::find(arch.begin(), arch.end(), "CLIPTextModelWithProjection") != arch.end();
  c.projection_dim = c.with_projection ? get_int(j, "projection_dim", 512) : 0;

  require_positive("vocab_size", c.vocab_size);
  require_positive("hidden_size", c.hidden_size);
  require_positive("intermediate_size", c.intermediate_size);
  require_positive("num_hidden_layers", c.num_hidden_layers);
  require_positive("num_attention_heads", c.num_attention_heads);
  require_positive("max_position_embeddings", c.max_position_embeddings);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error(ErrorCode::BadFile, "config: hidden_size " + std::to_string(c.hidden_size) +
                                        " is not divisible by num_attention_heads " +
                                        std::to_string(c.num_attention_heads));
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu")
    throw Error(ErrorCode::Unsupported, "config field 'hidden_act': '" + c.hidden_act +
                                            "' is not supported (quick_gelu, gelu)");
  return c;
}

UNetConfig UNetConfig::from_json(const json& j) {
  if (!j.is_object()) throw Error(ErrorCode::BadFile, "unet config is not a JSON object");
  UNetConfig c;  // diffusers UNet2DConditionModel defaults below
  c.in_channels = get_int(j, "in_channels", 4);
  c.out_channels = get_int(j, "out_channels", 4);
  c.block_out_channels = get_ints(j, "block_out_channels", {320, 640, 1280, 1280});
  c.down_block_types = get_strings(j, "down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                                            "CrossAttnDownBlock2D", "DownBlock2D"});
  c.up_block_types = get_strings(j, "up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                                        "CrossAttnUpBlock2D"});
  c.mid_block_type = j.contains("mid_block_type") && j["mid_block_type"].is_null()
                         ? ""
                         : get_string(j, "mid_block_type", "UNetMidBlock2DCrossAttn");
  const size_t blocks = c.block_out_channels.size();
  require_positive("block_out_channels", c.block_out_channels);
  if (c.down_block_types.size() != blocks || c.up_block_types.size() != blocks)
    throw Error(ErrorCode::BadFile, "config: " + std::to_string(blocks) + " block_out_channels but " +
                                        std::to_string(c.down_block_types.size()) + " down_block_types and " +
                                        std::to_string(c.up_block_types.size()) + " up_block_types");
  for (const auto& t : c.down_block_types) {
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      throw Error(ErrorCode::Unsupported, "config field 'down_block_types': '" + t + "' is not supported");
  }
  for (const auto& t : c.up_block_types) {
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
      throw Error(ErrorCode::Unsupported, "config field 'up_block_types': '" + t + "' is not supported");
  }
  if (!c.mid_block_type.empty() && c.mid_block_type != "UNetMidBlock2DCrossAttn")
    throw Error(ErrorCode::Unsupported, "config field 'mid_block_type': '" + c.mid_block_type + "' is not supported");

  if (!absent(j, "layers_per_block")) {
    const auto lpb = per_block("layers_per_block", j["layers_per_block"], blocks);
    if (std::adjacent_find(lpb.begin(), lpb.end(), std::not_equal_to<>()) != lpb.end())
      throw Error(ErrorCode::Unsupported, "config field 'layers_per_block': different values per block " +
                                              j["layers_per_block"].dump() + " are not supported");
    c.layers_per_block = lpb[0];
  }
  if (absent(j, "cross_attention_dim")) {
    c.cross_attention_dim = 1280;
  } else if (j["cross_attention_dim"].is_array()) {
    const auto dims = get_ints(j, "cross_attention_dim", {});
    if (dims.empty() || std::adjacent_find(dims.begin(), dims.end(), std::not_equal_to<>()) != dims.end())
      throw Error(ErrorCode::Unsupported, "config field 'cross_attention_dim': per-block values " +
                                              j["cross_attention_dim"].dump() + " are not supported");
    c.cross_attention_dim = dims[0];
  } else {
    c.cross_attention_dim = get_int(j, "cross_attention_dim", 1280);
  }
  // diffusers: `num_attention_heads = num_attention_heads or attention_head_dim` — the field named
  // attention_head_dim has always held the head COUNT in Stable Diffusion configs.
  const char* heads_field = absent(j, "num_attention_heads") ? "attention_head_dim" : "num_attention_heads";
  c.num_attention_heads = per_block(heads_field, absent(j, heads_field) ? json(8) : j[heads_field], blocks);
  c.transformer_layers_per_block =
      per_block("transformer_layers_per_block",
                absent(j, "transformer_layers_per_block") ? json(1) : j["transformer_layers_per_block"], blocks);
  if (!absent(j, "reverse_transformer_layers_per_block"))
    throw Error(ErrorCode::Unsupported, "config field 'reverse_transformer_layers_per_block' is not supported");
  c.use_linear_projection = get_bool(j, "use_linear_projection", false);
  c.upcast_attention = get_bool(j, "upcast_attention", false);
  if (!absent(j, "only_cross_attention") && j["only_cross_attention"].is_array())
    throw Error(ErrorCode::Unsupported, "config field 'only_cross_attention': per-block values are not supported");
  c.only_cross_attention = get_bool(j, "only_cross_attention", false);
  c.addition_embed_type = get_string(j, "addition_embed_type", "");
  if (!c.addition_embed_type.empty() && c.addition_embed_type != "text_time")
    throw Error(ErrorCode::Unsupported, "config field 'addition_embed_type': '" + c.addition_embed_type +
                                            "' is not supported (text_time)");
  c.addition_time_embed_dim = get_int(j, "addition_time_embed_dim", 0);
  c.projection_class_embeddings_input_dim = get_int(j, "projection_class_embeddings_input_dim", 0);
  if (c.addition_embed_type == "text_time" &&
      (c.addition_time_embed_dim <= 0 || c.projection_class_embeddings_input_dim <= 0))
    throw Error(ErrorCode::BadFile, "config: addition_embed_type text_time needs addition_time_embed_dim and "
                                    "projection_class_embeddings_input_dim");
  if (!absent(j, "class_embed_type"))
    throw Error(ErrorCode::Unsupported, "config field 'class_embed_type': " + j["class_embed_type"].dump() +
                                            " is not supported");
  c.norm_num_groups = get_small_int(j, "norm_num_groups", 32);
  c.norm_eps = float(get_number(j, "norm_eps", 1e-5));
  c.flip_sin_to_cos = get_bool(j, "flip_sin_to_cos", true);
  c.freq_shift = float(get_number(j, "freq_shift", 0));
  c.downsample_padding = get_small_int(j, "downsample_padding", 1);
  c.sample_size = get_int(j, "sample_size", 64);
  c.time_cond_proj_dim = get_int(j, "time_cond_proj_dim", 0);
  require_positive("in_channels", c.in_channels);
  require_positive("out_channels", c.out_channels);
  require_positive("layers_per_block", c.layers_per_block);
  require_positive("cross_attention_dim", c.cross_attention_dim);
  require_positive("norm_num_groups", c.norm_num_groups);
  return c;
}

VaeConfig VaeConfig::from_json(const json& j) {
  if (!j.is_object()) throw Error(ErrorCode::BadFile, "vae config is not a JSON object");
  VaeConfig c;  // diffusers AutoencoderKL defaults below
  c.in_channels = get_int(j, "in_channels", 3);
  c.out_channels = get_int(j, "out_channels", 3);
  c.latent_channels = get_int(j, "latent_channels", 4);
  c.block_out_channels = get_ints(j, "block_out_channels", {64});
  c.layers_per_block = get_small_int(j, "layers_per_block", 1);
  c.norm_num_groups = get_small_int(j, "norm_num_groups", 32);
  c.scaling_factor = float(get_number(j, "scaling_factor", 0.18215));
  c.shift_factor = float(get_number(j, "shift_factor", 0.0));
  c.force_upcast = get_bool(j, "force_upcast", true);
  c.mid_block_add_attention = get_bool(j, "mid_block_add_attention", true);
  c.use_quant_conv = get_bool(j, "use_quant_conv", true);
  c.use_post_quant_conv = get_bool(j, "use_post_quant_conv", true);
  c.sample_size = get_int(j, "sample_size", 32);
  require_positive("block_out_channels", c.block_out_channels);
  require_positive("in_channels", c.in_channels);
  require_positive("out_channels", c.out_channels);
  require_positive("latent_channels", c.latent_channels);
  require_positive("layers_per_block", c.layers_per_block);
  require_positive("norm_num_groups", c.norm_num_groups);
  for (const char* field : {"down_block_types", "up_block_types"}) {
    const auto types = get_strings(j, field, {});
    if (!types.empty() && types.size() != c.block_out_channels.size())
      throw Error(ErrorCode::BadFile, std::string("config: ") + std::to_string(c.block_out_channels.size()) +
                                          " block_out_channels but " + std::to_string(types.size()) + " " + field);
  }
  return c;
}

TaesdConfig TaesdConfig::from_json(const json& j) {
  if (!j.is_object()) throw Error(ErrorCode::BadFile, "taesd config is not a JSON object");
  TaesdConfig c;  // diffusers AutoencoderTiny defaults below
  c.in_channels = get_int(j, "in_channels", 3);
  c.out_channels = get_int(j, "out_channels", 3);
  c.latent_channels = get_int(j, "latent_channels", 4);
  c.encoder_block_out_channels = get_ints(j, "encoder_block_out_channels", {64, 64, 64, 64});
  c.decoder_block_out_channels = get_ints(j, "decoder_block_out_channels", {64, 64, 64, 64});
  auto to_int = [](const std::vector<int64_t>& v) { return std::vector<int>(v.begin(), v.end()); };
  c.num_encoder_blocks = to_int(get_ints(j, "num_encoder_blocks", {1, 3, 3, 3}));
  c.num_decoder_blocks = to_int(get_ints(j, "num_decoder_blocks", {3, 3, 3, 1}));
  c.latent_magnitude = float(get_number(j, "latent_magnitude", 3.0));
  c.latent_shift = float(get_number(j, "latent_shift", 0.5));
  c.scaling_factor = float(get_number(j, "scaling_factor", 1.0));
  c.upsampling_scaling_factor = get_small_int(j, "upsampling_scaling_factor", 2);
  require_positive("encoder_block_out_channels", c.encoder_block_out_channels);
  require_positive("decoder_block_out_channels", c.decoder_block_out_channels);
  if (c.num_encoder_blocks.size() != c.encoder_block_out_channels.size() ||
      c.num_decoder_blocks.size() != c.decoder_block_out_channels.size())
    throw Error(ErrorCode::BadFile, "config: num_encoder_blocks / num_decoder_blocks must have one entry per "
                                    "encoder / decoder block_out_channels");
  for (int n : c.num_encoder_blocks) require_positive("num_encoder_blocks", n);
  for (int n : c.num_decoder_blocks) require_positive("num_decoder_blocks", n);
  require_positive("latent_channels", c.latent_channels);
  require_positive("upsampling_scaling_factor", c.upsampling_scaling_factor);
  return c;
}

}  // namespace sdpp
