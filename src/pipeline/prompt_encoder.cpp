#include "pipeline/prompt_encoder.h"

#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"

namespace sdpp {
namespace {

// The texts' ids, padded/truncated to 77 with EOS kept, as one batch [texts, 77].
Tensor token_ids(const ClipTokenizer& tokenizer, std::initializer_list<const std::string*> texts) {
  std::vector<int64_t> ids;
  for (const std::string* text : texts) {
    const std::vector<int64_t> one = tokenizer.encode(*text).ids;
    ids.insert(ids.end(), one.begin(), one.end());
  }
  const int64_t rows = int64_t(texts.size());
  return Tensor::from_ints(ids, {rows, int64_t(ids.size()) / rows});
}

// SD 1.x / 2.x: final_layer_norm of the last (clip_skip 1) or an earlier layer's output, per text.
Tensor encode_sd(const Components& c, const Tensor& ids, int clip_skip) {
  return c.recorded_text_encoder->hidden(ids, c.text_encoder->num_layers() - (clip_skip - 1), true);
}

// SDXL: each encoder's hidden_states[-(clip_skip + 1)] without the final norm, concatenated on channels; the pooled
// (projected) output of encoder 2. Per text.
std::pair<Tensor, Tensor> encode_sdxl(const Components& c, const Tensor& ids1, const Tensor& ids2, int clip_skip) {
  const Tensor hidden1 = c.recorded_text_encoder->hidden(ids1, c.text_encoder->num_layers() - clip_skip, false);
  auto [hidden2, pooled] = c.recorded_text_encoder_2->hidden_and_text_embeds(ids2, c.text_encoder_2->num_layers() - clip_skip);
  const Tensor parts[] = {hidden1, hidden2};
  return {ops::concat(parts, 2), pooled};
}

}  // namespace

PromptEmbeddings encode_prompt(const Components& c, const std::string& prompt, const std::string& negative_prompt,
                               const PromptOptions& options) {
  if (!c.text_encoder || !c.tokenizer) throw Error(ErrorCode::Internal, "model has no text encoder loaded");
  if (options.clip_skip < 1 || options.clip_skip >= c.text_encoder->num_layers())
    throw Error(ErrorCode::InvalidArgument, "clip_skip must be in [1, " + std::to_string(c.text_encoder->num_layers() - 1) +
                                                "], got " + std::to_string(options.clip_skip));
  // The prompt and the negative prompt go through the encoders as one batch: half the launches of two passes.
  PromptEmbeddings e;
  if (!c.is_sdxl()) {
    if (!options.classifier_free_guidance) {
      e.prompt = encode_sd(c, token_ids(*c.tokenizer, {&prompt}), options.clip_skip);
      return e;
    }
    const Tensor both = encode_sd(c, token_ids(*c.tokenizer, {&prompt, &negative_prompt}), options.clip_skip);
    e.prompt = both.narrow0(0, 1);
    e.negative = both.narrow0(1, 1);
    return e;
  }
  if (!c.text_encoder_2 || !c.tokenizer_2) throw Error(ErrorCode::Internal, "SDXL model has no second text encoder");
  const bool zero_negative = negative_prompt.empty() && options.force_zeros_for_empty_prompt;
  if (!options.classifier_free_guidance || zero_negative) {
    std::tie(e.prompt, e.pooled) = encode_sdxl(c, token_ids(*c.tokenizer, {&prompt}), token_ids(*c.tokenizer_2, {&prompt}),
                                               options.clip_skip);
    if (!options.classifier_free_guidance) return e;
    e.negative = Tensor::zeros(e.prompt.shape(), e.prompt.dtype(), e.prompt.device());
    e.negative_pooled = Tensor::zeros(e.pooled.shape(), e.pooled.dtype(), e.pooled.device());
    return e;
  }
  const auto [hidden, pooled] = encode_sdxl(c, token_ids(*c.tokenizer, {&prompt, &negative_prompt}),
                                            token_ids(*c.tokenizer_2, {&prompt, &negative_prompt}), options.clip_skip);
  e.prompt = hidden.narrow0(0, 1);
  e.negative = hidden.narrow0(1, 1);
  e.pooled = pooled.narrow0(0, 1);
  e.negative_pooled = pooled.narrow0(1, 1);
  return e;
}

}  // namespace sdpp
