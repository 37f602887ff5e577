// The building blocks of diffusers' AutoencoderKL (autoencoders/vae.py, unets/unet_2d_blocks.py): the VAE-flavoured
// UNetMidBlock2D (resnet, single-head attention over all pixels, resnet), DownEncoderBlock2D, UpDecoderBlock2D, and
// the Encoder / Decoder stacks built from them. No time embedding anywhere; every norm uses eps 1e-6.
#pragma once
#include <optional>
#include <vector>

#include "io/model_config.h"
#include "models/attention.h"
#include "models/downsampling.h"
#include "models/resnet.h"
#include "models/upsampling.h"

namespace sdpp::vae {

// diffusers `UNetMidBlock2D` as the VAE builds it: resnets.0 -> attentions.0 (GroupNorm, heads = 1,
// dim_head = channels, residual) -> resnets.1. add_attention = false drops the attention.
class UNetMidBlock2D {
 public:
  UNetMidBlock2D() = default;
  UNetMidBlock2D(const WeightLoader& w, int64_t channels, int groups, float eps, bool add_attention);
  Tensor forward(const Tensor& x) const;  // [N, C, H, W] -> same

 private:
  Tensor attention(const Tensor& x) const;

  std::vector<nn::ResnetBlock2D> resnets_;
  std::optional<nn::GroupNorm> group_norm_;
  std::optional<nn::Attention> attention_;
};

class DownEncoderBlock2D {
 public:
  DownEncoderBlock2D() = default;
  DownEncoderBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels, int num_layers, int groups,
                     float eps, bool add_downsample, int downsample_padding);
  Tensor forward(const Tensor& x) const;

 private:
  std::vector<nn::ResnetBlock2D> resnets_;
  std::optional<nn::Downsample2D> downsampler_;
};

class UpDecoderBlock2D {
 public:
  UpDecoderBlock2D() = default;
  UpDecoderBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels, int num_layers, int groups,
                   float eps, bool add_upsample);
  Tensor forward(const Tensor& x) const;

 private:
  std::vector<nn::ResnetBlock2D> resnets_;
  std::optional<nn::Upsample2D> upsampler_;
};

// diffusers `Encoder` with double_z: image [N, in, H, W] -> moments [N, 2 * latent, H / f, W / f].
class Encoder {
 public:
  Encoder() = default;
  Encoder(const VaeConfig& config, const WeightLoader& w);
  Tensor forward(const Tensor& x) const;

 private:
  nn::Conv2d conv_in_, conv_out_;
  std::vector<DownEncoderBlock2D> down_blocks_;
  UNetMidBlock2D mid_block_;
  nn::GroupNorm conv_norm_out_;
  int64_t in_channels_ = 3;
};

// diffusers `Decoder`: latents [N, latent, h, w] -> image [N, out, h * f, w * f].
class Decoder {
 public:
  Decoder() = default;
  Decoder(const VaeConfig& config, const WeightLoader& w);
  Tensor forward(const Tensor& z) const;

 private:
  nn::Conv2d conv_in_, conv_out_;
  UNetMidBlock2D mid_block_;
  std::vector<UpDecoderBlock2D> up_blocks_;
  nn::GroupNorm conv_norm_out_;
  int64_t in_channels_ = 4;
};

}  // namespace sdpp::vae
