// Single-file checkpoints: the tiny sd15/sdxl .safetensors files must open as the same model as their diffusers
// folders — same family, same configs (inferred from shapes), the same key sets, shapes and values per component.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "io/checkpoint.h"
#include "io/config_inference.h"
#include "io/key_map.h"
#include "io/safetensors_source.h"
#include "io_test_util.h"

namespace sdpp {
namespace {

using test::expect_error;
using test::fixtures_dir;
using test::TempDir;

std::vector<float> transposed(const Tensor& t) {
  const auto v = t.to_floats();
  std::vector<float> out(v.size());
  const int64_t rows = t.dim(0), cols = t.dim(1);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[size_t(j * rows + i)] = v[size_t(i * cols + j)];
  return out;
}

// Same keys, shapes and float32 values (both sides are float16 in the fixtures, so equality is exact).
// `flipped`: keys whose stored values are expected transposed relative to the folder (see the SDXL test).
void expect_same_tensors(const TensorSource& got, const TensorSource& want, const std::string& what,
                         const std::set<std::string>& flipped = {}) {
  auto gk = got.keys(), wk = want.keys();
  std::sort(gk.begin(), gk.end());
  std::sort(wk.begin(), wk.end());
  std::vector<std::string> missing, extra;
  std::set_difference(wk.begin(), wk.end(), gk.begin(), gk.end(), std::back_inserter(missing));
  std::set_difference(gk.begin(), gk.end(), wk.begin(), wk.end(), std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << what << ": " << missing.size() << " diffusers keys unresolved, first '"
                               << (missing.empty() ? "" : missing[0]) << "'";
  EXPECT_TRUE(extra.empty()) << what << ": " << extra.size() << " keys not in the folder, first '"
                             << (extra.empty() ? "" : extra[0]) << "'";
  int differing = 0;
  for (const auto& k : wk) {
    if (!got.info(k)) continue;
    const auto gs = got.info(k)->shape, ws = want.info(k)->shape;
    if (gs != ws) {
      ADD_FAILURE() << what << ": '" << k << "' shape " << shape_str(gs) << " vs folder " << shape_str(ws);
      continue;
    }
    const auto expected = flipped.count(k) ? transposed(want.read(k)) : want.read(k).to_floats();
    if (got.read(k).to_floats() != expected && differing++ < 5)
      ADD_FAILURE() << what << ": '" << k << "' values differ from the folder";
  }
  EXPECT_EQ(differing, 0) << what;
}

void expect_same_unet(UNetConfig a, UNetConfig b) {
  // sample_size (the default latent size) cannot be read from weights; single files get the family default.
  a.sample_size = b.sample_size = 0;
  EXPECT_EQ(a.in_channels, b.in_channels);
  EXPECT_EQ(a.out_channels, b.out_channels);
  EXPECT_EQ(a.block_out_channels, b.block_out_channels);
  EXPECT_EQ(a.down_block_types, b.down_block_types);
  EXPECT_EQ(a.up_block_types, b.up_block_types);
  EXPECT_EQ(a.mid_block_type, b.mid_block_type);
  EXPECT_EQ(a.layers_per_block, b.layers_per_block);
  EXPECT_EQ(a.cross_attention_dim, b.cross_attention_dim);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.transformer_layers_per_block, b.transformer_layers_per_block);
  EXPECT_EQ(a.use_linear_projection, b.use_linear_projection);
  EXPECT_EQ(a.upcast_attention, b.upcast_attention);
  EXPECT_EQ(a.only_cross_attention, b.only_cross_attention);
  EXPECT_EQ(a.addition_embed_type, b.addition_embed_type);
  EXPECT_EQ(a.addition_time_embed_dim, b.addition_time_embed_dim);
  EXPECT_EQ(a.projection_class_embeddings_input_dim, b.projection_class_embeddings_input_dim);
  EXPECT_EQ(a.norm_num_groups, b.norm_num_groups);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.flip_sin_to_cos, b.flip_sin_to_cos);
  EXPECT_EQ(a.freq_shift, b.freq_shift);
  EXPECT_EQ(a.downsample_padding, b.downsample_padding);
  EXPECT_EQ(a.time_cond_proj_dim, b.time_cond_proj_dim);
}

void expect_same_vae(const VaeConfig& a, const VaeConfig& b) {
  EXPECT_EQ(a.in_channels, b.in_channels);
  EXPECT_EQ(a.out_channels, b.out_channels);
  EXPECT_EQ(a.latent_channels, b.latent_channels);
  EXPECT_EQ(a.block_out_channels, b.block_out_channels);
  EXPECT_EQ(a.layers_per_block, b.layers_per_block);
  EXPECT_EQ(a.norm_num_groups, b.norm_num_groups);
  EXPECT_FLOAT_EQ(a.scaling_factor, b.scaling_factor);
  EXPECT_FLOAT_EQ(a.shift_factor, b.shift_factor);
  EXPECT_EQ(a.force_upcast, b.force_upcast);
  EXPECT_EQ(a.mid_block_add_attention, b.mid_block_add_attention);
  EXPECT_EQ(a.use_quant_conv, b.use_quant_conv);
  EXPECT_EQ(a.use_post_quant_conv, b.use_post_quant_conv);
}

void expect_same_clip(const ClipTextConfig& a, const ClipTextConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_FLOAT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.projection_dim, b.projection_dim);
  EXPECT_EQ(a.with_projection, b.with_projection);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
}

TEST(SingleFile, Sd15MatchesItsDiffusersFolder) {
  const Checkpoint file = open_checkpoint(fixtures_dir() / "models/sd15.safetensors");
  const Checkpoint folder = open_checkpoint(fixtures_dir() / "models/sd15");
  EXPECT_TRUE(file.single_file);
  EXPECT_EQ(file.family, ModelFamily::SD1);
  EXPECT_EQ(folder.family, ModelFamily::SD1);
  ASSERT_TRUE(file.unet && file.vae && file.text_encoder);
  EXPECT_FALSE(file.text_encoder_2);
  EXPECT_TRUE(file.scheduler_config.is_null());
  EXPECT_TRUE(file.tokenizer_dir.empty());
  {
    SCOPED_TRACE("unet config");
    expect_same_unet(file.unet->config, folder.unet->config);
  }
  {
    SCOPED_TRACE("vae config");
    expect_same_vae(file.vae->config, folder.vae->config);
  }
  {
    SCOPED_TRACE("text_encoder config");
    expect_same_clip(file.text_encoder->config, folder.text_encoder->config);
  }
  expect_same_tensors(*file.unet->weights, *folder.unet->weights, "unet");
  expect_same_tensors(*file.vae->weights, *folder.vae->weights, "vae");
  expect_same_tensors(*file.text_encoder->weights, *folder.text_encoder->weights, "text_encoder");
}

TEST(SingleFile, SdxlMatchesItsDiffusersFolder) {
  const Checkpoint file = open_checkpoint(fixtures_dir() / "models/sdxl.safetensors");
  const Checkpoint folder = open_checkpoint(fixtures_dir() / "models/sdxl");
  EXPECT_EQ(file.family, ModelFamily::SDXL);
  EXPECT_EQ(folder.family, ModelFamily::SDXL);
  ASSERT_TRUE(file.unet && file.vae && file.text_encoder && file.text_encoder_2);
  {
    SCOPED_TRACE("unet config");
    expect_same_unet(file.unet->config, folder.unet->config);
  }
  {
    SCOPED_TRACE("vae config");
    expect_same_vae(file.vae->config, folder.vae->config);
  }
  {
    SCOPED_TRACE("text_encoder config");
    expect_same_clip(file.text_encoder->config, folder.text_encoder->config);
  }
  {
    SCOPED_TRACE("text_encoder_2 config");
    expect_same_clip(file.text_encoder_2->config, folder.text_encoder_2->config);
  }
  expect_same_tensors(*file.unet->weights, *folder.unet->weights, "unet");
  expect_same_tensors(*file.vae->weights, *folder.vae->weights, "vae");
  expect_same_tensors(*file.text_encoder->weights, *folder.text_encoder->weights, "text_encoder");
  // Real SDXL files store OpenCLIP's text_projection as [width, embed] (applied as x @ P) and diffusers transposes it
  // on load, as we do. The tiny fixture was written without the .T that diffusers' convert script applies
  // (make_fixtures.py renames text_projection.weight as is), so its square matrix is the folder's, transposed.
  expect_same_tensors(*file.text_encoder_2->weights, *folder.text_encoder_2->weights, "text_encoder_2",
                      {"text_projection.weight"});
}

// Copies `prefix`-keys of `from` under `new_prefix` into `out` (used to assemble synthetic checkpoints).
void copy_prefixed(const SafetensorsSource& from, const std::string& prefix, const std::string& new_prefix,
                   std::map<std::string, Tensor>& out) {
  for (const auto& k : from.keys()) {
    if (k.rfind(prefix, 0) == 0) out[new_prefix + k.substr(prefix.size())] = from.read(k);
  }
}

TEST(SingleFile, Sd2OpenClipDropsTheLastLayerAndSplitsInProj) {
  // An SD 2.x-layout file: the sd15 UNet/VAE with the sdxl file's OpenCLIP tower under cond_stage_model.model.
  TempDir dir;
  auto sd15 = SafetensorsSource::open(fixtures_dir() / "models/sd15.safetensors");
  auto sdxl = SafetensorsSource::open(fixtures_dir() / "models/sdxl.safetensors");
  std::map<std::string, Tensor> tensors;
  copy_prefixed(*sd15, "model.diffusion_model.", "model.diffusion_model.", tensors);
  copy_prefixed(*sd15, "first_stage_model.", "first_stage_model.", tensors);
  copy_prefixed(*sdxl, ldm::kSdxlOpenClipPrefix, ldm::kOpenClipPrefix, tensors);
  write_safetensors(dir / "sd2.safetensors", tensors);

  const Checkpoint ck = open_checkpoint(dir / "sd2.safetensors");
  EXPECT_EQ(ck.family, ModelFamily::SD2);
  ASSERT_TRUE(ck.text_encoder);
  EXPECT_FALSE(ck.text_encoder_2);
  const auto& te = ck.text_encoder->config;
  EXPECT_EQ(te.num_hidden_layers, 2);  // 3 stored, the last one unused by SD 2.x
  EXPECT_EQ(te.hidden_act, "gelu");
  EXPECT_FALSE(te.with_projection);
  EXPECT_TRUE(ck.unet->config.upcast_attention);
  EXPECT_EQ(ck.unet->config.num_attention_heads, (std::vector<int>{1, 1, 1, 1}));  // head size 64, at least 1

  // Against the sdxl folder's encoder 2 (same weights), minus the dropped layer and the projection.
  const Checkpoint sdxl_folder = open_checkpoint(fixtures_dir() / "models/sdxl");
  const auto& want = *sdxl_folder.text_encoder_2->weights;
  const auto& got = *ck.text_encoder->weights;
  size_t expected_keys = 0;
  for (const auto& k : want.keys()) {
    if (k.find("layers.2.") != std::string::npos || k == "text_projection.weight") {
      EXPECT_FALSE(got.info(k)) << k;
      continue;
    }
    ++expected_keys;
    ASSERT_TRUE(got.info(k)) << k;
    EXPECT_EQ(got.read(k).to_floats(), want.read(k).to_floats()) << k;
  }
  EXPECT_EQ(got.keys().size(), expected_keys);
}

TEST(SingleFile, ExtraKeysAreIgnored) {
  // sd15.safetensors carries alphas_cumprod, model_ema.decay and position_ids; none may leak into a component.
  const Checkpoint ck = open_checkpoint(fixtures_dir() / "models/sd15.safetensors");
  for (const auto* src : {ck.unet->weights.get(), ck.vae->weights.get(), ck.text_encoder->weights.get()}) {
    for (const auto& k : src->keys()) {
      EXPECT_EQ(k.find("alphas_cumprod"), std::string::npos);
      EXPECT_EQ(k.find("model_ema"), std::string::npos);
      EXPECT_EQ(k.find("position_ids"), std::string::npos);
    }
  }
}

TEST(SingleFile, InpaintingUNetIsDetectedFromConvIn) {
  TempDir dir;
  auto sd15 = SafetensorsSource::open(fixtures_dir() / "models/sd15.safetensors");
  std::map<std::string, Tensor> tensors;
  for (const auto& k : sd15->keys()) tensors[k] = sd15->read(k);
  tensors["model.diffusion_model.input_blocks.0.0.weight"] = Tensor::zeros({32, 9, 3, 3}, DType::F16);
  write_safetensors(dir / "inpaint.safetensors", tensors);
  EXPECT_EQ(open_checkpoint(dir / "inpaint.safetensors").unet->config.in_channels, 9);
}

TEST(SingleFile, NotAStableDiffusionCheckpoint) {
  TempDir dir;
  write_safetensors(dir / "lora.safetensors", {{"lora_unet_down.alpha", Tensor::zeros({1})}});
  expect_error([&] { open_checkpoint(dir / "lora.safetensors"); }, ErrorCode::BadFile,
               {"lora.safetensors", "model.diffusion_model."});
  auto sd15 = SafetensorsSource::open(fixtures_dir() / "models/sd15.safetensors");
  std::map<std::string, Tensor> unet_only;
  copy_prefixed(*sd15, "model.diffusion_model.", "model.diffusion_model.", unet_only);
  write_safetensors(dir / "unet_only.safetensors", unet_only);
  expect_error([&] { open_checkpoint(dir / "unet_only.safetensors"); }, ErrorCode::BadFile,
               {"unet_only.safetensors", "text encoder"});
}

TEST(SingleFile, MissingStructuralTensorIsNamed) {
  TempDir dir;
  auto sd15 = SafetensorsSource::open(fixtures_dir() / "models/sd15.safetensors");
  std::map<std::string, Tensor> tensors;
  for (const auto& k : sd15->keys()) {
    if (k != "model.diffusion_model.out.2.weight") tensors[k] = sd15->read(k);
  }
  write_safetensors(dir / "broken.safetensors", tensors);
  expect_error([&] { open_checkpoint(dir / "broken.safetensors"); }, ErrorCode::MissingTensor,
               {"model.diffusion_model.out.2.weight", "broken.safetensors"});
}

}  // namespace
}  // namespace sdpp
