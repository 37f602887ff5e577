// Resampling an input image to the requested size, as PIL's Image.resize(size, LANCZOS) which diffusers' image
// processor uses: separable Lanczos-3 whose support widens by the scale when shrinking (antialiasing).
#pragma once
#include "sdpp/engine.h"

namespace sdpp {

Image resize_image(const Image& image, int width, int height);  // the same image when the size already matches

}  // namespace sdpp
