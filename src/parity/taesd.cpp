// `taesd_decode` cases: diffusers AutoencoderTiny.decode (DecoderTiny output in [-1, 1]) on raw latents.
#include <string>

#include "core/error.h"
#include "models/vae_tiny.h"
#include "parity/kinds.h"

namespace sdpp::parity {

std::vector<Check> run_taesd_decode_case(const CaseContext& c) {
  const std::map<std::string, Tensor> tensors = c.load_case_tensors();
  const std::string model = c.spec.at("model").get<std::string>();
  Tensor latents = tensors.at("latents").to(c.options.device);
  if (latents.dtype() != c.options.dtype) latents = latents.to(c.options.dtype);
  std::vector<Check> checks;
  for (bool single_file : c.variants(model)) {
    const Checkpoint& checkpoint = c.checkpoint(model, single_file);
    if (!checkpoint.taesd) throw Error(ErrorCode::NotFound, "model '" + model + "' has no AutoencoderTiny");
    const AutoencoderTiny taesd(checkpoint.taesd->config,
                                WeightLoader(checkpoint.taesd->weights, c.options.device, c.options.dtype),
                                /*load_encoder=*/false);
    const Tensor image = taesd.decode(latents);
    checks.push_back(c.compare(single_file ? "image[single_file]" : "image", image.cpu_f32(), tensors.at("image")));
  }
  return checks;
}

}  // namespace sdpp::parity
