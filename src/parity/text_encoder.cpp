// `text_encoder` cases: a CLIP text encoder on fixed token ids; every hidden-state flavour a pipeline feeds the UNet.
#include <string>

#include "core/error.h"
#include "models/clip_text.h"
#include "parity/kinds.h"

namespace sdpp::parity {

std::vector<Check> run_text_encoder_case(const CaseContext& c) {
  const std::map<std::string, Tensor> tensors = c.load_case_tensors();
  const std::string model = c.spec.at("model").get<std::string>();
  const std::string component = c.spec.value("component", std::string("text_encoder"));
  const Tensor& input_ids = tensors.at("input_ids");

  std::vector<Check> checks;
  for (bool single_file : c.variants(model)) {
    const Checkpoint& checkpoint = c.checkpoint(model, single_file);
    const auto& part = component == "text_encoder_2" ? checkpoint.text_encoder_2 : checkpoint.text_encoder;
    if (!part) {
      throw Error(ErrorCode::NotFound, "model '" + model + "' has no " + component + " component");
    }
    const ClipTextModel encoder(part->config, WeightLoader(part->weights, c.options.device, c.options.dtype));
    const ClipTextOutput full = encoder.forward(input_ids);
    ClipTextOptions skip_one;
    skip_one.num_layers = encoder.num_layers() - 1;
    const std::string suffix = single_file ? "[single_file]" : "";

    for (const auto& output : c.spec.at("outputs")) {
      const std::string name = output.get<std::string>();
      Tensor actual;
      if (name == "last_hidden_state") {
        actual = full.last_hidden_state;
      } else if (name == "penultimate_hidden_state") {
        actual = full.hidden_states[full.hidden_states.size() - 2];
      } else if (name == "clip_skip_1") {
        // Run only the layers clip_skip needs, as the pipeline does.
        actual = encoder.forward(input_ids, skip_one).last_hidden_state;
      } else if (name == "pooler_output") {
        actual = full.pooler_output;
      } else if (name == "text_embeds") {
        actual = full.text_embeds;
      } else {
        throw Error(ErrorCode::Unsupported, "text_encoder case '" + c.spec.value("name", std::string()) +
                                                "': unknown output '" + name + "'");
      }
      if (!actual.defined()) {
        throw Error(ErrorCode::Internal, "text_encoder: output '" + name + "' was not computed");
      }
      checks.push_back(c.compare(name + suffix, actual.cpu_f32(), tensors.at(name)));
    }
  }
  return checks;
}

}  // namespace sdpp::parity
