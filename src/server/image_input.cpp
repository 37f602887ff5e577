#include "server/image_input.h"

#include <cstdint>
#include <optional>
#include <utility>

#include "core/error.h"
#include "image/image_io.h"
#include "server/base64.h"
#include "server/http_error.h"

namespace sdpp::server {

namespace {

uint32_t be32(const std::string& b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

uint32_t be16(const std::string& b, size_t at) { return (uint32_t(uint8_t(b[at])) << 8) | uint8_t(b[at + 1]); }

// Width and height from a PNG IHDR or a JPEG SOFn marker; nullopt when the header cannot be found (the decoder
// then reports the file as invalid).
std::optional<std::pair<uint32_t, uint32_t>> header_size(const std::string& b) {
  static const std::string kPng = "\x89PNG\r\n\x1a\n";
  if (b.size() >= 24 && b.compare(0, 8, kPng) == 0 && b.compare(12, 4, "IHDR") == 0)
    return std::make_pair(be32(b, 16), be32(b, 20));
  if (b.size() < 4 || uint8_t(b[0]) != 0xFF || uint8_t(b[1]) != 0xD8) return std::nullopt;
  size_t at = 2;
  while (at + 9 < b.size()) {
    if (uint8_t(b[at]) != 0xFF) return std::nullopt;
    const uint8_t marker = uint8_t(b[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) return std::make_pair(be16(b, at + 7), be16(b, at + 5));
    at += 2 + be16(b, at + 2);
  }
  return std::nullopt;
}

}  // namespace

Image decode_image_field(const std::string& text, const std::string& field, ImageRole role,
                         const RequestLimits& limits) {
  std::string_view payload = text;
  if (payload.rfind("data:", 0) == 0) {
    const size_t comma = payload.find(',');
    if (comma == std::string_view::npos || payload.substr(0, comma).find(";base64") == std::string_view::npos)
      throw HttpError(400, "invalid_image", "'" + field + "' is a data URI without ';base64,' data", field);
    payload.remove_prefix(comma + 1);
  }
  const std::optional<std::string> bytes = base64_decode(payload);
  if (!bytes) throw HttpError(400, "invalid_image", "'" + field + "' is not valid base64", field);
  if (bytes->empty()) throw HttpError(400, "invalid_image", "'" + field + "' is empty", field);
  if (const auto size = header_size(*bytes)) {
    const uint32_t limit = static_cast<uint32_t>(limits.max_image_side);
    if (size->first > limit || size->second > limit)
      throw HttpError(400, "invalid_image",
                      "'" + field + "' is " + std::to_string(size->first) + "x" + std::to_string(size->second) +
                          "; the limit is " + std::to_string(limit) + " on each side",
                      field);
  }
  try {
    Image image = decode_image(*bytes, field);
    return role == ImageRole::Mask ? to_gray(image) : to_rgb(image);
  } catch (const Error& e) {
    throw HttpError(400, "invalid_image", "'" + field + "' is not a readable PNG or JPEG image: " + e.what(), field);
  }
}

}  // namespace sdpp::server
