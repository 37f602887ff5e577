// diffusers `AutoencoderKL` (autoencoders/autoencoder_kl.py): encoder + quant_conv -> posterior moments, and
// post_quant_conv + decoder -> image. Both work on raw latents: callers apply scaling_factor (and shift_factor)
// themselves, as diffusers pipelines do (latents / scaling_factor before decode, sample * scaling_factor after
// encode).
#pragma once
#include <optional>

#include "io/model_config.h"
#include "models/vae_blocks.h"

namespace sdpp {

struct AutoencoderKLOptions {
  bool load_encoder = true;  // txt2img needs only the decoder; img2img/inpaint need both
  bool load_decoder = true;
};

// diffusers `DiagonalGaussianDistribution`: the encoder's moments, logvar already clamped to [-30, 20].
struct DiagonalGaussian {
  Tensor mean;    // [N, latent, h, w]
  Tensor logvar;  // [N, latent, h, w]

  // mean + exp(0.5 * logvar) * noise; noise [N, latent, h, w] (diffusers draws it with randn_tensor).
  Tensor sample(const Tensor& noise) const;
  Tensor mode() const { return mean; }
};

class AutoencoderKL {
 public:
  AutoencoderKL(const VaeConfig& config, const WeightLoader& w, const AutoencoderKLOptions& options = {});

  // image [N, in_channels, H, W] in [-1, 1] -> posterior moments at H/f x W/f (f = 2^(blocks - 1)).
  DiagonalGaussian encode(const Tensor& image) const;
  // Raw latents [N, latent_channels, h, w] (already divided by scaling_factor) -> image [N, out, h*f, w*f], ~[-1, 1].
  Tensor decode(const Tensor& latents) const;

  const VaeConfig& config() const { return config_; }
  int downscale_factor() const { return 1 << (int(config_.block_out_channels.size()) - 1); }
  bool has_encoder() const { return encoder_.has_value(); }
  bool has_decoder() const { return decoder_.has_value(); }

 private:
  VaeConfig config_;
  std::optional<vae::Encoder> encoder_;
  std::optional<vae::Decoder> decoder_;
  std::optional<nn::Conv2d> quant_conv_, post_quant_conv_;  // 1x1, absent when use_[post_]quant_conv is false
};

}  // namespace sdpp
