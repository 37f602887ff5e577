// Images sent inside JSON: base64, bare or as a data URI ("data:image/png;base64,..."), PNG or JPEG. Every failure
// is a 400 naming the field: malformed base64, bytes that are no image, or an image beyond the size limit (checked
// from the header before decoding, so a small upload cannot make the server allocate gigabytes).
#pragma once
#include <string>

#include "sdpp/engine.h"
#include "server/server_options.h"

namespace sdpp::server {

enum class ImageRole { Rgb, Mask };  // a mask is read as 1-channel luma (white = repaint)

Image decode_image_field(const std::string& text, const std::string& field, ImageRole role,
                         const RequestLimits& limits);

}  // namespace sdpp::server
