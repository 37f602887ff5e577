#include "image/convert.h"

#include "image/image.h"

namespace sdpp {

Image to_rgb(const Image& image) {
  check_image(image);
  if (image.channels == 3) return image;
  Image out{image.width, image.height, 3, std::vector<uint8_t>(size_t(image.width) * size_t(image.height) * 3)};
  const size_t ch = size_t(image.channels);
  for (size_t i = 0, n = out.pixels.size() / 3; i < n; ++i) {
    const uint8_t* px = image.pixels.data() + i * ch;
    for (size_t c = 0; c < 3; ++c) out.pixels[i * 3 + c] = ch == 1 ? px[0] : px[c];
  }
  return out;
}

Image to_gray(const Image& image) {
  check_image(image);
  if (image.channels == 1) return image;
  Image out{image.width, image.height, 1, std::vector<uint8_t>(size_t(image.width) * size_t(image.height))};
  const size_t ch = size_t(image.channels);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const uint8_t* px = image.pixels.data() + i * ch;
    out.pixels[i] = uint8_t((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16);
  }
  return out;
}

}  // namespace sdpp
