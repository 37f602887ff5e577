// Runs the real `sdpp serve` binary (SDPP_BINARY) on a free loopback port with the tiny fixture models, for tests
// that drive it over HTTP exactly as a client would. The process is stopped with SIGTERM when the object dies.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace sdpp::testing {

std::string fixture_models_dir();  // <fixtures>/models

class ServeProcess {
 public:
  // Runs: serve --port 0 --sse-keepalive 0.5 --shutdown-grace 2 --models <each of models, default sd15> <extra>;
  // a flag given in `extra` replaces its default. SDPP_TEST_DEVICE=cuda in the environment adds --device cuda.
  explicit ServeProcess(std::vector<std::string> extra = {}, std::vector<std::string> models = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::unique_ptr<httplib::Client> client(int read_timeout_s = 120) const;
  int stop(int signal);               // sends it, waits; returns the exit status (128 + signal when killed)
  std::string log() const;            // everything the server wrote to stderr
  size_t rss_bytes() const;           // resident memory now (from /proc)
  bool alive() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
  int exit_status_ = -1;
};

struct SseEvent {
  std::string name;
  uint64_t id = 0;
  nlohmann::json data;
};

struct SseStream {
  std::vector<SseEvent> events;
  int keepalives = 0;  // ": keep-alive" comments seen
  int status = 0;      // HTTP status of the stream response
};

// Reads GET `path` as SSE until a terminal event (completed | failed | cancelled), `on_event` returns false, or
// `timeout` passes.
SseStream read_sse(int port, const std::string& path, const std::function<bool(const SseEvent&)>& on_event = {},
                   std::chrono::seconds timeout = std::chrono::seconds(120), const httplib::Headers& headers = {});

// Reads job `id`'s events (read_sse) on a thread into `out`; `first`, when given, is set once the stream delivered
// its first event, i.e. once the subscription is live.
std::thread subscribe(int port, const std::string& id, SseStream& out, std::atomic<bool>* first = nullptr);

// Waits up to 10 s for `flag`; a failed test if it stays false.
void wait_flag(const std::atomic<bool>& flag);

// Polls GET /v1/jobs/{id} until its status is one of `states` (comma-separated); returns the job document.
nlohmann::json wait_for_status(httplib::Client& client, const std::string& id, const std::string& states,
                               std::chrono::seconds timeout = std::chrono::seconds(120));

nlohmann::json json_of(const httplib::Result& res);  // parsed body, or a failed test and null
std::string base64_decode_for_test(const std::string& text);

}  // namespace sdpp::testing
