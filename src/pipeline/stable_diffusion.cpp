#include "pipeline/stable_diffusion.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "backend/backend.h"
#include "core/env_flag.h"
#include "core/error.h"
#include "core/rng.h"
#include "pipeline/non_finite.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/scheduler.h"

namespace sdpp {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Repeats a [1, ...] tensor to [n, ...] (diffusers' .repeat for num_images_per_prompt).
Tensor repeat_batch(const Tensor& x, int64_t n) {
  if (n == 1) return x;
  std::vector<Tensor> copies(size_t(n), x);
  return ops::concat(copies, 0);
}

// Guided calls give the UNet their latents once, as a guidance pair (models/guidance_pair.h); SDPP_GUIDANCE_PAIR=0
// gives them twice, as diffusers does (no shared prefix), to compare the two.
bool guidance_pair_enabled() { return !env_is("SDPP_GUIDANCE_PAIR", "0"); }

Tensor cat_batch(const Tensor& a, const Tensor& b) {
  const Tensor parts[] = {a, b};
  return ops::concat(parts, 0);
}

// Moves the model's VAE work to an f32 copy after a reduced-precision `what` ("encode", "decode") gave NaN or inf:
// activations past f16's range, which A1111 users meet and answer with --no-half-vae. Already in f32, it is an error.
void fall_back_to_f32_vae(const Components& c, const char* what) {
  if (c.vae_in_use_dtype() == DType::F32) {
    throw Error(ErrorCode::NonFinite,
                std::string("the VAE ") + what + " produced NaN or inf in f32 (broken VAE weights or input)");
  }
  std::fprintf(stderr, "sdpp: the VAE %s in %s produced NaN or inf; the VAE runs in f32 from now on for %s\n", what,
               dtype_name(c.vae_in_use_dtype()), c.path.string().c_str());
  load_f32_vae(c);
}

// Runs `work` on the VAE in use; a result `finite` rejects (NaN or inf) from an f16/bf16 VAE moves the model to its
// f32 copy and runs `work` again.
template <class Work, class Finite>
auto with_f32_vae_fallback(const Components& c, const char* what, const Work& work, const Finite& finite) {
  auto result = work();
  if (finite(result)) return result;
  fall_back_to_f32_vae(c, what);
  result = work();
  if (!finite(result)) {
    throw Error(ErrorCode::NonFinite,
                std::string("the VAE ") + what + " produced NaN or inf, in f32 too (broken VAE weights or input)");
  }
  return result;
}

// The final decode, postprocessed as diffusers does ((x / 2 + 0.5).clamp(0, 1)) and brought to the host; clamp keeps
// NaN, so an overflow is seen. Never a black image.
Tensor decode_image(const Components& c, const Tensor& latents) {
  auto decode = [&] {
    const Tensor raw = ops::scale(latents.to(c.vae_in_use_dtype()), 1.0f / c.vae->config().scaling_factor);
    return ops::clamp(ops::scale(c.recorded_decode_in_use().run({raw}), 0.5f, 0.5f), 0.0f, 1.0f).cpu_f32();
  };
  return with_f32_vae_fallback(c, "decode", decode, [](const Tensor& image) { return all_finite(image); });
}

// The VAE's posterior of an image, checked before any noise is drawn, so that an encode redone in f32 after an
// f16/bf16 overflow leaves the generator where diffusers' order expects it.
DiagonalGaussian encode_posterior(const Components& c, const Tensor& image) {
  auto encode = [&] { return c.vae_in_use().encode(image.to(c.device).to(c.vae_in_use_dtype())); };
  auto finite = [](const DiagonalGaussian& p) { return all_finite(p.mean.cpu_f32()) && all_finite(p.logvar.cpu_f32()); };
  return with_f32_vae_fallback(c, "encode", encode, finite);
}

// The VAE's posterior sample of an image, scaled into UNet latent space; draws its noise from `generator` first, as
// diffusers' retrieve_latents(vae.encode(image), generator) does.
Tensor encode_image(const Components& c, const Tensor& image, Generator& generator) {
  const DiagonalGaussian posterior = encode_posterior(c, image);
  const Tensor noise = generator.randn(posterior.mean.shape(), c.device).to(posterior.mean.dtype());
  return ops::scale(posterior.sample(noise), c.vae->config().scaling_factor).to(DType::F32);
}

// torch.nn.functional.interpolate(mask, size=(h, w)) in its default nearest mode: source index floor(i * in / out).
Tensor downsample_mask_nearest(const Tensor& mask, int64_t h, int64_t w) {
  const Tensor m = mask.cpu_f32();
  const int64_t H = m.dim(2), W = m.dim(3);
  Tensor out = Tensor::empty({1, 1, h, w});
  const float* src = m.f32();
  float* dst = out.f32();
  for (int64_t y = 0; y < h; ++y) {
    const int64_t sy = std::min(H - 1, int64_t(std::floor(double(y) * double(H) / double(h))));
    for (int64_t x = 0; x < w; ++x) {
      const int64_t sx = std::min(W - 1, int64_t(std::floor(double(x) * double(W) / double(w))));
      dst[y * w + x] = src[sy * W + sx];
    }
  }
  return out;
}

// `mask` [1, 1, h, w] broadcast to [n, c, h, w] (our elementwise ops broadcast only along fixed patterns).
Tensor expand_mask(const Tensor& mask, int64_t n, int64_t c) {
  const Tensor m = mask.cpu_f32();
  const int64_t hw = m.numel();
  Tensor out = Tensor::empty({n, c, m.dim(2), m.dim(3)});
  for (int64_t i = 0; i < n * c; ++i) std::copy(m.f32(), m.f32() + hw, out.f32() + i * hw);
  return out;
}

// alphas_cumprod at a (possibly fractional) timestep, linearly interpolated: for the x0 estimate behind previews.
double alpha_cumprod_at(const std::vector<double>& alphas_cumprod, double t) {
  const double clamped = std::clamp(t, 0.0, double(alphas_cumprod.size() - 1));
  const size_t lo = size_t(std::floor(clamped));
  const size_t hi = std::min(lo + 1, alphas_cumprod.size() - 1);
  const double frac = clamped - double(lo);
  return alphas_cumprod[lo] * (1 - frac) + alphas_cumprod[hi] * frac;
}

}  // namespace

PipelineOutput run_pipeline(const Components& c, const PipelineParams& p, const PipelineControl& control) {
  if (!c.unet || !c.vae) throw Error(ErrorCode::Internal, "model components are not loaded");
  const auto start = Clock::now();
  const bool cfg = p.guidance_scale > 1.0f && c.unet->config().time_cond_proj_dim == 0;
  const bool has_image = p.init_image.defined();
  const bool inpaint = has_image && p.mask.defined();
  const bool nine_channel = c.is_inpainting();
  if (nine_channel && !inpaint)
    throw Error(ErrorCode::InvalidArgument, "this is an inpainting model: it needs an init image and a mask");
  const int64_t n = p.batch;
  const int f = c.vae_scale_factor();
  const int64_t h = p.height / f, w = p.width / f;
  const int64_t latent_channels = c.vae->config().latent_channels;

  PipelineOutput out;
  PromptOptions prompt_options;
  prompt_options.classifier_free_guidance = cfg;
  prompt_options.clip_skip = p.clip_skip;
  out.embeddings = encode_prompt(c, p.prompt, p.negative_prompt, prompt_options);
  const PromptEmbeddings& e = out.embeddings;
  Tensor context = repeat_batch(e.prompt, n);
  if (cfg) context = cat_batch(repeat_batch(e.negative, n), context);
  nn::UNetAddedCond added;
  if (c.is_sdxl()) {
    // time_ids = original size + crop top-left + target size, all (height, width) of the output, as diffusers' default.
    const std::vector<float> ids = {float(p.height), float(p.width), 0.f, 0.f, float(p.height), float(p.width)};
    const Tensor time_ids = Tensor::from_floats(ids, {1, 6});
    added.text_embeds = repeat_batch(e.pooled, n);
    added.time_ids = repeat_batch(time_ids, n);
    if (cfg) {
      added.text_embeds = cat_batch(repeat_batch(e.negative_pooled, n), added.text_embeds);
      added.time_ids = cat_batch(added.time_ids, added.time_ids);
    }
    // time_ids stay on the host: the UNet only projects them there (UNet2DConditionModel::project_time).
  }
  out.encode_seconds = seconds_since(start);
  const auto denoise_start = Clock::now();

  auto scheduler = !p.scheduler_config.is_null() ? schedulers::make_scheduler(p.scheduler_config)
                   : p.sampler.empty()             ? schedulers::make_scheduler(c.scheduler_config)
                                                   : schedulers::make_scheduler_by_name(p.sampler, c.scheduler_config);
  scheduler->set_timesteps(p.steps);
  const int begin = has_image ? scheduler->begin_index_for_strength(p.strength) : 0;
  const int calls = int(scheduler->timesteps().size());
  if (begin >= calls)
    throw Error(ErrorCode::InvalidArgument, "strength " + std::to_string(p.strength) + " with " + std::to_string(p.steps) +
                                                " steps leaves no denoising step; raise strength or steps",
                "strength");

  auto generator = make_cpu_generator(p.seed);
  const Shape latent_shape = {n, latent_channels, h, w};
  const bool strength_max = p.strength >= 1.0f;
  // Latents and the scheduler's arithmetic stay in f32 whatever the model dtype (only the UNet's inputs are cast):
  // rounding the latents to f16/bf16 at every step drifts visibly from the reference.
  Tensor latents, noise, image_latents, mask_latent, masked_image_latents;
  if (!has_image) {
    noise = generator->randn(latent_shape, c.device);
    latents = ops::scale(noise, float(scheduler->init_noise_sigma()));
  } else {
    // img2img always, inpainting for 4-channel models (the blend needs them) or when the start is not pure noise.
    if (!inpaint || !nine_channel || !strength_max) image_latents = repeat_batch(encode_image(c, p.init_image, *generator), n);
    noise = generator->randn(latent_shape, c.device);
    latents = inpaint && strength_max ? ops::scale(noise, float(scheduler->init_noise_sigma()))
                                      : scheduler->add_noise(image_latents, noise, begin);
  }
  if (inpaint) {
    // masked image = init * (mask < 0.5); its latents condition 9-channel models (diffusers encodes it either way).
    Tensor keep = ops::scale(p.mask.cpu_f32(), -1.0f, 1.0f);  // 1 where kept
    const Tensor keep3[] = {keep, keep, keep};
    const Tensor masked = ops::mul(p.init_image.cpu_f32(), ops::concat(keep3, 1));
    masked_image_latents = repeat_batch(encode_image(c, masked, *generator), n);
    mask_latent = downsample_mask_nearest(p.mask, h, w);
  }
  const int64_t model_batch = cfg ? 2 * n : n;
  // The UNet's sample rows: one per latent for a guidance pair (or no guidance), else the latents twice.
  const int64_t sample_copies = cfg && !guidance_pair_enabled() ? 2 : 1;
  Tensor unet_mask, unet_masked_latents, blend_mask;
  if (inpaint && nine_channel) {  // per latent: a guidance pair shares them as it shares the latents
    unet_mask = expand_mask(mask_latent, sample_copies * n, 1).to(c.device).to(c.dtype);
    unet_masked_latents = repeat_batch(masked_image_latents, sample_copies).to(c.dtype);
  } else if (inpaint) {
    blend_mask = expand_mask(mask_latent, n, latent_channels).to(c.device);
  }

  // Progress counts sampler steps, not model calls, as diffusers' progress bar does: PNDM's warm-up call and the
  // second call of two-stage samplers (heun, dpm2) are not steps of their own.
  const int order = scheduler->order();
  const int total_steps = p.steps - begin / order;
  const int warmup_calls = (calls - begin) - total_steps * order;
  const auto alphas = schedulers::make_noise_schedule(scheduler->config(), schedulers::ZeroSnr::Ignore).alphas_cumprod;
  const bool v_prediction = scheduler->config().prediction_type == schedulers::PredictionType::VPrediction;
  const float g = p.guidance_scale;
  // Every step's time terms (the time embedding and each resnet's projection of it) are made before the loop, from one
  // upload of the timesteps' projections: the loop never waits on the host, and no step embeds its timestep.
  std::vector<float> loop_timesteps;
  for (int i = begin; i < calls; ++i)
    loop_timesteps.insert(loop_timesteps.end(), size_t(model_batch), float(scheduler->timesteps()[size_t(i)]));
  if (c.is_sdxl()) {  // SDXL's conditioning for every row of every call
    added.time_ids = repeat_batch(added.time_ids, calls - begin);
    added.text_embeds = repeat_batch(added.text_embeds, calls - begin);
  }
  const int64_t loop_rows = int64_t(loop_timesteps.size());
  const nn::UNetAddedCond* loop_added = c.is_sdxl() ? &added : nullptr;
  const nn::UNetTimeTerms loop_terms = c.recorded_unet->time_terms(
      c.unet->project_time(Tensor::from_floats(loop_timesteps, {loop_rows}), loop_rows, loop_added), model_batch,
      loop_added);
  out.prepare_seconds = seconds_since(denoise_start);
  for (int i = begin; i < calls; ++i) {
    if (control.cancel && control.cancel->load()) throw Error(ErrorCode::Cancelled, "generation cancelled");
    const double t = scheduler->timesteps()[size_t(i)];
    const Tensor scaled = scheduler->scale_model_input(latents, i);
    const Tensor scaled_model = scaled.to(c.dtype);
    // With guidance the call is a pair (models/guidance_pair.h): the latents once, for both halves of the context's
    // batch, whose first layers then run once.
    Tensor model_input = repeat_batch(scaled_model, sample_copies);
    if (unet_mask.defined()) {
      const Tensor parts[] = {model_input, unet_mask, unet_masked_latents};
      model_input = ops::concat(parts, 1);
    }
    const Tensor output = c.recorded_unet->forward(model_input, loop_terms.call(i - begin), context).to(DType::F32);
    // Classifier-free guidance, uncond + g * (text - uncond), left as two weighted terms: the scheduler folds them
    // into its own update (schedulers::Update), so guidance adds no pass over the latents.
    schedulers::Update prediction;
    if (cfg)
      prediction.add(output.narrow0(0, n), 1.0 - g).add(output.narrow0(n, n), g);
    else
      prediction.add(output, 1.0);
    latents = scheduler->step(prediction, i, latents, generator.get());
    if (blend_mask.defined()) {
      // 4-channel inpainting: keep the (re-noised) original outside the mask.
      const Tensor original = i + 1 < calls ? scheduler->add_noise(image_latents, noise, i + 1) : image_latents;
      const Tensor diff[] = {latents, original};
      const double signs[] = {1.0, -1.0};
      latents = ops::add(original, ops::mul(blend_mask, ops::lincomb(diff, signs)));
    }
    const int call = i - begin + 1;
    if (control.on_step && call > warmup_calls && (call - warmup_calls) % order == 0) {
      const double a = alpha_cumprod_at(alphas, t);
      const double x0_of_sample = v_prediction ? std::sqrt(a) : 1.0 / std::sqrt(a);
      const double x0_of_output = v_prediction ? -std::sqrt(1.0 - a) : -std::sqrt(1.0 - a) / std::sqrt(a);
      const Tensor denoised = schedulers::Update().add(scaled, x0_of_sample).add(prediction, x0_of_output).eval();
      StepInfo info;
      info.step = (call - warmup_calls) / order;
      info.total = total_steps;
      info.timestep = t;
      info.latents = &latents;
      info.denoised = &denoised;
      control.on_step(info);
    }
  }
  out.final_latents = latents.cpu_f32();
  if (!all_finite(out.final_latents)) {
    throw Error(ErrorCode::NonFinite,
                std::string("the denoising loop produced NaN or inf latents (UNet in ") + dtype_name(c.dtype) + ")" +
                    (c.dtype == DType::F16 ? "; bf16 keeps f32's range: try --dtype bf16 or f32" : ""));
  }
  out.denoise_seconds = seconds_since(denoise_start);
  out.unet_calls = calls - begin;
  if (!control.decode) {
    backend_for(c.device).release_unused_memory();
    return out;
  }

  const auto decode_start = Clock::now();
  out.image = decode_image(c, latents);
  // One image's transient memory (the first image's eager runs above all) is not kept reserved beside the recordings.
  backend_for(c.device).release_unused_memory();
  out.decode_seconds = seconds_since(decode_start);
  return out;
}

}  // namespace sdpp
