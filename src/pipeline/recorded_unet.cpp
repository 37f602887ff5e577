#include "pipeline/recorded_unet.h"

namespace sdpp {
namespace {
// The body's inputs: per-step ones, then the held ones (constant over a loop), then one projection per layer.
enum Input { kSample, kTimeProj, kTimeEmbeds, kContext, kTextEmbeds, kTimestepCond, kFirstProjection };
}  // namespace

RecordedUNet::RecordedUNet(const nn::UNet2DConditionModel& unet)
    : unet_(unet), call_("the UNet forward", unet.device(), [this](const std::vector<Tensor>& in) {
        nn::UNetTimeInputs time;
        time.t_proj = in[kTimeProj];
        time.time_embeds = in[kTimeEmbeds];
        nn::UNetAddedCond added;  // undefined members are what a missing UNetAddedCond means
        added.text_embeds = in[kTextEmbeds];
        added.timestep_cond = in[kTimestepCond];
        nn::ProjectedContext projected;
        for (size_t i = 0; i < projected_layers_.size(); ++i)
          projected.add(projected_layers_[i], in[kFirstProjection + i]);
        return unet_.forward(in[kSample], time, in[kContext], &added, &projected);
      }) {}

Tensor RecordedUNet::forward(const Tensor& sample, const nn::UNetTimeInputs& time, const Tensor& context,
                             const nn::UNetAddedCond* added) {
  std::lock_guard lock(mutex_);
  if (!context.same_as(projected_for_)) {
    projected_ = unet_.project_context(context);
    projected_for_ = context;
    projected_layers_.clear();
    for (const auto& [layer, kv] : projected_.entries()) projected_layers_.push_back(layer);
  }
  std::vector<Tensor> held{context, added ? added->text_embeds : Tensor(), added ? added->timestep_cond : Tensor()};
  for (const auto& [layer, kv] : projected_.entries()) held.push_back(kv);
  return call_.run({sample, time.t_proj, time.time_embeds}, held);
}

}  // namespace sdpp
