// `sdpp serve`: the HTTP server. One engine worker per device owns that device's models; HTTP threads only parse,
// validate and stream. The server listens at once (/health answers, /ready says 503) while models load.
// SIGINT/SIGTERM: stop taking jobs, cancel the queued ones, give running ones --shutdown-grace seconds, report.
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/error.h"
#include "engine/job_service.h"
#include "image/image_io.h"
#include "sdpp/engine.h"
#include "server/catalog.h"
#include "server/server.h"

namespace sdpp {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
  std::vector<std::string> models;
  std::vector<std::string> devices = {"cpu"};
  std::string dtype = "auto", vae_dtype = "auto", tokenizer, taesd;
  server::ServerOptions http;
  size_t queue_size = 32;
  size_t retention_count = 256;
  int retention_s = 3600;
  double max_body_mb = 32;
  double sse_keepalive_s = 15;
  double event_history_s = 10;
  double shutdown_grace_s = 30;
};

int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
  const char c = static_cast<char>(sig);
  (void)!write(g_signal_pipe[1], &c, 1);  // async-signal-safe; a full pipe means a shutdown is already pending
}

struct ModelSource {
  std::string name, path;
  bool found_in_folder = false;  // a folder scan may meet files it cannot load; those are skipped, not fatal
};

bool is_checkpoint_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return fs::is_regular_file(p) && (ext == ".safetensors" || ext == ".ckpt");
}

// Each --models entry is a diffusers folder (it has model_index.json), a single-file checkpoint, or a folder of
// those. Models are named by folder name / file stem; a file whose stem is taken keeps its extension
// ("sd15" folder and "sd15.safetensors" beside it).
std::vector<ModelSource> discover_models(const std::vector<std::string>& entries) {
  std::vector<ModelSource> out;
  auto taken = [&](const std::string& name) {
    return std::any_of(out.begin(), out.end(), [&](const ModelSource& m) { return m.name == name; });
  };
  auto add = [&](const fs::path& p, bool found_in_folder) {
    std::string name = p.stem().string();
    if (taken(name) && fs::is_regular_file(p)) name = p.filename().string();
    if (taken(name))
      throw Error(ErrorCode::InvalidArgument, "two models would be named '" + name + "' (" + p.string() +
                                                  "); names come from folder and file names");
    out.push_back({name, p.string(), found_in_folder});
  };
  for (const std::string& entry : entries) {
    const fs::path p(entry);
    if ((fs::is_directory(p) && fs::exists(p / "model_index.json")) || is_checkpoint_file(p)) {
      add(p, false);
    } else if (fs::is_directory(p)) {
      std::vector<fs::path> children;
      for (const auto& child : fs::directory_iterator(p))
        if ((child.is_directory() && fs::exists(child.path() / "model_index.json")) || is_checkpoint_file(child.path()))
          children.push_back(child.path());
      if (children.empty())
        throw Error(ErrorCode::NotFound, "--models " + entry + ": no diffusers folders or .safetensors files in it");
      // Folders first, so "sd15" names the folder and "sd15.safetensors" the file beside it.
      std::sort(children.begin(), children.end(), [](const fs::path& x, const fs::path& y) {
        return std::make_pair(!fs::is_directory(x), x) < std::make_pair(!fs::is_directory(y), y);
      });
      for (const fs::path& c : children) add(c, true);
    } else {
      throw Error(ErrorCode::NotFound, "--models " + entry + ": not a diffusers folder, checkpoint file or folder");
    }
  }
  return out;
}

void run_serve(ServeArgs a) {
  const std::vector<ModelSource> sources = discover_models(a.models);
  // Other threads (BLAS, the backend's pool) exist already, so a signal may land on any of them: the handler only
  // writes the signal number into a pipe, and one thread reads it and shuts down in order.
  if (pipe(g_signal_pipe) != 0) throw Error(ErrorCode::Internal, "pipe() failed");
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<engine::GenerateFn> generators;
  for (const std::string& device : a.devices) {
    EngineOptions options;
    options.device = device;
    options.dtype = a.dtype;
    options.vae_dtype = a.vae_dtype;
    options.tokenizer_dir = a.tokenizer;
    options.taesd_path = a.taesd;
    engines.push_back(std::make_unique<Engine>(options));
    Engine* e = engines.back().get();
    generators.push_back([e](const GenerationRequest& r, const ProgressCallback& cb, const std::atomic<bool>* cancel) {
      return e->generate(r, cb, cancel);
    });
  }
  engine::ServiceOptions service_options;
  service_options.queue_size = a.queue_size;
  service_options.retention = {a.retention_count, std::chrono::seconds(a.retention_s),
                               std::chrono::milliseconds(static_cast<int64_t>(a.event_history_s * 1000))};
  service_options.encode_preview = [](const Image& image) { return encode_png(image); };
  engine::JobService jobs(service_options, std::move(generators));

  a.http.max_body_bytes = static_cast<size_t>(a.max_body_mb * 1024 * 1024);
  a.http.sse_keepalive = std::chrono::milliseconds(static_cast<int64_t>(a.sse_keepalive_s * 1000));
  server::Catalog catalog;
  server::Server http(a.http, jobs, catalog);
  const int port = http.bind();
  std::printf("sdpp serve: listening on http://%s:%d\n", a.http.host.c_str(), port);
  std::fflush(stdout);
  std::thread listener([&] { http.listen(); });

  auto shutdown = [&](const char* why) {
    std::fprintf(stderr, "sdpp serve: %s; shutting down (grace %.0fs for running jobs)\n", why, a.shutdown_grace_s);
    const engine::ShutdownReport report =
        jobs.shutdown(std::chrono::milliseconds(static_cast<int64_t>(a.shutdown_grace_s * 1000)));
    // Streams deliver the terminal events the shutdown produced, then end.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    http.stop();
    std::fprintf(stderr,
                 "sdpp serve: stopped: %zu queued job(s) cancelled, %zu running job(s) finished, %zu cancelled\n",
                 report.cancelled_queued, report.finished_running, report.cancelled_running);
  };
  std::thread signal_waiter([&] {
    char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig == 0) return;  // woken by a failed start, not a signal
    shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });

  try {
    for (const auto& e : engines) {
      for (const ModelSource& m : sources) {
        const auto start = std::chrono::steady_clock::now();
        try {
          const ModelInfo info = e->load_model(m.name, m.path);
          std::fprintf(stderr, "sdpp serve: loaded %s (%s, %dx%d) from %s in %.2fs\n", info.name.c_str(),
                       info.family.c_str(), info.default_width, info.default_height, m.path.c_str(),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        } catch (const Error& err) {
          if (!m.found_in_folder) throw;
          std::fprintf(stderr, "sdpp serve: skipped %s: %s\n", m.path.c_str(), err.what());
        }
      }
    }
    if (engines.front()->models().empty())
      throw Error(ErrorCode::NotFound, "none of the models could be loaded (see the messages above)");
  } catch (...) {
    const char wake = 0;
    (void)!write(g_signal_pipe[1], &wake, 1);
    signal_waiter.join();
    jobs.shutdown(std::chrono::milliseconds(0));
    http.stop();
    listener.join();
    throw;
  }
  catalog.set(engines.front()->models(), Engine::list_samplers());
  std::fprintf(stderr, "sdpp serve: ready (%zu model(s), %zu worker(s), queue %zu)\n", engines.front()->models().size(),
               engines.size(), a.queue_size);
  listener.join();
  signal_waiter.join();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve the job API, AUTOMATIC1111/OpenAI-compatible endpoints and the web UI");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--models", a->models, "Diffusers folder(s), single-file checkpoint(s) or folder(s) of them")
      ->required();
  cmd->add_option("--host", a->http.host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", a->http.port, "Port (default 7860; 0 = any free port, printed)");
  cmd->add_option("--device", a->devices, "Device(s), one worker each: cpu | cuda | cuda:N (repeatable)");
  cmd->add_option("--dtype", a->dtype, "auto | f32 | f16 | bf16");
  cmd->add_option("--vae-dtype", a->vae_dtype, kVaeDtypeHelp);
  cmd->add_option("--tokenizer", a->tokenizer, "CLIP tokenizer folder for single-file checkpoints");
  cmd->add_option("--taesd", a->taesd, "AutoencoderTiny folder for preview_method taesd");
  cmd->add_option("--queue-size", a->queue_size, "Jobs that may wait; more get 429 (default 32)")
      ->check(CLI::Range(size_t(1), size_t(100000)));
  cmd->add_option("--api-key", a->http.api_key, "Require this key on /v1/* and /sdapi/* (Bearer or X-API-Key)");
  cmd->add_option("--cors", a->http.cors_origin, "Allow browser calls from this origin (e.g. http://localhost:3000 or *)");
  cmd->add_option("--max-body-mb", a->max_body_mb, "Largest request body in MiB; larger get 413 (default 32)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-steps", a->http.limits.max_steps, "Per-request step limit (default 150)");
  cmd->add_option("--max-side", a->http.limits.max_side, "Per-request width/height limit (default 2048)");
  cmd->add_option("--max-batch", a->http.limits.max_batch, "Per-request batch limit (default 8)");
  cmd->add_option("--max-work", a->http.limits.max_work, "Per-request width*height*batch*steps limit");
  cmd->add_option("--retention-count", a->retention_count, "Finished jobs kept for clients (default 256)");
  cmd->add_option("--retention-seconds", a->retention_s, "How long finished jobs are kept (default 3600)");
  cmd->add_option("--event-history", a->event_history_s,
                  "Seconds a finished job keeps every event (previews too) for late subscribers (default 10)");
  cmd->add_option("--http-threads", a->http.http_threads, "HTTP worker threads (SSE streams hold one each; default 64)");
  cmd->add_option("--sse-keepalive", a->sse_keepalive_s, "Seconds between SSE keep-alive comments (default 15)");
  cmd->add_option("--sync-timeout", a->http.sync_timeout, "Longest wait of a synchronous /sdapi or OpenAI call (s)");
  cmd->add_flag("--access-log", a->http.access_log, "Log every request (method, path, status) to stderr");
  cmd->add_option("--shutdown-grace", a->shutdown_grace_s, "Seconds running jobs may finish at shutdown (default 30)");
  cmd->callback([a] { run_serve(*a); });
}

}  // namespace sdpp
