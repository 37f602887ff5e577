// Standard base64 (RFC 4648, with padding) for images in JSON bodies. Decoding is strict: a character outside the
// alphabet or a wrong length is an error, so a truncated upload is reported rather than decoded into garbage.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace sdpp::server {

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt when malformed; whitespace is skipped

}  // namespace sdpp::server
