#include "pipeline/prompt_encoder.h"

#include "core/error.h"

namespace sdpp {
namespace {

Tensor token_ids(const ClipTokenizer& tokenizer, const std::string& text) {
  const std::vector<int64_t> ids = tokenizer.encode(text).ids;  // padded/truncated to 77 with EOS kept
  return Tensor::from_ints(ids, {1, int64_t(ids.size())});
}

// SD 1.x / 2.x: final_layer_norm of the last (clip_skip 1) or an earlier layer's output.
Tensor encode_sd(const Components& c, const std::string& text, int clip_skip) {
  ClipTextOptions options;
  options.num_layers = c.text_encoder->num_layers() - (clip_skip - 1);
  return c.text_encoder->forward(token_ids(*c.tokenizer, text), options).last_hidden_state;
}

// SDXL: each encoder's hidden_states[-(clip_skip + 1)] without the final norm, concatenated on channels; the pooled
// (projected) output of encoder 2.
std::pair<Tensor, Tensor> encode_sdxl(const Components& c, const std::string& text, int clip_skip) {
  ClipTextOptions first;
  first.num_layers = c.text_encoder->num_layers() - clip_skip;
  const ClipTextOutput out1 = c.text_encoder->forward(token_ids(*c.tokenizer, text), first);
  const ClipTextOutput out2 = c.text_encoder_2->forward(token_ids(*c.tokenizer_2, text));
  const Tensor& hidden2 = out2.hidden_states[out2.hidden_states.size() - 1 - size_t(clip_skip)];
  const Tensor parts[] = {out1.hidden_states.back(), hidden2};
  return {ops::concat(parts, 2), out2.text_embeds};
}

}  // namespace

PromptEmbeddings encode_prompt(const Components& c, const std::string& prompt, const std::string& negative_prompt,
                               const PromptOptions& options) {
  if (!c.text_encoder || !c.tokenizer) throw Error(ErrorCode::Internal, "model has no text encoder loaded");
  if (options.clip_skip < 1 || options.clip_skip >= c.text_encoder->num_layers())
    throw Error(ErrorCode::InvalidArgument, "clip_skip must be in [1, " + std::to_string(c.text_encoder->num_layers() - 1) +
                                                "], got " + std::to_string(options.clip_skip));
  PromptEmbeddings e;
  if (!c.is_sdxl()) {
    e.prompt = encode_sd(c, prompt, options.clip_skip);
    if (options.classifier_free_guidance) e.negative = encode_sd(c, negative_prompt, options.clip_skip);
    return e;
  }
  if (!c.text_encoder_2 || !c.tokenizer_2) throw Error(ErrorCode::Internal, "SDXL model has no second text encoder");
  std::tie(e.prompt, e.pooled) = encode_sdxl(c, prompt, options.clip_skip);
  if (!options.classifier_free_guidance) return e;
  if (negative_prompt.empty() && options.force_zeros_for_empty_prompt) {
    e.negative = Tensor::zeros(e.prompt.shape(), e.prompt.dtype(), e.prompt.device());
    e.negative_pooled = Tensor::zeros(e.pooled.shape(), e.pooled.dtype(), e.pooled.device());
  } else {
    std::tie(e.negative, e.negative_pooled) = encode_sdxl(c, negative_prompt, options.clip_skip);
  }
  return e;
}

}  // namespace sdpp
