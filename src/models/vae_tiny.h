// diffusers `AutoencoderTiny` (TAESD; autoencoders/autoencoder_tiny.py, EncoderTiny / DecoderTiny in
// autoencoders/vae.py): plain conv + ReLU stacks in an nn.Sequential, so weight keys are positional
// ("decoder.layers.12.conv.2.weight"). Used for cheap previews. Like AutoencoderKL it works on raw latents.
#pragma once
#include <vector>

#include "io/model_config.h"
#include "models/layers.h"

namespace sdpp {

namespace taesd {

// diffusers `AutoencoderTinyBlock`: relu(conv.4(relu(conv.2(relu(conv.0(x))))) + skip(x)); skip is a bias-free
// 1x1 conv when the channel count changes, else the identity.
class AutoencoderTinyBlock {
 public:
  AutoencoderTinyBlock() = default;
  AutoencoderTinyBlock(const WeightLoader& w, int64_t in_channels, int64_t out_channels);
  Tensor forward(const Tensor& x) const;

 private:
  nn::Conv2d conv0_, conv2_, conv4_;
  nn::Conv2d skip_;  // undefined weight = identity
};

// One entry of the Sequential: a conv (optionally followed by the decoder's leading ReLU), a block or a 2x upsample.
struct TinyLayer {
  enum class Kind { Conv, ReLU, Block, Upsample } kind = Kind::Conv;
  nn::Conv2d conv;
  AutoencoderTinyBlock block;
};

class TinySequential {
 public:
  void add_conv(nn::Conv2d conv) { layers_.push_back({TinyLayer::Kind::Conv, std::move(conv), {}}); }
  void add_relu() { layers_.push_back({TinyLayer::Kind::ReLU, {}, {}}); }
  void add_block(AutoencoderTinyBlock block) { layers_.push_back({TinyLayer::Kind::Block, {}, std::move(block)}); }
  void add_upsample() { layers_.push_back({TinyLayer::Kind::Upsample, {}, {}}); }
  int size() const { return int(layers_.size()); }
  Tensor forward(const Tensor& x) const;

 private:
  std::vector<TinyLayer> layers_;
};

}  // namespace taesd

class AutoencoderTiny {
 public:
  AutoencoderTiny(const TaesdConfig& config, const WeightLoader& w, bool load_encoder = true);

  // Raw latents [N, latent_channels, h, w] -> image [N, out_channels, h*8, w*8] in about [-1, 1]
  // (DecoderTiny: tanh(z / 3) * 3 -> layers -> x * 2 - 1).
  Tensor decode(const Tensor& latents) const;
  // Image [N, in_channels, H, W] in [-1, 1] -> raw latents [N, latent_channels, H/8, W/8] (EncoderTiny).
  Tensor encode(const Tensor& image) const;

  const TaesdConfig& config() const { return config_; }
  bool has_encoder() const { return encoder_.size() > 0; }

 private:
  TaesdConfig config_;
  taesd::TinySequential encoder_, decoder_;
};

}  // namespace sdpp
