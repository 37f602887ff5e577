#include "pipeline/recorded_unet.h"

namespace sdpp {
namespace {
// The body's inputs: per-step ones, then the held ones (constant over a loop): the context, one projection per layer.
enum Input { kSample, kTimeTerms, kContext, kFirstProjection };
// The time terms' inputs: the timestep projections as [calls, batch, channels] (so that the batch, which shapes the
// output, is part of the shapes a recording is kept for), SDXL's projected time_ids, its pooled text embedding, LCM's
// guidance embedding (the last three undefined where the model takes none).
enum TimeInput { kProjections, kTimeEmbeds, kTextEmbeds, kTimestepCond };
}  // namespace

RecordedUNet::RecordedUNet(const nn::UNet2DConditionModel& unet)
    : unet_(unet),
      call_("the UNet forward", unet.device(),
            [this](const std::vector<Tensor>& in) {
              nn::ProjectedContext projected;
              for (size_t i = 0; i < projected_layers_.size(); ++i)
                projected.add(projected_layers_[i], in[kFirstProjection + i]);
              return unet_.forward(in[kSample], nn::UNetTimeTerms{in[kTimeTerms]}, in[kContext], &projected);
            }),
      time_terms_call_("the UNet time terms", unet.device(), [this](const std::vector<Tensor>& in) {
        const Tensor& projections = in[kProjections];
        const int64_t batch = projections.dim(1);
        nn::UNetAddedCond added;
        added.text_embeds = in[kTextEmbeds];
        added.timestep_cond = in[kTimestepCond];
        const bool has_added = added.text_embeds.defined() || added.timestep_cond.defined();
        const nn::UNetTimeInputs time{projections.reshape({projections.dim(0) * batch, projections.dim(2)}),
                                      in[kTimeEmbeds]};
        return unet_.time_terms(time, batch, has_added ? &added : nullptr).packed;
      }) {}

nn::UNetTimeTerms RecordedUNet::time_terms(const nn::UNetTimeInputs& time, int64_t batch,
                                           const nn::UNetAddedCond* added) {
  const int64_t rows = time.t_proj.defined() ? time.t_proj.dim(0) : 0;
  // Shapes the recorded form cannot take go to the model, whose checks name the problem.
  if (batch <= 0 || rows <= 0 || rows % batch != 0 || time.t_proj.ndim() != 2)
    return unet_.time_terms(time, batch, added);
  const Tensor projections = time.t_proj.reshape({rows / batch, batch, time.t_proj.dim(1)});
  return {time_terms_call_.run(
      {projections, time.time_embeds, added ? added->text_embeds : Tensor(), added ? added->timestep_cond : Tensor()})};
}

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
