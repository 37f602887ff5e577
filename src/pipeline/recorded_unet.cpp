#include "pipeline/recorded_unet.h"

namespace sdpp {
namespace {
// The body's inputs: per-step ones, then the held ones (constant over a loop): the context, one projection per layer.
enum Input { kSample, kTimeTerms, kContext, kFirstProjection };
}  // namespace

RecordedUNet::RecordedUNet(const nn::UNet2DConditionModel& unet)
    : unet_(unet), call_("the UNet forward", unet.device(), [this](const std::vector<Tensor>& in) {
        nn::ProjectedContext projected;
        for (size_t i = 0; i < projected_layers_.size(); ++i)
          projected.add(projected_layers_[i], in[kFirstProjection + i]);
        return unet_.forward(in[kSample], nn::UNetTimeTerms{in[kTimeTerms]}, in[kContext], &projected);
      }) {}

Tensor RecordedUNet::forward(const Tensor& sample, const nn::UNetTimeTerms& terms, const Tensor& context) {
  std::lock_guard lock(mutex_);
  if (!context.same_as(projected_for_)) {
    projected_ = unet_.project_context(context);
    projected_for_ = context;
    projected_layers_.clear();
    for (const auto& [layer, kv] : projected_.entries()) projected_layers_.push_back(layer);
  }
  std::vector<Tensor> held{context};
  for (const auto& [layer, kv] : projected_.entries()) held.push_back(kv);
  return call_.run({sample, terms.packed}, held);
}

}  // namespace sdpp
