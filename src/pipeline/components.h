// A loaded model: every component of one checkpoint on one device, ready for the pipelines.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "models/clip_text.h"
#include "models/unet_2d_condition.h"
#include "models/vae.h"
#include "models/vae_tiny.h"
#include "pipeline/recorded_text_encoder.h"
#include "pipeline/recorded_unet.h"
#include "text/clip_tokenizer.h"

namespace sdpp {

struct LatentRgbProjection;

struct ComponentsOptions {
  Device device = Device::cpu();
  DType dtype = DType::F32;
  // VAE dtype: SDXL's VAE overflows in f16, so "auto" runs it in bf16 there (f32 on the cpu).
  std::optional<DType> vae_dtype;
  // Tokenizer folder (vocab.json + merges.txt) for single-file checkpoints, which carry none.
  std::filesystem::path tokenizer_dir;
  std::filesystem::path taesd_dir;  // optional AutoencoderTiny folder (cheap previews)
  bool load_vae_encoder = true;     // img2img / inpaint need it
};

struct Components {
  std::filesystem::path path;
  ModelFamily family = ModelFamily::Unknown;
  Device device;
  DType dtype = DType::F32;
  DType vae_dtype = DType::F32;
  std::unique_ptr<ClipTokenizer> tokenizer;
  std::unique_ptr<ClipTokenizer> tokenizer_2;  // SDXL
  std::unique_ptr<ClipTextModel> text_encoder;
  std::unique_ptr<ClipTextModel> text_encoder_2;  // SDXL (with projection)
  // The text encoders as the prompt encoding calls them: the CFG pair as one batch, layers recorded and replayed.
  std::unique_ptr<RecordedTextEncoder> recorded_text_encoder;
  std::unique_ptr<RecordedTextEncoder> recorded_text_encoder_2;  // SDXL
  std::unique_ptr<nn::UNet2DConditionModel> unet;
  // The denoising loop's way to call the unet: replays a recorded forward per shape where the device can record.
  std::unique_ptr<RecordedUNet> recorded_unet;
  std::unique_ptr<AutoencoderKL> vae;
  // vae->decode(latents) as the pipeline calls it: recorded per shape and replayed where the device can record.
  std::unique_ptr<RecordedCall> recorded_vae_decode;
  // An f32 copy of the VAE (its encoder too where `vae` has one), loaded from `path` the first time a
  // reduced-precision encode or decode gives NaN or inf (load_f32_vae); from then on this model's VAE work runs on it,
  // as A1111's --no-half-vae would.
  mutable std::unique_ptr<AutoencoderKL> vae_f32;
  mutable std::unique_ptr<RecordedCall> recorded_vae_f32_decode;
  std::unique_ptr<AutoencoderTiny> taesd;
  nlohmann::json scheduler_config;  // the model's, or the family default for single files
  // The approximate-preview projection (pipeline/preview.h), fitted on first use.
  mutable std::once_flag preview_fit_once;
  mutable std::shared_ptr<const LatentRgbProjection> preview_projection;

  bool is_sdxl() const { return family == ModelFamily::SDXL; }
  bool is_inpainting() const { return unet && unet->config().in_channels == 9; }
  int vae_scale_factor() const { return vae ? vae->downscale_factor() : 8; }
  // The VAE that encodes and decodes images and previews, the dtype its input takes, and its recorded decode.
  const AutoencoderKL& vae_in_use() const { return vae_f32 ? *vae_f32 : *vae; }
  DType vae_in_use_dtype() const { return vae_f32 ? DType::F32 : vae_dtype; }
  RecordedCall& recorded_decode_in_use() const { return vae_f32 ? *recorded_vae_f32_decode : *recorded_vae_decode; }
};

// A dtype option as users give it: "auto" is nullopt (the caller's default); f32, f16 and bf16 are the storage types
// the models run in. Anything else throws InvalidArgument naming `option` (e.g. "--dtype", "vae_dtype").
std::optional<DType> parse_model_dtype(const std::string& option, const std::string& value);

// Loads every component of `checkpoint` (a Checkpoint from open_checkpoint()). Throws sdpp::Error naming what is missing.
std::unique_ptr<Components> load_components(const Checkpoint& checkpoint, const ComponentsOptions& options);

// Loads vae_f32 and recorded_vae_f32_decode from the checkpoint at c.path (the caller serialises, as for generation).
void load_f32_vae(const Components& c);

// The scheduler config a family's original release shipped (used for single-file checkpoints).
nlohmann::json default_scheduler_config(ModelFamily family);

}  // namespace sdpp
