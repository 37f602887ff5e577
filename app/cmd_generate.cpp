// `sdpp generate`: one request from the command line, with a terminal progress bar, written as PNG(s).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/error.h"
#include "image/image_io.h"
#include "image/png.h"
#include "sdpp/engine.h"

namespace sdpp {
namespace {

struct GenerateArgs {
  std::string model, prompt, negative_prompt, sampler, init_image, mask, output = "output.png";
  std::string device = "cpu", dtype = "auto", vae_dtype = "auto", tokenizer, taesd;
  std::string preview_method = "approx", preview_dir;
  int width = 0, height = 0, batch = 1, preview_every = 5, clip_skip = 1;
  std::optional<int> steps;  // absent = the model's default
  float cfg_scale = -1.0f, strength = 0.75f;
  int64_t seed = -1;
};

// "output.png" -> "output-1.png" for the second image of a batch.
std::filesystem::path numbered(const std::filesystem::path& path, int index) {
  if (index == 0) return path;
  return path.parent_path() / (path.stem().string() + "-" + std::to_string(index) + path.extension().string());
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw Error(ErrorCode::BadFile, "cannot write " + path.string());
}

// One line per step when stderr is not a terminal (logs, tests), an in-place bar otherwise.
void print_progress(const Progress& p, bool tty) {
  const int width = 30;
  const int filled = p.total ? p.step * width / p.total : width;
  std::string bar(size_t(filled), '#');
  bar.resize(size_t(width), ' ');
  std::fprintf(stderr, "%s[%s] %d/%d  %.2f it/s  ETA %.1fs%s", tty ? "\r" : "", bar.c_str(), p.step, p.total,
               p.it_per_s, p.eta_s, tty ? (p.step == p.total ? "\n" : "") : "\n");
  std::fflush(stderr);
}

void run_generate(const GenerateArgs& a) {
  EngineOptions options;
  options.device = a.device;
  options.dtype = a.dtype;
  options.vae_dtype = a.vae_dtype;
  options.tokenizer_dir = a.tokenizer;
  options.taesd_path = a.taesd;
  Engine engine(options);
  const auto load_start = std::chrono::steady_clock::now();
  const ModelInfo model = engine.load_model(std::filesystem::path(a.model).stem().string(), a.model);
  std::fprintf(stderr, "loaded %s (%s) in %.2fs\n", model.name.c_str(), model.family.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());

  GenerationRequest request;
  request.prompt = a.prompt;
  request.negative_prompt = a.negative_prompt;
  request.width = a.width;
  request.height = a.height;
  if (a.steps) {
    // the engine reads 0 as "default"; on the command line an explicit 0 is a mistake
    if (*a.steps == 0) throw Error(ErrorCode::InvalidArgument, "steps: must be between 1 and 150, got 0", "steps");
    request.steps = *a.steps;
  }
  request.cfg_scale = a.cfg_scale;
  if (a.seed >= 0) request.seed = uint64_t(a.seed);
  request.sampler = a.sampler;
  request.batch = a.batch;
  request.strength = a.strength;
  request.preview_every = a.preview_every;
  request.preview_method = a.preview_method;
  request.clip_skip = a.clip_skip;
  if (!a.init_image.empty()) request.init_image = read_image_file(a.init_image);
  if (!a.mask.empty()) request.mask = read_image_file(a.mask);

  const bool tty = isatty(fileno(stderr));
  int previews = 0;
  const Result result = engine.generate(request, [&](const Progress& p) {
    print_progress(p, tty);
    if (p.preview && !a.preview_dir.empty()) {
      std::filesystem::create_directories(a.preview_dir);
      write_png_file(std::filesystem::path(a.preview_dir) / ("preview-" + std::to_string(p.step) + ".png"), *p.preview);
      ++previews;
    }
  });
  for (size_t i = 0; i < result.png.size(); ++i) {
    const auto path = numbered(a.output, int(i));
    write_file(path, result.png[i]);
    std::printf("%s\n", path.string().c_str());
  }
  std::fprintf(stderr, "seed %llu  text %.3fs  denoise %.3fs  decode %.3fs  total %.3fs\n",
               static_cast<unsigned long long>(result.seed), result.timings.text_encode_s, result.timings.denoise_s,
               result.timings.decode_s, result.timings.total_s);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate image(s) from a prompt (txt2img, img2img, inpainting)");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("--model", a->model, "Diffusers folder or single-file .safetensors checkpoint")->required();
  cmd->add_option("--prompt", a->prompt, "What to draw")->required();
  cmd->add_option("--negative-prompt", a->negative_prompt, "What to steer away from");
  cmd->add_option("--width", a->width, "Image width (multiple of 8; default: the model's native size)");
  cmd->add_option("--height", a->height, "Image height (multiple of 8; default: the model's native size)");
  cmd->add_option("--steps", a->steps, "Denoising steps (default 20)");
  cmd->add_option("--cfg-scale", a->cfg_scale, "Classifier-free guidance scale (default 7.5; SDXL 5.0)");
  cmd->add_option("--seed", a->seed, "Seed (default: random, printed)");
  cmd->add_option("--sampler", a->sampler, "Sampler name (`sdpp info --samplers`); default: the model's scheduler");
  cmd->add_option("--init-image", a->init_image, "img2img / inpainting source image (PNG or JPEG)");
  cmd->add_option("--mask", a->mask, "Inpainting mask (white = repaint), same size as the init image");
  cmd->add_option("--strength", a->strength, "img2img / inpainting denoising strength in [0, 1] (default 0.75)");
  cmd->add_option("--batch", a->batch, "Images per run (default 1)");
  cmd->add_option("--clip-skip", a->clip_skip, "CLIP layers to skip from the end, AUTOMATIC1111 numbering (default 1)");
  cmd->add_option("--preview-every", a->preview_every, "Preview every N steps (0 = none; default 5)");
  cmd->add_option("--preview-method", a->preview_method, "approx | taesd | full");
  cmd->add_option("--preview-dir", a->preview_dir, "Write previews as PNGs into this folder");
  cmd->add_option("--output,-o", a->output, "Output PNG (batch: name-1.png, name-2.png...)");
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N");
  cmd->add_option("--dtype", a->dtype, "auto | f32 | f16 | bf16");
  cmd->add_option("--vae-dtype", a->vae_dtype, kVaeDtypeHelp);
  cmd->add_option("--tokenizer", a->tokenizer, "CLIP tokenizer folder for single-file checkpoints");
  cmd->add_option("--taesd", a->taesd, "AutoencoderTiny folder for --preview-method taesd");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace sdpp
