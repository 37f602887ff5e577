#include "models/guidance_pair.h"

#include <array>
#include <string>

#include "backend/ops.h"
#include "core/error.h"

namespace sdpp::nn {

Tensor to_pair_batch(const Tensor& x, int64_t batch) {
  if (x.dim(0) == batch) return x;
  if (2 * x.dim(0) != batch) {
    throw Error(ErrorCode::Internal, "guidance pair: a tensor of batch " + std::to_string(x.dim(0)) +
                                         " cannot be repeated to batch " + std::to_string(batch));
  }
  const std::array<Tensor, 2> halves{x, x};
  return ops::concat(halves, 0);
}

Tensor time_term_rows(const Tensor& term, const Tensor& x) {
  if (!term.defined() || term.dim(0) == x.dim(0)) return term;
  if (term.dim(0) != 2 * x.dim(0)) {
    throw Error(ErrorCode::Internal, "guidance pair: a time term of batch " + std::to_string(term.dim(0)) +
                                         " for an input of batch " + std::to_string(x.dim(0)));
  }
  return term.narrow0(0, x.dim(0));
}

}  // namespace sdpp::nn
