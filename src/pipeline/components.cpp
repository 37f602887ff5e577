#include "pipeline/components.h"

#include "core/error.h"

namespace sdpp {
namespace {

std::unique_ptr<ClipTokenizer> load_tokenizer(const std::filesystem::path& dir, const std::filesystem::path& fallback,
                                              const std::string& pad_token, const char* which) {
  if (!dir.empty()) return std::make_unique<ClipTokenizer>(ClipTokenizer::load(dir));
  if (fallback.empty())
    throw Error(ErrorCode::InvalidArgument,
                std::string("a single-file checkpoint carries no ") + which +
                    ": give a tokenizer folder (vocab.json + merges.txt), e.g. --tokenizer DIR");
  // Single files: the user's CLIP vocabulary, with the pad token the family's encoder was trained with.
  ClipTokenizer tokenizer = ClipTokenizer::load(fallback);
  if (!pad_token.empty()) tokenizer.set_pad_token(pad_token);
  return std::make_unique<ClipTokenizer>(std::move(tokenizer));
}

// vae.decode(latents) as the pipeline calls it: recorded per shape, replayed where the device can record.
std::unique_ptr<RecordedCall> recorded_decode(const char* name, Device device, const AutoencoderKL& vae) {
  return std::make_unique<RecordedCall>(name, device,
                                        [&vae](const std::vector<Tensor>& in) { return vae.decode(in[0]); });
}

}  // namespace

nlohmann::json default_scheduler_config(ModelFamily family) {
  nlohmann::json config = {{"num_train_timesteps", 1000}, {"beta_start", 0.00085},     {"beta_end", 0.012},
                           {"beta_schedule", "scaled_linear"}, {"steps_offset", 1},   {"set_alpha_to_one", false},
                           {"clip_sample", false}};
  switch (family) {
    case ModelFamily::SD2:  // the 768-v release (the common SD 2.x single file) predicts v
      config["_class_name"] = "DDIMScheduler";
      config["prediction_type"] = "v_prediction";
      break;
    case ModelFamily::SDXL:
      config["_class_name"] = "EulerDiscreteScheduler";
      config["timestep_spacing"] = "leading";
      break;
    default:
      config["_class_name"] = "PNDMScheduler";
      config["skip_prk_steps"] = true;
      break;
  }
  return config;
}

std::optional<DType> parse_model_dtype(const std::string& option, const std::string& value) {
  if (value == "auto") return std::nullopt;
  DType dtype = DType::F32;
  if (!parse_dtype(value, &dtype) || !(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16))
    throw Error(ErrorCode::InvalidArgument, option + " must be auto, f32, f16 or bf16, got '" + value + "'");
  return dtype;
}

std::unique_ptr<Components> load_components(const Checkpoint& ckpt, const ComponentsOptions& options) {
  if (!ckpt.unet || !ckpt.vae || !ckpt.text_encoder)
    throw Error(ErrorCode::BadFile, ckpt.path.string() + " is not a complete Stable Diffusion model (needs unet, vae "
                                                         "and text_encoder)");
  if (ckpt.family == ModelFamily::SDXL && !ckpt.text_encoder_2)
    throw Error(ErrorCode::BadFile, ckpt.path.string() + ": SDXL model without text_encoder_2");
  auto c = std::make_unique<Components>();
  c->path = ckpt.path;
  c->family = ckpt.family;
  c->device = options.device;
  c->dtype = options.dtype;
  // SDXL's VAE overflows in f16; bf16 keeps f32's range. Everything else runs the VAE in the model dtype.
  c->vae_dtype = options.vae_dtype.value_or(
      ckpt.family == ModelFamily::SDXL && options.dtype == DType::F16 ? DType::BF16 : options.dtype);

  const bool sd2_style_pad = ckpt.family == ModelFamily::SD2;
  c->tokenizer = load_tokenizer(ckpt.tokenizer_dir, options.tokenizer_dir, sd2_style_pad ? "!" : "", "tokenizer");
  auto load = [&](const auto& component, DType dtype) { return WeightLoader(component.weights, options.device, dtype); };
  c->text_encoder = std::make_unique<ClipTextModel>(ckpt.text_encoder->config, load(*ckpt.text_encoder, options.dtype));
  c->recorded_text_encoder = std::make_unique<RecordedTextEncoder>(*c->text_encoder, c->device);
  if (ckpt.text_encoder_2) {
    c->tokenizer_2 = load_tokenizer(ckpt.tokenizer_2_dir, options.tokenizer_dir, "!", "tokenizer_2");
    c->text_encoder_2 =
        std::make_unique<ClipTextModel>(ckpt.text_encoder_2->config, load(*ckpt.text_encoder_2, options.dtype));
    c->recorded_text_encoder_2 = std::make_unique<RecordedTextEncoder>(*c->text_encoder_2, c->device);
  }
  c->unet = std::make_unique<nn::UNet2DConditionModel>(load(*ckpt.unet, options.dtype), ckpt.unet->config);
  c->recorded_unet = std::make_unique<RecordedUNet>(*c->unet);
  AutoencoderKLOptions vae_options;
  vae_options.load_encoder = options.load_vae_encoder;
  c->vae = std::make_unique<AutoencoderKL>(ckpt.vae->config, load(*ckpt.vae, c->vae_dtype), vae_options);
  c->recorded_vae_decode = recorded_decode("the VAE decode", c->device, *c->vae);
  if (!options.taesd_dir.empty()) {
    const Checkpoint taesd = open_checkpoint(options.taesd_dir);
    if (!taesd.taesd) throw Error(ErrorCode::BadFile, options.taesd_dir.string() + " is not an AutoencoderTiny folder");
    c->taesd = std::make_unique<AutoencoderTiny>(taesd.taesd->config, load(*taesd.taesd, c->vae_dtype), false);
  }
  c->scheduler_config = ckpt.scheduler_config.is_null() ? default_scheduler_config(ckpt.family) : ckpt.scheduler_config;
  return c;
}

void load_f32_vae(const Components& c) {
  const Checkpoint ckpt = open_checkpoint(c.path);
  if (!ckpt.vae) throw Error(ErrorCode::BadFile, c.path.string() + " no longer holds a VAE");
  AutoencoderKLOptions options;
  options.load_encoder = c.vae->has_encoder();
  c.vae_f32 = std::make_unique<AutoencoderKL>(ckpt.vae->config, WeightLoader(ckpt.vae->weights, c.device, DType::F32),
                                              options);
  c.recorded_vae_f32_decode = recorded_decode("the f32 VAE decode", c.device, *c.vae_f32);
}

}  // namespace sdpp
