// PNG encode/decode with libpng, in memory. Text chunks as PIL's PngInfo.add_text writes them: tEXt when the text
// is Latin-1, else iTXt (UTF-8) — A1111's generation parameters travel under the key "parameters".
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "sdpp/engine.h"

namespace sdpp {

// 1 -> gray, 3 -> RGB, 4 -> RGBA; `text` (UTF-8 values) becomes one chunk per key. Throws InvalidArgument for a
// malformed Image or a key that PNG cannot hold (1-79 Latin-1 characters).
std::string encode_png(const Image& image, const std::map<std::string, std::string>& text);  // default {} in image_io.h

// Decodes to 8 bits per channel: gray stays 1 channel, gray+alpha becomes RGBA, palettes expand to RGB(A), 16-bit
// samples keep their high byte (as PIL does). `text`, when given, receives every tEXt/zTXt/iTXt chunk as UTF-8.
// Throws InvalidArgument naming `field` for corrupt data.
Image decode_png(std::string_view bytes, const std::string& field,
                 std::map<std::string, std::string>* text = nullptr);

}  // namespace sdpp
