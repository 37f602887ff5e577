// The generation path shared by txt2img, img2img and inpainting (diffusers' StableDiffusion[XL]Pipeline,
// ...Img2ImgPipeline and ...InpaintPipeline semantics, random draws in the order diffusers makes them):
//   prompt -> embeddings; seed -> torch CPU generator; latents (noise, or the VAE posterior sample of the init image
//   noised to the first timestep); loop: scale -> UNet (CFG batch) -> guidance -> scheduler step (-> inpaint blend)
//   -> progress / preview / cancellation; VAE decode.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/components.h"
#include "pipeline/prompt_encoder.h"

namespace sdpp {

struct PipelineParams {
  std::string prompt;
  std::string negative_prompt;
  int width = 512, height = 512;
  int steps = 20;
  float guidance_scale = 7.5f;
  uint64_t seed = 0;
  std::string sampler;  // "" = the model's scheduler config
  nlohmann::json scheduler_config;  // non-null: exactly this diffusers scheduler config (overrides `sampler`)
  int batch = 1;
  float strength = 1.0f;  // img2img / inpaint
  Tensor init_image;      // [1, 3, H, W] in [-1, 1] on the cpu, or undefined (txt2img)
  Tensor mask;            // [1, 1, H, W] in {0, 1} on the cpu (1 = repaint), or undefined
  int clip_skip = 1;
};

// Called after each denoising step; `latents` / `denoised` live on the model's device. Returning false cancels.
struct StepInfo {
  int step = 0;   // 1-based step just completed
  int total = 0;  // steps this request runs (fewer than `steps` for img2img)
  double timestep = 0;
  const Tensor* latents = nullptr;   // [B, 4, h, w] after the step
  const Tensor* denoised = nullptr;  // [B, 4, h, w] the model's x0 estimate at this step (for previews)
};
using StepCallback = std::function<void(const StepInfo&)>;

struct PipelineOutput {
  Tensor final_latents;  // [B, 4, h, w] before VAE scaling, on the cpu (f32)
  Tensor image;          // [B, 3, H, W] in [0, 1] on the cpu (f32)
  PromptEmbeddings embeddings;
  double encode_seconds = 0, denoise_seconds = 0, decode_seconds = 0;
  double prepare_seconds = 0;  // the part of denoise_seconds before the first UNet call (scheduler, noise, time terms)
  int unet_calls = 0;  // model calls of the denoising loop (PNDM and two-stage samplers make more than steps)
};

struct PipelineControl {
  StepCallback on_step;
  const std::atomic<bool>* cancel = nullptr;  // checked between steps: Error(Cancelled)
  bool decode = true;                          // false: stop at final_latents
};

PipelineOutput run_pipeline(const Components& components, const PipelineParams& params,
                            const PipelineControl& control = {});

}  // namespace sdpp
