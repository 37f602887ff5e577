// CLIP text encoder: fixture parity (transformers, f32) for SD 1.5, SD 2.1 and both SDXL encoders, plus the
// options and input validation the pipeline relies on.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "fixture_case.h"
#include "models/clip_text.h"

namespace sdpp {
namespace {

size_t output_count(const std::string& name) { return test::fixture_spec(name)->at("outputs").size(); }

TEST(ClipTextParity, Sd15TextEncoder) {
  const auto checks = test::expect_case_passes("sd15_text_encoder", parity::run_text_encoder_case);
  EXPECT_EQ(checks.size(), output_count("sd15_text_encoder") * 2);  // folder + single file
}

TEST(ClipTextParity, Sd21TextEncoder) {
  const auto checks = test::expect_case_passes("sd21_text_encoder", parity::run_text_encoder_case);
  EXPECT_EQ(checks.size(), output_count("sd21_text_encoder"));
}

TEST(ClipTextParity, SdxlTextEncoder) {
  const auto checks = test::expect_case_passes("sdxl_text_encoder", parity::run_text_encoder_case);
  EXPECT_EQ(checks.size(), output_count("sdxl_text_encoder") * 2);
}

TEST(ClipTextParity, SdxlTextEncoder2WithProjection) {
  // Known fixture gap (docs/PARITY.md): see SingleFileProjectionIsTransposedAsDiffusersLoadsIt.
  const auto checks =
      test::expect_case_passes("sdxl_text_encoder_2", parity::run_text_encoder_case, {"text_embeds[single_file]"});
  EXPECT_EQ(checks.size(), output_count("sdxl_text_encoder_2") * 2);
}

// The fixture's sdxl.safetensors stores diffusers' Linear weight W under OpenCLIP's `text_projection` key, which real
// SDXL files use for the `x @ P` matrix (P = W^T); like diffusers' single-file loader we transpose it on load. So the
// single file must give pooled @ W, where the folder gives pooled @ W^T.
TEST(ClipTextParity, SingleFileProjectionIsTransposedAsDiffusersLoadsIt) {
  const Checkpoint folder = test::open_fixture_model("sdxl");
  const Checkpoint single = test::open_fixture_single_file("sdxl");
  const auto& fc = *folder.text_encoder_2;
  const auto& sc = *single.text_encoder_2;
  const ClipTextModel folder_model(fc.config, WeightLoader(fc.weights, Device::cpu(), DType::F32));
  const ClipTextModel single_model(sc.config, WeightLoader(sc.weights, Device::cpu(), DType::F32));
  const Tensor ids = Tensor::from_ints(std::vector<int64_t>{5, 9, 17, fc.config.eos_token_id, 2, 8, 3, 1},
                                       {2, 4});
  const ClipTextOutput f = folder_model.forward(ids);
  const ClipTextOutput s = single_model.forward(ids);

  const std::vector<float> pooled = f.pooler_output.to_floats();
  const std::vector<float> w = fc.weights->read("text_projection.weight").cpu_f32().to_floats();  // [P, D]
  const int64_t d = fc.config.hidden_size, p = fc.config.projection_dim;
  ASSERT_EQ(d, p);  // the swap only type-checks for a square projection, as SDXL's 1280 x 1280 is
  std::vector<double> expected(size_t(2 * p), 0.0);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < p; ++j)
      for (int64_t k = 0; k < d; ++k)
        expected[size_t(b * p + j)] += double(pooled[size_t(b * d + k)]) * w[size_t(k * p + j)];
  const std::vector<float> got = s.text_embeds.to_floats();
  ASSERT_EQ(got.size(), expected.size());
  double err = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err += (got[i] - expected[i]) * (got[i] - expected[i]);
    norm += expected[i] * expected[i];
  }
  EXPECT_LE(std::sqrt(err / norm), 1e-5);
  EXPECT_EQ(s.pooler_output.to_floats(), f.pooler_output.to_floats());
}

TEST(ClipTextWeights, EveryWeightIsUsed) {
  for (const char* model : {"sd15", "sdxl"}) {
    for (bool single_file : {false, true}) {
      const Checkpoint checkpoint =
          single_file ? test::open_fixture_single_file(model) : test::open_fixture_model(model);
      for (const auto* part : {&checkpoint.text_encoder, &checkpoint.text_encoder_2}) {
        if (!*part) continue;
        auto source = std::make_shared<test::RecordingSource>((*part)->weights);
        const ClipTextModel encoder((*part)->config, WeightLoader(source, Device::cpu(), DType::F32));
        // position_ids is a non-persistent buffer some exports still carry; it is always arange(L).
        EXPECT_EQ(source->unread({"text_model.embeddings.position_ids"}), std::vector<std::string>())
            << model << (single_file ? " (single file)" : "");
      }
    }
  }
}

class ClipTextModelTest : public ::testing::Test {
 protected:
  static ClipTextModel load(const ClipTextConfig& config) {
    const Checkpoint checkpoint = test::open_fixture_model("sd15");
    return ClipTextModel(config, WeightLoader(checkpoint.text_encoder->weights, Device::cpu(), DType::F32));
  }
  static ClipTextConfig config() { return test::open_fixture_model("sd15").text_encoder->config; }

  static Tensor ids(const std::vector<int64_t>& values, int64_t batch) {
    return Tensor::from_ints(values, {batch, int64_t(values.size()) / batch});
  }
};

TEST_F(ClipTextModelTest, PartialRunMatchesThePrefixOfTheFullRun) {
  const ClipTextModel model = load(config());
  const Tensor input = ids({5, 9, 17, 3, 1, 1}, 1);
  const ClipTextOutput full = model.forward(input);
  ASSERT_EQ(int(full.hidden_states.size()), model.num_layers() + 1);
  EXPECT_TRUE(full.pooler_output.defined());

  ClipTextOptions options;
  options.num_layers = 1;
  const ClipTextOutput partial = model.forward(input, options);
  ASSERT_EQ(partial.hidden_states.size(), 2u);
  EXPECT_FALSE(partial.pooler_output.defined());  // pooling is defined by the full model only
  EXPECT_EQ(partial.hidden_states[1].to_floats(), full.hidden_states[1].to_floats());
  EXPECT_EQ(partial.last_hidden_state.to_floats(), model.final_layer_norm(full.hidden_states[1]).to_floats());
}

TEST_F(ClipTextModelTest, PooledPositionFollowsEosTokenId) {
  ClipTextConfig c = config();
  c.eos_token_id = 7;
  const ClipTextModel model = load(c);
  // First occurrence of the EOS id per row; a row without it pools position 0, as torch's argmax does.
  EXPECT_EQ(model.pooled_positions(ids({1, 7, 9, 7, 1, 2, 3, 4}, 2)), (std::vector<int64_t>{1, 0}));
}

TEST_F(ClipTextModelTest, LegacyConfigsPoolAtTheLargestId) {
  ClipTextConfig c = config();
  c.eos_token_id = 2;  // pre-#24773 OpenAI configs
  const ClipTextModel model = load(c);
  EXPECT_EQ(model.pooled_positions(ids({1, 7, 9, 9, 4, 2, 3, 1}, 2)), (std::vector<int64_t>{2, 0}));
}

TEST_F(ClipTextModelTest, RejectsBadInput) {
  const ClipTextModel model = load(config());
  const int64_t vocab = model.config().vocab_size;
  EXPECT_THROW(model.forward(ids({1, vocab}, 1)), Error);
  EXPECT_THROW(model.forward(ids({-1, 2}, 1)), Error);
  EXPECT_THROW(model.forward(Tensor::from_ints(std::vector<int64_t>(78, 1), {1, 78})), Error);
  EXPECT_THROW(model.forward(Tensor::from_floats(std::vector<float>{1, 2}, {1, 2})), Error);
  ClipTextOptions options;
  options.num_layers = model.num_layers() + 1;
  EXPECT_THROW(model.forward(ids({1, 2}, 1), options), Error);
  try {
    model.forward(ids({1, vocab}, 1));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find(std::to_string(vocab)), std::string::npos) << e.what();
  }
}

TEST_F(ClipTextModelTest, WrongWidthFailsAtLoadNamingTheKey) {
  ClipTextConfig c = config();
  c.hidden_size = 64;
  c.num_attention_heads = 1;
  try {
    load(c);
    FAIL() << "expected a shape mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(std::string(e.what()).find("text_model.embeddings.token_embedding.weight"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sdpp
