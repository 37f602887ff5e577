// diffusers `UNet2DConditionModel` (unets/unet_2d_condition.py) as Stable Diffusion 1.x, 2.x and XL configure it,
// built from a UNetConfig and weights in diffusers' key scheme:
//   t -> time_proj -> time_embedding (+ add_embedding(cat(text_embeds, add_time_proj(time_ids))) for SDXL)
//   conv_in -> down_blocks (collecting skips) -> mid_block -> up_blocks (consuming skips) -> norm/SiLU -> conv_out
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "models/embeddings.h"
#include "models/unet_2d_blocks.h"

namespace sdpp::nn {

// Conditioning beyond the timestep and the text tokens.
struct UNetAddedCond {
  Tensor text_embeds;    // SDXL ("text_time"): pooled text embedding [B, P], on the model's device
  Tensor time_ids;       // SDXL: [B, K] size/crop conditioning (orig h, w, crop top, left, target h, w); any device
  Tensor timestep_cond;  // LCM (time_cond_proj_dim > 0): guidance-scale embedding [B, time_cond_proj_dim]
};

// What the host computes from the timesteps and SDXL's time_ids (the weightless sinusoidal projections), on the
// model's device in its dtype: one row per sample of each call.
struct UNetTimeInputs {
  Tensor t_proj;       // time_proj(timesteps): [rows, block_out_channels[0]]
  Tensor time_embeds;  // SDXL: add_time_proj(time_ids) per row, flattened: [rows, K * addition_time_embed_dim]
};

// Every resnet's time term, time_emb_proj(silu(emb)) (ResnetBlock2D::time_term): all that the forward takes from the
// timestep and from SDXL's pooled text and size conditioning. A denoising loop makes every step's terms at once
// before the loop (time_terms), so a step neither embeds the timestep nor projects it 20-odd times; a recorded
// forward (pipeline/recorded_unet.h) reads one call's terms through a device buffer.
struct UNetTimeTerms {
  // [calls, batch * time_term_channels()]: a call's row holds each resnet's [batch, out_channels] term in turn
  // (down blocks, mid block, up blocks).
  Tensor packed;
  int64_t calls() const { return packed.defined() ? packed.dim(0) : 0; }
  UNetTimeTerms call(int64_t i) const { return {packed.narrow0(i, 1)}; }
};

class UNet2DConditionModel {
 public:
  // Throws InvalidArgument / Unsupported for configs outside the SD family (naming the field), MissingTensor /
  // ShapeMismatch for weights that do not fit the config.
  UNet2DConditionModel(const WeightLoader& w, const UNetConfig& config);

  // sample [B, in_channels, h, w] on the model's device; timesteps [1] (broadcast) or [B], values read on the host;
  // encoder_hidden_states [B, L, cross_attention_dim] -> [B, out_channels, h, w] (the noise / v prediction).
  // Every forward also takes a sample of B / 2 as a guidance pair (models/guidance_pair.h): the call on [sample;
  // sample], whose time terms must have equal halves (as one timestep for the whole call gives).
  Tensor forward(const Tensor& sample, const Tensor& timesteps, const Tensor& encoder_hidden_states,
                 const UNetAddedCond* added = nullptr) const;
  // The same forward in three parts: project_time (host work and uploads), time_terms (the time embedding and every
  // resnet's projection of it), then the rest, which takes nothing else of the timestep or the added conditioning.
  // project_time: timesteps [1] (broadcast) or [rows]. time_terms: `time` and added's text_embeds / timestep_cond
  // hold calls * batch rows, call by call (added->time_ids is not read: it is in time.time_embeds). `projected`
  // (optional) holds project_context(encoder_hidden_states): its layers' keys and values are not projected again.
  UNetTimeInputs project_time(const Tensor& timesteps, int64_t rows, const UNetAddedCond* added) const;
  UNetTimeTerms time_terms(const UNetTimeInputs& time, int64_t batch, const UNetAddedCond* added) const;
  Tensor forward(const Tensor& sample, const UNetTimeTerms& terms, const Tensor& encoder_hidden_states,
                 const ProjectedContext* projected = nullptr) const;  // terms of one call
  Tensor forward(const Tensor& sample, const UNetTimeInputs& time, const Tensor& encoder_hidden_states,
                 const UNetAddedCond* added = nullptr, const ProjectedContext* projected = nullptr) const;
  int64_t time_term_channels() const;  // the resnets' out_channels summed
  // Every cross-attention layer's key/value projection of encoder_hidden_states [B, L, cross_attention_dim], made
  // once for the steps of a loop that share it (models/cross_context.h).
  ProjectedContext project_context(const Tensor& encoder_hidden_states) const;

  const UNetConfig& config() const { return config_; }
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }

 private:
  void check_sample(const Tensor& sample) const;
  void check_context(const Tensor& encoder_hidden_states, int64_t batch) const;
  // The call's batch, the context's; the sample's is that or, for a guidance pair (models/guidance_pair.h), half.
  int64_t call_batch(const Tensor& sample, const Tensor& encoder_hidden_states) const;
  // Whether the resnets' time terms depend on the timestep alone, so a guidance pair's halves have equal ones.
  bool time_terms_follow_the_timestep() const;
  Tensor time_embed(const UNetTimeInputs& time, int64_t rows, const UNetAddedCond* added) const;  // [rows, 4 * ch0]
  std::vector<const ResnetBlock2D*> resnets() const;  // every block's, in the order of the forward

  UNetConfig config_;
  Device device_;
  DType dtype_;
  Conv2d conv_in_;
  Timesteps time_proj_;
  TimestepEmbedding time_embedding_;
  Timesteps add_time_proj_;            // SDXL only
  TimestepEmbedding add_embedding_;    // SDXL only
  std::vector<UNetDownBlock2D> down_blocks_;
  std::optional<UNetMidBlock2DCrossAttn> mid_block_;
  std::vector<UNetUpBlock2D> up_blocks_;
  GroupNorm conv_norm_out_;
  Conv2d conv_out_;
};

// The fixture calling convention (manifest kind "unet"): inputs named "sample", "timestep",
// "encoder_hidden_states" and, for SDXL, "text_embeds" and "time_ids", as stored (f32 on the cpu); they are moved to
// the model's device and dtype. Returns the output on the model's device. Shared by the parity runner and the tests.
Tensor unet_forward_named(const UNet2DConditionModel& unet, const std::map<std::string, Tensor>& inputs);

}  // namespace sdpp::nn
