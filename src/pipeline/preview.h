// Cheap pictures of a generation in progress, from the model's current x0 estimate:
//   approx — a per-model linear latent -> RGB map (fitted once from the model's own VAE, so it fits any VAE), one
//            1x1 convolution at latent resolution on the model's device;
//   taesd  — the tiny autoencoder (when configured), full resolution;
//   full   — the real VAE decode (exact, as costly as the final decode).
#pragma once
#include <mutex>
#include <string>

#include "pipeline/components.h"
#include "sdpp/engine.h"

namespace sdpp {

enum class PreviewMethod { Approx, Taesd, Full };
PreviewMethod parse_preview_method(const std::string& name);  // throws InvalidArgument naming the choices

class PreviewRenderer {
 public:
  PreviewRenderer(const Components& components, PreviewMethod method);
  // latents [B, 4, h, w] in UNet space (scaled) on the model's device -> the first image of the batch.
  Image render(const Tensor& latents) const;
  // [B, 3, h, w] image in [-1, 1] for the whole batch (what render() converts), on the model's device.
  Tensor render_tensor(const Tensor& latents) const;

 private:
  const Components& components_;
  PreviewMethod method_;
};

// The fitted latent -> RGB projection of a model: weight [3, C, 1, 1], bias [3] on the model's device, computed on
// first use and cached in the Components.
struct LatentRgbProjection {
  Tensor weight, bias;
};
const LatentRgbProjection& latent_rgb_projection(const Components& components);

}  // namespace sdpp
