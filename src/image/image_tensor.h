// Images <-> tensors as diffusers' VaeImageProcessor does it, in f32 with the reference's operation order so the
// results match bit for bit.
//   image:  convert("RGB"), x / 255 (pil_to_numpy), 2x - 1 (normalize)                   -> [1, 3, H, W] in [-1, 1]
//   mask:   convert("L"), x / 255, >= 0.5 -> 1 else 0 (white = repaint; the mask processor has do_normalize=False,
//           do_binarize=True, do_convert_grayscale=True)                                 -> [1, 1, H, W] in {0, 1}
//   output: clamp to [0, 1], (x * 255).round() half-to-even (numpy_to_pil)                -> RGB image
// diffusers resizes before converting (an RGBA upload is resized premultiplied, then its alpha dropped; a colour
// mask is resized, then turned gray): preprocess_image / preprocess_mask keep that order.
#pragma once
#include "core/tensor.h"
#include "sdpp/engine.h"

namespace sdpp {

// [1, 3, H, W] f32 in [-1, 1] on the cpu.
Tensor image_to_tensor(const Image& image);
// Inpainting mask: grayscale, / 255, binarised (>= 0.5 -> 1, white = repaint): [1, 1, H, W] f32 on the cpu.
Tensor mask_to_tensor(const Image& mask);
// Image `index` of [B, 3, H, W] in [0, 1] (any device/dtype): clamp, x * 255 rounded half-to-even, as numpy_to_pil.
// Throws InvalidArgument for another shape or index.
Image tensor_to_image(const Tensor& images, int index);

// VaeImageProcessor.preprocess for one image / mask at the generation size (Lanczos resize when it differs).
Tensor preprocess_image(const Image& image, int width, int height);
Tensor preprocess_mask(const Image& mask, int width, int height);

}  // namespace sdpp
