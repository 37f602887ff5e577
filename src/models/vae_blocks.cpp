#include "models/vae_blocks.h"

#include <string>

#include "core/error.h"

namespace sdpp::vae {

namespace {

constexpr float kEps = 1e-6f;  // diffusers hard-codes resnet_eps = 1e-6 and GroupNorm eps 1e-6 in the VAE

void check_input(const char* what, const Tensor& x, int64_t channels) {
  if (x.ndim() != 4 || x.dim(1) != channels || x.dim(2) <= 0 || x.dim(3) <= 0) {
    throw Error(ErrorCode::ShapeMismatch, std::string(what) + ": expected input [N, " + std::to_string(channels) +
                                              ", H, W], got " + shape_str(x.shape()));
  }
}

}  // namespace

UNetMidBlock2D::UNetMidBlock2D(const WeightLoader& w, int64_t channels, int groups, float eps, bool add_attention) {
  resnets_.emplace_back(w.sub("resnets.0"), channels, channels, 0, groups, eps);
  if (add_attention) {
    const WeightLoader aw = w.sub("attentions.0");
    group_norm_.emplace(aw.sub("group_norm"), groups, channels, eps);
    nn::AttentionConfig config;
    config.query_dim = channels;
    config.heads = 1;
    config.dim_head = channels;
    config.qkv_bias = true;
    attention_.emplace(aw, config);
  }
  resnets_.emplace_back(w.sub("resnets.1"), channels, channels, 0, groups, eps);
}

Tensor UNetMidBlock2D::attention(const Tensor& x) const {
  // diffusers' AttnProcessor on a 4-d input: group_norm over [N, C, HW], attention on tokens, residual added.
  const int64_t height = x.dim(2), width = x.dim(3);
  const Tensor tokens = ops::to_tokens((*group_norm_)(x));  // [N, HW, C]
  const Tensor residual = ops::to_tokens(x);
  return ops::from_tokens((*attention_)(tokens, {}, &residual), height, width);
}

Tensor UNetMidBlock2D::forward(const Tensor& x) const {
  Tensor h = resnets_[0](x);
  if (attention_) h = attention(h);
  return resnets_[1](h);
}

DownEncoderBlock2D::DownEncoderBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels,
                                       int num_layers, int groups, float eps, bool add_downsample,
                                       int downsample_padding) {
  for (int i = 0; i < num_layers; ++i) {
    resnets_.emplace_back(w.sub("resnets." + std::to_string(i)), i == 0 ? in_channels : out_channels, out_channels, 0,
                          groups, eps);
  }
  if (add_downsample) downsampler_.emplace(w.sub("downsamplers.0"), out_channels, out_channels, downsample_padding);
}

Tensor DownEncoderBlock2D::forward(const Tensor& x) const {
  Tensor h = x;
  for (const nn::ResnetBlock2D& resnet : resnets_) h = resnet(h);
  return downsampler_ ? (*downsampler_)(h) : h;
}

UpDecoderBlock2D::UpDecoderBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels, int num_layers,
                                   int groups, float eps, bool add_upsample) {
  for (int i = 0; i < num_layers; ++i) {
    resnets_.emplace_back(w.sub("resnets." + std::to_string(i)), i == 0 ? in_channels : out_channels, out_channels, 0,
                          groups, eps);
  }
  if (add_upsample) upsampler_.emplace(w.sub("upsamplers.0"), out_channels, out_channels);
}

Tensor UpDecoderBlock2D::forward(const Tensor& x) const {
  Tensor h = x;
  for (const nn::ResnetBlock2D& resnet : resnets_) h = resnet(h);
  return upsampler_ ? (*upsampler_)(h) : h;
}

Encoder::Encoder(const VaeConfig& c, const WeightLoader& w) : in_channels_(c.in_channels) {
  const std::vector<int64_t>& channels = c.block_out_channels;
  conv_in_ = nn::Conv2d(w.sub("conv_in"), c.in_channels, channels.front(), 3);
  int64_t output_channel = channels.front();
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t input_channel = output_channel;
    output_channel = channels[i];
    const bool is_final = i + 1 == channels.size();
    // The encoder's downsamplers use padding 0 with diffusers' explicit (0, 1, 0, 1) pad.
    down_blocks_.emplace_back(w.sub("down_blocks." + std::to_string(i)), input_channel, output_channel,
                              c.layers_per_block, c.norm_num_groups, kEps, !is_final, /*downsample_padding=*/0);
  }
  mid_block_ = UNetMidBlock2D(w.sub("mid_block"), channels.back(), c.norm_num_groups, kEps, c.mid_block_add_attention);
  conv_norm_out_ = nn::GroupNorm(w.sub("conv_norm_out"), c.norm_num_groups, channels.back(), kEps);
  conv_out_ = nn::Conv2d(w.sub("conv_out"), channels.back(), 2 * c.latent_channels, 3);
}

Tensor Encoder::forward(const Tensor& x) const {
  check_input("VAE encoder", x, in_channels_);
  Tensor h = conv_in_(x);
  for (const DownEncoderBlock2D& block : down_blocks_) h = block.forward(h);
  h = mid_block_.forward(h);
  return conv_out_(conv_norm_out_(h, ops::Activation::SiLU));
}

Decoder::Decoder(const VaeConfig& c, const WeightLoader& w) : in_channels_(c.latent_channels) {
  const std::vector<int64_t>& channels = c.block_out_channels;
  conv_in_ = nn::Conv2d(w.sub("conv_in"), c.latent_channels, channels.back(), 3);
  mid_block_ = UNetMidBlock2D(w.sub("mid_block"), channels.back(), c.norm_num_groups, kEps, c.mid_block_add_attention);
  const std::vector<int64_t> reversed(channels.rbegin(), channels.rend());
  int64_t output_channel = reversed.front();
  for (size_t i = 0; i < reversed.size(); ++i) {
    const int64_t prev_output_channel = output_channel;
    output_channel = reversed[i];
    const bool is_final = i + 1 == reversed.size();
    up_blocks_.emplace_back(w.sub("up_blocks." + std::to_string(i)), prev_output_channel, output_channel,
                            c.layers_per_block + 1, c.norm_num_groups, kEps, !is_final);
  }
  conv_norm_out_ = nn::GroupNorm(w.sub("conv_norm_out"), c.norm_num_groups, channels.front(), kEps);
  conv_out_ = nn::Conv2d(w.sub("conv_out"), channels.front(), c.out_channels, 3);
}

Tensor Decoder::forward(const Tensor& z) const {
  check_input("VAE decoder", z, in_channels_);
  Tensor h = conv_in_(z);
  h = mid_block_.forward(h);
  for (const UpDecoderBlock2D& block : up_blocks_) h = block.forward(h);
  return conv_out_(conv_norm_out_(h, ops::Activation::SiLU));
}

}  // namespace sdpp::vae
