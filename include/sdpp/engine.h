// Public API: what a caller (CLI, server, embedding program) uses to generate images.
//   sdpp::Engine engine({.device = "cuda:0"});
//   engine.load_model("sd15", "/models/v1-5-pruned-emaonly.safetensors");
//   sdpp::Result r = engine.generate(request, on_progress, &cancel_flag);
// Engine::generate is synchronous and not re-entrant for one model; the engine/ queue + worker serialise requests.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdpp {

// 8-bit image, row-major, interleaved channels (3 = RGB, 1 = gray for masks, 4 = RGBA on input).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<uint8_t> pixels;
};

enum class GenerationMode { Txt2Img, Img2Img, Inpaint };

struct GenerationRequest {
  std::string model;            // loaded model name; empty = the default (first loaded) model
  std::string prompt;
  std::string negative_prompt;
  int width = 0;                // 0 = family default (512 SD 1.x, 768 SD 2.x, 1024 SDXL)
  int height = 0;
  int steps = 0;                // 0 = 20
  float cfg_scale = -1.0f;      // < 0 = family default (7.5; SDXL 5.0); CFG applies only when > 1
  std::optional<uint64_t> seed; // absent = random; the used seed is reported in Result
  std::string sampler;          // "" = the model's scheduler config; else a name from list_samplers()
  int batch = 1;                // images per request (noise drawn as one [batch, ...] tensor, as diffusers)
  float strength = 0.75f;       // img2img / inpaint denoising strength in [0, 1]
  std::optional<Image> init_image;  // img2img / inpaint source (resized to width x height)
  std::optional<Image> mask;        // inpaint: white = repaint
  int preview_every = 5;        // 0 = no previews
  std::string preview_method = "approx";  // "approx" (linear latent->RGB) | "taesd" | "full" (VAE decode)
  int clip_skip = 1;            // 1 = last layer; 2 = penultimate (A1111 "Clip skip: 2")

  GenerationMode mode() const {
    return !init_image ? GenerationMode::Txt2Img : (mask ? GenerationMode::Inpaint : GenerationMode::Img2Img);
  }
};

struct Progress {
  int step = 0;            // steps done (1-based after the first step)
  int total = 0;
  double it_per_s = 0.0;
  double eta_s = 0.0;
  const Image* preview = nullptr;  // set on preview steps (valid during the callback only)
};
using ProgressCallback = std::function<void(const Progress&)>;

struct Timings {
  double text_encode_s = 0, denoise_s = 0, decode_s = 0, total_s = 0;
};

struct Result {
  std::vector<Image> images;
  std::vector<std::string> png;  // encoded PNGs with the `parameters` infotext chunk, one per image
  uint64_t seed = 0;
  std::string infotext;          // AUTOMATIC1111 "parameters" text of the first image
  Timings timings;
};

struct ModelInfo {
  std::string name;
  std::string path;
  std::string family;  // "sd15" | "sd21" | "sdxl"
  int default_width = 512, default_height = 512, default_steps = 20;
  float default_cfg_scale = 7.5f;
  bool inpainting = false;  // 9-channel UNet
};

struct EngineOptions {
  std::string device = "cpu";   // "cpu" | "cuda" | "cuda:N"
  std::string dtype = "auto";   // "auto" (f32 cpu, f16 cuda) | "f32" | "f16" | "bf16"
  // The VAE's own: "auto" (the model dtype, but bf16 for SDXL's VAE in place of f16, which overflows there) | "f32"
  // (A1111's --no-half-vae: no f16 attempt that fails and runs again in f32) | "f16" | "bf16".
  std::string vae_dtype = "auto";
  std::string taesd_path;       // optional AutoencoderTiny folder for previews
  std::string tokenizer_dir;    // CLIP vocab.json + merges.txt for single-file checkpoints (they carry none)
};

class EngineImpl;
class Engine {
 public:
  explicit Engine(const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  ModelInfo load_model(const std::string& name, const std::string& path);  // throws sdpp::Error
  std::vector<ModelInfo> models() const;
  static std::vector<std::string> list_samplers();

  // Validates (throws Error(InvalidArgument) naming the field and limit), then runs. `cancel` is polled between
  // steps; a set flag ends the call with Error(Cancelled).
  Result generate(const GenerationRequest& request, const ProgressCallback& on_progress = {},
                  const std::atomic<bool>* cancel = nullptr);

 private:
  std::unique_ptr<EngineImpl> impl_;
};

}  // namespace sdpp
