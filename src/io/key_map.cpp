#include "io/key_map.h"

#include <cstring>
#include <optional>
#include <vector>

namespace sdpp::ldm {
namespace {

bool starts_with(const std::string& s, const char* p) { return s.compare(0, std::strlen(p), p) == 0; }

// Parses "<n>." at the front of `s`; returns the rest after the dot.
std::optional<std::pair<int, std::string>> take_index(const std::string& s) {
  size_t pos = 0;
  int value = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && value < (1 << 20)) value = value * 10 + (s[pos++] - '0');
  if (pos == 0 || pos >= s.size() || s[pos] != '.') return std::nullopt;
  return std::make_pair(value, s.substr(pos + 1));
}

// Replaces the leading `from` of `s` by `to`; nullopt when `s` does not start with `from`.
std::optional<std::string> swap_head(const std::string& s, const char* from, const std::string& to) {
  if (!starts_with(s, from)) return std::nullopt;
  return to + s.substr(std::strlen(from));
}

// LDM ResBlock -> diffusers ResnetBlock2D parameter names.
std::optional<std::string> unet_resnet(const std::string& tail) {
  static const std::pair<const char*, const char*> table[] = {
      {"in_layers.0.", "norm1."},  {"in_layers.2.", "conv1."},        {"out_layers.0.", "norm2."},
      {"out_layers.3.", "conv2."}, {"emb_layers.1.", "time_emb_proj."}, {"skip_connection.", "conv_shortcut."}};
  for (const auto& [from, to] : table) {
    if (auto r = swap_head(tail, from, to)) return r;
  }
  return std::nullopt;
}

std::string vae_resnet(const std::string& tail) {
  if (auto r = swap_head(tail, "nin_shortcut.", "conv_shortcut.")) return *r;
  return tail;
}

void add(KeyMap& map, const std::string& name, const std::string& source, KeyRecipe::Op op = KeyRecipe::Op::Copy) {
  map[name] = KeyRecipe{source, op};
}

}  // namespace

KeyMap map_unet(const KeyIndex& keys, const std::string& prefix, int layers_per_block) {
  const int per_level = layers_per_block + 1;  // resnet(+attention) layers, then the down/upsampler slot
  KeyMap map;
  for (auto it = keys.keys().lower_bound(prefix); it != keys.keys().end() && it->compare(0, prefix.size(), prefix) == 0;
       ++it) {
    const std::string& key = *it;
    const std::string r = key.substr(prefix.size());
    std::optional<std::string> name;
    if (!name) name = swap_head(r, "time_embed.0.", "time_embedding.linear_1.");
    if (!name) name = swap_head(r, "time_embed.2.", "time_embedding.linear_2.");
    if (!name) name = swap_head(r, "label_emb.0.0.", "add_embedding.linear_1.");
    if (!name) name = swap_head(r, "label_emb.0.2.", "add_embedding.linear_2.");
    if (!name) name = swap_head(r, "input_blocks.0.0.", "conv_in.");
    if (!name) name = swap_head(r, "out.0.", "conv_norm_out.");
    if (!name) name = swap_head(r, "out.2.", "conv_out.");
    if (!name && starts_with(r, "input_blocks.")) {
      auto i = take_index(r.substr(std::strlen("input_blocks.")));
      auto j = i ? take_index(i->second) : std::nullopt;
      if (i && j && i->first >= 1) {
        const std::string block = "down_blocks." + std::to_string((i->first - 1) / per_level) + ".";
        const std::string layer = std::to_string((i->first - 1) % per_level) + ".";
        if (j->first == 0) {
          if (auto op = swap_head(j->second, "op.", block + "downsamplers.0.conv.")) {
            name = op;
          } else if (auto res = unet_resnet(j->second)) {
            name = block + "resnets." + layer + *res;
          }
        } else if (j->first == 1) {
          name = block + "attentions." + layer + j->second;
        }
      }
    }
    if (!name && starts_with(r, "middle_block.")) {
      auto j = take_index(r.substr(std::strlen("middle_block.")));
      if (j && j->first == 1) {
        name = "mid_block.attentions.0." + j->second;
      } else if (j && (j->first == 0 || j->first == 2)) {
        if (auto res = unet_resnet(j->second)) name = "mid_block.resnets." + std::to_string(j->first / 2) + "." + *res;
      }
    }
    if (!name && starts_with(r, "output_blocks.")) {
      auto i = take_index(r.substr(std::strlen("output_blocks.")));
      auto j = i ? take_index(i->second) : std::nullopt;
      if (i && j) {
        const std::string block = "up_blocks." + std::to_string(i->first / per_level) + ".";
        const std::string layer = std::to_string(i->first % per_level) + ".";
        if (j->first == 0) {
          if (auto res = unet_resnet(j->second)) name = block + "resnets." + layer + *res;
        } else if (auto up = swap_head(j->second, "conv.", block + "upsamplers.0.conv."); up && j->first >= 1) {
          name = up;  // the upsampler sits at .1 in a resnet-only layer, at .2 after an attention
        } else if (j->first == 1) {
          name = block + "attentions." + layer + j->second;
        }
      }
    }
    if (name) add(map, *name, key);
  }
  return map;
}

KeyMap map_vae(const KeyIndex& keys, const std::string& prefix) {
  const std::set<int> up_levels = keys.indices(prefix + "decoder.up.");
  const int num_up = up_levels.empty() ? 0 : *up_levels.rbegin() + 1;
  KeyMap map;
  for (auto it = keys.keys().lower_bound(prefix); it != keys.keys().end() && it->compare(0, prefix.size(), prefix) == 0;
       ++it) {
    const std::string& key = *it;
    const std::string r = key.substr(prefix.size());
    if (starts_with(r, "quant_conv.") || starts_with(r, "post_quant_conv.")) {
      add(map, r, key);
      continue;
    }
    for (const char* side : {"encoder.", "decoder."}) {
      if (!starts_with(r, side)) continue;
      const std::string s = r.substr(std::strlen(side));
      std::optional<std::string> name;
      KeyRecipe::Op op = KeyRecipe::Op::Copy;
      if (starts_with(s, "conv_in.") || starts_with(s, "conv_out.")) name = s;
      if (!name) name = swap_head(s, "norm_out.", "conv_norm_out.");
      if (!name && starts_with(s, "mid.block_1.")) name = "mid_block.resnets.0." + vae_resnet(s.substr(12));
      if (!name && starts_with(s, "mid.block_2.")) name = "mid_block.resnets.1." + vae_resnet(s.substr(12));
      if (!name && starts_with(s, "mid.attn_1.")) {
        static const std::pair<const char*, const char*> table[] = {
            {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."}};
        const std::string tail = s.substr(std::strlen("mid.attn_1."));
        for (const auto& [from, to] : table) {
          if (auto t = swap_head(tail, from, std::string("mid_block.attentions.0.") + to)) {
            name = t;
            // LDM computes these projections as 1x1 convolutions; diffusers' Attention uses Linear layers.
            auto info = keys.source().info(key);
            if (std::strcmp(from, "norm.") != 0 && info && info->shape.size() == 4) op = KeyRecipe::Op::ConvToLinear;
            break;
          }
        }
      }
      const bool encoder = side[0] == 'e';
      if (!name && starts_with(s, encoder ? "down." : "up.")) {
        auto i = take_index(s.substr(encoder ? 5 : 3));
        if (i) {
          const int level = encoder ? i->first : num_up - 1 - i->first;  // LDM counts decoder levels bottom-up
          const std::string block = std::string(encoder ? "down_blocks." : "up_blocks.") + std::to_string(level) + ".";
          if (starts_with(i->second, "block.")) {
            if (auto j = take_index(i->second.substr(6)))
              name = block + "resnets." + std::to_string(j->first) + "." + vae_resnet(j->second);
          } else if (auto sampler = swap_head(i->second, encoder ? "downsample.conv." : "upsample.conv.",
                                              block + (encoder ? "downsamplers.0.conv." : "upsamplers.0.conv."))) {
            name = sampler;
          }
        }
      }
      if (name) add(map, side + *name, key, op);
    }
  }
  return map;
}

KeyMap map_clip(const KeyIndex& keys, const std::string& prefix) {
  KeyMap map;
  for (auto it = keys.keys().lower_bound(prefix); it != keys.keys().end() && it->compare(0, prefix.size(), prefix) == 0;
       ++it) {
    std::string name = it->substr(prefix.size());
    // A buffer (0..76), not a weight; transformers recreates it.
    if (name.size() >= 12 && name.compare(name.size() - 12, 12, "position_ids") == 0) continue;
    if (!starts_with(name, "text_model.")) name = "text_model." + name;
    add(map, name, *it);
  }
  return map;
}

KeyMap map_open_clip(const KeyIndex& keys, const std::string& prefix, int num_layers, bool with_projection) {
  KeyMap map;
  const std::pair<const char*, const char*> globals[] = {
      {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
      {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
      {"ln_final.weight", "text_model.final_layer_norm.weight"},
      {"ln_final.bias", "text_model.final_layer_norm.bias"}};
  for (const auto& [from, to] : globals) {
    if (keys.has(prefix + from)) add(map, to, prefix + from);
  }
  // OpenCLIP applies the projection as `x @ P` with P [width, embed]; transformers stores a Linear [embed, width].
  if (with_projection && keys.has(prefix + "text_projection"))
    add(map, "text_projection.weight", prefix + "text_projection", KeyRecipe::Op::Transpose);

  const std::string blocks = prefix + "transformer.resblocks.";
  static const std::pair<const char*, const char*> renames[] = {
      {"ln_1.", "layer_norm1."},       {"ln_2.", "layer_norm2."},  {"mlp.c_fc.", "mlp.fc1."},
      {"mlp.c_proj.", "mlp.fc2."},     {"attn.out_proj.", "self_attn.out_proj."}};
  for (auto it = keys.keys().lower_bound(blocks); it != keys.keys().end() && it->compare(0, blocks.size(), blocks) == 0;
       ++it) {
    auto i = take_index(it->substr(blocks.size()));
    if (!i || i->first >= num_layers) continue;
    const std::string layer = "text_model.encoder.layers." + std::to_string(i->first) + ".";
    const std::string& tail = i->second;
    if (tail == "attn.in_proj_weight" || tail == "attn.in_proj_bias") {
      // The fused projection stacks q, k, v along dim 0: [3 * width, ...].
      auto info = keys.source().info(*it);
      const int64_t width = info && !info->shape.empty() ? info->shape[0] / 3 : 0;
      const std::string kind = tail == "attn.in_proj_weight" ? "weight" : "bias";
      const char* names[] = {"q_proj", "k_proj", "v_proj"};
      for (int p = 0; p < 3; ++p)
        map[layer + "self_attn." + names[p] + "." + kind] = KeyRecipe{*it, KeyRecipe::Op::Rows, p * width, (p + 1) * width};
      continue;
    }
    for (const auto& [from, to] : renames) {
      if (auto name = swap_head(tail, from, layer + to)) {
        add(map, *name, *it);
        break;
      }
    }
  }
  return map;
}

}  // namespace sdpp::ldm
