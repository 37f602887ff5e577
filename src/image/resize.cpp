#include "image/resize.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "core/error.h"
#include "image/image.h"

namespace sdpp {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed point for 8-bit samples
constexpr double kSupport = 3.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * std::numbers::pi;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

// Per output position: the first input index and the fixed-point weights of the inputs it reads.
struct Coefficients {
  int taps = 0;                  // weights per output position (the window size)
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out][taps]
};

Coefficients precompute(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kSupport * filter_scale;
  Coefficients c;
  c.taps = int(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(out_size));
  c.count.resize(size_t(out_size));
  c.weights.assign(size_t(out_size) * size_t(c.taps), 0);
  std::vector<double> w(size_t(c.taps));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[size_t(x)] = lanczos((x + xmin - center + 0.5) * ss);
      total += w[size_t(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      const double k = total != 0.0 ? w[size_t(x)] / total : w[size_t(x)];
      const double fixed = k * (1 << kPrecisionBits);
      c.weights[size_t(xx) * size_t(c.taps) + size_t(x)] = int32_t(k < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.first[size_t(xx)] = xmin;
    c.count[size_t(xx)] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t acc) {
  const int64_t v = acc >> kPrecisionBits;  // floor, as PIL's arithmetic shift
  return uint8_t(std::clamp<int64_t>(v, 0, 255));
}

// One pass along the rows (PIL: ResampleHorizontal_8bpc); channels are independent.
Image resample_horizontal(const Image& in, int width) {
  const Coefficients c = precompute(in.width, width);
  Image out{width, in.height, in.channels, std::vector<uint8_t>(size_t(width) * size_t(in.height) * size_t(in.channels))};
  const size_t ch = size_t(in.channels);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* row = in.pixels.data() + size_t(y) * size_t(in.width) * ch;
    uint8_t* dst = out.pixels.data() + size_t(y) * size_t(width) * ch;
    for (int xx = 0; xx < width; ++xx) {
      const int32_t* k = c.weights.data() + size_t(xx) * size_t(c.taps);
      const uint8_t* src = row + size_t(c.first[size_t(xx)]) * ch;
      for (size_t comp = 0; comp < ch; ++comp) {
        int64_t acc = int64_t(1) << (kPrecisionBits - 1);
        for (int x = 0; x < c.count[size_t(xx)]; ++x) acc += int64_t(src[size_t(x) * ch + comp]) * k[x];
        dst[size_t(xx) * ch + comp] = clip8(acc);
      }
    }
  }
  return out;
}

// One pass along the columns (PIL: ResampleVertical_8bpc).
Image resample_vertical(const Image& in, int height) {
  const Coefficients c = precompute(in.height, height);
  const size_t stride = size_t(in.width) * size_t(in.channels);
  Image out{in.width, height, in.channels, std::vector<uint8_t>(stride * size_t(height))};
  for (int yy = 0; yy < height; ++yy) {
    const int32_t* k = c.weights.data() + size_t(yy) * size_t(c.taps);
    const uint8_t* src = in.pixels.data() + size_t(c.first[size_t(yy)]) * stride;
    uint8_t* dst = out.pixels.data() + size_t(yy) * stride;
    for (size_t i = 0; i < stride; ++i) {
      int64_t acc = int64_t(1) << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[size_t(yy)]; ++y) acc += int64_t(src[size_t(y) * stride + i]) * k[y];
      dst[i] = clip8(acc);
    }
  }
  return out;
}

// PIL's RGBA -> RGBa and back (Convert.c): MULDIV255 rounding, and an integer division on the way back.
void premultiply(Image& image) {
  for (size_t i = 0; i < image.pixels.size(); i += 4) {
    const unsigned alpha = image.pixels[i + 3];
    for (size_t c = 0; c < 3; ++c) {
      const unsigned tmp = image.pixels[i + c] * alpha + 128;
      image.pixels[i + c] = uint8_t(((tmp >> 8) + tmp) >> 8);
    }
  }
}

void unpremultiply(Image& image) {
  for (size_t i = 0; i < image.pixels.size(); i += 4) {
    const unsigned alpha = image.pixels[i + 3];
    if (alpha == 255 || alpha == 0) continue;
    for (size_t c = 0; c < 3; ++c) image.pixels[i + c] = uint8_t(std::min(255u, 255u * image.pixels[i + c] / alpha));
  }
}

}  // namespace

Image resize_image(const Image& image, int width, int height) {
  check_image(image, "resize input");
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide ||
      int64_t(width) * height > kMaxImagePixels)
    throw Error(ErrorCode::InvalidArgument, "resize target " + std::to_string(width) + "x" + std::to_string(height) +
                                                " is outside 1.." + std::to_string(kMaxImageSide) + " per side");
  if (width == image.width && height == image.height) return image;
  Image work = image;
  const bool alpha = work.channels == 4;
  if (alpha) premultiply(work);
  if (width != work.width) work = resample_horizontal(work, width);
  if (height != work.height) work = resample_vertical(work, height);
  if (alpha) unpremultiply(work);
  return work;
}

}  // namespace sdpp
