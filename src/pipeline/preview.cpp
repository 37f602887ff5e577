#include "pipeline/preview.h"

#include <array>
#include <cmath>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "image/image_tensor.h"

namespace sdpp {
namespace {

// Solves the (n x n) normal equations A x = b by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<double> a, std::vector<double> b, int n) {
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int r = col + 1; r < n; ++r)
      if (std::fabs(a[size_t(r * n + col)]) > std::fabs(a[size_t(pivot * n + col)])) pivot = r;
    for (int k = 0; k < n; ++k) std::swap(a[size_t(col * n + k)], a[size_t(pivot * n + k)]);
    std::swap(b[size_t(col)], b[size_t(pivot)]);
    const double d = a[size_t(col * n + col)];
    if (std::fabs(d) < 1e-12) continue;  // degenerate column: leave its weight at zero
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double factor = a[size_t(r * n + col)] / d;
      for (int k = 0; k < n; ++k) a[size_t(r * n + k)] -= factor * a[size_t(col * n + k)];
      b[size_t(r)] -= factor * b[size_t(col)];
    }
  }
  std::vector<double> x(size_t(n), 0.0);
  for (int i = 0; i < n; ++i)
    if (std::fabs(a[size_t(i * n + i)]) >= 1e-12) x[size_t(i)] = b[size_t(i)] / a[size_t(i * n + i)];
  return x;
}

// Least-squares fit of image colours (block-averaged to latent resolution) on latent channels + 1, from the VAE
// decoding a fixed pseudo-random latent: rgb ~= W z + b.
LatentRgbProjection fit_projection(const Components& c) {
  const int64_t channels = c.vae->config().latent_channels;
  const int64_t side = 8;  // an 8x8 latent: 64 equations for channels + 1 unknowns, and a cheap decode
  const int f = c.vae_scale_factor();
  auto generator = make_cpu_generator(20240611);
  const Tensor z = generator->randn({1, channels, side, side});
  const Tensor latents = ops::scale(z.to(c.device).to(c.vae_in_use_dtype()), 1.0f / c.vae->config().scaling_factor);
  // Once per model, at shapes no image meets: timing their candidates (0.7 s of an H100's first image) buys nothing.
  const UntimedChoices untimed(backend_for(c.device));
  const Tensor image = c.vae_in_use().decode(latents).cpu_f32();
  const int64_t width = side * f, n = channels + 1, pixels = side * side;
  std::vector<double> ata(size_t(n * n), 0.0);
  std::array<std::vector<double>, 3> atb;
  for (auto& v : atb) v.assign(size_t(n), 0.0);
  for (int64_t p = 0; p < pixels; ++p) {
    std::vector<double> row(size_t(n), 1.0);
    for (int64_t ch = 0; ch < channels; ++ch) row[size_t(ch)] = z.f32()[ch * pixels + p];
    const int64_t py = p / side, px = p % side;
    for (int rgb = 0; rgb < 3; ++rgb) {
      double sum = 0;
      for (int dy = 0; dy < f; ++dy)
        for (int dx = 0; dx < f; ++dx) sum += image.f32()[rgb * width * width + (py * f + dy) * width + px * f + dx];
      const double target = sum / double(f * f);
      for (int64_t i = 0; i < n; ++i) atb[size_t(rgb)][size_t(i)] += row[size_t(i)] * target;
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) ata[size_t(i * n + j)] += row[size_t(i)] * row[size_t(j)];
  }
  std::vector<float> weight(size_t(3 * channels)), bias(3);
  for (int rgb = 0; rgb < 3; ++rgb) {
    const std::vector<double> x = solve(ata, atb[size_t(rgb)], int(n));
    for (int64_t ch = 0; ch < channels; ++ch) weight[size_t(rgb * channels + ch)] = float(x[size_t(ch)]);
    bias[size_t(rgb)] = float(x[size_t(channels)]);
  }
  LatentRgbProjection projection;
  projection.weight = Tensor::from_floats(weight, {3, channels, 1, 1}).to(c.device).to(c.dtype);
  projection.bias = Tensor::from_floats(bias, {3}).to(c.device).to(c.dtype);
  return projection;
}

}  // namespace

PreviewMethod parse_preview_method(const std::string& name) {
  if (name == "approx" || name.empty()) return PreviewMethod::Approx;
  if (name == "taesd") return PreviewMethod::Taesd;
  if (name == "full") return PreviewMethod::Full;
  throw Error(ErrorCode::InvalidArgument,
              "preview_method: unknown preview method '" + name + "' (expected approx, taesd or full)", "preview_method");
}

const LatentRgbProjection& latent_rgb_projection(const Components& c) {
  std::call_once(c.preview_fit_once,
                 [&c] { c.preview_projection = std::make_shared<const LatentRgbProjection>(fit_projection(c)); });
  return *c.preview_projection;
}

PreviewRenderer::PreviewRenderer(const Components& components, PreviewMethod method)
    : components_(components), method_(method) {
  if (method_ == PreviewMethod::Taesd && !components_.taesd)
    throw Error(ErrorCode::InvalidArgument, "preview method 'taesd' needs a TAESD model (serve/generate --taesd DIR)");
}

Tensor PreviewRenderer::render_tensor(const Tensor& latents) const {
  const Components& c = components_;
  switch (method_) {
    case PreviewMethod::Approx: {
      const LatentRgbProjection& projection = latent_rgb_projection(c);
      return ops::conv2d(latents.to(projection.weight.dtype()), projection.weight, projection.bias);
    }
    case PreviewMethod::Taesd:
      return c.taesd->decode(ops::scale(latents.to(c.vae_dtype), 1.0f / c.taesd->config().scaling_factor));
    case PreviewMethod::Full:
      return c.vae_in_use().decode(ops::scale(latents.to(c.vae_in_use_dtype()), 1.0f / c.vae->config().scaling_factor));
  }
  throw Error(ErrorCode::Internal, "unknown preview method");
}

Image PreviewRenderer::render(const Tensor& latents) const {
  const Tensor first = latents.dim(0) > 1 ? latents.narrow0(0, 1) : latents;
  return tensor_to_image(ops::scale(render_tensor(first), 0.5f, 0.5f), 0);
}

}  // namespace sdpp
