#include "parity/kinds.h"

namespace sdpp::parity {

const std::map<std::string, CaseRunner>& case_runners() {
  static const std::map<std::string, CaseRunner> runners = {
      {"tokenize", run_tokenize_case},         {"randn", run_randn_case},
      {"text_encoder", run_text_encoder_case}, {"unet", run_unet_case},
      {"vae_decode", run_vae_decode_case},     {"vae_encode", run_vae_encode_case},
      {"taesd_decode", run_taesd_decode_case}, {"scheduler", run_scheduler_case},
      {"pipeline", run_pipeline_case},
  };
  return runners;
}

}  // namespace sdpp::parity
