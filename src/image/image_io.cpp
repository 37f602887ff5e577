#include "image/image_io.h"

#include <fstream>
#include <iterator>

#include "core/error.h"

namespace sdpp {

Image decode_png(std::string_view bytes, const std::string& field);   // png.cpp
Image decode_jpeg(std::string_view bytes, const std::string& field);  // jpeg.cpp

Image decode_image(std::string_view bytes, const std::string& field) {
  static const char png_magic[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view(png_magic, 8)) return decode_png(bytes, field);
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8 &&
      static_cast<unsigned char>(bytes[2]) == 0xFF)
    return decode_jpeg(bytes, field);
  throw Error(ErrorCode::InvalidArgument, field + ": not a PNG or JPEG image (" + std::to_string(bytes.size()) + " bytes)",
              field);
}

Image read_image_file(const std::filesystem::path& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, field + ": cannot open image file " + path.string(), field);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes, field + " (" + path.string() + ")");
}

Image to_rgb(const Image& image) {
  if (image.channels == 3) return image;
  Image out{image.width, image.height, 3, {}};
  const size_t pixels = size_t(image.width) * size_t(image.height);
  out.pixels.resize(pixels * 3);
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < 3; ++c)
      out.pixels[i * 3 + size_t(c)] = image.channels >= 3 ? image.pixels[i * size_t(image.channels) + size_t(c)]
                                                         : image.pixels[i * size_t(image.channels)];
  return out;
}

Image to_gray(const Image& image) {
  if (image.channels == 1) return image;
  if (image.channels == 2) {
    Image out{image.width, image.height, 1, {}};
    for (size_t i = 0; i < image.pixels.size() / 2; ++i) out.pixels.push_back(image.pixels[i * 2]);
    return out;
  }
  Image out{image.width, image.height, 1, {}};
  const size_t pixels = size_t(image.width) * size_t(image.height);
  out.pixels.resize(pixels);
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* p = &image.pixels[i * size_t(image.channels)];
    // PIL's convert("L"): ITU-R 601-2 luma with integer rounding
    out.pixels[i] = uint8_t((p[0] * 299 + p[1] * 587 + p[2] * 114 + 500) / 1000);
  }
  return out;
}

}  // namespace sdpp
