// A single-file checkpoint carries no config.json: the family comes from which text encoders it holds, and each
// component's config from tensor shapes. What shapes cannot tell comes from the family's reference config
// (heads: 8 for SD 1.x, head size 64 otherwise; VAE scaling factor; default sample size).
#pragma once
#include "io/key_index.h"
#include "io/model_config.h"

namespace sdpp {

// SD1 (cond_stage_model.transformer.*), SD2 (cond_stage_model.model.*), SDXL (conditioner.embedders.0/1.*).
// Throws BadFile when the file is not a Stable Diffusion checkpoint, Unsupported for known-but-unhandled kinds.
ModelFamily detect_single_file_family(const KeyIndex& keys);

// `pooled_dim` (SDXL): the projection width of text encoder 2, part of the added-conditioning input width.
UNetConfig infer_unet_config(const KeyIndex& keys, ModelFamily family, int64_t pooled_dim);
VaeConfig infer_vae_config(const KeyIndex& keys, ModelFamily family);
ClipTextConfig infer_clip_config(const KeyIndex& keys, const std::string& prefix);  // OpenAI CLIP (HF key names)
// OpenCLIP text tower. `drop_last_layer`: SD 2.x conditions on the penultimate block, so diffusers' SD 2 text
// encoder has one layer fewer than the checkpoint stores.
ClipTextConfig infer_open_clip_config(const KeyIndex& keys, const std::string& prefix, bool with_projection,
                                      bool drop_last_layer);

}  // namespace sdpp
