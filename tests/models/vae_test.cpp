// AutoencoderKL: fixture parity (diffusers, f32) of the raw decoder and the encoder moments for SD 1.5, SD 2.1 and
// SDXL (folder and, where the manifest has one, single file), plus the posterior sampling helper and input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "fixture_case.h"
#include "models/vae.h"

namespace sdpp {
namespace {

TEST(VaeParity, Sd15Decode) {
  EXPECT_EQ(test::expect_case_passes("sd15_vae_decode", parity::run_vae_decode_case).size(), 2u);
}
TEST(VaeParity, Sd21Decode) {
  EXPECT_EQ(test::expect_case_passes("sd21_vae_decode", parity::run_vae_decode_case).size(), 1u);
}
TEST(VaeParity, SdxlDecode) {
  EXPECT_EQ(test::expect_case_passes("sdxl_vae_decode", parity::run_vae_decode_case).size(), 2u);
}
TEST(VaeParity, Sd15Encode) {
  EXPECT_EQ(test::expect_case_passes("sd15_vae_encode", parity::run_vae_encode_case).size(), 4u);
}
TEST(VaeParity, Sd21Encode) {
  EXPECT_EQ(test::expect_case_passes("sd21_vae_encode", parity::run_vae_encode_case).size(), 2u);
}
TEST(VaeParity, SdxlEncode) {
  EXPECT_EQ(test::expect_case_passes("sdxl_vae_encode", parity::run_vae_encode_case).size(), 4u);
}

AutoencoderKL load_vae(const AutoencoderKLOptions& options = {}) {
  const Checkpoint checkpoint = test::open_fixture_model("sd15");
  return AutoencoderKL(checkpoint.vae->config, WeightLoader(checkpoint.vae->weights, Device::cpu(), DType::F32),
                       options);
}

TEST(AutoencoderKLTest, EveryWeightIsUsed) {
  for (const char* model : {"sd15", "sd21", "sdxl"}) {
    const Checkpoint checkpoint = test::open_fixture_model(model);
    auto source = std::make_shared<test::RecordingSource>(checkpoint.vae->weights);
    const AutoencoderKL vae(checkpoint.vae->config, WeightLoader(source, Device::cpu(), DType::F32));
    EXPECT_EQ(source->unread(), std::vector<std::string>()) << model;
  }
}

TEST(AutoencoderKLTest, SampleIsMeanPlusStdTimesNoise) {
  DiagonalGaussian posterior;
  posterior.mean = Tensor::from_floats(std::vector<float>{0.5f, -1.0f, 2.0f, 0.0f}, {1, 1, 2, 2});
  posterior.logvar = Tensor::from_floats(std::vector<float>{0.0f, 2.0f, -2.0f, -30.0f}, {1, 1, 2, 2});
  const Tensor noise = Tensor::from_floats(std::vector<float>{1.0f, -0.5f, 3.0f, 7.0f}, {1, 1, 2, 2});
  const std::vector<float> got = posterior.sample(noise).to_floats();
  const std::vector<double> want{0.5 + 1.0, -1.0 - 0.5 * std::exp(1.0), 2.0 + 3.0 * std::exp(-1.0),
                                 7.0 * std::exp(-15.0)};
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i;
  EXPECT_THROW(posterior.sample(Tensor::zeros({1, 1, 2, 3})), Error);
}

TEST(AutoencoderKLTest, EncodeShapesAndClampedLogvar) {
  const AutoencoderKL vae = load_vae();
  EXPECT_EQ(vae.downscale_factor(), 8);
  // Odd sizes follow torch's arithmetic for the (0, 1, 0, 1)-padded stride-2 convs: 20 -> 10 -> 5 -> 2
  // and 24 -> 12 -> 6 -> 3.
  const DiagonalGaussian posterior = vae.encode(Tensor::full({1, 3, 20, 24}, 0.25f));
  EXPECT_EQ(posterior.mean.shape(), (Shape{1, 4, 2, 3}));
  EXPECT_EQ(posterior.logvar.shape(), (Shape{1, 4, 2, 3}));
  for (float v : posterior.logvar.to_floats()) {
    EXPECT_GE(v, -30.0f);
    EXPECT_LE(v, 20.0f);
  }
  EXPECT_EQ(vae.decode(posterior.mean).shape(), (Shape{1, 3, 16, 24}));
}

TEST(AutoencoderKLTest, RejectsBadInputs) {
  const AutoencoderKL vae = load_vae();
  EXPECT_THROW(vae.decode(Tensor::zeros({1, 3, 8, 8})), Error);
  EXPECT_THROW(vae.decode(Tensor::zeros({4, 8, 8})), Error);
  EXPECT_THROW(vae.encode(Tensor::zeros({1, 4, 16, 16})), Error);

  AutoencoderKLOptions decoder_only;
  decoder_only.load_encoder = false;
  const AutoencoderKL partial = load_vae(decoder_only);
  EXPECT_FALSE(partial.has_encoder());
  EXPECT_THROW(partial.encode(Tensor::zeros({1, 3, 16, 16})), Error);
}

TEST(AutoencoderKLTest, BadConfigIsReportedNotCrashed) {
  const Checkpoint checkpoint = test::open_fixture_model("sd15");
  VaeConfig config = checkpoint.vae->config;
  config.norm_num_groups = 0;
  EXPECT_THROW(AutoencoderKL(config, WeightLoader(checkpoint.vae->weights, Device::cpu(), DType::F32)), Error);
  config = checkpoint.vae->config;
  config.block_out_channels = {};
  EXPECT_THROW(AutoencoderKL(config, WeightLoader(checkpoint.vae->weights, Device::cpu(), DType::F32)), Error);
}

}  // namespace
}  // namespace sdpp
