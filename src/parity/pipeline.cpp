// Kind `pipeline`: a whole diffusers pipeline call (txt2img / img2img / inpaint) from prompt and seed to the decoded
// image, compared at the prompt embeddings, the final latents, the float image and its 8-bit rounding.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "image/image_io.h"
#include "image/image_tensor.h"
#include "parity/kinds.h"
#include "pipeline/components.h"
#include "pipeline/stable_diffusion.h"

namespace sdpp::parity {
namespace {

// Components per (model, device, dtype), loaded once per runner like the checkpoints.
const Components& components_for(const CaseContext& c, const std::string& model) {
  static std::map<std::string, std::unique_ptr<Components>> cache;
  const std::string key = c.dir.string() + "#" + model + "#" + c.options.device.str() + "#" + dtype_name(c.options.dtype);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  ComponentsOptions options;
  options.device = c.options.device;
  options.dtype = c.options.dtype;
  return *cache.emplace(key, load_components(c.checkpoint(model, false), options)).first->second;
}

Check compare_png(const CaseContext& c, const Tensor& image) {
  const Image expected = read_image_file(c.resolve(c.spec.at("png").get<std::string>()));
  const Image actual = tensor_to_image(image, 0);
  Check check;
  check.name = "png";
  check.metric = "png_max_abs";
  check.tolerance = c.spec.value("tol_png_max_abs", 0.0);
  if (actual.width != expected.width || actual.height != expected.height || actual.channels != expected.channels) {
    check.error = INFINITY;
    return check;
  }
  int worst = 0;
  size_t outliers = 0;
  const int outlier_tol = c.options.png_tol;
  for (size_t i = 0; i < actual.pixels.size(); ++i) {
    const int diff = std::abs(int(actual.pixels[i]) - int(expected.pixels[i]));
    worst = std::max(worst, diff);
    outliers += outlier_tol >= 0 && diff > outlier_tol;
  }
  if (outlier_tol >= 0) {
    check.metric = "png_fraction_over_" + std::to_string(outlier_tol);
    check.error = double(outliers) / double(actual.pixels.size());
    check.tolerance = c.options.png_outlier_fraction;
  } else {
    check.error = worst;
  }
  check.pass = check.error <= check.tolerance;
  return check;
}

}  // namespace

std::vector<Check> run_pipeline_case(const CaseContext& c) {
  const std::string model = c.spec.at("model").get<std::string>();
  const std::string mode = c.spec.at("mode").get<std::string>();
  const auto& params = c.spec.at("params");
  const Components& components = components_for(c, model);

  PipelineParams p;
  p.prompt = params.at("prompt").get<std::string>();
  p.negative_prompt = params.value("negative_prompt", "");
  p.width = params.at("width").get<int>();
  p.height = params.at("height").get<int>();
  p.steps = params.at("steps").get<int>();
  p.guidance_scale = params.at("guidance_scale").get<float>();
  p.seed = params.at("seed").get<uint64_t>();
  p.strength = params.value("strength", 1.0f);
  p.clip_skip = params.value("clip_skip", 0) + 1;  // diffusers' clip_skip k is A1111's k + 1
  p.scheduler_config = c.spec.at("scheduler_config");
  if (mode != "txt2img")
    p.init_image = preprocess_image(read_image_file(c.resolve(c.spec.at("init_image").get<std::string>())), p.width, p.height);
  if (mode == "inpaint")
    p.mask = preprocess_mask(read_image_file(c.resolve(c.spec.at("mask_image").get<std::string>())), p.width, p.height);

  const PipelineOutput out = run_pipeline(components, p);
  const auto expected = c.load_case_tensors();
  std::vector<Check> checks = {c.compare("prompt_embeds", out.embeddings.prompt, expected.at("prompt_embeds"))};
  if (expected.count("negative_prompt_embeds"))
    checks.push_back(c.compare("negative_prompt_embeds", out.embeddings.negative, expected.at("negative_prompt_embeds")));
  if (expected.count("pooled_prompt_embeds"))
    checks.push_back(c.compare("pooled_prompt_embeds", out.embeddings.pooled, expected.at("pooled_prompt_embeds")));
  if (expected.count("negative_pooled_prompt_embeds"))
    checks.push_back(c.compare("negative_pooled_prompt_embeds", out.embeddings.negative_pooled,
                               expected.at("negative_pooled_prompt_embeds")));
  checks.push_back(c.compare("final_latents", out.final_latents, expected.at("final_latents")));
  checks.push_back(c.compare("image", out.image, expected.at("image")));
  checks.push_back(compare_png(c, out.image));
  return checks;
}

}  // namespace sdpp::parity
