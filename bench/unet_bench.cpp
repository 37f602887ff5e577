// Times one UNet2DConditionModel forward (one sampling step's model call) at full size with random weights, so no
// checkpoint is needed:
//   sdpp_unet_bench [--model sd15|sd21|sdxl] [--batch 2] [--latent 64] [--dtype f16|bf16|f32] [--iters 20]
//                   [--warmup 3] [--graph] [--profile] [--nchw] [--ncu] [--trace FILE.csv] [--device cuda:0] [--vae]
//                   [--pair]
// The forward is a denoising step's: time terms and cross-attention keys/values are made once, before timing.
// --graph captures the forward once into a CUDA graph and times its replays (inputs fixed at capture time).
// --profile prints per-op device times of one forward (SDPP_CUDA_PROFILE): eager, or one graph replay with --graph
// (timed replays then include the profiling events). --nchw keeps activations NCHW (SDPP_CUDA_LAYOUT=nchw).
// --ncu brackets one eager forward with cudaProfilerStart/Stop (run under `ncu --profile-from-start off`).
// --trace (with --graph) records every kernel of 5 more replays through CUPTI, at the clocks they really run at: it
// prints the replays' span, their kernels' summed time and the time between kernels, and writes one row per kernel
// to FILE.csv (scripts/device/trace_summary.py sums it by kind).
// --pair gives the UNet one latent for the batch's two contexts, as a guided step of the denoising loop does
// (models/guidance_pair.h: the layers before the first cross-attention run once); without it, --batch distinct latents.
// --vae times the model's VAE decode instead (AutoencoderKL, decoder only, the SD config: SDXL's VAE has the same
// shapes) of --batch latents of --latent size, e.g. --vae --batch 1 --latent 64 for a 512x512 image.
// The weight shapes are discovered from the model code itself: a source that records the shape WeightLoader expects
// for each key and answers with it, so one construction of the model learns them all.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <cuda_profiler_api.h>
#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/init.h"
#include "core/error.h"
#include "io/weight_loader.h"
#include "kernel_trace.h"
#include "models/unet_2d_condition.h"
#include "models/vae.h"

namespace sdpp {
namespace {

struct Args {
  std::string model = "sd15", dtype = "f16", device = "cuda:0", trace;
  int64_t batch = 2, latent = 64;
  int iters = 20, warmup = 3;
  bool graph = false, profile = false, nchw = false, ncu = false, vae = false, pair = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(ErrorCode::InvalidArgument, k + " needs a value");
      return argv[++i];
    };
    if (k == "--model") a.model = value();
    else if (k == "--dtype") a.dtype = value();
    else if (k == "--device") a.device = value();
    else if (k == "--batch") a.batch = std::stoll(value());
    else if (k == "--latent") a.latent = std::stoll(value());
    else if (k == "--iters") a.iters = std::stoi(value());
    else if (k == "--warmup") a.warmup = std::stoi(value());
    else if (k == "--graph") a.graph = true;
    else if (k == "--profile") a.profile = true;
    else if (k == "--nchw") a.nchw = true;
    else if (k == "--ncu") a.ncu = true;
    else if (k == "--vae") a.vae = true;
    else if (k == "--pair") a.pair = true;
    else if (k == "--trace") a.trace = value();
    else throw Error(ErrorCode::InvalidArgument, "unknown argument '" + k + "'");
  }
  if (!a.trace.empty() && !a.graph) throw Error(ErrorCode::InvalidArgument, "--trace needs --graph");
  if (a.pair && (a.vae || a.batch % 2 != 0))
    throw Error(ErrorCode::InvalidArgument, "--pair needs a UNet and an even --batch");
  return a;
}

// diffusers config.json of each model's UNet (the fields that differ from UNetConfig::from_json's defaults).
nlohmann::json unet_config_json(const std::string& model) {
  if (model == "sd15") return {{"cross_attention_dim", 768}, {"attention_head_dim", 8}};
  if (model == "sd21")
    return {{"cross_attention_dim", 1024}, {"attention_head_dim", {5, 10, 20, 20}}, {"use_linear_projection", true}};
  if (model == "sdxl")
    return {{"block_out_channels", {320, 640, 1280}},
            {"down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"}},
            {"up_block_types", {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"}},
            {"cross_attention_dim", 2048},
            {"attention_head_dim", {5, 10, 20}},
            {"transformer_layers_per_block", {1, 2, 10}},
            {"use_linear_projection", true},
            {"addition_embed_type", "text_time"},
            {"addition_time_embed_dim", 256},
            {"projection_class_embeddings_input_dim", 2816}};
  throw Error(ErrorCode::InvalidArgument, "--model must be sd15, sd21 or sdxl, got '" + model + "'");
}

// Answers every key with the shape the model expects for it (zeros), recording it.
class ShapeDiscoverySource : public TensorSource {
 public:
  mutable std::map<std::string, Shape> shapes;
  std::vector<std::string> keys() const override {
    std::vector<std::string> k;
    for (const auto& [key, shape] : shapes) k.push_back(key);
    return k;
  }
  std::optional<TensorInfo> info(const std::string& key) const override {
    auto it = shapes.find(key);
    return TensorInfo{DType::F32, it == shapes.end() ? Shape{0} : it->second, "F32", true};
  }
  Tensor read(const std::string& key) const override {
    const Shape& shape = shapes.at(key);
    const size_t bytes = size_t(shape_numel(shape)) * sizeof(float);
    if (blob_bytes_ < bytes) {
      blob_.reset(std::calloc(bytes, 1), std::free);
      blob_bytes_ = bytes;
    }
    return Tensor::wrap(blob_.get(), shape, DType::F32, Device::cpu(), blob_);
  }
  std::string describe() const override { return "shape discovery"; }
  void expect(const std::string& key, const Shape& shape) const override { shapes[key] = shape; }

 private:
  mutable std::shared_ptr<void> blob_;
  mutable size_t blob_bytes_ = 0;
};

template <class Model, class Config>
std::map<std::string, Shape> discover_shapes(const Config& config) {
  auto source = std::make_shared<ShapeDiscoverySource>();
  const Model probe(WeightLoader(source, Device::cpu(), DType::F32), config);
  return source->shapes;
}

// Random weights scaled by fan-in (norm gammas 1), so activations stay in range through the depth of the net.
class RandomSource : public TensorSource {
 public:
  explicit RandomSource(std::map<std::string, Shape> shapes) : shapes_(std::move(shapes)) {}
  std::vector<std::string> keys() const override {
    std::vector<std::string> k;
    for (const auto& [key, shape] : shapes_) k.push_back(key);
    return k;
  }
  std::optional<TensorInfo> info(const std::string& key) const override {
    auto it = shapes_.find(key);
    if (it == shapes_.end()) return std::nullopt;
    return TensorInfo{DType::F32, it->second, "F32", true};
  }
  Tensor read(const std::string& key) const override {
    const Shape& shape = shapes_.at(key);
    std::vector<float> v(size_t(shape_numel(shape)));
    const bool norm_gamma = shape.size() == 1 && key.find("norm") != std::string::npos &&
                            key.size() > 7 && key.compare(key.size() - 7, 7, ".weight") == 0;
    const float scale = shape.size() > 1 ? 1.0f / std::sqrt(float(shape_numel(shape) / shape[0])) : 0.02f;
    for (float& x : v) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 7;
      state_ ^= state_ << 17;
      const float u = float(state_ >> 40) / float(1 << 24) * 2.0f - 1.0f;
      x = norm_gamma ? 1.0f : u * scale;
    }
    return Tensor::from_floats(v, shape);
  }
  std::string describe() const override { return "random weights"; }

 private:
  std::map<std::string, Shape> shapes_;
  mutable uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

Tensor random_input(const Shape& shape, DType dtype, Device device, uint64_t seed) {
  std::vector<float> v(size_t(shape_numel(shape)));
  for (float& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = float(seed >> 40) / float(1 << 24) * 2.0f - 1.0f;
  }
  return Tensor::from_floats(v, shape).to(dtype).to(device);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Replays `graph` `replays` times under a kernel trace (synchronised between replays, so no replay's kernels wait
// behind another's), writes the rows to `path` (scripts/device/trace_summary.py sums them by kind) and prints the
// replays' span, their kernels' summed time and the time no kernel ran.
void trace_replays(RecordedWork& graph, Backend& backend, int replays, const std::string& path) {
  bench::KernelTrace trace;
  trace.start();
  for (int i = 0; i < replays; ++i) {
    graph.replay();
    backend.synchronize();
  }
  const std::vector<bench::KernelRecord> records = trace.stop();
  if (records.empty() || records.size() % size_t(replays) != 0)
    throw Error(ErrorCode::Internal, "trace: " + std::to_string(records.size()) + " kernels over " +
                                         std::to_string(replays) + " replays");
  const size_t per_replay = records.size() / size_t(replays);
  FILE* csv = std::fopen(path.c_str(), "w");
  if (!csv) throw Error(ErrorCode::NotFound, "cannot write " + path);
  std::fprintf(csv, "replay,index,start_us,duration_us,gap_before_us,blocks,threads,name\n");
  std::vector<double> spans, busy, idle;
  for (int r = 0; r < replays; ++r) {
    const bench::KernelRecord* k = &records[size_t(r) * per_replay];
    double sum_us = 0, gaps_us = 0;
    uint64_t last_end = k[0].start_ns;
    for (size_t i = 0; i < per_replay; ++i) {
      const double us = double(k[i].end_ns - k[i].start_ns) / 1e3;
      // Kernels may overlap under dependent launch: only the time after every earlier one ended is a gap.
      const double gap = k[i].start_ns > last_end ? double(k[i].start_ns - last_end) / 1e3 : 0.0;
      last_end = std::max(last_end, k[i].end_ns);
      sum_us += us;
      gaps_us += gap;
      std::string name = k[i].name;
      std::replace(name.begin(), name.end(), ',', ';');
      std::fprintf(csv, "%d,%zu,%.3f,%.3f,%.3f,%d,%d,\"%s\"\n", r, i, double(k[i].start_ns - k[0].start_ns) / 1e3, us,
                   gap, k[i].grid, k[i].block, name.c_str());
    }
    spans.push_back(double(last_end - k[0].start_ns) / 1e6);
    busy.push_back(sum_us / 1e3);
    idle.push_back(gaps_us / 1e3);
  }
  std::fclose(csv);
  std::printf("trace: %zu kernels a replay; span median %.3f ms, kernels summed %.3f ms, no kernel running %.3f ms "
              "(rows in %s)\n",
              per_replay, median(spans), median(busy), median(idle), path.c_str());
}

int run(const Args& a) {
  if (a.profile) setenv("SDPP_CUDA_PROFILE", "1", 1);
  if (a.nchw) setenv("SDPP_CUDA_LAYOUT", "nchw", 1);
  init_backends();
  const Device device = Device::parse(a.device);
  DType dtype;
  if (!parse_dtype(a.dtype, &dtype)) throw Error(ErrorCode::InvalidArgument, "bad --dtype " + a.dtype);
  const UNetConfig config = UNetConfig::from_json(unet_config_json(a.model));
  const VaeConfig vae_config;
  AutoencoderKLOptions decoder_only;
  decoder_only.load_encoder = false;
  struct VaeDecoder {  // the decoder as the bench builds models: (loader, config)
    AutoencoderKL model;
    VaeDecoder(const WeightLoader& w, const std::pair<VaeConfig, AutoencoderKLOptions>& c)
        : model(c.first, w, c.second) {}
  };
  const std::pair<VaeConfig, AutoencoderKLOptions> vae_args{vae_config, decoder_only};

  auto t0 = std::chrono::steady_clock::now();
  const auto shapes = a.vae ? discover_shapes<VaeDecoder>(vae_args) : discover_shapes<nn::UNet2DConditionModel>(config);
  int64_t params = 0;
  for (const auto& [key, shape] : shapes) params += shape_numel(shape);
  const WeightLoader weights(std::make_shared<RandomSource>(shapes), device, dtype);
  std::optional<nn::UNet2DConditionModel> unet;
  std::optional<VaeDecoder> vae;
  if (a.vae) vae.emplace(weights, vae_args);
  else unet.emplace(weights, config);
  Backend& backend = backend_for(device);
  backend.synchronize();
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("model %s%s: %zu tensors, %.1f M parameters, built in %.1f s on %s\n", a.model.c_str(),
              a.vae ? " vae decoder" : "", shapes.size(), double(params) / 1e6, load_s, backend.name().c_str());

  const Shape sample_shape{a.pair ? a.batch / 2 : a.batch, a.vae ? vae_config.latent_channels : config.in_channels,
                           a.latent, a.latent};
  const Tensor sample = random_input(sample_shape, dtype, device, 1);
  const Tensor timestep = Tensor::from_floats(std::vector<float>{500.0f}, {1});
  const Tensor context = random_input({a.batch, 77, config.cross_attention_dim}, dtype, device, 2);
  nn::UNetAddedCond added;
  const bool sdxl = config.addition_embed_type == "text_time";
  if (sdxl) {
    added.text_embeds = random_input({a.batch, 1280}, dtype, device, 3);
    std::vector<float> ids;
    for (int64_t b = 0; b < a.batch; ++b)
      for (float v : {1024.0f, 1024.0f, 0.0f, 0.0f, 1024.0f, 1024.0f}) ids.push_back(v);
    added.time_ids = Tensor::from_floats(ids, {a.batch, 6});
  }
  // As the denoising loop runs a step: the time terms and the context's keys and values made before it (a recording
  // cannot upload: its replays would not see new values).
  const nn::UNetAddedCond* cond = sdxl ? &added : nullptr;
  nn::UNetTimeTerms terms;
  nn::ProjectedContext projected;
  if (unet) {
    terms = unet->time_terms(unet->project_time(timestep, a.batch, cond), a.batch, cond);
    projected = unet->project_context(context);
  }
  auto forward = [&] { return vae ? vae->model.decode(sample) : unet->forward(sample, terms, context, &projected); };
  // The first forward chooses every kernel by timing (and compiles cuDNN's attention kernels): what a first image pays.
  const auto first_start = std::chrono::steady_clock::now();
  const Shape out_shape = forward().shape();
  backend.synchronize();
  const double first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - first_start).count();

  for (int i = 0; i < a.warmup; ++i) forward();
  backend.synchronize();
  auto* cuda = dynamic_cast<cuda::CudaBackend*>(&backend);
  if (a.profile && cuda) cuda->profile_report();  // drop the warm-up records (they include algorithm searches)
  if (a.profile && cuda && !a.graph) {
    forward();
    std::printf("per-op device time of one forward:\n%s", cuda->profile_report().c_str());
  }

  if (a.ncu) {
    // One eager forward between cudaProfilerStart/Stop, for `ncu --profile-from-start off`.
    cudaProfilerStart();
    forward();
    backend.synchronize();
    cudaProfilerStop();
  }
  std::vector<double> ms;
  Tensor out;
  if (a.graph) {
    if (!cuda) throw Error(ErrorCode::Unsupported, "--graph needs a cuda device");
    out = Tensor::empty(out_shape, dtype, device);  // outlives the recording
    backend.begin_recording();
    backend.convert(backend.contiguous(forward()), out);
    const std::unique_ptr<RecordedWork> graph = backend.end_recording();
    if (a.profile) {
      graph->replay();
      std::printf("per-op device time of one graph replay:\n%s", cuda->profile_report().c_str());
    }
    for (int i = 0; i < a.warmup; ++i) graph->replay();
    backend.synchronize();
    for (int i = 0; i < a.iters; ++i) {
      auto s = std::chrono::steady_clock::now();
      graph->replay();
      backend.synchronize();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
    }
    if (!a.trace.empty()) trace_replays(*graph, backend, 5, a.trace);
  } else {
    for (int i = 0; i < a.iters; ++i) {
      auto s = std::chrono::steady_clock::now();
      out = forward();
      backend.synchronize();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
    }
  }
  const std::vector<float> values = out.to_floats();
  double sum = 0, sum_sq = 0;
  size_t bad = 0;
  for (float v : values) {
    if (!std::isfinite(v)) ++bad;
    sum += v;
    sum_sq += double(v) * v;
  }
  std::printf("%s %s %s batch %lld%s latent %lldx%lld %s: median %.3f ms, min %.3f ms over %d iters "
              "(output mean %.4f rms %.4f, %zu non-finite; first forward %.2f s)\n",
              a.vae ? "vae" : "unet", a.model.c_str(), a.dtype.c_str(), (long long)a.batch, a.pair ? " (pair)" : "",
              (long long)a.latent, (long long)a.latent,
              a.graph ? "graph" : "eager", median(ms), *std::min_element(ms.begin(), ms.end()), a.iters,
              sum / double(values.size()), std::sqrt(sum_sq / double(values.size())), bad, first_s);
  return bad == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sdpp

int main(int argc, char** argv) {
  try {
    return sdpp::run(sdpp::parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdpp_unet_bench: %s\n", e.what());
    return 2;
  }
}
