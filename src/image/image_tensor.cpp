#include "image/image_tensor.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "image/image_io.h"

namespace sdpp {

Tensor image_to_tensor(const Image& image) {
  const Image rgb = to_rgb(image);
  const int64_t h = rgb.height, w = rgb.width;
  Tensor t = Tensor::empty({1, 3, h, w});
  float* out = t.f32();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < h * w; ++i) out[c * h * w + i] = float(rgb.pixels[size_t(i * 3 + c)]) / 255.0f * 2.0f - 1.0f;
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
    throw Error(ErrorCode::Internal, "tensor_to_image: image " + std::to_string(index) + " of " + shape_str(images.shape()));
  const Tensor t = images.narrow0(index, 1).cpu_f32();
  const int64_t h = t.dim(2), w = t.dim(3);
  Image image{int(w), int(h), 3, std::vector<uint8_t>(size_t(h * w * 3))};
  const float* in = t.f32();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < h * w; ++i) {
      const float v = std::clamp(in[c * h * w + i], 0.0f, 1.0f) * 255.0f;
      image.pixels[size_t(i * 3 + c)] = uint8_t(std::nearbyint(v));  // half-to-even, as numpy's round
    }
  return image;
}

}  // namespace sdpp
