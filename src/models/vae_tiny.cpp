#include "models/vae_tiny.h"

#include <string>

#include "core/error.h"

namespace sdpp {

namespace taesd {

AutoencoderTinyBlock::AutoencoderTinyBlock(const WeightLoader& w, int64_t in_channels, int64_t out_channels)
    : conv0_(w.sub("conv.0"), in_channels, out_channels, 3),
      conv2_(w.sub("conv.2"), out_channels, out_channels, 3),
      conv4_(w.sub("conv.4"), out_channels, out_channels, 3) {
  if (in_channels != out_channels) {
    skip_ = nn::Conv2d(w.sub("skip"), in_channels, out_channels, 1, 1, 0, /*with_bias=*/false);
  }
}

Tensor AutoencoderTinyBlock::forward(const Tensor& x) const {
  Tensor h = ops::activation(conv0_(x), ops::Activation::ReLU);
  h = ops::activation(conv2_(h), ops::Activation::ReLU);
  const Tensor skip = skip_.weight.defined() ? skip_(x) : x;
  return ops::activation(conv4_(h, &skip), ops::Activation::ReLU);
}

Tensor TinySequential::forward(const Tensor& x) const {
  Tensor h = x;
  for (const TinyLayer& layer : layers_) {
    switch (layer.kind) {
      case TinyLayer::Kind::Conv: h = layer.conv(h); break;
      case TinyLayer::Kind::ReLU: h = ops::activation(h, ops::Activation::ReLU); break;
      case TinyLayer::Kind::Block: h = layer.block.forward(h); break;
      case TinyLayer::Kind::Upsample: h = ops::upsample_nearest2x(h); break;
    }
  }
  return h;
}

}  // namespace taesd

namespace {

void check_config(const TaesdConfig& c) {
  const auto bad = [](const std::string& field, const std::string& why) {
    throw Error(ErrorCode::BadFile, "AutoencoderTiny config: " + field + " " + why);
  };
  if (c.decoder_block_out_channels.empty() ||
      c.decoder_block_out_channels.size() != c.num_decoder_blocks.size()) {
    bad("decoder_block_out_channels", "must be non-empty and as long as num_decoder_blocks");
  }
  if (c.encoder_block_out_channels.empty() ||
      c.encoder_block_out_channels.size() != c.num_encoder_blocks.size()) {
    bad("encoder_block_out_channels", "must be non-empty and as long as num_encoder_blocks");
  }
  // DecoderTiny/EncoderTiny build every stage as num_channels -> num_channels, so diffusers itself only runs
  // configs whose stages all share one width.
  for (const auto* list : {&c.decoder_block_out_channels, &c.encoder_block_out_channels}) {
    for (int64_t ch : *list) {
      if (ch <= 0 || ch != list->front()) {
        bad("block_out_channels", "must be positive and equal across stages, got " + std::to_string(ch));
      }
    }
  }
  for (const auto* list : {&c.num_decoder_blocks, &c.num_encoder_blocks}) {
    for (int n : *list) {
      if (n < 0 || n > 64) bad("num_*_blocks", "has an out-of-range entry " + std::to_string(n));
    }
  }
  if (c.in_channels <= 0 || c.out_channels <= 0 || c.latent_channels <= 0) {
    bad("in/out/latent_channels", "must be positive");
  }
  if (c.upsampling_scaling_factor != 2) {
    throw Error(ErrorCode::Unsupported, "AutoencoderTiny: upsampling_scaling_factor " +
                                            std::to_string(c.upsampling_scaling_factor) + " (only 2 is supported)");
  }
}

}  // namespace

AutoencoderTiny::AutoencoderTiny(const TaesdConfig& config, const WeightLoader& w, bool load_encoder)
    : config_(config) {
  check_config(config);
  // Layer indices follow the nn.Sequential of DecoderTiny: conv, ReLU, then per stage `n` blocks, an upsample
  // (all but the last stage) and a conv (bias-free except the last, which maps to out_channels).
  {
    const WeightLoader dw = w.sub("decoder.layers");
    const std::vector<int64_t>& ch = config.decoder_block_out_channels;
    const auto key = [&] { return dw.sub(std::to_string(decoder_.size())); };
    decoder_.add_conv(nn::Conv2d(key(), config.latent_channels, ch[0], 3));
    decoder_.add_relu();
    for (size_t i = 0; i < ch.size(); ++i) {
      const bool is_final = i + 1 == ch.size();
      for (int b = 0; b < config.num_decoder_blocks[i]; ++b) {
        decoder_.add_block(taesd::AutoencoderTinyBlock(key(), ch[i], ch[i]));
      }
      if (!is_final) decoder_.add_upsample();
      const int64_t out = is_final ? config.out_channels : ch[i];
      decoder_.add_conv(nn::Conv2d(key(), ch[i], out, 3, 1, 1, /*with_bias=*/is_final));
    }
  }
  // EncoderTiny: per stage a conv (the first maps the image in; later ones are bias-free stride-2 downsamplers)
  // followed by `n` blocks, then a conv to latent_channels.
  if (load_encoder) {
    const WeightLoader ew = w.sub("encoder.layers");
    const std::vector<int64_t>& ch = config.encoder_block_out_channels;
    const auto key = [&] { return ew.sub(std::to_string(encoder_.size())); };
    for (size_t i = 0; i < ch.size(); ++i) {
      if (i == 0) {
        encoder_.add_conv(nn::Conv2d(key(), config.in_channels, ch[i], 3));
      } else {
        encoder_.add_conv(nn::Conv2d(key(), ch[i], ch[i], 3, 2, 1, /*with_bias=*/false));
      }
      for (int b = 0; b < config.num_encoder_blocks[i]; ++b) {
        encoder_.add_block(taesd::AutoencoderTinyBlock(key(), ch[i], ch[i]));
      }
    }
    encoder_.add_conv(nn::Conv2d(key(), ch.back(), config.latent_channels, 3));
  }
}

Tensor AutoencoderTiny::decode(const Tensor& latents) const {
  if (latents.ndim() != 4 || latents.dim(1) != config_.latent_channels) {
    throw Error(ErrorCode::ShapeMismatch, "AutoencoderTiny::decode: expected latents [N, " +
                                              std::to_string(config_.latent_channels) + ", h, w], got " +
                                              shape_str(latents.shape()));
  }
  // torch.tanh(x / 3) * 3 soft-clamps the latents to (-3, 3).
  const Tensor clamped = ops::scale(ops::activation(ops::scale(latents, 1.0f / 3.0f), ops::Activation::Tanh), 3.0f);
  return ops::scale(decoder_.forward(clamped), 2.0f, -1.0f);  // [0, 1] -> [-1, 1]
}

Tensor AutoencoderTiny::encode(const Tensor& image) const {
  if (!has_encoder()) throw Error(ErrorCode::Internal, "AutoencoderTiny::encode: the encoder was not loaded");
  if (image.ndim() != 4 || image.dim(1) != config_.in_channels) {
    throw Error(ErrorCode::ShapeMismatch, "AutoencoderTiny::encode: expected image [N, " +
                                              std::to_string(config_.in_channels) + ", H, W], got " +
                                              shape_str(image.shape()));
  }
  return encoder_.forward(ops::scale(image, 0.5f, 0.5f));  // [-1, 1] -> [0, 1]
}

}  // namespace sdpp
