// Channel conversions with PIL's arithmetic (Image.convert), as diffusers applies them after resizing.
#pragma once
#include "sdpp/engine.h"

namespace sdpp {

// convert("RGB"): gray is replicated, alpha is dropped (not composited).
Image to_rgb(const Image& image);
// convert("L"): ITU-R 601 luma in PIL's fixed point, (R*19595 + G*38470 + B*7471 + 0x8000) >> 16; alpha ignored.
Image to_gray(const Image& image);

}  // namespace sdpp
