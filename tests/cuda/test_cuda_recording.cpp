// Recording (CUDA graphs) and load-time weight preparation: a replay must compute what eager execution computes
// with whatever the input buffers hold at replay time, and a prepared (channels-last) convolution weight must give
// the plain weight's result.
#include <array>

#include "../models/fixture_case.h"
#include "backend/backend.h"
#include "cuda_test_util.h"
#include "io/checkpoint.h"
#include "models/clip_text.h"
#include "pipeline/recorded_call.h"
#include "pipeline/recorded_text_encoder.h"
#include "pipeline/recorded_unet.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;
using cuda_test::rel_l2;

TEST(CudaRecording, ReplaysReadTheBuffersAtReplayTime) {
  SDPP_REQUIRE_CUDA();
  Backend& backend = backend_for(Device::cuda());
  ASSERT_TRUE(backend.can_record());
  Inputs in(DType::F32);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor w = in.host({24, 16}), b = in.host({24});
  const Tensor dw = in.device(w), db = in.device(b);
  Tensor x = Tensor::empty({5, 16}, DType::F32, Device::cuda());
  Tensor y = Tensor::empty({5, 24}, DType::F32, Device::cuda());
  const Tensor first = in.host({5, 16});
  backend.convert(in.device(first), x);
  ops::linear(x, dw, db, {ops::Activation::SiLU, nullptr});  // eager once: plans exist before recording

  backend.begin_recording();
  backend.convert(ops::scale(ops::linear(x, dw, db, {ops::Activation::SiLU, nullptr}), 2.0f, 1.0f), y);
  const std::unique_ptr<RecordedWork> work = backend.end_recording();
  for (int round = 0; round < 3; ++round) {
    const Tensor values = in.host({5, 16});
    backend.convert(in.device(values), x);
    work->replay();
    const Tensor expected = ops::scale(ops::linear(values, w, b, {ops::Activation::SiLU, nullptr}), 2.0f, 1.0f);
    EXPECT_LT(rel_l2(y, expected), cuda_test::tolerance(DType::F32, true)) << "round " << round;
  }
}

TEST(CudaRecording, RefusesHostTrafficAndRecoversFromAbort) {
  SDPP_REQUIRE_CUDA();
  Backend& backend = backend_for(Device::cuda());
  const Tensor host = Tensor::from_floats(std::vector<float>{1, 2, 3}, {3});
  const Tensor device = host.to(Device::cuda());
  backend.begin_recording();
  EXPECT_THROW(host.to(Device::cuda()), Error);  // a replay would upload the recorded values, never new ones
  EXPECT_THROW(device.to_floats(), Error);
  EXPECT_THROW(backend.synchronize(), Error);
  EXPECT_THROW(backend.begin_recording(), Error);
  backend.abort_recording();
  EXPECT_EQ(ops::scale(device, 2.0f).to_floats(), (std::vector<float>{2, 4, 6}));  // usable again
  EXPECT_THROW(backend.end_recording(), Error);
}

// RecordedCall: call 1 eager, call 2 records and replays, call 3 replays; each returns its own tensor with that call's
// values, an absent (undefined) input stays absent, and a second shape gets a recording of its own.
TEST(CudaRecordedCall, ReplaysWithEachCallsInputs) {
  SDPP_REQUIRE_CUDA();
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  RecordedCall call("a test body", Device::cuda(), [](const std::vector<Tensor>& x) {
    const Tensor sum = ops::add(x[0], x[1]);
    return x[2].defined() ? ops::mul(sum, x[2]) : ops::scale(sum, 0.5f, 1.0f);
  });
  ASSERT_TRUE(call.enabled());
  std::vector<Tensor> outputs;
  std::vector<Tensor> expected;
  for (int i = 0; i < 3; ++i) {
    const Tensor a = in.host({3, 40}), b = in.host({3, 40});
    outputs.push_back(call.run({in.device(a), in.device(b), Tensor()}));
    expected.push_back(ops::scale(ops::add(a, b), 0.5f, 1.0f));
  }
  for (int i = 0; i < 3; ++i) EXPECT_LT(rel_l2(outputs[size_t(i)], expected[size_t(i)]), 1e-2) << "call " << i;
  EXPECT_EQ(call.replays(), 2);
  const Tensor a = in.host({2, 8}), b = in.host({2, 8}), m = in.host({2, 8});
  for (int i = 0; i < 2; ++i)
    EXPECT_LT(rel_l2(call.run({in.device(a), in.device(b), in.device(m)}), ops::mul(ops::add(a, b), m)), 1e-2);
  EXPECT_EQ(call.recordings(), 2u);
}

// Held inputs (a loop's context): one given again is not copied again, which shows as a change made to it in place
// going unseen (the contract says callers do not make such changes); a different tensor is copied.
TEST(CudaRecordedCall, HeldInputsAreCopiedOnlyWhenAnotherTensorIsGiven) {
  SDPP_REQUIRE_CUDA();
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  RecordedCall call("a test body", Device::cuda(), [](const std::vector<Tensor>& x) { return ops::add(x[0], x[1]); });
  const Tensor held = in.host({4, 16});
  Tensor held_device = in.device(held);
  for (int i = 0; i < 3; ++i) {  // eager, recorded and replayed, replayed
    const Tensor a = in.host({4, 16});
    EXPECT_LT(rel_l2(call.run({in.device(a)}, {held_device}), ops::add(a, held)), 1e-2) << "call " << i;
  }
  const Tensor changed = in.host({4, 16});
  backend_for(Device::cuda()).convert(in.device(changed), held_device);
  const Tensor a = in.host({4, 16});
  EXPECT_LT(rel_l2(call.run({in.device(a)}, {held_device}), ops::add(a, held)), 1e-2);
  EXPECT_LT(rel_l2(call.run({in.device(a)}, {in.device(changed)}), ops::add(a, changed)), 1e-2);
  EXPECT_EQ(call.replays(), 4);
}

class CudaPreparedWeights : public testing::TestWithParam<DType> {};

TEST_P(CudaPreparedWeights, ConvolutionMatchesThePlainWeight) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (int kernel : {1, 3}) {
    for (int stride : {1, 2}) {
      const Tensor x = in.host({2, 32, 12, 10}), w = in.host({48, 32, kernel, kernel}, -0.1f, 0.1f);
      const Tensor b = in.host({48});
      const Tensor dx = in.device(x), dw = in.device(w), db = in.device(b);
      const Tensor prepared = ops::prepare_conv_weight(dw);
      EXPECT_EQ(prepared.shape(), dw.shape());
      const ops::Conv2dOptions o = ops::Conv2dOptions::same(kernel, stride);
      EXPECT_EQ(rel_l2(ops::conv2d(dx, prepared, db, o), ops::conv2d(dx, dw, db, o)), 0.0)
          << "kernel " << kernel << " stride " << stride;
      EXPECT_LT(rel_l2(ops::conv2d(dx, prepared, db, o), ops::conv2d(x, w, b, o)),
                cuda_test::tolerance(GetParam(), true));
      EXPECT_EQ(prepared.to_floats(), dw.to_floats());  // the logical values survive the repacking
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaPreparedWeights, testing::Values(DType::F32, DType::F16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });


// The denoising loop's recorded UNet parts, on each fixture family's UNet (GPU, f16): call 1 eager, call 2 records and
// replays, later calls replay; each must equal the model's own on that call's inputs (the same kernels and plans run,
// so exactly).
class CudaRecordedUNet : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    SDPP_REQUIRE_CUDA();
    ASSERT_FALSE(test::fixture_manifest().is_null()) << "no fixture manifest in " << test::fixtures_dir();
    checkpoint_ = std::make_unique<Checkpoint>(test::open_fixture_model(GetParam()));
    unet_ = std::make_unique<nn::UNet2DConditionModel>(
        WeightLoader(checkpoint_->unet->weights, Device::cuda(), DType::F16), checkpoint_->unet->config);
  }
  bool sdxl() const { return unet_->config().addition_embed_type == "text_time"; }
  // SDXL's pooled text embedding, `rows` rows of it.
  Tensor text_embeds(Inputs& in, int64_t rows) const {
    const UNetConfig& c = unet_->config();
    return in.device(in.host({rows, c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim}));
  }

  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<nn::UNet2DConditionModel> unet_;
};

TEST_P(CudaRecordedUNet, EveryCallEqualsTheEagerForward) {
  const nn::UNet2DConditionModel& unet = *unet_;
  RecordedUNet recorded(unet);
  ASSERT_TRUE(recorded.enabled());
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  // SDXL's pooled text embedding and size conditioning; nothing for SD 1.5.
  auto added_cond = [&](std::vector<float> time_ids) {
    nn::UNetAddedCond added;
    if (sdxl()) {
      added.text_embeds = text_embeds(in, 2);
      added.time_ids = Tensor::from_floats(time_ids, {2, 6});
    }
    return added;
  };
  for (int call = 0; call < 4; ++call) {
    const Tensor sample = in.device(in.host({2, 4, 16, 12}));
    const Tensor context = in.device(in.host({2, 77, unet.config().cross_attention_dim}));
    const nn::UNetAddedCond added = added_cond({128, 96, 0, 0, 128, 96, 128, 96, float(call), 0, 128, 96});
    const Tensor t = Tensor::full({1}, 999.0f - 250.0f * float(call));
    const nn::UNetTimeTerms terms = unet.time_terms(unet.project_time(t, 2, &added), 2, &added);
    EXPECT_EQ(rel_l2(recorded.forward(sample, terms, context), unet.forward(sample, terms, context)), 0.0)
        << "call " << call;
  }
  EXPECT_EQ(recorded.replays(), 3);
  EXPECT_EQ(recorded.recordings(), 1u);
  // A new shape is recorded of its own; the first one stays.
  const Tensor small = in.device(in.host({2, 4, 8, 8}));
  const Tensor context = in.device(in.host({2, 77, unet.config().cross_attention_dim}));
  const nn::UNetAddedCond added = added_cond(std::vector<float>(12, 64.0f));
  const nn::UNetTimeTerms terms = unet.time_terms(unet.project_time(Tensor::full({1}, 10.0f), 2, &added), 2, &added);
  for (int call = 0; call < 3; ++call)
    EXPECT_EQ(rel_l2(recorded.forward(small, terms, context), unet.forward(small, terms, context)), 0.0);
  EXPECT_EQ(recorded.recordings(), 2u);
}

// A guided step's call (models/guidance_pair.h): one latent for both contexts. Recorded, it equals the eager pair
// exactly (the same kernels), and both are the forward on the latent repeated, within f16 parity's tolerance (the
// shared prefix runs its kernels at half the batch, which may choose other GEMM and convolution kernels).
TEST_P(CudaRecordedUNet, GuidancePairEqualsTheRepeatedLatent) {
  const nn::UNet2DConditionModel& unet = *unet_;
  RecordedUNet recorded(unet);
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  nn::UNetAddedCond added;
  if (sdxl()) {
    added.text_embeds = text_embeds(in, 2);
    added.time_ids = Tensor::from_floats(std::vector<float>{128, 96, 0, 0, 128, 96, 128, 96, 0, 0, 128, 96}, {2, 6});
  }
  const nn::UNetTimeTerms terms = unet.time_terms(unet.project_time(Tensor::full({1}, 500.0f), 2, &added), 2, &added);
  for (int call = 0; call < 3; ++call) {
    const Tensor latent = in.device(in.host({1, 4, 16, 12}));
    const std::array<Tensor, 2> halves{latent, latent};
    const Tensor context = in.device(in.host({2, 77, unet.config().cross_attention_dim}));
    const Tensor pair = recorded.forward(latent, terms, context);
    ASSERT_EQ(pair.shape(), (Shape{2, 4, 16, 12}));
    EXPECT_EQ(rel_l2(pair, unet.forward(latent, terms, context)), 0.0) << "call " << call;
    const Tensor repeated = unet.forward(ops::concat(halves, 0), terms, context);
    EXPECT_LE(rel_l2(pair, repeated), 1e-2) << "call " << call;
    EXPECT_GT(rel_l2(pair.narrow0(0, 1), pair.narrow0(1, 1)), 1e-2) << "call " << call;  // the contexts matter
  }
  EXPECT_EQ(recorded.replays(), 2);
}

// The loop's time terms (every step's at once), for each call's timesteps and, for SDXL, pooled text and size
// conditioning.
TEST_P(CudaRecordedUNet, TimeTermsEqualTheModels) {
  const nn::UNet2DConditionModel& unet = *unet_;
  RecordedUNet recorded(unet);
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const int64_t calls = 5, batch = 2, rows = calls * batch;
  for (int image = 0; image < 4; ++image) {
    std::vector<float> timesteps;
    for (int64_t i = 0; i < rows; ++i) timesteps.push_back(float(999 - 97 * (i / batch) - 13 * image));
    nn::UNetAddedCond added;
    if (sdxl()) {
      added.text_embeds = text_embeds(in, rows);
      std::vector<float> ids;
      for (int64_t i = 0; i < rows; ++i) ids.insert(ids.end(), {128, 96, float(image), 0, 128, 96});
      added.time_ids = Tensor::from_floats(ids, {rows, 6});
    }
    const nn::UNetAddedCond* cond = sdxl() ? &added : nullptr;
    const nn::UNetTimeInputs time = unet.project_time(Tensor::from_floats(timesteps, {rows}), rows, cond);
    const Tensor got = recorded.time_terms(time, batch, cond).packed;
    const Tensor expected = unet.time_terms(time, batch, cond).packed;
    ASSERT_EQ(got.shape(), expected.shape()) << "image " << image;
    EXPECT_EQ(rel_l2(got, expected), 0.0) << "image " << image;
  }
  EXPECT_EQ(recorded.time_terms_replays(), 3);
}

INSTANTIATE_TEST_SUITE_P(Families, CudaRecordedUNet, testing::Values("sd15", "sdxl"),
                         [](const testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// The prompt encoding's text encoders: call 1 eager, call 2 records, later calls replay; every call must equal the
// eager forward of the same batch (the same kernels run, so exactly), whatever ids it brings.
TEST(CudaRecordedTextEncoder, EveryCallEqualsTheEagerForward) {
  SDPP_REQUIRE_CUDA();
  ASSERT_FALSE(test::fixture_manifest().is_null()) << "no fixture manifest in " << test::fixtures_dir();
  const Checkpoint checkpoint = test::open_fixture_model("sdxl");
  const auto& component = *checkpoint.text_encoder_2;  // with a projection: both kinds of output
  const ClipTextModel model(component.config, WeightLoader(component.weights, Device::cuda(), DType::F16));
  RecordedTextEncoder encoder(model, Device::cuda());
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const int64_t vocab = component.config.vocab_size, eos = component.config.eos_token_id;
  const int layers = model.num_layers() - 1;
  for (int call = 0; call < 4; ++call) {
    std::vector<int64_t> ids(2 * 77);
    const std::vector<float> draws = in.host({2 * 77}, 0.0f, float(vocab - 1)).to_floats();
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(draws[i]);
    ids[size_t(10 + call)] = eos;
    ids[77 + 20] = eos;
    const Tensor batch = Tensor::from_ints(ids, {2, 77});
    ClipTextOptions options;
    options.num_layers = layers;
    EXPECT_EQ(rel_l2(encoder.hidden(batch, layers, true), model.forward(batch, options).last_hidden_state), 0.0)
        << "call " << call;
    const ClipTextOutput full = model.forward(batch);
    const auto [hidden, text_embeds] = encoder.hidden_and_text_embeds(batch, layers);
    EXPECT_EQ(rel_l2(hidden, full.hidden_states[size_t(layers)]), 0.0) << "call " << call;
    EXPECT_EQ(rel_l2(text_embeds, full.text_embeds), 0.0) << "call " << call;
  }
  EXPECT_EQ(encoder.replays(), 6);  // two kinds of output, calls 2 (recorded, then replayed) to 4 of each
}

}  // namespace
}  // namespace sdpp
