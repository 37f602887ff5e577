// AutoencoderTiny (TAESD): decoder parity with diffusers (f32), encoder shapes, and config/input validation.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "fixture_case.h"
#include "models/vae_tiny.h"

namespace sdpp {
namespace {

TEST(TaesdParity, Decode) {
  EXPECT_EQ(test::expect_case_passes("taesd_decode", parity::run_taesd_decode_case).size(), 1u);
}

AutoencoderTiny load_taesd(const TaesdConfig* override_config = nullptr) {
  const Checkpoint checkpoint = test::open_fixture_model("taesd");
  return AutoencoderTiny(override_config ? *override_config : checkpoint.taesd->config,
                         WeightLoader(checkpoint.taesd->weights, Device::cpu(), DType::F32));
}

// No fixture covers EncoderTiny's numerics; consuming every encoder.layers.* key with the checked shapes pins its
// layer order (conv / blocks / bias-free stride-2 convs) to diffusers'.
TEST(AutoencoderTinyTest, EveryWeightIsUsed) {
  const Checkpoint checkpoint = test::open_fixture_model("taesd");
  auto source = std::make_shared<test::RecordingSource>(checkpoint.taesd->weights);
  const AutoencoderTiny taesd(checkpoint.taesd->config, WeightLoader(source, Device::cpu(), DType::F32));
  EXPECT_EQ(source->unread(), std::vector<std::string>());
}

TEST(AutoencoderTinyTest, EncodeDecodeShapes) {
  const AutoencoderTiny taesd = load_taesd();
  ASSERT_TRUE(taesd.has_encoder());
  const Tensor latents = taesd.encode(Tensor::full({1, 3, 32, 48}, 0.5f));
  EXPECT_EQ(latents.shape(), (Shape{1, 4, 4, 6}));
  const Tensor image = taesd.decode(latents);
  EXPECT_EQ(image.shape(), (Shape{1, 3, 32, 48}));
  for (float v : image.to_floats()) EXPECT_TRUE(std::isfinite(v));
}

TEST(AutoencoderTinyTest, RejectsBadInputsAndConfigs) {
  const AutoencoderTiny taesd = load_taesd();
  EXPECT_THROW(taesd.decode(Tensor::zeros({1, 3, 4, 4})), Error);
  EXPECT_THROW(taesd.encode(Tensor::zeros({1, 4, 32, 32})), Error);

  TaesdConfig config = test::open_fixture_model("taesd").taesd->config;
  config.upsampling_scaling_factor = 3;
  EXPECT_THROW(load_taesd(&config), Error);
  config = test::open_fixture_model("taesd").taesd->config;
  config.num_decoder_blocks.pop_back();
  EXPECT_THROW(load_taesd(&config), Error);
}

}  // namespace
}  // namespace sdpp
