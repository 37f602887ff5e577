// NaN and inf where latents or an image are due: f16 activations past 65504 in a UNet or VAE, or broken weights.
// Left alone they become a black or noise image with no word of why.
#pragma once
#include "core/tensor.h"

namespace sdpp {

// True when every value of `host` (f32 on the cpu) is finite.
bool all_finite(const Tensor& host);

}  // namespace sdpp
