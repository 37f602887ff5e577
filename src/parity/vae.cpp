// `vae_decode` / `vae_encode` cases: diffusers AutoencoderKL on raw latents / images (no scaling_factor).
#include <string>

#include "core/error.h"
#include "models/vae.h"
#include "parity/kinds.h"

namespace sdpp::parity {

namespace {

Tensor to_compute(const Tensor& x, const Options& options) {
  Tensor y = x.to(options.device);
  return y.dtype() == options.dtype ? y : y.to(options.dtype);
}

const Component<VaeConfig>& vae_component(const Checkpoint& checkpoint, const std::string& model) {
  if (!checkpoint.vae) throw Error(ErrorCode::NotFound, "model '" + model + "' has no vae component");
  return *checkpoint.vae;
}

}  // namespace

std::vector<Check> run_vae_decode_case(const CaseContext& c) {
  const std::map<std::string, Tensor> tensors = c.load_case_tensors();
  const std::string model = c.spec.at("model").get<std::string>();
  const Tensor latents = to_compute(tensors.at("latents"), c.options);
  std::vector<Check> checks;
  for (bool single_file : c.variants(model)) {
    const Component<VaeConfig>& part = vae_component(c.checkpoint(model, single_file), model);
    AutoencoderKLOptions parts;
    parts.load_encoder = false;
    const AutoencoderKL vae(part.config, WeightLoader(part.weights, c.options.device, c.options.dtype), parts);
    const Tensor image = vae.decode(latents);
    checks.push_back(c.compare(single_file ? "image[single_file]" : "image", image.cpu_f32(), tensors.at("image")));
  }
  return checks;
}

std::vector<Check> run_vae_encode_case(const CaseContext& c) {
  const std::map<std::string, Tensor> tensors = c.load_case_tensors();
  const std::string model = c.spec.at("model").get<std::string>();
  const Tensor image = to_compute(tensors.at("image"), c.options);
  std::vector<Check> checks;
  for (bool single_file : c.variants(model)) {
    const Component<VaeConfig>& part = vae_component(c.checkpoint(model, single_file), model);
    AutoencoderKLOptions parts;
    parts.load_decoder = false;
    const AutoencoderKL vae(part.config, WeightLoader(part.weights, c.options.device, c.options.dtype), parts);
    const DiagonalGaussian posterior = vae.encode(image);
    const std::string suffix = single_file ? "[single_file]" : "";
    checks.push_back(c.compare("mean" + suffix, posterior.mean.cpu_f32(), tensors.at("mean")));
    checks.push_back(c.compare("logvar" + suffix, posterior.logvar.cpu_f32(), tensors.at("logvar")));
  }
  return checks;
}

}  // namespace sdpp::parity
