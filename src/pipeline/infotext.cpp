#include "pipeline/infotext.h"

#include <cstdio>

namespace sdpp {
namespace {

// A1111 prints floats without trailing zeros ("CFG scale: 7", "CFG scale: 7.5").
std::string short_float(float value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(value));
  return buf;
}

// Values holding the separators are quoted, as A1111's infotext writer does, so parsers can split on ", ".
std::string quote_if_needed(const std::string& value) {
  if (value.find_first_of(",:\"\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c == '\n' ? ' ' : c;
  }
  return quoted + "\"";
}

}  // namespace

std::string Infotext::format() const {
  std::string text = prompt;
  if (!negative_prompt.empty()) text += "\nNegative prompt: " + negative_prompt;
  text += "\nSteps: " + std::to_string(steps);
  text += ", Sampler: " + quote_if_needed(sampler);
  if (!schedule_type.empty()) text += ", Schedule type: " + schedule_type;
  text += ", CFG scale: " + short_float(cfg_scale);
  text += ", Seed: " + std::to_string(seed);
  text += ", Size: " + std::to_string(width) + "x" + std::to_string(height);
  if (!model.empty()) text += ", Model: " + quote_if_needed(model);
  if (denoising_strength >= 0) text += ", Denoising strength: " + short_float(denoising_strength);
  if (clip_skip > 1) text += ", Clip skip: " + std::to_string(clip_skip);
  if (!version.empty()) text += ", Version: " + quote_if_needed(version);
  return text;
}

}  // namespace sdpp
