#include "models/unet_2d_blocks.h"

#include <array>
#include <string>

#include "core/error.h"
#include "models/guidance_pair.h"

namespace sdpp::nn {
namespace {

Transformer2DModel make_transformer(const WeightLoader& w, int64_t channels, const UNetBlockConfig& c,
                                    const UNetBlockCommon& common, bool only_cross_attention) {
  if (c.heads <= 0 || channels % c.heads != 0) {
    throw Error(ErrorCode::InvalidArgument, "UNet block '" + w.key("") + "': " + std::to_string(channels) +
                                                " channels cannot be split into " + std::to_string(c.heads) +
                                                " attention heads");
  }
  TransformerConfig t;
  t.heads = c.heads;
  t.dim_head = channels / c.heads;  // diffusers: out_channels // num_attention_heads
  t.in_channels = channels;
  t.num_layers = c.transformer_layers;
  t.cross_attention_dim = common.cross_attention_dim;
  t.norm_num_groups = common.groups;
  t.use_linear_projection = common.use_linear_projection;
  t.only_cross_attention = only_cross_attention;
  t.upcast_attention = common.upcast_attention;
  return Transformer2DModel(w, t);
}

ResnetBlock2D make_resnet(const WeightLoader& w, int64_t in, int64_t out, const UNetBlockCommon& common) {
  return ResnetBlock2D(w, in, out, common.temb_channels, common.groups, common.resnet_eps);
}

std::string index_key(const char* list, size_t i) { return std::string(list) + "." + std::to_string(i); }

void check_time_terms(std::span<const Tensor> time_terms, size_t resnets, const char* block) {
  if (time_terms.size() != resnets) {
    throw Error(ErrorCode::Internal, std::string(block) + ": " + std::to_string(time_terms.size()) +
                                         " time terms for " + std::to_string(resnets) + " resnets");
  }
}

void project_attentions(const std::vector<Transformer2DModel>& attentions, const Tensor& context,
                        ProjectedContext& out) {
  for (const Transformer2DModel& attention : attentions) attention.project_context(context, out);
}

}  // namespace

UNetDownBlock2D::UNetDownBlock2D(const WeightLoader& w, const UNetBlockConfig& c, const UNetBlockCommon& common) {
  for (int i = 0; i < c.num_layers; ++i) {
    resnets_.push_back(make_resnet(w.sub(index_key("resnets", i)), i == 0 ? c.in_channels : c.out_channels,
                                   c.out_channels, common));
    if (c.cross_attention)
      attentions_.push_back(
          make_transformer(w.sub(index_key("attentions", i)), c.out_channels, c, common, c.only_cross_attention));
  }
  if (c.add_sampler)
    downsampler_.emplace(w.sub("downsamplers.0"), c.out_channels, c.out_channels, c.downsample_padding);
}

Tensor UNetDownBlock2D::forward(const Tensor& x, std::span<const Tensor> time_terms, const CrossContext& context,
                                std::vector<Tensor>& skips) const {
  check_time_terms(time_terms, resnets_.size(), "UNetDownBlock2D");
  Tensor h = x;
  for (size_t i = 0; i < resnets_.size(); ++i) {
    h = resnets_[i](h, time_term_rows(time_terms[i], h));
    if (!attentions_.empty()) h = attentions_[i].forward(h, context);
    skips.push_back(h);
  }
  if (downsampler_) {
    h = (*downsampler_)(h);
    skips.push_back(h);
  }
  return h;
}

void UNetDownBlock2D::project_context(const Tensor& context, ProjectedContext& out) const {
  project_attentions(attentions_, context, out);
}

UNetMidBlock2DCrossAttn::UNetMidBlock2DCrossAttn(const WeightLoader& w, const UNetBlockConfig& c,
                                                 const UNetBlockCommon& common) {
  const int64_t C = c.in_channels;
  resnets_.push_back(make_resnet(w.sub("resnets.0"), C, C, common));
  for (int i = 0; i < c.num_layers; ++i) {
    // diffusers' mid block never passes only_cross_attention to its transformers.
    attentions_.push_back(make_transformer(w.sub(index_key("attentions", i)), C, c, common, false));
    resnets_.push_back(make_resnet(w.sub(index_key("resnets", i + 1)), C, C, common));
  }
}

Tensor UNetMidBlock2DCrossAttn::forward(const Tensor& x, std::span<const Tensor> time_terms,
                                        const CrossContext& context) const {
  check_time_terms(time_terms, resnets_.size(), "UNetMidBlock2DCrossAttn");
  Tensor h = resnets_[0](x, time_term_rows(time_terms[0], x));
  for (size_t i = 0; i < attentions_.size(); ++i) {
    h = attentions_[i].forward(h, context);
    h = resnets_[i + 1](h, time_term_rows(time_terms[i + 1], h));
  }
  return h;
}

void UNetMidBlock2DCrossAttn::project_context(const Tensor& context, ProjectedContext& out) const {
  project_attentions(attentions_, context, out);
}

UNetUpBlock2D::UNetUpBlock2D(const WeightLoader& w, const UNetBlockConfig& c, const UNetBlockCommon& common) {
  for (int i = 0; i < c.num_layers; ++i) {
    // diffusers: the last resnet takes the skip from the down block's input side (in_channels).
    const int64_t skip_channels = i == c.num_layers - 1 ? c.in_channels : c.out_channels;
    const int64_t resnet_in = i == 0 ? c.prev_output_channel : c.out_channels;
    resnets_.push_back(make_resnet(w.sub(index_key("resnets", i)), resnet_in + skip_channels, c.out_channels, common));
    if (c.cross_attention)
      attentions_.push_back(
          make_transformer(w.sub(index_key("attentions", i)), c.out_channels, c, common, c.only_cross_attention));
  }
  if (c.add_sampler) upsampler_.emplace(w.sub("upsamplers.0"), c.out_channels, c.out_channels);
}

Tensor UNetUpBlock2D::forward(const Tensor& x, std::span<const Tensor> time_terms, const CrossContext& context,
                              std::vector<Tensor>& skips, int64_t upsample_h, int64_t upsample_w) const {
  check_time_terms(time_terms, resnets_.size(), "UNetUpBlock2D");
  Tensor h = x;
  for (size_t i = 0; i < resnets_.size(); ++i) {
    if (skips.empty()) throw Error(ErrorCode::Internal, "UNetUpBlock2D: ran out of skip connections");
    // A skip from a guidance pair's shared prefix (models/guidance_pair.h) holds one half where h holds both.
    const std::array<Tensor, 2> pair{h, to_pair_batch(skips.back(), h.dim(0))};
    skips.pop_back();
    const Tensor joined = ops::concat(pair, 1);  // cat([x, skip], dim=1)
    h = resnets_[i](joined, time_term_rows(time_terms[i], joined));
    if (!attentions_.empty()) h = attentions_[i].forward(h, context);
  }
  if (upsampler_) h = (*upsampler_)(h, upsample_h, upsample_w);
  return h;
}

void UNetUpBlock2D::project_context(const Tensor& context, ProjectedContext& out) const {
  project_attentions(attentions_, context, out);
}

}  // namespace sdpp::nn
