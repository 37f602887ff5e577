// Reading and writing images: PNG (libpng) with text chunks, JPEG input (libjpeg), from files or memory.
// Bad bytes are Error(InvalidArgument) naming the request field they came from, never a crash.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "sdpp/engine.h"

namespace sdpp {

// PNG (8/16-bit, gray/RGB/RGBA/palette) or JPEG, detected by magic bytes; returns RGB (3 channels), or RGBA when
// the PNG has alpha, or gray (1 channel) for grayscale files.
Image decode_image(std::string_view bytes, const std::string& field = "image");
Image read_image_file(const std::filesystem::path& path, const std::string& field = "image");

// PNG bytes of an 8-bit image; `text` becomes tEXt chunks (iTXt when not Latin-1), e.g. {"parameters", infotext}.
std::string encode_png(const Image& image, const std::map<std::string, std::string>& text = {});
// The text chunks of a PNG (tEXt, zTXt, iTXt).
std::map<std::string, std::string> read_png_text(std::string_view bytes);

// 3-channel RGB of any image (gray replicated, alpha dropped); 1-channel luma (PIL "L": (299 R + 587 G + 114 B) / 1000).
Image to_rgb(const Image& image);
Image to_gray(const Image& image);

}  // namespace sdpp
