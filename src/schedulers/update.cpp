#include "schedulers/update.h"

#include "backend/ops.h"
#include "core/error.h"

namespace sdpp::schedulers {
namespace {

bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.byte_offset() == b.byte_offset() && a.shape() == b.shape() &&
         a.dtype() == b.dtype();
}

}  // namespace

Update& Update::add(const Tensor& t, double weight) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (same_view(tensors_[i], t)) {
      weights_[i] += weight;
      return *this;
    }
  }
  tensors_.push_back(t);
  weights_.push_back(weight);
  return *this;
}

Update& Update::add(const Update& other, double weight) {
  for (size_t i = 0; i < other.tensors_.size(); ++i) add(other.tensors_[i], weight * other.weights_[i]);
  return *this;
}

Tensor Update::eval() const {
  if (tensors_.empty()) throw Error(ErrorCode::Internal, "scheduler update with no terms");
  std::vector<Tensor> xs;
  std::vector<double> ws;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (weights_[i] == 0) continue;
    xs.push_back(tensors_[i]);
    ws.push_back(weights_[i]);
  }
  if (xs.empty()) {  // every weight cancelled: a zero tensor of the right shape
    xs.push_back(tensors_[0]);
    ws.push_back(0.0);
  }
  return ops::lincomb(xs, ws);
}

}  // namespace sdpp::schedulers
