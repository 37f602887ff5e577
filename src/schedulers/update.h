// The per-step tensor update as one fused elementwise op: schedulers state their update as a weighted sum of
// tensors (sample, model output, history, noise) with host-computed double coefficients, and evaluate it with a
// single ops::lincomb. The model output is itself an Update: classifier-free guidance's two halves, (1 - g) * uncond
// + g * text, enter the step's sum as two terms, so guidance costs no pass of its own.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace sdpp::schedulers {

// value = sample * x + model * m: a quantity (x0 prediction, epsilon, derivative) that is linear in the current
// sample x and model output m.
struct Affine {
  double sample = 0;
  double model = 0;
};

class Update {
 public:
  // Adds weight * t; the same tensor added twice gets its weights summed (one read instead of two).
  Update& add(const Tensor& t, double weight);
  // Adds weight * (a.sample * x + a.model * m).
  Update& add(const Tensor& x, const Update& m, const Affine& a, double weight = 1.0) {
    return add(x, weight * a.sample).add(m, weight * a.model);
  }
  // Adds weight * (every term of `other`): for updates built from stored expressions (a derivative, an x0).
  Update& add(const Update& other, double weight);
  Tensor eval() const;  // sum of the terms (zero-weight terms dropped), in one ops::lincomb
  const std::vector<Tensor>& terms() const { return tensors_; }

 private:
  std::vector<Tensor> tensors_;
  std::vector<double> weights_;
};

}  // namespace sdpp::schedulers
