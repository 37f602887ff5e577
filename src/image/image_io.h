// Reading and writing images: PNG (libpng) with text chunks, JPEG input (libjpeg), from files or memory.
// The format is detected from the leading bytes, never from a name or MIME type. Bad bytes are
// Error(InvalidArgument) naming the request field they came from, never a crash; decoders refuse images beyond
// image/image.h's limits before allocating.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "image/convert.h"
#include "sdpp/engine.h"

namespace sdpp {

enum class ImageFormat { Unknown, PNG, JPEG, GIF, WebP, BMP, TIFF };
const char* image_format_name(ImageFormat format);
ImageFormat detect_image_format(std::string_view bytes);

// PNG (8/16-bit, gray/RGB/RGBA/palette) or JPEG; returns gray (1 channel), RGB (3) or RGBA (4: PNG alpha, and
// gray+alpha expanded). A recognised format we do not decode (GIF, WebP, ...) is Unsupported.
Image decode_image(std::string_view bytes, const std::string& field = "image");
// NotFound for a missing file; decode errors as decode_image, naming `field` and the path.
Image read_image_file(const std::filesystem::path& path, const std::string& field = "image");

// PNG bytes of an 8-bit image; `text` becomes tEXt chunks (iTXt when not Latin-1), e.g. {"parameters", infotext}.
std::string encode_png(const Image& image, const std::map<std::string, std::string>& text = {});
// The text chunks of a PNG (tEXt, zTXt, iTXt), values as UTF-8. InvalidArgument for bytes that are not a valid PNG.
std::map<std::string, std::string> read_png_text(std::string_view bytes);
// Writes encode_png(image, text); BadFile when the file cannot be written.
void write_png_file(const std::filesystem::path& path, const Image& image,
                    const std::map<std::string, std::string>& text = {});

}  // namespace sdpp
