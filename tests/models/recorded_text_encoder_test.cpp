// The prompt encoding's text encoder (pipeline/recorded_text_encoder.h): texts batched together and the layers split
// from the token lookup must give what ClipTextModel::forward gives for each text alone.
#include <gtest/gtest.h>

#include <cmath>

#include <string>
#include <vector>

#include "core/error.h"
#include "fixture_case.h"
#include "models/clip_text.h"
#include "pipeline/recorded_text_encoder.h"

namespace sdpp {
namespace {

double rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.cpu_f32().to_floats(), y = b.cpu_f32().to_floats();
  EXPECT_EQ(x.size(), y.size());
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(y[i]) * y[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

Tensor ids_of(const std::vector<int64_t>& ids, int64_t rows) {
  return Tensor::from_ints(ids, {rows, int64_t(ids.size()) / rows});
}

TEST(RecordedTextEncoder, BatchedTextsEqualEachTextAlone) {
  const Checkpoint checkpoint = test::open_fixture_model("sd15");
  const auto& component = *checkpoint.text_encoder;
  const ClipTextModel model(component.config, WeightLoader(component.weights, Device::cpu(), DType::F32));
  RecordedTextEncoder encoder(model, Device::cpu());
  const int64_t eos = component.config.eos_token_id;
  const std::vector<int64_t> first = {3, 5, 9, 17, eos, eos}, second = {3, 8, eos, eos, eos, eos};
  std::vector<int64_t> both = first;
  both.insert(both.end(), second.begin(), second.end());
  const int total = model.num_layers();
  for (int layers : {total, total - 1}) {
    SCOPED_TRACE("layers " + std::to_string(layers));
    ClipTextOptions options;
    options.num_layers = layers;
    const Tensor batched = encoder.hidden(ids_of(both, 2), layers, true);
    ASSERT_EQ(batched.shape(), (Shape{2, 6, component.config.hidden_size}));
    EXPECT_LT(rel_diff(batched.narrow0(0, 1), model.forward(ids_of(first, 1), options).last_hidden_state), 1e-6);
    EXPECT_LT(rel_diff(batched.narrow0(1, 1), model.forward(ids_of(second, 1), options).last_hidden_state), 1e-6);
    // Without the final norm: the layer's own output.
    const Tensor raw = encoder.hidden(ids_of(both, 2), layers, false);
    EXPECT_LT(rel_diff(raw.narrow0(1, 1), model.forward(ids_of(second, 1), options).hidden_states.back()), 1e-6);
  }
  EXPECT_EQ(encoder.replays(), 0);  // the cpu does not record
}

TEST(RecordedTextEncoder, HiddenStateAndTextEmbedsOfTheProjectedEncoder) {
  const Checkpoint checkpoint = test::open_fixture_model("sdxl");
  const auto& component = *checkpoint.text_encoder_2;
  const ClipTextModel model(component.config, WeightLoader(component.weights, Device::cpu(), DType::F32));
  RecordedTextEncoder encoder(model, Device::cpu());
  const int64_t eos = component.config.eos_token_id;
  const std::vector<int64_t> ids = {3, 5, 9, eos, 0, 0, 3, 33, 12, 7, eos, 0};
  const ClipTextOutput reference = model.forward(ids_of(ids, 2));
  const int layers = model.num_layers() - 2;
  const auto [hidden, text_embeds] = encoder.hidden_and_text_embeds(ids_of(ids, 2), layers);
  EXPECT_LT(rel_diff(hidden, reference.hidden_states[size_t(layers)]), 1e-6);
  EXPECT_LT(rel_diff(text_embeds, reference.text_embeds), 1e-6);
  // The first encoder of SDXL has no projection: asking it for text_embeds is a typed error, not a crash.
  const auto& plain = *checkpoint.text_encoder;
  const ClipTextModel first(plain.config, WeightLoader(plain.weights, Device::cpu(), DType::F32));
  RecordedTextEncoder first_encoder(first, Device::cpu());
  EXPECT_THROW(first_encoder.hidden_and_text_embeds(ids_of(ids, 2), 1), Error);
  EXPECT_THROW(first_encoder.hidden(ids_of(ids, 2), first.num_layers() + 1, true), Error);
}

}  // namespace
}  // namespace sdpp
