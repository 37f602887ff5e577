#include "models/unet_2d_condition.h"

#include <algorithm>
#include <array>

#include "core/error.h"
#include "models/guidance_pair.h"

namespace sdpp::nn {
namespace {

Error config_error(ErrorCode code, const std::string& message) { return Error(code, "UNet config: " + message); }

// A per-down-block list given as one value (broadcast) or one value per block; `fallback` when empty.
template <class T>
std::vector<T> per_block(const std::vector<T>& values, size_t blocks, T fallback, const char* field) {
  if (values.empty()) return std::vector<T>(blocks, fallback);
  if (values.size() == 1) return std::vector<T>(blocks, values[0]);
  if (values.size() != blocks) {
    throw config_error(ErrorCode::InvalidArgument, std::string(field) + " has " + std::to_string(values.size()) +
                                                       " entries for " + std::to_string(blocks) + " blocks");
  }
  return values;
}

bool is_cross_attn_block(const std::string& type, const char* expected_cross, const char* expected_plain,
                         const char* field) {
  if (type == expected_cross) return true;
  if (type == expected_plain) return false;
  throw config_error(ErrorCode::Unsupported, std::string(field) + " entry '" + type + "' (supported: " +
                                                 expected_cross + ", " + expected_plain + ")");
}

}  // namespace

UNet2DConditionModel::UNet2DConditionModel(const WeightLoader& w, const UNetConfig& config)
    : config_(config), device_(w.device()), dtype_(w.dtype()) {
  const UNetConfig& c = config_;
  const size_t n = c.block_out_channels.size();
  if (n == 0 || c.down_block_types.size() != n || c.up_block_types.size() != n) {
    throw config_error(ErrorCode::InvalidArgument,
                       "block_out_channels, down_block_types and up_block_types must be non-empty and equally long "
                       "(got " + std::to_string(n) + ", " + std::to_string(c.down_block_types.size()) + ", " +
                           std::to_string(c.up_block_types.size()) + ")");
  }
  if (c.norm_num_groups <= 0 || c.layers_per_block <= 0 || c.in_channels <= 0 || c.out_channels <= 0) {
    throw config_error(ErrorCode::InvalidArgument, "norm_num_groups, layers_per_block, in_channels and out_channels "
                                                   "must be > 0");
  }
  for (int64_t ch : c.block_out_channels) {
    if (ch <= 0 || ch % c.norm_num_groups != 0) {
      throw config_error(ErrorCode::InvalidArgument, "block_out_channels entry " + std::to_string(ch) +
                                                         " is not a positive multiple of norm_num_groups " +
                                                         std::to_string(c.norm_num_groups));
    }
  }
  if (!c.addition_embed_type.empty() && c.addition_embed_type != "text_time")
    throw config_error(ErrorCode::Unsupported, "addition_embed_type '" + c.addition_embed_type + "'");
  if (!c.mid_block_type.empty() && c.mid_block_type != "UNetMidBlock2DCrossAttn")
    throw config_error(ErrorCode::Unsupported, "mid_block_type '" + c.mid_block_type + "'");
  const std::vector<int> heads = per_block(c.num_attention_heads, n, 8, "num_attention_heads");
  const std::vector<int> layers = per_block(c.transformer_layers_per_block, n, 1, "transformer_layers_per_block");

  const int64_t ch0 = c.block_out_channels[0];
  const int64_t time_embed_dim = ch0 * 4;
  conv_in_ = Conv2d(w.sub("conv_in"), c.in_channels, ch0, 3);
  time_proj_ = Timesteps{ch0, c.flip_sin_to_cos, c.freq_shift};
  time_embedding_ = TimestepEmbedding(w.sub("time_embedding"), ch0, time_embed_dim, c.time_cond_proj_dim);
  if (c.addition_embed_type == "text_time") {
    if (c.addition_time_embed_dim <= 0 || c.projection_class_embeddings_input_dim <= 0) {
      throw config_error(ErrorCode::InvalidArgument, "addition_embed_type 'text_time' needs addition_time_embed_dim "
                                                     "and projection_class_embeddings_input_dim > 0");
    }
    add_time_proj_ = Timesteps{c.addition_time_embed_dim, c.flip_sin_to_cos, c.freq_shift};
    add_embedding_ = TimestepEmbedding(w.sub("add_embedding"), c.projection_class_embeddings_input_dim, time_embed_dim);
  }

  UNetBlockCommon common;
  common.temb_channels = time_embed_dim;
  common.groups = c.norm_num_groups;
  common.resnet_eps = c.norm_eps;
  common.cross_attention_dim = c.cross_attention_dim;
  common.use_linear_projection = c.use_linear_projection;
  common.upcast_attention = c.upcast_attention;

  int64_t output_channel = ch0;
  for (size_t i = 0; i < n; ++i) {
    UNetBlockConfig b;
    b.in_channels = output_channel;
    b.out_channels = output_channel = c.block_out_channels[i];
    b.num_layers = c.layers_per_block;
    b.cross_attention =
        is_cross_attn_block(c.down_block_types[i], "CrossAttnDownBlock2D", "DownBlock2D", "down_block_types");
    b.heads = heads[i];
    b.transformer_layers = layers[i];
    b.only_cross_attention = c.only_cross_attention;
    b.add_sampler = i + 1 < n;
    b.downsample_padding = c.downsample_padding;
    down_blocks_.emplace_back(w.sub("down_blocks." + std::to_string(i)), b, common);
  }
  if (!c.mid_block_type.empty()) {
    UNetBlockConfig b;
    b.in_channels = b.out_channels = c.block_out_channels.back();
    b.num_layers = 1;
    b.cross_attention = true;
    b.heads = heads.back();
    b.transformer_layers = layers.back();
    mid_block_.emplace(w.sub("mid_block"), b, common);
  }
  output_channel = c.block_out_channels.back();
  for (size_t i = 0; i < n; ++i) {
    const size_t r = n - 1 - i;  // the mirrored down block
    UNetBlockConfig b;
    b.prev_output_channel = output_channel;
    b.out_channels = output_channel = c.block_out_channels[r];
    b.in_channels = c.block_out_channels[r == 0 ? 0 : r - 1];
    b.num_layers = c.layers_per_block + 1;
    b.cross_attention =
        is_cross_attn_block(c.up_block_types[i], "CrossAttnUpBlock2D", "UpBlock2D", "up_block_types");
    b.heads = heads[r];
    b.transformer_layers = layers[r];
    b.only_cross_attention = c.only_cross_attention;
    b.add_sampler = i + 1 < n;
    up_blocks_.emplace_back(w.sub("up_blocks." + std::to_string(i)), b, common);
  }
  conv_norm_out_ = GroupNorm(w.sub("conv_norm_out"), c.norm_num_groups, ch0, c.norm_eps);
  conv_out_ = Conv2d(w.sub("conv_out"), ch0, c.out_channels, 3);
}

void UNet2DConditionModel::check_sample(const Tensor& sample) const {
  if (sample.ndim() != 4 || sample.dim(1) != config_.in_channels) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: expected sample [B, " + std::to_string(config_.in_channels) +
                                              ", h, w], got " + shape_str(sample.shape()));
  }
}

UNetTimeInputs UNet2DConditionModel::project_time(const Tensor& timesteps, int64_t rows,
                                                  const UNetAddedCond* added) const {
  std::vector<float> t = timesteps.defined() ? timesteps.to_floats() : std::vector<float>();
  if (t.size() == 1) t.assign(size_t(rows), t[0]);  // diffusers broadcasts one timestep to the batch
  if (int64_t(t.size()) != rows) {
    throw Error(ErrorCode::InvalidArgument, "UNet: " + std::to_string(t.size()) + " timesteps for a batch of " +
                                                std::to_string(rows) + " (expected 1 or " + std::to_string(rows) +
                                                ")");
  }
  UNetTimeInputs time;
  time.t_proj = time_proj_(t, device_, dtype_);  // [rows, ch0]
  if (!add_embedding_.linear_1.weight.defined()) return time;
  if (!added || !added->time_ids.defined()) {
    throw Error(ErrorCode::InvalidArgument,
                "UNet: addition_embed_type 'text_time' (SDXL) needs text_embeds and time_ids");
  }
  const Tensor& time_ids = added->time_ids;
  if (time_ids.ndim() != 2 || time_ids.dim(0) != rows) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: time_ids " + shape_str(time_ids.shape()) + " for a batch of " +
                                              std::to_string(rows) + " (expected [" + std::to_string(rows) + ", K])");
  }
  time.time_embeds = add_time_proj_(time_ids.to_floats(), device_, dtype_).reshape({rows, -1});  // [rows, K * D]
  return time;
}

Tensor UNet2DConditionModel::time_embed(const UNetTimeInputs& time, int64_t rows, const UNetAddedCond* added) const {
  if (!time.t_proj.defined() || time.t_proj.shape() != Shape{rows, time_proj_.num_channels}) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: timestep projection " +
                                              (time.t_proj.defined() ? shape_str(time.t_proj.shape()) : "missing") +
                                              " for a batch of " + std::to_string(rows));
  }
  const Tensor condition = added ? added->timestep_cond : Tensor();
  if (!add_embedding_.linear_1.weight.defined()) return time_embedding_(time.t_proj, condition);

  if (!added || !added->text_embeds.defined() || !time.time_embeds.defined()) {
    throw Error(ErrorCode::InvalidArgument,
                "UNet: addition_embed_type 'text_time' (SDXL) needs text_embeds and time_ids");
  }
  const Tensor& text_embeds = added->text_embeds;
  const Tensor& time_embeds = time.time_embeds;
  if (text_embeds.ndim() != 2 || text_embeds.dim(0) != rows || time_embeds.dim(0) != rows ||
      text_embeds.dim(1) + time_embeds.dim(1) != config_.projection_class_embeddings_input_dim) {
    throw Error(ErrorCode::ShapeMismatch,
                "UNet: text_embeds " + shape_str(text_embeds.shape()) + " and projected time_ids " +
                    shape_str(time_embeds.shape()) + " do not give a batch of " + std::to_string(rows) + " x " +
                    std::to_string(config_.projection_class_embeddings_input_dim) +
                    " (projection_class_embeddings_input_dim) added embeddings");
  }
  const std::array<Tensor, 2> parts{text_embeds, time_embeds};
  const Tensor emb = time_embedding_(time.t_proj, condition);
  return add_embedding_(ops::concat(parts, 1), {}, &emb);  // emb + add_embedding(cat(text_embeds, time_embeds))
}

Tensor UNet2DConditionModel::forward(const Tensor& sample, const Tensor& timesteps,
                                     const Tensor& encoder_hidden_states, const UNetAddedCond* added) const {
  check_sample(sample);
  return forward(sample, project_time(timesteps, call_batch(sample, encoder_hidden_states), added),
                 encoder_hidden_states, added);
}

int64_t UNet2DConditionModel::call_batch(const Tensor& sample, const Tensor& encoder_hidden_states) const {
  check_context(encoder_hidden_states, 0);
  const int64_t batch = encoder_hidden_states.dim(0);
  if (sample.dim(0) != batch && 2 * sample.dim(0) != batch) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: a sample of batch " + std::to_string(sample.dim(0)) +
                                              " for encoder_hidden_states of batch " + std::to_string(batch) +
                                              " (expected " + std::to_string(batch) + ", or " +
                                              std::to_string(batch / 2) + " for a guidance pair)");
  }
  return batch;
}

bool UNet2DConditionModel::time_terms_follow_the_timestep() const {
  return !add_embedding_.linear_1.weight.defined() && !time_embedding_.cond_proj.weight.defined();
}

void UNet2DConditionModel::check_context(const Tensor& encoder_hidden_states, int64_t batch) const {
  if (encoder_hidden_states.ndim() != 3 || (batch > 0 && encoder_hidden_states.dim(0) != batch) ||
      encoder_hidden_states.dim(2) != config_.cross_attention_dim) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: expected encoder_hidden_states [" +
                                              (batch > 0 ? std::to_string(batch) : std::string("B")) + ", L, " +
                                              std::to_string(config_.cross_attention_dim) + "], got " +
                                              shape_str(encoder_hidden_states.shape()));
  }
}

ProjectedContext UNet2DConditionModel::project_context(const Tensor& encoder_hidden_states) const {
  check_context(encoder_hidden_states, 0);
  ProjectedContext out;
  for (const UNetDownBlock2D& block : down_blocks_) block.project_context(encoder_hidden_states, out);
  if (mid_block_) mid_block_->project_context(encoder_hidden_states, out);
  for (const UNetUpBlock2D& block : up_blocks_) block.project_context(encoder_hidden_states, out);
  return out;
}

std::vector<const ResnetBlock2D*> UNet2DConditionModel::resnets() const {
  std::vector<const ResnetBlock2D*> out;
  auto add = [&](const std::vector<ResnetBlock2D>& resnets) {
    for (const ResnetBlock2D& r : resnets) out.push_back(&r);
  };
  for (const UNetDownBlock2D& block : down_blocks_) add(block.resnets());
  if (mid_block_) add(mid_block_->resnets());
  for (const UNetUpBlock2D& block : up_blocks_) add(block.resnets());
  return out;
}

int64_t UNet2DConditionModel::time_term_channels() const {
  int64_t channels = 0;
  for (const ResnetBlock2D* r : resnets()) channels += r->out_channels();
  return channels;
}

UNetTimeTerms UNet2DConditionModel::time_terms(const UNetTimeInputs& time, int64_t batch,
                                               const UNetAddedCond* added) const {
  const int64_t rows = time.t_proj.defined() ? time.t_proj.dim(0) : 0;
  if (batch <= 0 || rows <= 0 || rows % batch != 0) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: " + std::to_string(rows) + " projected timesteps are not a whole "
                                          "number of calls of batch " + std::to_string(batch));
  }
  // Every resnet projects silu(emb): taken once here rather than once per block.
  const Tensor emb = ops::activation(time_embed(time, rows, added), ops::Activation::SiLU);  // [rows, 4 * ch0]
  // One GEMM per resnet over all the rows; each call's row of the result then holds that call's [batch, out] terms.
  std::vector<Tensor> parts;
  for (const ResnetBlock2D* r : resnets())
    parts.push_back(r->time_term(emb).reshape({rows / batch, batch * r->out_channels()}));
  return {ops::concat(parts, 1)};
}

Tensor UNet2DConditionModel::forward(const Tensor& sample, const UNetTimeInputs& time,
                                     const Tensor& encoder_hidden_states, const UNetAddedCond* added,
                                     const ProjectedContext* projected) const {
  check_sample(sample);
  const int64_t batch = call_batch(sample, encoder_hidden_states);
  if (time.t_proj.defined() && time.t_proj.dim(0) != batch) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: timestep projection " + shape_str(time.t_proj.shape()) +
                                              " for a batch of " + std::to_string(batch));
  }
  return forward(sample, time_terms(time, batch, added), encoder_hidden_states, projected);
}

Tensor UNet2DConditionModel::forward(const Tensor& sample, const UNetTimeTerms& terms,
                                     const Tensor& encoder_hidden_states, const ProjectedContext* projected) const {
  check_sample(sample);
  const int64_t batch = call_batch(sample, encoder_hidden_states);
  const std::vector<const ResnetBlock2D*> all_resnets = resnets();
  int64_t per_call = 0;
  for (const ResnetBlock2D* r : all_resnets) per_call += batch * r->out_channels();
  if (!terms.packed.defined() || terms.packed.numel() != per_call) {
    throw Error(ErrorCode::ShapeMismatch, "UNet: time terms " +
                                              (terms.packed.defined() ? shape_str(terms.packed.shape()) : "missing") +
                                              " for one call of batch " + std::to_string(batch) + " (expected " +
                                              std::to_string(per_call) + " values)");
  }
  // Each resnet's [batch, out] term is a view of the packed row.
  const Tensor flat = terms.packed.reshape({per_call});
  std::vector<Tensor> resnet_terms;
  int64_t offset = 0;
  for (const ResnetBlock2D* r : all_resnets) {
    const int64_t n = batch * r->out_channels();
    resnet_terms.push_back(flat.narrow0(offset, n).reshape({batch, r->out_channels()}));
    offset += n;
  }
  size_t next = 0;
  auto take = [&](size_t count) {
    const std::span<const Tensor> span(resnet_terms.data() + next, count);
    next += count;
    return span;
  };
  const CrossContext context(encoder_hidden_states, projected);

  // A sample of half the batch is a guidance pair's (models/guidance_pair.h): its shared prefix runs once, on the
  // half batch, unless the time terms differ between the halves (SDXL's pooled text, LCM's guidance embedding).
  Tensor h = conv_in_(time_terms_follow_the_timestep() ? sample : to_pair_batch(sample, batch));
  std::vector<Tensor> skips{h};
  for (const UNetDownBlock2D& block : down_blocks_) h = block.forward(h, take(block.resnets().size()), context, skips);
  if (mid_block_) h = mid_block_->forward(h, take(mid_block_->resnets().size()), context);
  for (const UNetUpBlock2D& block : up_blocks_) {
    // diffusers' upsample_size: each upsampler produces the size of the skip the next block concatenates first,
    // which for odd sizes is one less than 2x (the stride-2 convs round up).
    int64_t up_h = 0, up_w = 0;
    if (block.has_upsampler()) {
      if (skips.size() <= block.num_resnets())
        throw Error(ErrorCode::Internal, "UNet: too few skip connections for the up blocks");
      const Tensor& next_skip = skips[skips.size() - block.num_resnets() - 1];
      up_h = next_skip.dim(2);
      up_w = next_skip.dim(3);
    }
    h = block.forward(h, take(block.num_resnets()), context, skips, up_h, up_w);
  }
  if (!skips.empty())
    throw Error(ErrorCode::Internal, "UNet: " + std::to_string(skips.size()) + " skip connections left unused");
  // h holds both halves by now unless no layer read the context (a UNet without cross-attention).
  return to_pair_batch(conv_out_(conv_norm_out_(h, ops::Activation::SiLU)), batch);
}

Tensor unet_forward_named(const UNet2DConditionModel& unet, const std::map<std::string, Tensor>& inputs) {
  auto input = [&](const std::string& name) -> const Tensor& {
    auto it = inputs.find(name);
    if (it == inputs.end()) throw Error(ErrorCode::InvalidArgument, "unet inputs: missing '" + name + "'");
    return it->second;
  };
  auto to_model = [&](const Tensor& t) { return t.to(unet.device()).to(unet.dtype()); };
  const Tensor sample = to_model(input("sample"));
  const Tensor context = to_model(input("encoder_hidden_states"));
  UNetAddedCond added;
  if (inputs.count("text_embeds")) added.text_embeds = to_model(input("text_embeds"));
  if (inputs.count("time_ids")) added.time_ids = input("time_ids");
  if (inputs.count("timestep_cond")) added.timestep_cond = to_model(input("timestep_cond"));
  return unet.forward(sample, input("timestep"), context, &added);
}

}  // namespace sdpp::nn
