// Manifest kind "unet": one UNet2DConditionModel forward per model variant (diffusers folder, and the single file
// where the manifest lists one), compared with the reference `out`.
#include "core/error.h"
#include "models/unet_2d_condition.h"
#include "parity/kinds.h"

namespace sdpp::parity {

std::vector<Check> run_unet_case(const CaseContext& c) {
  const std::map<std::string, Tensor> tensors = c.load_case_tensors();
  const auto expected = tensors.find("out");
  if (expected == tensors.end()) throw Error(ErrorCode::BadFile, "unet case: no 'out' tensor in " + c.spec.value("file", ""));
  const std::string model = c.spec.at("model").get<std::string>();
  std::vector<Check> checks;
  for (bool single_file : c.variants(model)) {
    const Checkpoint& checkpoint = c.checkpoint(model, single_file);
    if (!checkpoint.unet) throw Error(ErrorCode::MissingTensor, "model '" + model + "' has no unet");
    const WeightLoader weights(checkpoint.unet->weights, c.options.device, c.options.dtype);
    const nn::UNet2DConditionModel unet(weights, checkpoint.unet->config);
    const Tensor out = nn::unet_forward_named(unet, tensors);
    checks.push_back(c.compare(single_file ? "out[single_file]" : "out", out.cpu_f32(), expected->second));
  }
  return checks;
}

}  // namespace sdpp::parity
