// Image.resize((width, height), Image.LANCZOS) as PIL computes it, which is what diffusers' VaeImageProcessor
// applies to img2img / inpaint inputs: a separable 3-lobe Lanczos, horizontal pass then vertical, with
// 22-bit fixed-point weights and an 8-bit clamp after each pass; RGBA is resized premultiplied by alpha.
#pragma once
#include "sdpp/engine.h"

namespace sdpp {

// Same size returns a copy. Throws InvalidArgument for a malformed image or a target size outside the limits.
Image resize_image(const Image& image, int width, int height);

}  // namespace sdpp
