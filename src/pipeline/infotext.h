// AUTOMATIC1111's "parameters" text (infotext): what its UI, its PNG-info tab and many tools parse to re-create an
// image. Written into every PNG's `parameters` chunk and returned by the APIs.
//   a photo of a cat
//   Negative prompt: blurry
//   Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: sd15, ...
#pragma once
#include <cstdint>
#include <string>

namespace sdpp {

struct Infotext {
  std::string prompt;
  std::string negative_prompt;
  int steps = 0;
  std::string sampler;        // A1111 display name, e.g. "DPM++ 2M"
  std::string schedule_type;  // "Karras" or "" (A1111's "Schedule type" field; omitted when empty)
  float cfg_scale = 0;
  uint64_t seed = 0;
  int width = 0, height = 0;
  std::string model;
  float denoising_strength = -1;  // < 0 = omitted (txt2img)
  int clip_skip = 1;              // written only when > 1, as A1111 does
  std::string version;            // "sdpp 0.1.0"

  std::string format() const;
};

}  // namespace sdpp
