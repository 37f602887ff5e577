// Images <-> tensors as diffusers' VaeImageProcessor does it.
#pragma once
#include "core/tensor.h"
#include "sdpp/engine.h"

namespace sdpp {

// [1, 3, H, W] f32 in [-1, 1] (x / 255 * 2 - 1) on the cpu.
Tensor image_to_tensor(const Image& image);
// Inpainting mask: grayscale, / 255, binarised (>= 0.5 -> 1, white = repaint): [1, 1, H, W] f32 on the cpu.
Tensor mask_to_tensor(const Image& mask);
// Image `index` of [B, 3, H, W] in [0, 1] (any device/dtype): clamp, x * 255 rounded half-to-even, as numpy_to_pil.
Image tensor_to_image(const Tensor& images, int index);

}  // namespace sdpp
