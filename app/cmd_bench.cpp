// `sdpp bench`: per-component medians (text encoder, one UNet step with the CFG batch, VAE decode, previews) and
// end-to-end seconds per image for one model / size / step count. Warm-up runs are excluded; every timed region
// ends with a device synchronisation.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>

#include "backend/backend.h"
#include "commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/checkpoint.h"
#include "pipeline/components.h"
#include "pipeline/preview.h"
#include "pipeline/prompt_encoder.h"
#include "pipeline/stable_diffusion.h"
#include "pipeline/validation.h"

namespace sdpp {
namespace {

struct BenchArgs {
  std::string model, device = "cpu", dtype = "auto", vae_dtype = "auto", taesd, tokenizer, sampler;
  int width = 0, height = 0, steps = 20, warmup = 2, repeats = 10, e2e_repeats = 3, preview_every = 5;
  bool skip_e2e = false, profile = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median seconds of `fn` over `repeats` runs after `warmup` untimed ones.
double time_median(const std::function<void()>& fn, Backend& backend, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  backend.synchronize();
  std::vector<double> samples;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    backend.synchronize();
    samples.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return median(samples);
}

// Counts a user gives: each within [low, high], else a typed error naming the option (exit status 1).
void check_count(const char* option, int value, int low, int high) {
  if (value < low || value > high) {
    throw Error(ErrorCode::InvalidArgument, std::string(option) + ": must be between " + std::to_string(low) + " and " +
                                                std::to_string(high) + ", got " + std::to_string(value));
  }
}

std::string mib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / 1048576.0);
  return text;
}

// Samples the device's memory in use (every process, CUDA context included) about every millisecond on a thread of
// its own: the allocators' own peaks (MemoryStats) cannot say which of their reservations coexisted.
class DeviceMemorySampler {
 public:
  explicit DeviceMemorySampler(Backend& backend) : backend_(backend), thread_([this] { loop(); }) {}
  ~DeviceMemorySampler() {
    stop_ = true;
    thread_.join();
  }
  size_t peak() const { return peak_; }

 private:
  void loop() {
    while (!stop_) {
      const size_t used = backend_.memory_stats().device_used_bytes;
      if (used > peak_) peak_ = used;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  Backend& backend_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> peak_{0};
  std::thread thread_;
};

void run_bench(const BenchArgs& a) {
  check_count("--steps", a.steps, 1, RequestLimits{}.max_steps);
  check_count("--warmup", a.warmup, 0, 1000);
  check_count("--repeats", a.repeats, 1, 10000);  // a median needs one sample
  check_count("--e2e-repeats", a.e2e_repeats, 1, 1000);
  check_count("--preview-every", a.preview_every, 0, 150);
  // The backend reads this when it is created, below; it adds two events around every op, so --profile times nothing.
  if (a.profile) setenv("SDPP_CUDA_PROFILE", "1", 1);
  ComponentsOptions options;
  options.device = Device::parse(a.device);
  options.dtype = parse_model_dtype("--dtype", a.dtype).value_or(options.device.is_cpu() ? DType::F32 : DType::F16);
  options.vae_dtype = parse_model_dtype("--vae-dtype", a.vae_dtype);
  options.tokenizer_dir = a.tokenizer;
  options.taesd_dir = a.taesd;
  // The backend (its context, library handles and workspace) exists before loading: the baseline of device memory.
  const size_t baseline_used = backend_for(options.device).memory_stats().device_used_bytes;
  std::optional<DeviceMemorySampler> sampler;
  if (baseline_used) sampler.emplace(backend_for(options.device));
  const auto load_start = std::chrono::steady_clock::now();
  const auto components = load_components(open_checkpoint(a.model), options);
  const Components& c = *components;
  Backend& backend = backend_for(c.device);
  backend.synchronize();
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  const int f = c.vae_scale_factor();
  // 0 takes the model's native size; anything else must be an image size the pipeline accepts.
  if (a.width) check_image_size("--width", a.width, f);
  if (a.height) check_image_size("--height", a.height, f);
  const int width = a.width ? a.width : int(c.unet->config().sample_size) * f;
  const int height = a.height ? a.height : int(c.unet->config().sample_size) * f;
  const int64_t h = height / f, w = width / f;
  std::printf("model %s  family %s  device %s  dtype %s  size %dx%d  load %.2f s\n", a.model.c_str(),
              family_name(c.family), c.device.str().c_str(), dtype_name(c.dtype), width, height, load_s);
  const MemoryStats loaded_memory = backend.memory_stats();
  backend.reset_memory_peak();

  const std::string prompt = "a photograph of an astronaut riding a horse";
  PipelineParams params;
  params.prompt = prompt;
  params.width = width;
  params.height = height;
  params.steps = a.steps;
  params.guidance_scale = c.is_sdxl() ? 5.0f : 7.5f;
  params.sampler = a.sampler;
  PipelineControl control;
  const PreviewRenderer approx(c, PreviewMethod::Approx);
  // previews every N steps, as a request with preview_every = N makes them
  control.on_step = [&](const StepInfo& step) {
    if (a.preview_every > 0 && step.step % a.preview_every == 0) approx.render(*step.denoised);
  };
  if (!a.skip_e2e && !a.profile) {
    // Whole images first, right after loading, so the memory figures below are those of loading and generating
    // alone. The first image pays every one-time cost (algorithm choices, recordings).
    const int64_t timed_before = backend.timed_choices();
    const auto first_start = std::chrono::steady_clock::now();
    const PipelineOutput first = run_pipeline(c, params, control);
    backend.synchronize();
    const double first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - first_start).count();
    std::printf("first_image       %9.3f s   (load + first image: %.3f s)\n", first_s, load_s + first_s);
    // Which phase pays the one-time costs: the text encoder's, the UNet's (its first eager step times the step's
    // choices, later ones record it) or the VAE decoder's; and how many choices the backend timed.
    std::printf("first_image_phases encode %.2f ms, denoise %.2f ms, decode %.2f ms; %lld choices timed\n",
                first.encode_seconds * 1e3, first.denoise_seconds * 1e3, first.decode_seconds * 1e3,
                (long long)(backend.timed_choices() - timed_before));
    const MemoryStats first_memory = backend.memory_stats();
    backend.reset_memory_peak();
    std::vector<PipelineOutput> outputs;
    const double e2e_s = time_median([&] { outputs.push_back(run_pipeline(c, params, control)); }, backend, 1,
                                     a.e2e_repeats);
    std::printf("end_to_end        %9.1f ms  (%d steps, CFG, previews every %d, text encode + decode included)\n",
                e2e_s * 1e3, a.steps, a.preview_every);
    // Where an image's time goes, as the pipeline clocks its phases (host wall clock; the denoising phase ends when
    // the final latents reach the host, so it holds every step's device time). Medians over the timed images.
    auto phase = [&](double PipelineOutput::*seconds) {
      std::vector<double> v;
      for (size_t i = 1; i < outputs.size(); ++i) v.push_back(outputs[i].*seconds);  // outputs[0]: the warm-up
      return median(v) * 1e3;
    };
    const double denoise_ms = phase(&PipelineOutput::denoise_seconds);
    const double prepare_ms = phase(&PipelineOutput::prepare_seconds);
    const int calls = outputs.back().unet_calls;
    std::printf("end_to_end_phases encode %.2f ms, denoise %.2f ms = prepare %.2f ms + %d UNet calls x %.3f ms, "
                "decode %.2f ms\n",
                phase(&PipelineOutput::encode_seconds), denoise_ms, prepare_ms, calls,
                (denoise_ms - prepare_ms) / calls, phase(&PipelineOutput::decode_seconds));
    const MemoryStats run_memory = backend.memory_stats();
    auto print_memory = [](const char* what, const MemoryStats& m) {
      std::printf("%-17s %s at most (tensors: %s reserved, %s allocated; recordings %s; GEMM workspace)\n", what,
                  mib(m.peak_bytes).c_str(), mib(m.pool_peak_bytes).c_str(), mib(m.pool_used_peak_bytes).c_str(),
                  mib(m.recorded_peak_bytes).c_str());
    };
    if (run_memory.peak_bytes) {
      print_memory("peak_memory_load", loaded_memory);
      print_memory("peak_memory_first", first_memory);  // algorithm choices and recordings included
      print_memory("peak_memory_next", run_memory);     // the images after it
    }
    if (sampler) {
      const size_t peak = sampler->peak();
      sampler.reset();
      std::printf("device_memory     %s in use at most, sampled every ms while loading and generating (CUDA context "
                  "included); %s above the %s in use before loading (context, library handles, GEMM workspace)\n",
                  mib(peak).c_str(), mib(peak > baseline_used ? peak - baseline_used : 0).c_str(),
                  mib(baseline_used).c_str());
    }
  }
  sampler.reset();

  PromptOptions prompt_options;
  PromptEmbeddings embeddings;
  const double text_s = time_median([&] { embeddings = encode_prompt(c, prompt, "", prompt_options); }, backend,
                                    a.warmup, a.repeats);

  auto generator = make_cpu_generator(0);
  const Tensor latents = generator->randn({2, c.unet->config().in_channels, h, w}, c.device).to(c.dtype);
  const Tensor parts[] = {embeddings.negative, embeddings.prompt};
  const Tensor context = ops::concat(parts, 0);
  nn::UNetAddedCond added;
  if (c.is_sdxl()) {
    const Tensor pooled[] = {embeddings.negative_pooled, embeddings.pooled};
    added.text_embeds = ops::concat(pooled, 0);
    const std::vector<float> ids = {float(height), float(width), 0, 0, float(height), float(width),
                                    float(height), float(width), 0, 0, float(height), float(width)};
    added.time_ids = Tensor::from_floats(ids, {2, 6});  // projected on the host (UNet2DConditionModel::project_time)
  }
  const Tensor timestep = Tensor::from_floats(std::vector<float>{500.0f}, {1});
  const nn::UNetAddedCond* added_cond = c.is_sdxl() ? &added : nullptr;
  // As the denoising loop does before its steps: the timestep projected and embedded, each resnet's term made.
  const nn::UNetTimeTerms terms = c.unet->time_terms(c.unet->project_time(timestep, 2, added_cond), 2, added_cond);
  const Tensor one = latents.narrow0(0, 1);
  // The loop's guided call: one latent for the pair of contexts (models/guidance_pair.h). `latents` (two distinct
  // ones) is the batch-2 forward with no shared prefix, timed beside it.
  const Tensor& pair = one;
  const Tensor raw = ops::scale(one.to(c.vae_dtype), 1.0f / c.vae->config().scaling_factor);
  if (a.profile) {
    c.recorded_unet->forward(pair, terms, context);  // its first call runs eagerly and makes the plans
    c.vae->decode(raw);
    backend.profile_report();  // drops the warm-up's records (they include algorithm searches)
    c.unet->forward(pair, terms, context);
    std::printf("== per-op device time, one eager UNet forward (host gaps between ops count too)\n%s",
                backend.profile_report().c_str());
    // The second call records and replays once: the recorded events are timed at that launch.
    c.recorded_unet->forward(pair, terms, context);
    std::printf("== per-op device time, one UNet forward (%s)\n%s",
                c.recorded_unet->enabled() ? "recorded, replayed" : "eager", backend.profile_report().c_str());
    c.recorded_vae_decode->run({raw});  // first call: eager
    backend.profile_report();
    c.recorded_vae_decode->run({raw});  // second: recorded and replayed once
    std::printf("== per-op device time, one VAE decode (%s)\n%s",
                c.recorded_vae_decode->enabled() ? "recorded, replayed" : "eager", backend.profile_report().c_str());
    c.vae->decode(raw);
    std::printf("== per-op device time, one eager VAE decode\n%s", backend.profile_report().c_str());
    return;
  }
  const double unet_eager_s =
      time_median([&] { c.unet->forward(pair, timestep, context, added_cond); }, backend, a.warmup, a.repeats);
  // As the denoising loop calls it: the time terms made once, the forward replayed where recorded.
  const double unet_s =
      time_median([&] { c.recorded_unet->forward(pair, terms, context); }, backend, a.warmup, a.repeats);
  const double unet_distinct_s =
      time_median([&] { c.recorded_unet->forward(latents, terms, context); }, backend, a.warmup, a.repeats);

  const double decode_eager_s = time_median([&] { c.vae->decode(raw); }, backend, a.warmup, a.repeats);
  const double decode_s = time_median([&] { c.recorded_vae_decode->run({raw}); }, backend, a.warmup, a.repeats);
  const double approx_s = time_median([&] { approx.render(one); }, backend, a.warmup, a.repeats);

  std::printf("text_encoder      %9.3f ms  (prompt + negative: CFG pair)\n", text_s * 1e3);
  std::printf("unet_step         %9.3f ms  (batch 2: one latent, both contexts; %lldx%lld latent, %s)\n",
              unet_s * 1e3, (long long)h, (long long)w,
              c.recorded_unet->enabled() ? "recorded forward replayed" : "eager");
  std::printf("unet_step_eager   %9.3f ms\n", unet_eager_s * 1e3);
  std::printf("unet_batch2       %9.3f ms  (two distinct latents: no shared prefix)\n", unet_distinct_s * 1e3);
  std::printf("vae_decode        %9.3f ms  (%s)\n", decode_s * 1e3,
              c.recorded_vae_decode->enabled() ? "recorded, replayed" : "eager");
  std::printf("vae_decode_eager  %9.3f ms\n", decode_eager_s * 1e3);
  std::printf("preview_approx    %9.3f ms  (%.1fx cheaper than a full decode)\n", approx_s * 1e3, decode_s / approx_s);
  if (c.taesd) {
    const PreviewRenderer taesd(c, PreviewMethod::Taesd);
    const double taesd_s = time_median([&] { taesd.render(one); }, backend, a.warmup, a.repeats);
    std::printf("preview_taesd     %9.3f ms  (%.1fx cheaper than a full decode)\n", taesd_s * 1e3, decode_s / taesd_s);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time each component and whole images (medians, warm-up excluded)");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_option("--model", a->model, "Diffusers folder or single-file checkpoint")->required();
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N");
  cmd->add_option("--dtype", a->dtype, "auto | f32 | f16 | bf16");
  cmd->add_option("--vae-dtype", a->vae_dtype, kVaeDtypeHelp);
  cmd->add_option("--width", a->width, "Image width (default: the model's native size)");
  cmd->add_option("--height", a->height, "Image height (default: the model's native size)");
  cmd->add_option("--steps", a->steps, "Steps of the end-to-end run (default 20)");
  cmd->add_option("--sampler", a->sampler, "Sampler of the end-to-end run (default: the model's)");
  cmd->add_option("--warmup", a->warmup, "Untimed runs before each measurement (default 2)");
  cmd->add_option("--repeats", a->repeats, "Timed runs per component (default 10)");
  cmd->add_option("--e2e-repeats", a->e2e_repeats, "Timed end-to-end images (default 3)");
  cmd->add_option("--preview-every", a->preview_every, "Preview interval in the end-to-end run (default 5)");
  cmd->add_flag("--skip-e2e", a->skip_e2e, "Components only");
  cmd->add_flag("--profile", a->profile,
                "Instead of timing: per-op device times of an eager and a replayed UNet forward and VAE decode (cuda)");
  cmd->add_option("--taesd", a->taesd, "AutoencoderTiny folder: also time TAESD previews");
  cmd->add_option("--tokenizer", a->tokenizer, "Tokenizer folder for single-file checkpoints");
  cmd->callback([a] { run_bench(*a); });
}

}  // namespace sdpp
