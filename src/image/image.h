// Shared checks for sdpp::Image (include/sdpp/engine.h): 8-bit, interleaved, 1 (gray), 3 (RGB) or 4 (RGBA)
// channels. Decoders refuse anything larger than the limits below, so a hostile upload cannot make us allocate
// gigabytes.
#pragma once
#include <cstdint>
#include <string>

#include "sdpp/engine.h"

namespace sdpp {

constexpr int kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t(8192) * 8192;

// Throws InvalidArgument naming `what` unless the size is within the limits and pixels.size() matches.
void check_image(const Image& image, const std::string& what = "image");
// Throws InvalidArgument naming `field` when decoded dimensions exceed the limits.
void check_decoded_size(int64_t width, int64_t height, const std::string& field);

}  // namespace sdpp
