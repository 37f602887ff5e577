// Single-file checkpoint names -> the diffusers/transformers scheme, one map per component, mirroring diffusers'
// loaders/single_file_utils.py (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint,
// convert_open_clip_checkpoint). Keys a map does not recognise (EMA copies, alphas_cumprod, position ids, ...) are
// left out: the result holds exactly the component's diffusers keys.
#pragma once
#include <string>

#include "io/key_index.h"
#include "io/renamed_source.h"

namespace sdpp::ldm {

// Where each component lives inside an LDM (SD 1.x/2.x) or SGM (SDXL) checkpoint.
inline constexpr const char* kUNetPrefix = "model.diffusion_model.";
inline constexpr const char* kVaePrefix = "first_stage_model.";
inline constexpr const char* kClipPrefix = "cond_stage_model.transformer.";          // SD 1.x, OpenAI CLIP-L
inline constexpr const char* kOpenClipPrefix = "cond_stage_model.model.";            // SD 2.x, OpenCLIP ViT-H
inline constexpr const char* kSdxlClipPrefix = "conditioner.embedders.0.transformer.";  // SDXL encoder 1 (CLIP-L)
inline constexpr const char* kSdxlOpenClipPrefix = "conditioner.embedders.1.model.";    // SDXL encoder 2 (bigG)

// input_blocks / middle_block / output_blocks -> down_blocks / mid_block / up_blocks. `layers_per_block` sets how
// the flat LDM block list groups into levels (each level: that many layers plus one down/upsampler slot).
KeyMap map_unet(const KeyIndex& keys, const std::string& prefix, int layers_per_block);

// encoder/decoder down.N / up.N / mid -> down_blocks / up_blocks (decoder order reversed) / mid_block; the 1x1-conv
// attention projections become linear weights.
KeyMap map_vae(const KeyIndex& keys, const std::string& prefix);

// A transformers CLIPTextModel stored under a prefix: strip it (older exports lack "text_model.", add it).
KeyMap map_clip(const KeyIndex& keys, const std::string& prefix);

// OpenCLIP text tower -> CLIPTextModel[WithProjection]: resblocks -> encoder.layers, fused attn.in_proj split into
// q/k/v, text_projection transposed (only when `with_projection`). Blocks at index >= num_layers are dropped.
KeyMap map_open_clip(const KeyIndex& keys, const std::string& prefix, int num_layers, bool with_projection);

}  // namespace sdpp::ldm
