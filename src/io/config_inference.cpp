#include "io/config_inference.h"

#include <algorithm>

#include "core/error.h"
#include "io/key_map.h"

namespace sdpp {
namespace {

[[noreturn]] void unsupported(const KeyIndex& keys, const std::string& what) {
  throw Error(ErrorCode::Unsupported, keys.source().describe() + ": " + what);
}

int count_of(const std::set<int>& indices) { return indices.empty() ? 0 : *indices.rbegin() + 1; }

// The first key under `prefix` ending in `suffix` (e.g. any attn2.to_k.weight), or "".
std::string find_suffix(const KeyIndex& keys, const std::string& prefix, const std::string& suffix) {
  for (auto it = keys.keys().lower_bound(prefix); it != keys.keys().end() && it->compare(0, prefix.size(), prefix) == 0;
       ++it) {
    if (it->size() >= suffix.size() && it->compare(it->size() - suffix.size(), suffix.size(), suffix) == 0) return *it;
  }
  return "";
}

// CLIP encoders use 64-wide heads (OpenAI ViT-L: 768/12; OpenCLIP ViT-H: 1024/16; bigG: 1280/20).
int clip_heads(const KeyIndex& keys, const std::string& prefix, int64_t hidden) {
  if (hidden % 64 != 0) unsupported(keys, "text encoder '" + prefix + "' width " + std::to_string(hidden) +
                                              " is not a multiple of the 64-wide CLIP heads");
  return int(hidden / 64);
}

}  // namespace

ModelFamily detect_single_file_family(const KeyIndex& keys) {
  const std::string& where = keys.source().describe();
  if (!keys.has_prefix(ldm::kUNetPrefix))
    throw Error(ErrorCode::BadFile, where + ": not a Stable Diffusion checkpoint: no UNet weights (" +
                                        ldm::kUNetPrefix + "*)");
  if (keys.has_prefix(ldm::kSdxlClipPrefix) && keys.has_prefix(ldm::kSdxlOpenClipPrefix)) return ModelFamily::SDXL;
  if (keys.has_prefix("conditioner.embedders.0.model."))
    unsupported(keys, "an SDXL refiner checkpoint (one OpenCLIP encoder, conditioner.embedders.0.model.*) is not "
                      "supported");
  if (keys.has(std::string(ldm::kOpenClipPrefix) + "token_embedding.weight")) return ModelFamily::SD2;
  if (keys.has_prefix(ldm::kClipPrefix)) return ModelFamily::SD1;
  throw Error(ErrorCode::BadFile, where + ": not a complete Stable Diffusion checkpoint: no text encoder weights "
                                          "(cond_stage_model.* for SD 1.x/2.x, conditioner.embedders.* for SDXL)");
}

UNetConfig infer_unet_config(const KeyIndex& keys, ModelFamily family, int64_t pooled_dim) {
  const std::string P = ldm::kUNetPrefix;
  const std::string why = "infer the unet config";
  UNetConfig c;
  const Shape conv_in = keys.shape(P + "input_blocks.0.0.weight", why, 4);
  c.in_channels = conv_in[1];
  c.out_channels = keys.shape(P + "out.2.weight", why, 4)[0];

  // input_blocks 1.. are resnet(+attention) layers grouped into levels; a level ends with a downsampler (".0.op").
  struct Layer {
    int64_t channels;
    bool attention;
    int depth;
  };
  std::vector<std::vector<Layer>> levels(1);
  const int num_input = count_of(keys.indices(P + "input_blocks."));
  for (int i = 1; i < num_input; ++i) {
    const std::string b = P + "input_blocks." + std::to_string(i) + ".";
    if (keys.has(b + "0.op.weight")) {
      levels.emplace_back();
      continue;
    }
    Layer layer{keys.shape(b + "0.out_layers.3.weight", why, 4)[0], keys.has_prefix(b + "1."), 0};
    layer.depth = count_of(keys.indices(b + "1.transformer_blocks."));
    levels.back().push_back(layer);
  }
  if (levels.back().empty()) levels.pop_back();  // a trailing downsampler would leave an empty level
  const size_t lpb = levels[0].size();
  if (lpb == 0) throw Error(ErrorCode::BadFile, keys.source().describe() + ": no UNet input blocks found");
  for (const auto& level : levels) {
    if (level.size() != lpb)
      unsupported(keys, "UNet levels with different numbers of layers (" + std::to_string(lpb) + " and " +
                            std::to_string(level.size()) + ")");
  }
  c.layers_per_block = int(lpb);
  c.block_out_channels.clear();
  c.down_block_types.clear();
  c.transformer_layers_per_block.clear();
  for (const auto& level : levels) {
    c.block_out_channels.push_back(level[0].channels);
    const bool attn = std::any_of(level.begin(), level.end(), [](const Layer& l) { return l.attention; });
    c.down_block_types.push_back(attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
    c.transformer_layers_per_block.push_back(attn ? std::max(1, level[0].depth) : 1);
  }
  const size_t n = levels.size();

  c.up_block_types.clear();
  const int per_level = c.layers_per_block + 1;
  for (size_t u = 0; u < n; ++u) {
    const std::string first = P + "output_blocks." + std::to_string(u * per_level) + ".1.transformer_blocks.";
    c.up_block_types.push_back(keys.has_prefix(first) ? "CrossAttnUpBlock2D" : "UpBlock2D");
  }
  if (!keys.has_prefix(P + "middle_block.1.transformer_blocks."))
    unsupported(keys, "a UNet mid block without cross-attention is not supported");
  c.mid_block_type = "UNetMidBlock2DCrossAttn";
  const int mid_depth = count_of(keys.indices(P + "middle_block.1.transformer_blocks."));
  if (mid_depth != c.transformer_layers_per_block.back())
    unsupported(keys, "mid block depth " + std::to_string(mid_depth) + " differs from the last level's " +
                          std::to_string(c.transformer_layers_per_block.back()));

  const std::string to_k = find_suffix(keys, P, ".attn2.to_k.weight");
  if (to_k.empty()) throw Error(ErrorCode::BadFile, keys.source().describe() + ": no UNet cross-attention weights");
  c.cross_attention_dim = keys.shape(to_k, why, 2)[1];
  const std::string proj_in = find_suffix(keys, P, ".proj_in.weight");
  c.use_linear_projection = keys.shape(proj_in, why).size() == 2;

  // What shapes cannot tell: SD 1.x fixes the head count, later models the head size.
  c.num_attention_heads.clear();
  for (int64_t ch : c.block_out_channels)
    c.num_attention_heads.push_back(family == ModelFamily::SD1 ? 8 : int(std::max<int64_t>(1, ch / 64)));
  c.upcast_attention = family == ModelFamily::SD2;  // diffusers' SD 2.x reference config (fp16 overflow otherwise)

  if (keys.has(P + "label_emb.0.0.weight")) {
    if (family != ModelFamily::SDXL) unsupported(keys, "class-conditioned UNets (label_emb) are not supported");
    // text_time: [pooled text embedding, 6 time ids x addition_time_embed_dim sinusoids]
    const int64_t in = keys.shape(P + "label_emb.0.0.weight", why, 2)[1];
    if (pooled_dim <= 0 || in <= pooled_dim || (in - pooled_dim) % 6 != 0)
      throw Error(ErrorCode::ShapeMismatch, keys.source().describe() + ": added-conditioning input width " +
                                                std::to_string(in) + " does not fit pooled width " +
                                                std::to_string(pooled_dim) + " + 6 time embeddings");
    c.addition_embed_type = "text_time";
    c.projection_class_embeddings_input_dim = in;
    c.addition_time_embed_dim = (in - pooled_dim) / 6;
  } else if (family == ModelFamily::SDXL) {
    throw Error(ErrorCode::MissingTensor, "missing tensor '" + P + "label_emb.0.0.weight' in " +
                                              keys.source().describe() + " (SDXL added conditioning)");
  }
  switch (family) {
    case ModelFamily::SD1: c.sample_size = 64; break;
    case ModelFamily::SD2: c.sample_size = 96; break;
    default: c.sample_size = 128; break;
  }
  return c;
}

VaeConfig infer_vae_config(const KeyIndex& keys, ModelFamily family) {
  const std::string V = ldm::kVaePrefix;
  const std::string why = "infer the vae config";
  VaeConfig c;
  c.in_channels = keys.shape(V + "encoder.conv_in.weight", why, 4)[1];
  c.out_channels = keys.shape(V + "decoder.conv_out.weight", why, 4)[0];
  c.latent_channels = keys.shape(V + "decoder.conv_in.weight", why, 4)[1];
  const int levels = count_of(keys.indices(V + "encoder.down."));
  if (levels == 0) throw Error(ErrorCode::BadFile, keys.source().describe() + ": no VAE encoder blocks");
  c.block_out_channels.clear();
  for (int i = 0; i < levels; ++i)
    c.block_out_channels.push_back(
        keys.shape(V + "encoder.down." + std::to_string(i) + ".block.0.conv1.weight", why, 4)[0]);
  c.layers_per_block = count_of(keys.indices(V + "encoder.down.0.block."));
  c.use_quant_conv = keys.has(V + "quant_conv.weight");
  c.use_post_quant_conv = keys.has(V + "post_quant_conv.weight");
  c.mid_block_add_attention = keys.has_prefix(V + "encoder.mid.attn_1.");
  c.scaling_factor = family == ModelFamily::SDXL ? 0.13025f : 0.18215f;
  c.sample_size = family == ModelFamily::SD1 ? 512 : family == ModelFamily::SD2 ? 768 : 1024;
  return c;
}

ClipTextConfig infer_clip_config(const KeyIndex& keys, const std::string& prefix) {
  const std::string why = "infer the text encoder config";
  const std::string base = keys.has_prefix(prefix + "text_model.") ? prefix + "text_model." : prefix;
  ClipTextConfig c;
  const Shape tok = keys.shape(base + "embeddings.token_embedding.weight", why, 2);
  c.vocab_size = tok[0];
  c.hidden_size = tok[1];
  c.max_position_embeddings = keys.shape(base + "embeddings.position_embedding.weight", why, 2)[0];
  c.num_hidden_layers = count_of(keys.indices(base + "encoder.layers."));
  c.intermediate_size = keys.shape(base + "encoder.layers.0.mlp.fc1.weight", why, 2)[0];
  c.num_attention_heads = clip_heads(keys, prefix, c.hidden_size);
  c.hidden_act = "quick_gelu";  // OpenAI CLIP
  // The CLIP BPE vocabulary ends with <|startoftext|>, <|endoftext|>; pooling reads the first EOS position.
  c.bos_token_id = c.vocab_size - 2;
  c.eos_token_id = c.vocab_size - 1;
  c.pad_token_id = c.vocab_size - 1;
  return c;
}

ClipTextConfig infer_open_clip_config(const KeyIndex& keys, const std::string& prefix, bool with_projection,
                                      bool drop_last_layer) {
  const std::string why = "infer the text encoder config";
  ClipTextConfig c;
  const Shape tok = keys.shape(prefix + "token_embedding.weight", why, 2);
  c.vocab_size = tok[0];
  c.hidden_size = tok[1];
  c.max_position_embeddings = keys.shape(prefix + "positional_embedding", why, 2)[0];
  c.num_hidden_layers = count_of(keys.indices(prefix + "transformer.resblocks.")) - (drop_last_layer ? 1 : 0);
  if (c.num_hidden_layers < 1)
    throw Error(ErrorCode::BadFile, keys.source().describe() + ": text encoder '" + prefix + "' has no layers");
  c.intermediate_size = keys.shape(prefix + "transformer.resblocks.0.mlp.c_fc.weight", why, 2)[0];
  c.num_attention_heads = clip_heads(keys, prefix, c.hidden_size);
  c.hidden_act = "gelu";  // OpenCLIP
  c.bos_token_id = c.vocab_size - 2;
  c.eos_token_id = c.vocab_size - 1;
  c.pad_token_id = c.vocab_size - 1;
  c.with_projection = with_projection;
  c.projection_dim = with_projection ? keys.shape(prefix + "text_projection", why, 2)[1] : 0;
  return c;
}

}  // namespace sdpp
