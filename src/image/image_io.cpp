#include "image/image_io.h"

#include <fstream>
#include <iterator>

#include "core/error.h"
#include "image/jpeg.h"
#include "image/png.h"

namespace sdpp {

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::PNG: return "PNG";
    case ImageFormat::JPEG: return "JPEG";
    case ImageFormat::GIF: return "GIF";
    case ImageFormat::WebP: return "WebP";
    case ImageFormat::BMP: return "BMP";
    case ImageFormat::TIFF: return "TIFF";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

ImageFormat detect_image_format(std::string_view bytes) {
  auto has = [&](std::string_view magic, size_t at = 0) { return bytes.substr(std::min(at, bytes.size())).starts_with(magic); };
  using namespace std::string_view_literals;
  if (has("\x89PNG\r\n\x1a\n"sv)) return ImageFormat::PNG;
  if (has("\xFF\xD8\xFF"sv)) return ImageFormat::JPEG;
  if (has("GIF87a"sv) || has("GIF89a"sv)) return ImageFormat::GIF;
  if (has("RIFF"sv) && has("WEBP"sv, 8)) return ImageFormat::WebP;
  if (has("BM"sv)) return ImageFormat::BMP;
  if (has("II*\0"sv) || has("MM\0*"sv)) return ImageFormat::TIFF;
  return ImageFormat::Unknown;
}

Image decode_image(std::string_view bytes, const std::string& field) {
  const ImageFormat format = detect_image_format(bytes);
  switch (format) {
    case ImageFormat::PNG: return decode_png(bytes, field);
    case ImageFormat::JPEG: return decode_jpeg(bytes, field);
    case ImageFormat::Unknown:
      throw Error(ErrorCode::InvalidArgument,
                  field + ": not a PNG or JPEG image (" + std::to_string(bytes.size()) + " bytes, unrecognised signature)",
                  field);
    default:
      throw Error(ErrorCode::Unsupported,
                  field + ": " + image_format_name(format) + " images are not supported (PNG or JPEG expected)", field);
  }
}

Image read_image_file(const std::filesystem::path& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, field + ": cannot open image file " + path.string(), field);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes, field + " (" + path.string() + ")");
}

std::map<std::string, std::string> read_png_text(std::string_view bytes) {
  if (detect_image_format(bytes) != ImageFormat::PNG)
    throw Error(ErrorCode::InvalidArgument, "png: not a PNG image", "png");
  std::map<std::string, std::string> text;
  decode_png(bytes, "png", &text);
  return text;
}

void write_png_file(const std::filesystem::path& path, const Image& image,
                    const std::map<std::string, std::string>& text) {
  const std::string bytes = encode_png(image, text);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw Error(ErrorCode::BadFile, path.string() + ": cannot write PNG");
}

}  // namespace sdpp
