// config.json parsing: the tiny fixtures' real hub-format configs, diffusers' attention_head_dim quirk, defaults
// for missing fields, and errors naming the field.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "io/model_config.h"
#include "io_test_util.h"

namespace sdpp {
namespace {

using nlohmann::json;
using test::expect_error;

json load(const std::string& rel) {
  std::ifstream in(test::fixtures_dir() / "models" / rel);
  EXPECT_TRUE(in.good()) << rel;
  return json::parse(in);
}

TEST(ModelConfig, FamilyNamesUseTheManifestSpelling) {
  EXPECT_STREQ(family_name(ModelFamily::SD1), "sd15");
  EXPECT_STREQ(family_name(ModelFamily::SD2), "sd21");
  EXPECT_STREQ(family_name(ModelFamily::SDXL), "sdxl");
  EXPECT_STREQ(family_name(ModelFamily::TAESD), "taesd");
  EXPECT_STREQ(family_name(ModelFamily::Unknown), "unknown");
}

TEST(UNetConfig, Sd15AttentionHeadDimIsTheHeadCount) {
  const auto c = UNetConfig::from_json(load("sd15/unet/config.json"));
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{32, 32, 64, 64}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{8, 8, 8, 8}));
  EXPECT_EQ(c.transformer_layers_per_block, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(c.cross_attention_dim, 128);
  EXPECT_EQ(c.in_channels, 4);
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_FALSE(c.use_linear_projection);
  EXPECT_EQ(c.down_block_types[3], "DownBlock2D");
  EXPECT_EQ(c.up_block_types[0], "UpBlock2D");
  EXPECT_EQ(c.mid_block_type, "UNetMidBlock2DCrossAttn");
  EXPECT_EQ(c.addition_embed_type, "");
  EXPECT_EQ(c.sample_size, 16);
  EXPECT_EQ(c.time_cond_proj_dim, 0);
}

TEST(UNetConfig, Sd21PerBlockHeadsLinearProjectionUpcast) {
  const auto c = UNetConfig::from_json(load("sd21/unet/config.json"));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{1, 1, 2, 2}));
  EXPECT_TRUE(c.use_linear_projection);
  EXPECT_TRUE(c.upcast_attention);
}

TEST(UNetConfig, SdxlTextTimeAndTransformerDepths) {
  const auto c = UNetConfig::from_json(load("sdxl/unet/config.json"));
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{32, 64, 64}));
  EXPECT_EQ(c.transformer_layers_per_block, (std::vector<int>{1, 1, 2}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(c.addition_embed_type, "text_time");
  EXPECT_EQ(c.addition_time_embed_dim, 16);
  EXPECT_EQ(c.projection_class_embeddings_input_dim, 224);
  EXPECT_EQ(c.cross_attention_dim, 256);
}

TEST(UNetConfig, InpaintingHasNineInputChannels) {
  EXPECT_EQ(UNetConfig::from_json(load("sd15_inpaint/unet/config.json")).in_channels, 9);
}

TEST(UNetConfig, NumAttentionHeadsWinsWhenSet) {
  const auto c = UNetConfig::from_json(json{{"block_out_channels", {64, 128}},
                                            {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
                                            {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
                                            {"attention_head_dim", 64},
                                            {"num_attention_heads", {2, 4}}});
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{2, 4}));
}

TEST(UNetConfig, EmptyConfigTakesDiffusersDefaults) {
  const auto c = UNetConfig::from_json(json::object());
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{320, 640, 1280, 1280}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{8, 8, 8, 8}));
  EXPECT_EQ(c.cross_attention_dim, 1280);
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.down_block_types.size(), 4u);
  EXPECT_EQ(c.transformer_layers_per_block, (std::vector<int>{1, 1, 1, 1}));
}

TEST(UNetConfig, ErrorsNameTheField) {
  expect_error([] { UNetConfig::from_json(json{{"block_out_channels", "wide"}}); }, ErrorCode::BadFile,
               {"block_out_channels", "\"wide\""});
  expect_error([] { UNetConfig::from_json(json{{"attention_head_dim", {8, 8}}}); }, ErrorCode::BadFile,
               {"attention_head_dim", "2 values", "4 down blocks"});
  expect_error([] { UNetConfig::from_json(json{{"transformer_layers_per_block", {1, 1, 0, 1}}}); },
               ErrorCode::BadFile, {"transformer_layers_per_block"});
  expect_error([] { UNetConfig::from_json(json{{"in_channels", 4.5}}); }, ErrorCode::BadFile, {"in_channels", "4.5"});
  expect_error([] { UNetConfig::from_json(json{{"down_block_types", {"A", "B", "C", "D"}}}); }, ErrorCode::Unsupported,
               {"down_block_types", "'A'"});
  expect_error([] { UNetConfig::from_json(json{{"block_out_channels", {32, 64}}}); }, ErrorCode::BadFile,
               {"2 block_out_channels", "4 down_block_types"});
  expect_error([] { UNetConfig::from_json(json::array()); }, ErrorCode::BadFile, {"not a JSON object"});
}

TEST(VaeConfig, ParsesScalingAndDefaults) {
  const auto sd15 = VaeConfig::from_json(load("sd15/vae/config.json"));
  EXPECT_EQ(sd15.block_out_channels, (std::vector<int64_t>{32, 32, 64, 64}));
  EXPECT_FLOAT_EQ(sd15.scaling_factor, 0.18215f);
  EXPECT_FLOAT_EQ(sd15.shift_factor, 0.0f);  // null in the file
  EXPECT_EQ(sd15.layers_per_block, 2);
  EXPECT_EQ(sd15.sample_size, 128);
  EXPECT_FLOAT_EQ(VaeConfig::from_json(load("sdxl/vae/config.json")).scaling_factor, 0.13025f);
  const auto defaults = VaeConfig::from_json(json::object());
  EXPECT_EQ(defaults.block_out_channels, (std::vector<int64_t>{64}));
  EXPECT_EQ(defaults.layers_per_block, 1);
  expect_error([] { VaeConfig::from_json(json{{"latent_channels", -4}}); }, ErrorCode::BadFile, {"latent_channels"});
}

TEST(ClipTextConfig, OpenAiAndOpenClipStyles) {
  const auto l = ClipTextConfig::from_json(load("sd15/text_encoder/config.json"));
  EXPECT_EQ(l.hidden_size, 128);
  EXPECT_EQ(l.num_attention_heads, 2);
  EXPECT_EQ(l.num_hidden_layers, 3);
  EXPECT_EQ(l.vocab_size, 814);
  EXPECT_EQ(l.hidden_act, "quick_gelu");
  EXPECT_FALSE(l.with_projection);
  EXPECT_EQ(l.projection_dim, 0);
  EXPECT_EQ(l.eos_token_id, 813);
  EXPECT_EQ(ClipTextConfig::from_json(load("sd21/text_encoder/config.json")).hidden_act, "gelu");
  const auto g = ClipTextConfig::from_json(load("sdxl/text_encoder_2/config.json"));
  EXPECT_TRUE(g.with_projection);
  EXPECT_EQ(g.projection_dim, 128);
}

TEST(ClipTextConfig, DefaultsAndErrors) {
  const auto d = ClipTextConfig::from_json(json::object());
  EXPECT_EQ(d.hidden_size, 512);  // transformers CLIPTextConfig defaults
  EXPECT_EQ(d.num_attention_heads, 8);
  expect_error([] { ClipTextConfig::from_json(json{{"hidden_size", 100}, {"num_attention_heads", 3}}); },
               ErrorCode::BadFile, {"hidden_size 100", "num_attention_heads 3"});
  expect_error([] { ClipTextConfig::from_json(json{{"hidden_act", "relu"}}); }, ErrorCode::Unsupported, {"relu"});
  expect_error([] { ClipTextConfig::from_json(json{{"num_hidden_layers", "12"}}); }, ErrorCode::BadFile,
               {"num_hidden_layers"});
}

TEST(TaesdConfig, ParsesTheFixture) {
  const auto c = TaesdConfig::from_json(load("taesd/config.json"));
  EXPECT_EQ(c.encoder_block_out_channels, (std::vector<int64_t>{32, 32, 32, 32}));
  EXPECT_EQ(c.num_decoder_blocks, (std::vector<int>{3, 3, 3, 1}));
  EXPECT_FLOAT_EQ(c.latent_magnitude, 3.0f);
  EXPECT_FLOAT_EQ(c.latent_shift, 0.5f);
  expect_error([] { TaesdConfig::from_json(json{{"num_encoder_blocks", {1, 3}}}); }, ErrorCode::BadFile,
               {"num_encoder_blocks"});
}

}  // namespace
}  // namespace sdpp
