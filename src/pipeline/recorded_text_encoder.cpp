#include "pipeline/recorded_text_encoder.h"

#include <string>

#include "core/error.h"

namespace sdpp {

RecordedTextEncoder::RecordedTextEncoder(const ClipTextModel& model, Device device) : model_(model), device_(device) {}

RecordedCall& RecordedTextEncoder::call(int layers, bool final_norm, bool with_final) {
  if (layers < 0 || layers > model_.num_layers())
    throw Error(ErrorCode::InvalidArgument, "CLIP text model: " + std::to_string(layers) + " layers outside [0, " +
                                                std::to_string(model_.num_layers()) + "]");
  std::lock_guard lock(mutex_);
  auto& slot = calls_[{layers, final_norm, with_final}];
  if (!slot) {
    const ClipTextModel* m = &model_;
    const int total = model_.num_layers();
    slot = std::make_unique<RecordedCall>(
        "the text encoder", device_, [m, layers, final_norm, with_final, total](const std::vector<Tensor>& in) {
          const Tensor h = m->run_layers(in[0], 0, layers);
          const Tensor out = final_norm ? m->final_layer_norm(h) : h;
          if (!with_final) return out;
          const Tensor parts[] = {out, m->final_layer_norm(m->run_layers(h, layers, total))};
          return ops::concat(parts, 0);
        });
  }
  return *slot;
}

Tensor RecordedTextEncoder::hidden(const Tensor& input_ids, int layers, bool final_norm) {
  return call(layers, final_norm, false).run({model_.embed(input_ids)});
}

std::pair<Tensor, Tensor> RecordedTextEncoder::hidden_and_text_embeds(const Tensor& input_ids, int layers) {
  if (!model_.has_projection())
    throw Error(ErrorCode::Internal, "text_embeds asked of a CLIP text model without a projection");
  const Tensor both = call(layers, false, true).run({model_.embed(input_ids)});
  const int64_t batch = input_ids.dim(0);
  const Tensor final_output = both.narrow0(batch, batch);
  return {both.narrow0(0, batch),
          model_.text_embeds(ops::gather_rows(final_output, model_.pooled_positions(input_ids)))};
}

int64_t RecordedTextEncoder::replays() const {
  std::lock_guard lock(mutex_);
  int64_t n = 0;
  for (const auto& [key, call] : calls_) n += call->replays();
  return n;
}

}  // namespace sdpp
