// Prompt -> text-encoder conditioning, with diffusers' StableDiffusion[XL]Pipeline.encode_prompt semantics.
#pragma once
#include <string>

#include "pipeline/components.h"

namespace sdpp {

struct PromptEmbeddings {
  Tensor prompt;           // [1, 77, D]  (SDXL: both encoders' penultimate states concatenated, D = D1 + D2)
  Tensor negative;         // [1, 77, D]  undefined without classifier-free guidance
  Tensor pooled;           // SDXL: [1, P] encoder 2's projected pooled output
  Tensor negative_pooled;  // SDXL
};

struct PromptOptions {
  bool classifier_free_guidance = true;
  // AUTOMATIC1111 numbering: 1 = the last layer, 2 = the penultimate (diffusers clip_skip = this - 1).
  int clip_skip = 1;
  // SDXL pipelines' `force_zeros_for_empty_prompt`: zeros as the negative conditioning when none is given.
  bool force_zeros_for_empty_prompt = true;
};

PromptEmbeddings encode_prompt(const Components& components, const std::string& prompt,
                               const std::string& negative_prompt, const PromptOptions& options);

}  // namespace sdpp
