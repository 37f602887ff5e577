// A deterministic stand-in for Engine::generate so the queue, worker and registry can be tested in isolation:
// each step optionally waits for the test to open a gate, honours the cancel flag like the engine does, and
// reports progress (with a 2x2 preview every `preview_every` steps).
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include "core/error.h"
#include "engine/generate_fn.h"

namespace sdpp::engine::testing {

class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct FakeGenerator {
  Gate* gate = nullptr;                // when set, every step waits for it
  std::atomic<int>* started = nullptr; // counts generate() calls
  std::string fail_prompt = "fail";    // a prompt that makes the job fail like an out-of-memory would

  GenerateFn fn() const {
    return [*this](const GenerationRequest& r, const ProgressCallback& cb, const std::atomic<bool>* cancel) {
      if (started) ++*started;
      if (r.prompt == fail_prompt) throw Error(ErrorCode::OutOfMemory, "out of device memory (test)");
      Image preview{2, 2, 3, std::vector<uint8_t>(12, 0)};
      for (int step = 1; step <= r.steps; ++step) {
        if (gate) gate->wait();
        if (cancel && cancel->load()) throw Error(ErrorCode::Cancelled, "cancelled");
        Progress p{step, r.steps, 10.0, (r.steps - step) / 10.0, nullptr};
        if (r.preview_every > 0 && step % r.preview_every == 0 && step < r.steps) {
          preview.pixels[0] = static_cast<uint8_t>(step);
          p.preview = &preview;
        }
        cb(p);
      }
      Result res;
      res.seed = r.seed.value_or(0);
      res.infotext = r.prompt;
      for (int i = 0; i < r.batch; ++i) res.png.push_back("png-" + std::to_string(i));
      return res;
    };
  }
};

inline std::string encode_preview_for_test(const Image& img) { return "preview-" + std::to_string(img.pixels[0]); }

}  // namespace sdpp::engine::testing
