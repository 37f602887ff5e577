// A CLIP text encoder as the prompt encoding calls it: the prompt and the negative prompt go through as one batch,
// and the encoder layers are a RecordedCall (pipeline/recorded_call.h) per kind of output, so on a device that
// records, the ~150 ops of a 12-layer encoder go out as one launch. The token lookup and the pooling read token ids
// on the host and stay outside the recording.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include "models/clip_text.h"
#include "pipeline/recorded_call.h"

namespace sdpp {

class RecordedTextEncoder {
 public:
  RecordedTextEncoder(const ClipTextModel& model, Device device);

  // input_ids [B, L] on the cpu -> hidden_states[layers] of forward() ([B, L, D]), through final_layer_norm when
  // `final_norm` (then it equals forward's last_hidden_state with num_layers = layers).
  Tensor hidden(const Tensor& input_ids, int layers, bool final_norm);

  // With a projection (SDXL's second encoder): hidden_states[layers] without the final norm, and text_embeds of the
  // whole stack ([B, projection_dim]).
  std::pair<Tensor, Tensor> hidden_and_text_embeds(const Tensor& input_ids, int layers);

  int64_t replays() const;  // calls answered by a replay so far, over every kind of output

 private:
  // Body: embeddings -> hidden_states[layers] (normed when final_norm), followed on the batch dimension by the final
  // output of all layers when with_final.
  RecordedCall& call(int layers, bool final_norm, bool with_final);

  const ClipTextModel& model_;
  Device device_;
  mutable std::mutex mutex_;
  std::map<std::tuple<int, bool, bool>, std::unique_ptr<RecordedCall>> calls_;
};

}  // namespace sdpp
