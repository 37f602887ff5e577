#include "image/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace sdpp {
namespace {

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos3(double x) { return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

// Per output index: the first input index and normalised weights, PIL's precompute_coeffs for one axis.
struct Taps {
  std::vector<int> first;
  std::vector<std::vector<double>> weights;
};

Taps compute_taps(int in_size, int out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 3.0 * filter_scale;
  Taps taps;
  for (int x = 0; x < out_size; ++x) {
    const double center = (x + 0.5) * scale;
    const int lo = std::max(0, int(center - support + 0.5));
    const int hi = std::min(in_size, int(center + support + 0.5));
    std::vector<double> w;
    double total = 0;
    for (int i = lo; i < hi; ++i) {
      const double v = lanczos3((i - center + 0.5) / filter_scale);
      w.push_back(v);
      total += v;
    }
    if (total != 0)
      for (double& v : w) v /= total;
    taps.first.push_back(lo);
    taps.weights.push_back(std::move(w));
  }
  return taps;
}

uint8_t to_u8(double v) { return uint8_t(std::clamp(std::lround(v), 0L, 255L)); }

}  // namespace

Image resize_image(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0) throw Error(ErrorCode::InvalidArgument, "resize to a non-positive size");
  if (image.width == width && image.height == height) return image;
  const int ch = image.channels;
  // Horizontal pass into an 8-bit intermediate (as PIL does), then the vertical pass.
  const Taps horizontal = compute_taps(image.width, width);
  Image mid{width, image.height, ch, std::vector<uint8_t>(size_t(width) * size_t(image.height) * size_t(ch))};
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < ch; ++c) {
        double sum = 0;
        const auto& w = horizontal.weights[size_t(x)];
        for (size_t k = 0; k < w.size(); ++k)
          sum += w[k] * image.pixels[(size_t(y) * size_t(image.width) + size_t(horizontal.first[size_t(x)]) + k) * size_t(ch) + size_t(c)];
        mid.pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(ch) + size_t(c)] = to_u8(sum);
      }
  const Taps vertical = compute_taps(image.height, height);
  Image out{width, height, ch, std::vector<uint8_t>(size_t(width) * size_t(height) * size_t(ch))};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < ch; ++c) {
        double sum = 0;
        const auto& w = vertical.weights[size_t(y)];
        for (size_t k = 0; k < w.size(); ++k)
          sum += w[k] * mid.pixels[((size_t(vertical.first[size_t(y)]) + k) * size_t(width) + size_t(x)) * size_t(ch) + size_t(c)];
        out.pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(ch) + size_t(c)] = to_u8(sum);
      }
  return out;
}

}  // namespace sdpp
