// One runner per manifest case kind; each lives in src/parity/<kind>.cpp.
#pragma once
#include <vector>

#include "parity/parity.h"

namespace sdpp::parity {

std::vector<Check> run_tokenize_case(const CaseContext& c);
std::vector<Check> run_randn_case(const CaseContext& c);
std::vector<Check> run_text_encoder_case(const CaseContext& c);
std::vector<Check> run_unet_case(const CaseContext& c);
std::vector<Check> run_vae_decode_case(const CaseContext& c);
std::vector<Check> run_vae_encode_case(const CaseContext& c);
std::vector<Check> run_taesd_decode_case(const CaseContext& c);
std::vector<Check> run_scheduler_case(const CaseContext& c);
std::vector<Check> run_pipeline_case(const CaseContext& c);

}  // namespace sdpp::parity
