// What the model predicts (epsilon, v, or x0) converted into the quantities the samplers need, as Affine
// coefficients over (sample, model output).
#pragma once
#include <cmath>

#include "schedulers/scheduler_config.h"
#include "schedulers/update.h"

namespace sdpp::schedulers {

// DDPM-style latents x_t = sqrt(a) x0 + sqrt(1 - a) eps, with a = alphas_cumprod[t].
struct AlphaPrediction {
  Affine x0;
  Affine eps;
};
inline AlphaPrediction alpha_prediction(PredictionType type, double alpha_prod) {
  const double sa = std::sqrt(alpha_prod), sb = std::sqrt(1 - alpha_prod);
  switch (type) {
    case PredictionType::Epsilon: return {{1 / sa, -sb / sa}, {0, 1}};
    case PredictionType::Sample: return {{0, 1}, {1 / sb, -sa / sb}};
    case PredictionType::VPrediction: return {{sa, -sb}, {sb, sa}};
  }
  return {};
}

// Karras-style latents x = x0 + sigma eps (Euler, Heun, LMS, KDPM2): the x0 prediction from the model output at `sigma`.
inline Affine sigma_x0_prediction(PredictionType type, double sigma) {
  switch (type) {
    case PredictionType::Epsilon: return {1, -sigma};
    case PredictionType::VPrediction: return {1 / (sigma * sigma + 1), -sigma / std::sqrt(sigma * sigma + 1)};
    case PredictionType::Sample: return {0, 1};
  }
  return {};
}

// Variance-preserving latents x_t = alpha_t x0 + sigma_t eps (DPM-Solver, UniPC): the x0 prediction.
inline Affine vp_x0_prediction(PredictionType type, double alpha_t, double sigma_t) {
  switch (type) {
    case PredictionType::Epsilon: return {1 / alpha_t, -sigma_t / alpha_t};
    case PredictionType::VPrediction: return {alpha_t, -sigma_t};
    case PredictionType::Sample: return {0, 1};
  }
  return {};
}

// alpha_t, sigma_t of the VP latents that correspond to Karras sigma `sigma`.
struct AlphaSigma {
  double alpha;
  double sigma;
};
inline AlphaSigma vp_alpha_sigma(double sigma) {
  const double alpha = 1 / std::sqrt(sigma * sigma + 1);
  return {alpha, sigma * alpha};
}

}  // namespace sdpp::schedulers
