#include "image/image_tensor.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "image/convert.h"
#include "image/image.h"
#include "image/resize.h"

namespace sdpp {

Tensor image_to_tensor(const Image& image) {
  const Image rgb = to_rgb(image);
  const int64_t plane = int64_t(rgb.width) * rgb.height;
  Tensor t = Tensor::empty({1, 3, rgb.height, rgb.width});
  float* out = t.f32();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      const float unit = float(rgb.pixels[size_t(i * 3 + c)]) / 255.0f;  // pil_to_numpy
      out[c * plane + i] = 2.0f * unit - 1.0f;                            // normalize
    }
  return t;
}

Tensor mask_to_tensor(const Image& mask) {
  const Image gray = to_gray(mask);
  Tensor t = Tensor::empty({1, 1, gray.height, gray.width});
  float* out = t.f32();
  for (size_t i = 0; i < gray.pixels.size(); ++i) out[i] = float(gray.pixels[i]) / 255.0f >= 0.5f ? 1.0f : 0.0f;
  return t;
}

Image tensor_to_image(const Tensor& images, int index) {
  if (images.ndim() != 4 || images.dim(1) != 3 || index < 0 || index >= images.dim(0))
    throw Error(ErrorCode::InvalidArgument, "tensor_to_image: image " + std::to_string(index) + " of " +
                                                shape_str(images.shape()) + ", expected [B, 3, H, W]");
  const int64_t height = images.dim(2), width = images.dim(3), plane = height * width;
  const std::vector<float> values = images.narrow0(index, 1).to_floats();
  Image image{int(width), int(height), 3, std::vector<uint8_t>(size_t(plane) * 3)};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      const float v = values[size_t(c * plane + i)];
      const float unit = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);  // NaN -> black rather than undefined
      image.pixels[size_t(i * 3 + c)] = uint8_t(std::nearbyint(unit * 255.0f));  // half to even, as numpy's round
    }
  return image;
}

Tensor preprocess_image(const Image& image, int width, int height) {
  return image_to_tensor(resize_image(image, width, height));
}

Tensor preprocess_mask(const Image& mask, int width, int height) {
  return mask_to_tensor(resize_image(mask, width, height));
}

}  // namespace sdpp
