#include "models/vae.h"

#include <string>

#include "core/error.h"

namespace sdpp {

namespace {

void check_config(const VaeConfig& c) {
  const auto bad = [](const std::string& field, int64_t value) {
    throw Error(ErrorCode::BadFile, "VAE config: invalid " + field + " = " + std::to_string(value));
  };
  if (c.block_out_channels.empty() || c.block_out_channels.size() > 8) {
    bad("block_out_channels (count)", int64_t(c.block_out_channels.size()));
  }
  if (c.norm_num_groups <= 0) bad("norm_num_groups", c.norm_num_groups);
  for (int64_t ch : c.block_out_channels) {
    if (ch <= 0 || ch % c.norm_num_groups != 0) bad("block_out_channels entry (must divide by norm_num_groups)", ch);
  }
  if (c.layers_per_block <= 0) bad("layers_per_block", c.layers_per_block);
  if (c.in_channels <= 0) bad("in_channels", c.in_channels);
  if (c.out_channels <= 0) bad("out_channels", c.out_channels);
  if (c.latent_channels <= 0) bad("latent_channels", c.latent_channels);
}

}  // namespace

Tensor DiagonalGaussian::sample(const Tensor& noise) const {
  if (noise.shape() != mean.shape()) {
    throw Error(ErrorCode::ShapeMismatch, "DiagonalGaussian::sample: noise " + shape_str(noise.shape()) +
                                              " does not match the latents " + shape_str(mean.shape()));
  }
  const Tensor std = ops::exp(ops::scale(logvar, 0.5f));
  return ops::add(mean, ops::mul(std, noise));
}

AutoencoderKL::AutoencoderKL(const VaeConfig& config, const WeightLoader& w, const AutoencoderKLOptions& options)
    : config_(config) {
  check_config(config);
  const int64_t latent = config.latent_channels;
  if (options.load_encoder) {
    encoder_.emplace(config, w.sub("encoder"));
    if (config.use_quant_conv) quant_conv_.emplace(w.sub("quant_conv"), 2 * latent, 2 * latent, 1);
  }
  if (options.load_decoder) {
    decoder_.emplace(config, w.sub("decoder"));
    if (config.use_post_quant_conv) post_quant_conv_.emplace(w.sub("post_quant_conv"), latent, latent, 1);
  }
}

DiagonalGaussian AutoencoderKL::encode(const Tensor& image) const {
  if (!encoder_) throw Error(ErrorCode::Internal, "AutoencoderKL::encode: the encoder was not loaded");
  Tensor moments = encoder_->forward(image);  // [N, 2 * latent, h, w]
  if (quant_conv_) moments = (*quant_conv_)(moments);
  const int64_t latent = config_.latent_channels;
  DiagonalGaussian posterior;
  posterior.mean = ops::slice(moments, 1, 0, latent);
  posterior.logvar = ops::clamp(ops::slice(moments, 1, latent, 2 * latent), -30.0f, 20.0f);
  return posterior;
}

Tensor AutoencoderKL::decode(const Tensor& latents) const {
  if (!decoder_) throw Error(ErrorCode::Internal, "AutoencoderKL::decode: the decoder was not loaded");
  if (latents.ndim() != 4 || latents.dim(1) != config_.latent_channels) {
    throw Error(ErrorCode::ShapeMismatch, "AutoencoderKL::decode: expected latents [N, " +
                                              std::to_string(config_.latent_channels) + ", h, w], got " +
                                              shape_str(latents.shape()));
  }
  const Tensor z = post_quant_conv_ ? (*post_quant_conv_)(latents) : latents;
  return decoder_->forward(z);
}

}  // namespace sdpp
