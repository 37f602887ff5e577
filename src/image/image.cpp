#include "image/image.h"

#include "core/error.h"

namespace sdpp {

void check_image(const Image& image, const std::string& what) {
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxImageSide || image.height > kMaxImageSide ||
      int64_t(image.width) * image.height > kMaxImagePixels)
    throw Error(ErrorCode::InvalidArgument, what + ": size " + std::to_string(image.width) + "x" +
                                                std::to_string(image.height) + " is outside 1.." +
                                                std::to_string(kMaxImageSide) + " per side / " +
                                                std::to_string(kMaxImagePixels) + " pixels");
  if (image.channels != 1 && image.channels != 3 && image.channels != 4)
    throw Error(ErrorCode::InvalidArgument,
                what + ": " + std::to_string(image.channels) + " channels, expected 1, 3 or 4");
  const size_t expected = size_t(image.width) * size_t(image.height) * size_t(image.channels);
  if (image.pixels.size() != expected)
    throw Error(ErrorCode::InvalidArgument, what + ": " + std::to_string(image.pixels.size()) + " bytes for " +
                                                std::to_string(image.width) + "x" + std::to_string(image.height) +
                                                "x" + std::to_string(image.channels) + ", expected " +
                                                std::to_string(expected));
}

void check_decoded_size(int64_t width, int64_t height, const std::string& field) {
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide ||
      width * height > kMaxImagePixels)
    throw Error(ErrorCode::InvalidArgument, field + ": image size " + std::to_string(width) + "x" + std::to_string(height) +
                                        " is outside the limit of " + std::to_string(kMaxImageSide) +
                                        " per side and " + std::to_string(kMaxImagePixels) + " pixels",
                field);
}

}  // namespace sdpp
