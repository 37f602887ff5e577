// UNet2DConditionModel pieces the fixture cases do not isolate: the sinusoidal timestep embedding, the upsampler's
// odd output sizes (torch's nearest resize), latents that are not multiples of 8, per-sample timesteps, the
// 9-channel inpainting UNet, LCM's timestep_cond, and the errors for bad configs and inputs.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "core/error.h"
#include "fixture_case.h"
#include "models/embeddings.h"
#include "models/guidance_pair.h"
#include "models/unet_2d_condition.h"
#include "models/upsampling.h"
#include "pipeline/recorded_unet.h"

namespace sdpp {
namespace {

// A TensorSource over in-memory tensors, optionally layered over another source (extra keys win).
class MemorySource : public TensorSource {
 public:
  explicit MemorySource(std::map<std::string, Tensor> tensors, std::shared_ptr<const TensorSource> base = nullptr)
      : tensors_(std::move(tensors)), base_(std::move(base)) {}
  std::vector<std::string> keys() const override {
    std::vector<std::string> out = base_ ? base_->keys() : std::vector<std::string>();
    for (const auto& [key, tensor] : tensors_) out.push_back(key);
    return out;
  }
  std::optional<TensorInfo> info(const std::string& key) const override {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) return base_ ? base_->info(key) : std::nullopt;
    TensorInfo info;
    info.dtype = it->second.dtype();
    info.shape = it->second.shape();
    return info;
  }
  Tensor read(const std::string& key) const override {
    auto it = tensors_.find(key);
    if (it != tensors_.end()) return it->second;
    if (base_) return base_->read(key);
    throw Error(ErrorCode::MissingTensor, "no tensor " + key);
  }
  std::string describe() const override { return "memory"; }

 private:
  std::map<std::string, Tensor> tensors_;
  std::shared_ptr<const TensorSource> base_;
};

Tensor ramp(const Shape& shape, float step = 1.0f, float offset = 0.0f) {
  std::vector<float> values(size_t(shape_numel(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = offset + step * float(i % 97) - 0.3f * float(i % 7);
  return Tensor::from_floats(values, shape);
}

double max_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_floats(), y = b.to_floats();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(double(x[i]) - y[i]));
  return m;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (float v : a.to_floats()) m = std::max(m, std::abs(double(v)));
  return m;
}

TEST(TimestepEmbedding, MatchesTheDiffusersFormula) {
  const std::vector<float> t{0.0f, 1.0f, 500.0f, 999.0f};
  for (bool flip : {true, false}) {
    for (float shift : {0.0f, 1.0f}) {
      const int64_t dim = 10, half = 5;
      const std::vector<float> got = nn::timestep_embedding(t, dim, flip, shift);
      ASSERT_EQ(got.size(), t.size() * dim);
      for (size_t n = 0; n < t.size(); ++n) {
        for (int64_t i = 0; i < half; ++i) {
          const double freq = std::exp(-std::log(10000.0) * double(i) / (double(half) - shift));
          const double arg = double(t[n]) * freq;
          // f32 rounding of the argument (as torch) moves it by up to ~1e-4 rad at t = 999
          const double tol = 1e-6 + 1.2e-7 * std::abs(arg);
          EXPECT_NEAR(got[n * dim + (flip ? half : 0) + i], std::sin(arg), tol) << n << " " << i;
          EXPECT_NEAR(got[n * dim + (flip ? 0 : half) + i], std::cos(arg), tol) << n << " " << i;
        }
      }
    }
  }
  const std::vector<float> zero = nn::timestep_embedding(std::vector<float>{0.0f}, 4, true, 0.0f);
  EXPECT_EQ(zero, (std::vector<float>{1.0f, 1.0f, 0.0f, 0.0f}));  // [cos, cos, sin, sin] at t = 0
  const std::vector<float> odd = nn::timestep_embedding(std::vector<float>{3.0f}, 5, true, 0.0f);
  ASSERT_EQ(odd.size(), 5u);
  EXPECT_EQ(odd[4], 0.0f);  // odd dims get a zero column, as diffusers pads
}

// Upsample2D with an identity conv exposes the resize; torch's nearest resize to `out` reads source
// min(floor(i * float(in) / out), in - 1).
TEST(Upsample2DSize, OddSizesMatchTorchNearest) {
  const int64_t C = 2, H = 3, W = 4;
  std::vector<float> identity(size_t(C * C * 9), 0.0f);
  for (int64_t c = 0; c < C; ++c) identity[size_t((c * C + c) * 9 + 4)] = 1.0f;
  auto source = std::make_shared<MemorySource>(std::map<std::string, Tensor>{
      {"up.conv.weight", Tensor::from_floats(identity, {C, C, 3, 3})}, {"up.conv.bias", Tensor::zeros({C})}});
  const nn::Upsample2D up(WeightLoader(source, Device::cpu(), DType::F32).sub("up"), C, C);
  const Tensor x = ramp({1, C, H, W});
  const std::vector<float> xs = x.to_floats();
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{5, 7}, {6, 8}, {5, 8}, {6, 7}}) {
    const Tensor y = up(x, oh, ow);
    ASSERT_EQ(y.shape(), (Shape{1, C, oh, ow}));
    const std::vector<float> ys = y.to_floats();
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < oh; ++i) {
        for (int64_t j = 0; j < ow; ++j) {
          const int64_t si = std::min(int64_t(std::floor(float(i) * (float(H) / float(oh)))), H - 1);
          const int64_t sj = std::min(int64_t(std::floor(float(j) * (float(W) / float(ow)))), W - 1);
          EXPECT_EQ(ys[size_t((c * oh + i) * ow + j)], xs[size_t((c * H + si) * W + sj)]) << oh << "x" << ow;
        }
      }
    }
  }
  EXPECT_THROW(up(x, 4, 8), Error);
  EXPECT_THROW(up(x, 6, 9), Error);
}

// The phase form (a 2x2 conv with 4x the outputs, interleaved) against the definition: nearest 2x, torch's resize
// to an odd size where asked, then the 3x3 conv. Odd sizes take the 3x3 conv itself (uploaded on first use), and
// SDPP_SUBPIXEL_UPSAMPLE=0 at load gives it every size.
TEST(Upsample2DPhases, MatchTheConvOverTheUpsampledImage) {
  const int64_t C = 5, O = 6, H = 4, W = 7;
  const Tensor weight = ramp({O, C, 3, 3}, 0.013f, -0.6f), bias = ramp({O}, 0.1f, -0.2f);
  auto source = std::make_shared<MemorySource>(
      std::map<std::string, Tensor>{{"up.conv.weight", weight}, {"up.conv.bias", bias}});
  const WeightLoader loader = WeightLoader(source, Device::cpu(), DType::F32).sub("up");
  const nn::Upsample2D up(loader, C, O);
  ASSERT_EQ(setenv("SDPP_SUBPIXEL_UPSAMPLE", "0", 1), 0);
  const nn::Upsample2D plain(loader, C, O);
  unsetenv("SDPP_SUBPIXEL_UPSAMPLE");
  const Tensor x = ramp({2, C, H, W}, 0.05f, -1.1f);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{2 * H, 2 * W}, {2 * H - 1, 2 * W}, {2 * H, 2 * W - 1}}) {
    Tensor upsampled = ops::upsample_nearest2x(x);
    upsampled = ops::slice(ops::slice(upsampled, 2, 0, oh), 3, 0, ow);
    const Tensor expected = ops::conv2d(upsampled, weight, bias, ops::Conv2dOptions::same(3));
    const Tensor got = up(x, oh, ow);
    ASSERT_EQ(got.shape(), expected.shape());
    EXPECT_LT(max_diff(got, expected), 1e-5 * max_abs(expected)) << oh << "x" << ow;
    EXPECT_EQ(max_diff(plain(x, oh, ow), expected), 0.0) << oh << "x" << ow;
  }
  // Each phase's 2x2 weights are sums of the 3x3 taps landing on one input pixel: together, each tap 4 times.
  const Tensor phases = nn::Upsample2D::phase_weights(weight);
  ASSERT_EQ(phases.shape(), (Shape{4 * O, C, 2, 2}));
  double total = 0, phase_total = 0;
  for (float v : weight.to_floats()) total += v;
  for (float v : phases.to_floats()) phase_total += v;
  EXPECT_NEAR(phase_total, 4 * total, 1e-4 * std::abs(total) + 1e-4);
}

struct LoadedUNet {
  Checkpoint checkpoint;
  std::unique_ptr<nn::UNet2DConditionModel> unet;
};

LoadedUNet load_unet(const std::string& model) {
  LoadedUNet loaded{test::open_fixture_model(model), nullptr};
  loaded.unet = std::make_unique<nn::UNet2DConditionModel>(
      WeightLoader(loaded.checkpoint.unet->weights, Device::cpu(), DType::F32), loaded.checkpoint.unet->config);
  return loaded;
}

Tensor context_for(const nn::UNet2DConditionModel& unet, int64_t batch) {
  return ramp({batch, 77, unet.config().cross_attention_dim}, 0.01f, -0.4f);
}

// SDXL's pooled text embedding and size conditioning for `rows` rows.
nn::UNetAddedCond sdxl_added(int64_t rows) {
  nn::UNetAddedCond added;
  added.text_embeds = ramp({rows, 128}, 0.02f, -1.0f);
  added.time_ids = Tensor::from_floats(std::vector<float>(size_t(6 * rows), 64.0f), {rows, 6});
  return added;
}

// diffusers passes upsample_size when h or w is not a multiple of 8; 13x7 and 9x31 go through every odd path.
TEST(UNet, LatentsNotMultipleOfEight) {
  for (const char* model : {"sd15", "sdxl"}) {
    const LoadedUNet loaded = load_unet(model);
    const nn::UNet2DConditionModel& unet = *loaded.unet;
    nn::UNetAddedCond added;
    added.text_embeds = ramp({2, 128}, 0.02f, -1.0f);
    added.time_ids = Tensor::from_floats(std::vector<float>(12, 104.0f), {2, 6});
    for (auto [h, w] : {std::pair<int64_t, int64_t>{13, 7}, {9, 31}}) {
      const Tensor out = unet.forward(ramp({2, 4, h, w}, 0.01f, -0.5f), Tensor::full({1}, 500.0f),
                                      context_for(unet, 2), &added);
      ASSERT_EQ(out.shape(), (Shape{2, 4, h, w})) << model;
      for (float v : out.to_floats()) ASSERT_TRUE(std::isfinite(v)) << model;
    }
  }
}

TEST(UNet, PerSampleTimestepsAndBroadcast) {
  const LoadedUNet loaded = load_unet("sd15");
  const nn::UNet2DConditionModel& unet = *loaded.unet;
  const Tensor sample = ramp({2, 4, 8, 8}, 0.01f, -0.5f);
  const Tensor context = context_for(unet, 2);
  const Tensor one = unet.forward(sample, Tensor::full({1}, 999.0f), context);
  const Tensor both = unet.forward(sample, Tensor::from_floats(std::vector<float>{999.0f, 999.0f}, {2}), context);
  EXPECT_EQ(max_diff(one, both), 0.0);
  const Tensor mixed = unet.forward(sample, Tensor::from_floats(std::vector<float>{999.0f, 1.0f}, {2}), context);
  const Tensor low = unet.forward(sample, Tensor::full({1}, 1.0f), context);
  EXPECT_LT(max_diff(mixed.narrow0(0, 1), one.narrow0(0, 1)), 1e-5);
  EXPECT_LT(max_diff(mixed.narrow0(1, 1), low.narrow0(1, 1)), 1e-5);
  EXPECT_GT(max_diff(one, low), 1e-3);  // the timestep matters
  EXPECT_THROW(unet.forward(sample, Tensor::zeros({3}), context), Error);
}

// The denoising loop projects timesteps and makes every resnet's time terms ahead of time, for all its calls at once,
// and calls the rest: the parts together must be the one-call forward, for SD (timestep only) and SDXL (time_ids
// projected too, pooled text embedded), and each call's terms must be that call's.
TEST(UNet, TimeTermsForwardIsTheForward) {
  for (const char* model : {"sd15", "sdxl"}) {
    SCOPED_TRACE(model);
    const LoadedUNet loaded = load_unet(model);
    const nn::UNet2DConditionModel& unet = *loaded.unet;
    const bool sdxl = std::string(model) == "sdxl";
    auto added_for = [](float first) {
      nn::UNetAddedCond added;
      added.text_embeds = ramp({2, 128}, 0.02f, first);
      added.time_ids = Tensor::from_floats(std::vector<float>{64, 48, 0, 8, 64, 48, 32, 32, 0, 0, 32, 32}, {2, 6});
      return added;
    };
    const nn::UNetAddedCond added = added_for(-1.0f);
    const Tensor sample = ramp({2, 4, 8, 8}, 0.01f, -0.5f);
    const Tensor context = context_for(unet, 2);
    const Tensor t = Tensor::full({1}, 321.0f);
    const nn::UNetTimeInputs time = unet.project_time(t, 2, &added);
    EXPECT_EQ(time.t_proj.shape(), (Shape{2, unet.config().block_out_channels[0]}));
    EXPECT_EQ(time.time_embeds.defined(), sdxl);
    const nn::UNetTimeTerms terms = unet.time_terms(time, 2, &added);
    EXPECT_EQ(terms.packed.shape(), (Shape{1, 2 * unet.time_term_channels()}));
    const Tensor plain = unet.forward(sample, t, context, &added);
    EXPECT_EQ(max_diff(unet.forward(sample, time, context, &added), plain), 0.0);
    EXPECT_EQ(max_diff(unet.forward(sample, terms, context), plain), 0.0);

    // Three calls' terms made at once (as the loop makes them): call i's row is the terms of call i alone.
    const std::vector<float> steps = {900, 900, 500, 500, 20, 20};
    nn::UNetAddedCond loop_added;
    loop_added.time_ids = Tensor::from_floats(std::vector<float>(36, 64.0f), {6, 6});
    std::vector<Tensor> pooled;
    for (float first : {-1.0f, 0.5f, 2.0f}) pooled.push_back(added_for(first).text_embeds);
    loop_added.text_embeds = ops::concat(pooled, 0);
    const nn::UNetTimeTerms loop =
        unet.time_terms(unet.project_time(Tensor::from_floats(steps, {6}), 6, &loop_added), 2, &loop_added);
    ASSERT_EQ(loop.calls(), 3);
    for (int64_t call = 0; call < 3; ++call) {
      nn::UNetAddedCond one;
      one.time_ids = loop_added.time_ids.narrow0(2 * call, 2);
      one.text_embeds = loop_added.text_embeds.narrow0(2 * call, 2);
      const Tensor step = Tensor::full({1}, steps[size_t(2 * call)]);
      const nn::UNetTimeTerms single = unet.time_terms(unet.project_time(step, 2, &one), 2, &one);
      // f32 rounding only: the GEMMs over six rows block their sums otherwise than over two. (The tiny random UNet
      // amplifies such differences a hundredfold, so the terms are compared, not the outputs.)
      EXPECT_LT(max_diff(loop.call(call).packed, single.packed), 1e-6 * max_abs(single.packed)) << "call " << call;
      EXPECT_EQ(max_diff(unet.forward(sample, single, context), unet.forward(sample, step, context, &one)), 0.0);
    }
    EXPECT_GT(max_diff(unet.forward(sample, loop.call(0), context), unet.forward(sample, loop.call(2), context)),
              1e-3);  // the terms carry the timestep

    // On the cpu nothing can be recorded: the loop's RecordedUNet is the forward.
    RecordedUNet recorded(unet);
    EXPECT_FALSE(recorded.enabled());
    for (int call = 0; call < 3; ++call)
      EXPECT_EQ(max_diff(recorded.forward(sample, loop.call(call), context),
                         unet.forward(sample, loop.call(call), context)),
                0.0);
    EXPECT_EQ(recorded.replays(), 0);

    // Terms of another batch, or none, are refused with the shapes named.
    EXPECT_THROW(unet.forward(sample, loop, context), Error);  // three calls' terms for one call
    EXPECT_THROW(unet.forward(sample, nn::UNetTimeTerms{}, context), Error);
    EXPECT_THROW(unet.time_terms(time, 4, &added), Error);  // 2 rows are no whole call of batch 4
  }
  const LoadedUNet sd15 = load_unet("sd15");
  EXPECT_THROW(sd15.unet->forward(ramp({2, 4, 8, 8}), nn::UNetTimeInputs{}, context_for(*sd15.unet, 2)), Error);
}

// The denoising loop projects every cross-attention layer's keys and values of its context once (project_context)
// and the steps read them: that must be the forward that projects them itself, and the projections must be what the
// layers read (another context's projections change the output).
TEST(UNet, ProjectedContextForwardIsTheForward) {
  for (const char* model : {"sd15", "sdxl"}) {
    SCOPED_TRACE(model);
    const LoadedUNet loaded = load_unet(model);
    const nn::UNet2DConditionModel& unet = *loaded.unet;
    const nn::UNetAddedCond added = sdxl_added(2);
    const Tensor sample = ramp({2, 4, 8, 8}, 0.01f, -0.5f);
    const nn::UNetTimeInputs time = unet.project_time(Tensor::full({1}, 500.0f), 2, &added);
    const nn::UNetTimeTerms terms = unet.time_terms(time, 2, &added);
    const Tensor context = context_for(unet, 2);
    const nn::ProjectedContext projected = unet.project_context(context);
    ASSERT_FALSE(projected.entries().empty());
    for (const auto& [layer, kv] : projected.entries()) {
      EXPECT_EQ(kv.shape(), (Shape{2, 77, 2 * layer->config.heads * layer->config.dim_head}));
      EXPECT_EQ(projected.find(layer), &kv);
    }
    const Tensor plain = unet.forward(sample, time, context, &added);
    EXPECT_EQ(max_diff(unet.forward(sample, time, context, &added, &projected), plain), 0.0);
    const nn::ProjectedContext other = unet.project_context(ramp(context.shape(), 0.02f, 0.3f));
    EXPECT_GT(max_diff(unet.forward(sample, time, context, &added, &other), plain), 1e-3);
    // The loop's RecordedUNet given one context tensor at every step (projected at the first) is the forward too.
    RecordedUNet recorded(unet);
    for (int call = 0; call < 2; ++call) EXPECT_EQ(max_diff(recorded.forward(sample, terms, context), plain), 0.0);
    EXPECT_THROW(unet.project_context(ramp({2, 77, 64})), Error);  // wrong context width
  }
}

// A guided step gives the UNet one latent for both contexts (models/guidance_pair.h): that must be the forward on the
// latent repeated, whether the shared prefix runs once (SD: the time terms follow the timestep) or the pair parts at
// once (SDXL: the pooled text differs between the halves), in every forward form and recorded.
TEST(UNet, GuidancePairIsTheForwardOnRepeatedLatents) {
  for (const char* model : {"sd15", "sdxl", "sd15_inpaint"}) {
    SCOPED_TRACE(model);
    const LoadedUNet loaded = load_unet(model);
    const nn::UNet2DConditionModel& unet = *loaded.unet;
    const nn::UNetAddedCond added = sdxl_added(4);
    const nn::UNetAddedCond* cond = std::string(model) == "sdxl" ? &added : nullptr;
    const Tensor latent = ramp({2, unet.config().in_channels, 8, 8}, 0.01f, -0.5f);
    const std::array<Tensor, 2> halves{latent, latent};
    const Tensor repeated = ops::concat(halves, 0);
    const Tensor context = context_for(unet, 4);
    const Tensor t = Tensor::full({1}, 500.0f);
    const Tensor plain = unet.forward(repeated, t, context, cond);
    ASSERT_EQ(plain.shape(), (Shape{4, 4, 8, 8}));
    const Tensor pair = unet.forward(latent, t, context, cond);
    ASSERT_EQ(pair.shape(), plain.shape());
    // f32 rounding only: GEMMs over half the rows block their sums otherwise, and this tiny random UNet amplifies
    // that (the same latent and context run at batch 2 instead of 4 moved the inpainting UNet's output by 8e-5 of its
    // largest value). A wrong half or time term moves it by far more: the halves differ by over 1e-3.
    const double tolerance = 1e-4 * max_abs(plain);
    EXPECT_LT(max_diff(pair, plain), tolerance);
    EXPECT_GT(max_diff(plain.narrow0(0, 2), plain.narrow0(2, 2)), 1e-3);  // the contexts matter
    const nn::UNetTimeInputs time = unet.project_time(t, 4, cond);
    const nn::UNetTimeTerms terms = unet.time_terms(time, 4, cond);
    EXPECT_LT(max_diff(unet.forward(latent, time, context, cond), plain), tolerance);
    const nn::ProjectedContext projected = unet.project_context(context);
    EXPECT_LT(max_diff(unet.forward(latent, terms, context, &projected), plain), tolerance);
    RecordedUNet recorded(unet);
    EXPECT_LT(max_diff(recorded.forward(latent, terms, context), plain), tolerance);
    // A sample batch that is neither the context's nor half of it is refused, naming both.
    try {
      unet.forward(ramp({3, unet.config().in_channels, 8, 8}), t, context, cond);
      FAIL() << "a sample of batch 3 was taken for a context of batch 4";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
      EXPECT_NE(std::string(e.what()).find("guidance pair"), std::string::npos) << e.what();
    }
  }
}

TEST(GuidancePair, RepeatsHalvesAndTakesTheFirstRowsOfTerms) {
  const Tensor x = ramp({2, 3});
  EXPECT_TRUE(nn::to_pair_batch(x, 2).same_as(x));
  const Tensor both = nn::to_pair_batch(x, 4);
  ASSERT_EQ(both.shape(), (Shape{4, 3}));
  EXPECT_EQ(max_diff(both.narrow0(0, 2), x), 0.0);
  EXPECT_EQ(max_diff(both.narrow0(2, 2), x), 0.0);
  EXPECT_THROW(nn::to_pair_batch(x, 3), Error);
  const Tensor term = ramp({4, 5});
  EXPECT_EQ(max_diff(nn::time_term_rows(term, x), term.narrow0(0, 2)), 0.0);
  EXPECT_TRUE(nn::time_term_rows(term, ramp({4, 1})).same_as(term));
  EXPECT_FALSE(nn::time_term_rows(Tensor(), x).defined());
  EXPECT_THROW(nn::time_term_rows(term, ramp({3, 1})), Error);
}

TEST(UNet, InpaintingUNetTakesNineChannels) {
  const LoadedUNet loaded = load_unet("sd15_inpaint");
  const nn::UNet2DConditionModel& unet = *loaded.unet;
  EXPECT_EQ(unet.config().in_channels, 9);
  const Tensor out = unet.forward(ramp({1, 9, 16, 8}, 0.01f, -0.5f), Tensor::full({1}, 10.0f), context_for(unet, 1));
  EXPECT_EQ(out.shape(), (Shape{1, 4, 16, 8}));
  try {
    unet.forward(ramp({1, 4, 16, 8}), Tensor::full({1}, 10.0f), context_for(unet, 1));
    FAIL() << "a 4-channel sample was accepted by the 9-channel UNet";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  }
}

TEST(UNet, RejectsBadInputs) {
  const LoadedUNet sdxl = load_unet("sdxl");
  const Tensor sample = ramp({2, 4, 8, 8});
  const Tensor t = Tensor::full({1}, 1.0f);
  try {
    sdxl.unet->forward(sample, t, context_for(*sdxl.unet, 2));
    FAIL() << "SDXL ran without text_embeds/time_ids";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  nn::UNetAddedCond wrong;
  wrong.text_embeds = ramp({2, 100});
  wrong.time_ids = Tensor::zeros({2, 6});
  EXPECT_THROW(sdxl.unet->forward(sample, t, context_for(*sdxl.unet, 2), &wrong), Error);
  EXPECT_THROW(sdxl.unet->forward(sample, t, ramp({2, 77, 64})), Error);     // wrong context width
  EXPECT_THROW(sdxl.unet->forward(sample, t, context_for(*sdxl.unet, 1)), Error);  // batch mismatch
  EXPECT_THROW(sdxl.unet->forward(ramp({2, 4, 8}), t, context_for(*sdxl.unet, 2)), Error);
}

TEST(UNet, RejectsConfigsOutsideTheSdFamily) {
  const Checkpoint checkpoint = test::open_fixture_model("sd15");
  const WeightLoader weights(checkpoint.unet->weights, Device::cpu(), DType::F32);
  auto code_of = [&](const UNetConfig& config) {
    try {
      nn::UNet2DConditionModel unet(weights, config);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;  // constructed: not what these configs should do
  };
  UNetConfig config = checkpoint.unet->config;
  config.down_block_types[0] = "SimpleCrossAttnDownBlock2D";
  EXPECT_EQ(code_of(config), ErrorCode::Unsupported);
  config = checkpoint.unet->config;
  config.up_block_types.pop_back();
  EXPECT_EQ(code_of(config), ErrorCode::InvalidArgument);
  config = checkpoint.unet->config;
  config.addition_embed_type = "image";
  EXPECT_EQ(code_of(config), ErrorCode::Unsupported);
  config = checkpoint.unet->config;
  config.num_attention_heads = {3};  // 32 channels do not split into 3 heads
  EXPECT_EQ(code_of(config), ErrorCode::InvalidArgument);
  config = checkpoint.unet->config;
  config.in_channels = 9;  // weights hold a 4-channel conv_in
  EXPECT_EQ(code_of(config), ErrorCode::ShapeMismatch);
}

// LCM UNets add cond_proj(w_embedding) to the sinusoidal embedding before time_embedding.linear_1.
TEST(UNet, TimestepCondGoesThroughCondProj) {
  const Checkpoint checkpoint = test::open_fixture_model("sd15");
  UNetConfig config = checkpoint.unet->config;
  config.time_cond_proj_dim = 6;
  const int64_t ch0 = config.block_out_channels[0];
  auto source = std::make_shared<MemorySource>(
      std::map<std::string, Tensor>{{"time_embedding.cond_proj.weight", ramp({ch0, 6}, 0.05f, -1.0f)}},
      checkpoint.unet->weights);
  const nn::UNet2DConditionModel lcm(WeightLoader(source, Device::cpu(), DType::F32), config);
  const nn::UNet2DConditionModel plain(WeightLoader(checkpoint.unet->weights, Device::cpu(), DType::F32),
                                       checkpoint.unet->config);
  const Tensor sample = ramp({1, 4, 8, 8}, 0.01f, -0.5f);
  const Tensor t = Tensor::full({1}, 250.0f);
  const Tensor context = context_for(plain, 1);
  const Tensor reference = plain.forward(sample, t, context);
  nn::UNetAddedCond zero;
  zero.timestep_cond = Tensor::zeros({1, 6});
  EXPECT_LT(max_diff(lcm.forward(sample, t, context, &zero), reference), 1e-6);
  nn::UNetAddedCond cond;
  cond.timestep_cond = ramp({1, 6}, 0.1f, -0.2f);
  EXPECT_GT(max_diff(lcm.forward(sample, t, context, &cond), reference), 1e-3);
  EXPECT_THROW(plain.forward(sample, t, context, &cond), Error);  // no cond_proj in a plain UNet
}

}  // namespace
}  // namespace sdpp
