// sdpp::Engine (include/sdpp/engine.h): loaded models by name, request validation and defaults, the pipeline run,
// previews and PNG encoding with the infotext.
#include "sdpp/engine.h"

#include <chrono>

#include "core/error.h"
#include "image/image_tensor.h"
#include "image/image_io.h"
#include "pipeline/components.h"
#include "pipeline/infotext.h"
#include "pipeline/preview.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/validation.h"
#include "schedulers/scheduler.h"

namespace sdpp {

struct LoadedModel {
  ModelInfo info;
  std::unique_ptr<Components> components;
};

class EngineImpl {
 public:
  explicit EngineImpl(const EngineOptions& options)
      : options(options),
        device(Device::parse(options.device)),
        dtype(parse_model_dtype("dtype", options.dtype).value_or(device.is_cpu() ? DType::F32 : DType::F16)),
        vae_dtype(parse_model_dtype("vae_dtype", options.vae_dtype)) {}

  LoadedModel& find(const std::string& name) {
    if (models.empty()) throw Error(ErrorCode::NotFound, "no model is loaded");
    if (name.empty()) return models.front();
    for (auto& m : models)
      if (m.info.name == name) return m;
    std::string known;
    for (const auto& m : models) known += (known.empty() ? "" : ", ") + m.info.name;
    throw Error(ErrorCode::InvalidArgument, "unknown model '" + name + "' (loaded: " + known + ")");
  }

  EngineOptions options;
  Device device;
  DType dtype;
  std::optional<DType> vae_dtype;  // unset: the model dtype (bf16 for SDXL's VAE where that is f16)
  std::vector<LoadedModel> models;
};

Engine::Engine(const EngineOptions& options) : impl_(std::make_unique<EngineImpl>(options)) {}
Engine::~Engine() = default;

ModelInfo Engine::load_model(const std::string& name, const std::string& path) {
  for (const auto& m : impl_->models)
    if (m.info.name == name) throw Error(ErrorCode::InvalidArgument, "a model named '" + name + "' is already loaded");
  const Checkpoint checkpoint = open_checkpoint(path);
  ComponentsOptions options;
  options.device = impl_->device;
  options.dtype = impl_->dtype;
  options.vae_dtype = impl_->vae_dtype;
  options.tokenizer_dir = impl_->options.tokenizer_dir;
  options.taesd_dir = impl_->options.taesd_path;
  LoadedModel model;
  model.components = load_components(checkpoint, options);
  const Components& c = *model.components;
  model.info.name = name;
  model.info.path = path;
  model.info.family = family_name(c.family);
  // diffusers' default size: the UNet's sample_size in pixels (512 SD 1.x, 768 SD 2.x-v, 1024 SDXL).
  const int size = int(c.unet->config().sample_size) * c.vae_scale_factor();
  model.info.default_width = model.info.default_height = size;
  model.info.default_steps = 20;
  model.info.default_cfg_scale = c.is_sdxl() ? 5.0f : 7.5f;
  model.info.inpainting = c.is_inpainting();
  impl_->models.push_back(std::move(model));
  return impl_->models.back().info;
}

std::vector<ModelInfo> Engine::models() const {
  std::vector<ModelInfo> infos;
  for (const auto& m : impl_->models) infos.push_back(m.info);
  return infos;
}

std::vector<std::string> Engine::list_samplers() {
  std::vector<std::string> names;
  for (const auto& s : schedulers::list_samplers()) names.push_back(s.name);
  return names;
}

Result Engine::generate(const GenerationRequest& request, const ProgressCallback& on_progress,
                        const std::atomic<bool>* cancel) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  LoadedModel& model = impl_->find(request.model);
  const Components& c = *model.components;
  const ResolvedRequest r = resolve_request(request, model.info, c);

  PipelineParams params;
  params.prompt = request.prompt;
  params.negative_prompt = request.negative_prompt;
  params.width = r.width;
  params.height = r.height;
  params.steps = r.steps;
  params.guidance_scale = r.cfg_scale;
  params.seed = r.seed;
  params.sampler = request.sampler;
  params.batch = request.batch;
  params.strength = request.init_image ? request.strength : 1.0f;
  params.clip_skip = request.clip_skip;
  if (request.init_image) params.init_image = preprocess_image(*request.init_image, r.width, r.height);
  if (request.mask) params.mask = preprocess_mask(*request.mask, r.width, r.height);

  const PreviewMethod preview_method = parse_preview_method(request.preview_method);
  std::optional<PreviewRenderer> previews;
  if (request.preview_every > 0 && on_progress) previews.emplace(c, preview_method);
  PipelineControl control;
  control.cancel = cancel;
  const auto loop_start = Clock::now();
  control.on_step = [&](const StepInfo& step) {
    if (!on_progress) return;
    Progress progress;
    progress.step = step.step;
    progress.total = step.total;
    const double elapsed = std::chrono::duration<double>(Clock::now() - loop_start).count();
    progress.it_per_s = elapsed > 0 ? step.step / elapsed : 0;
    progress.eta_s = progress.it_per_s > 0 ? (step.total - step.step) / progress.it_per_s : 0;
    Image preview;
    // every preview_every steps, and at the last step so a viewer ends on the final latents before the decode
    if (previews && (step.step % request.preview_every == 0 || step.step == step.total)) {
      preview = previews->render(*step.denoised);
      progress.preview = &preview;
    }
    on_progress(progress);
  };
  PipelineOutput output = run_pipeline(c, params, control);

  Infotext info;
  info.prompt = request.prompt;
  info.negative_prompt = request.negative_prompt;
  info.steps = r.steps;
  info.sampler = r.sampler_display_name;
  info.cfg_scale = r.cfg_scale;
  info.width = r.width;
  info.height = r.height;
  info.model = model.info.name;
  info.denoising_strength = request.init_image ? request.strength : -1.0f;
  info.clip_skip = request.clip_skip;
  info.version = "sdpp " SDPP_VERSION_STRING;

  Result result;
  result.seed = r.seed;
  for (int i = 0; i < request.batch; ++i) {
    // A1111 numbers the images of a batch with consecutive seeds in its infotext; ours share one noise draw (as
    // diffusers), so each records the request seed and its index.
    info.seed = r.seed;
    const std::string text = info.format() + (request.batch > 1 ? ", Batch pos: " + std::to_string(i) : "");
    result.images.push_back(tensor_to_image(output.image, i));
    result.png.push_back(encode_png(result.images.back(), {{"parameters", text}}));
    if (i == 0) result.infotext = text;
  }
  result.timings.text_encode_s = output.encode_seconds;
  result.timings.denoise_s = output.denoise_seconds;
  result.timings.decode_s = output.decode_seconds;
  result.timings.total_s = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace sdpp
