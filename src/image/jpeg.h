// JPEG decoding with libjpeg(-turbo), in memory, with the library's default (PIL's) settings: ISLOW IDCT, fancy
// upsampling. Gray stays 1 channel; YCbCr becomes RGB; CMYK/YCCK become RGB as PIL converts them.
// EXIF orientation is not applied (PIL's Image.open does not either).
#pragma once
#include <string>
#include <string_view>

#include "sdpp/engine.h"

namespace sdpp {

// Throws InvalidArgument naming `field` for corrupt or truncated data.
Image decode_jpeg(std::string_view bytes, const std::string& field);

}  // namespace sdpp
