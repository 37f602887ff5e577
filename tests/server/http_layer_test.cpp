// The HTTP layer in-process, over loopback, with a deterministic generator in place of the engine: states the
// real tiny models pass through too quickly to observe (models still loading, a worker held mid-step).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <stdexcept>
#include <thread>

#include "../engine/fake_generator.h"
#include "serve_process.h"
#include "server/server.h"

namespace sdpp::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using engine::testing::FakeGenerator;
using engine::testing::Gate;
using sdpp::testing::json_of;

class InProcessServer {
 public:
  explicit InProcessServer(Gate* gate, ServerOptions options = {}, size_t queue = 4)
      : jobs_(service_options(queue), {FakeGenerator{gate}.fn()}), http_(with_port0(options), jobs_, catalog_) {
    port_ = http_.bind();
    listener_ = std::thread([this] { http_.listen(); });
  }
  ~InProcessServer() {
    jobs_.shutdown(0ms);
    http_.stop();
    listener_.join();
  }
  void load() {
    ModelInfo m;
    m.name = "fake";
    m.family = "sd15";
    m.default_width = m.default_height = 64;
    catalog_.set({m}, {"euler", "euler_a"});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }
  engine::JobService& jobs() { return jobs_; }

 private:
  static engine::ServiceOptions service_options(size_t queue) {
    engine::ServiceOptions o;
    o.queue_size = queue;
    return o;
  }
  static ServerOptions with_port0(ServerOptions o) {
    o.port = 0;
    o.sse_keepalive = 200ms;
    return o;
  }

  Catalog catalog_;
  engine::JobService jobs_;
  Server http_;
  int port_ = 0;
  std::thread listener_;
};

TEST(HttpLayer, NotReadyUntilModelsAreLoaded) {
  InProcessServer server(nullptr);
  auto c = server.client();
  EXPECT_EQ(c.Get("/health")->status, 200);
  auto ready = c.Get("/ready");
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(json_of(ready)["reason"], "loading_models");
  auto submit = c.Post("/v1/jobs", R"({"prompt":"x"})", "application/json");
  EXPECT_EQ(submit->status, 503);
  EXPECT_EQ(json_of(submit)["error"]["code"], "not_ready");
  EXPECT_EQ(c.Post("/sdapi/v1/txt2img", R"({"prompt":"x"})", "application/json")->status, 503);
  server.load();
  EXPECT_EQ(c.Get("/ready")->status, 200);
  EXPECT_EQ(c.Post("/v1/jobs", R"({"prompt":"x","steps":1})", "application/json")->status, 202);
}

TEST(HttpLayer, QueueFullIs429WithRetryAfterAndNothingIsLost) {
  Gate gate;
  InProcessServer server(&gate, {}, 2);
  server.load();
  auto c = server.client();
  std::vector<std::string> accepted;
  for (int i = 0; i < 3; ++i) {  // one runs (held by the gate), two wait
    auto res = c.Post("/v1/jobs", R"({"prompt":"x","steps":2})", "application/json");
    ASSERT_EQ(res->status, 202);
    accepted.push_back(json_of(res)["id"]);
    if (i == 0) sdpp::testing::wait_for_status(c, accepted[0], "running");
  }
  auto full = c.Post("/v1/jobs", R"({"prompt":"x","steps":2})", "application/json");
  EXPECT_EQ(full->status, 429);
  EXPECT_EQ(full->get_header_value("Retry-After"), "5");
  EXPECT_EQ(json_of(full)["error"]["code"], "queue_full");
  // A1111's n_iter=2 needs two slots: refused as a whole.
  EXPECT_EQ(c.Post("/sdapi/v1/txt2img", R"({"prompt":"x","steps":2,"n_iter":2})", "application/json")->status, 429);
  gate.open();
  for (const std::string& id : accepted)
    EXPECT_EQ(sdpp::testing::wait_for_status(c, id, "succeeded")["status"], "succeeded");
  EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST(HttpLayer, SdapiInterruptEndsTheRunningRequest) {
  Gate gate;
  InProcessServer server(&gate);
  server.load();
  int status = 0;
  std::string text;
  std::thread caller([&] {
    auto c = server.client();
    if (auto res = c.Post("/sdapi/v1/txt2img", R"({"prompt":"x","steps":5,"n_iter":2})", "application/json")) {
      status = res->status;
      text = res->body;
    }
  });
  auto c = server.client();
  for (int i = 0; i < 400 && server.jobs().running().empty(); ++i) std::this_thread::sleep_for(5ms);
  const json progress = json_of(c.Get("/sdapi/v1/progress"));
  EXPECT_EQ(progress["state"]["job_count"], 2);
  EXPECT_EQ(progress["state"]["sampling_steps"], 5);
  EXPECT_EQ(c.Post("/sdapi/v1/interrupt", "", "application/json")->status, 200);
  gate.open();
  caller.join();
  EXPECT_EQ(status, 200);
  const json body = json::parse(text);
  EXPECT_EQ(body["images"].size(), 0u);  // both iterations cancelled: the second never started
  EXPECT_EQ(json::parse(body["info"].get<std::string>())["interrupted"], true);
  EXPECT_EQ(server.jobs().metrics().cancelled, 2u);
}

TEST(HttpLayer, FailedJobFailsAloneAsA500OnSyncEndpoints) {
  InProcessServer server(nullptr);
  server.load();
  auto c = server.client();
  auto failed = c.Post("/sdapi/v1/txt2img", R"({"prompt":"fail","steps":2})", "application/json");
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(json_of(failed)["error"]["code"], "out_of_memory");
  auto job = json_of(c.Post("/v1/jobs", R"({"prompt":"fail","steps":2})", "application/json"));
  const json done = sdpp::testing::wait_for_status(c, job["id"], "failed");
  EXPECT_EQ(done["error"]["code"], "out_of_memory");
  EXPECT_EQ(c.Post("/v1/images/generations", R"({"prompt":"ok"})", "application/json")->status, 200);
}

// Runs `work` and fails (ending the process: a hung thread cannot be joined) unless it returns within 10 s.
void returns_in_time(const char* what, const std::function<void()>& work) {
  auto done = std::async(std::launch::async, work);
  if (done.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "%s: still running after 10 s\n", what);
    std::_Exit(1);
  }
  done.get();
}

// A server bound to a free loopback port whose listen() nobody has called yet.
struct BoundServer {
  BoundServer() : jobs({}, {FakeGenerator{nullptr}.fn()}), http(port0(), jobs, catalog) {
    if (http.bind() <= 0) throw std::runtime_error("bind failed");
  }
  static ServerOptions port0() {
    ServerOptions o;
    o.port = 0;
    return o;
  }
  Catalog catalog;
  engine::JobService jobs;
  Server http;
};

TEST(HttpLayer, StopBeforeListenMakesListenReturn) {
  // `sdpp serve` stops at once when its only model cannot load, which can be before its listener thread runs:
  // httplib's own stop() ignores a server whose loop has not started, and listen() then served forever.
  BoundServer server;
  returns_in_time("listen() after stop()", [&] {
    server.http.stop();
    server.http.listen();
  });
}

TEST(HttpLayer, StopRacingTheListenerThreadEndsIt) {
  for (int i = 0; i < 100; ++i) {
    BoundServer server;
    returns_in_time("stop() racing listen()", [&] {
      std::thread listener([&] { server.http.listen(); });  // may reach httplib's loop before or after the stop below
      server.http.stop();
      listener.join();
    });
  }
}

}  // namespace
}  // namespace sdpp::server
