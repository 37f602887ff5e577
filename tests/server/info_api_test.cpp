// Service endpoints of the real `sdpp serve`: health, readiness, models, samplers, metrics, the embedded web UI,
// 404/405 as JSON, CORS, graceful shutdown.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include <thread>

#include "serve_process.h"

namespace sdpp::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(InfoApi, HealthReadyModelsSamplers) {
  ServeProcess server;
  auto c = server.client();
  const json health = json_of(c->Get("/health"));
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["queue_capacity"], 32);
  EXPECT_EQ(health["workers"], 1);
  auto ready = c->Get("/ready");
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(json_of(ready)["models"], json::array({"sd15"}));

  const json models = json_of(c->Get("/v1/models"));
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["name"], "sd15");
  EXPECT_EQ(models["data"][0]["family"], "sd15");
  EXPECT_EQ(models["data"][0]["inpainting"], false);
  EXPECT_GT(models["data"][0]["defaults"]["width"].get<int>(), 0);

  const json samplers = json_of(c->Get("/v1/samplers"));
  std::vector<std::string> names;
  for (const json& s : samplers["data"]) names.push_back(s["name"]);
  for (const char* expected : {"euler", "euler_a", "dpmpp_2m", "ddim", "pndm"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  EXPECT_EQ(samplers["data"][0]["aliases"].is_array(), true);
}

TEST(InfoApi, AFolderOfModelsServesEveryFamily) {
  ServeProcess server({"--tokenizer", fixture_models_dir() + "/sd15/tokenizer"}, {fixture_models_dir()});
  auto c = server.client();
  std::vector<std::string> names;
  const json models = json_of(c->Get("/v1/models"));
  for (const json& m : models["data"]) names.push_back(m["name"]);
  // Folders by folder name; a single file whose stem is taken keeps its extension.
  EXPECT_EQ(names, (std::vector<std::string>{"sd15", "sd15_inpaint", "sd21", "sdxl", "sd15.safetensors",
                                             "sdxl.safetensors"}));
  for (const char* model : {"sd21", "sdxl", "sdxl.safetensors"}) {
    const json job = json_of(c->Post("/v1/jobs", json{{"prompt", "p"}, {"model", model}, {"width", 64},
                                                      {"height", 64}, {"steps", 2}}.dump(),
                                     "application/json"));
    const json done = wait_for_status(*c, job["id"], "succeeded,failed");
    EXPECT_EQ(done["status"], "succeeded") << model << ": " << done["error"].dump();
    EXPECT_EQ(done["params"]["model"], model);
  }
}

TEST(InfoApi, MetricsCountJobsStepsAndImages) {
  ServeProcess server;
  auto c = server.client();
  auto res = c->Post("/v1/jobs", R"({"prompt":"m","width":64,"height":64,"steps":4,"batch":2,"sampler":"euler"})",
                     "application/json");
  const std::string id = json_of(res)["id"];
  wait_for_status(*c, id, "succeeded");
  auto metrics = c->Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& m = metrics->body;
  for (const char* line : {"sdpp_queue_depth 0\n", "sdpp_queue_capacity 32\n", "sdpp_jobs{state=\"succeeded\"} 1\n",
                           "sdpp_jobs_submitted_total 1\n", "sdpp_jobs_finished_total{state=\"succeeded\"} 1\n",
                           "sdpp_images_generated_total 2\n", "sdpp_step_latency_seconds_count 3\n",
                           "sdpp_step_latency_seconds_bucket{le=\"+Inf\"} 3\n", "sdpp_ready 1\n",
                           "# TYPE sdpp_step_latency_seconds histogram\n"})
    EXPECT_NE(m.find(line), std::string::npos) << line << "\n" << m;
}

TEST(InfoApi, WebUiIsEmbedded) {
  ServeProcess server;
  auto c = server.client();
  auto index = c->Get("/");
  ASSERT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<script src=\"/app.js\">"), std::string::npos);
  EXPECT_EQ(index->body.find("http://"), std::string::npos);  // nothing loaded from elsewhere
  EXPECT_EQ(index->body.find("https://"), std::string::npos);
  for (const auto& [path, type] : {std::pair{"/app.js", "text/javascript; charset=utf-8"},
                                   std::pair{"/style.css", "text/css; charset=utf-8"}}) {
    auto res = c->Get(path);
    ASSERT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), type);
    EXPECT_GT(res->body.size(), 500u);
  }
}

TEST(InfoApi, UnknownPathsAndWrongMethodsAnswerJson) {
  ServeProcess server;
  auto c = server.client();
  auto missing = c->Get("/no/such/thing");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json_of(missing)["error"]["code"], "not_found");
  auto get_jobs = c->Get("/v1/jobs");
  EXPECT_EQ(get_jobs->status, 405);
  EXPECT_EQ(get_jobs->get_header_value("Allow"), "POST");
  EXPECT_EQ(json_of(get_jobs)["error"]["code"], "method_not_allowed");
  auto put = c->Put("/v1/jobs/abc", "{}", "application/json");
  EXPECT_EQ(put->status, 405);
  EXPECT_EQ(put->get_header_value("Allow"), "GET, DELETE");
  EXPECT_EQ(c->Post("/health", "", "text/plain")->status, 405);
  EXPECT_EQ(c->Delete("/sdapi/v1/txt2img")->status, 405);
}

TEST(InfoApi, AccessLogNamesEachRequest) {
  ServeProcess server({"--access-log"});
  auto c = server.client();
  EXPECT_EQ(c->Get("/v1/models")->status, 200);
  EXPECT_EQ(c->Get("/nope")->status, 404);
  server.stop(SIGTERM);
  const std::string log = server.log();
  EXPECT_NE(log.find("GET /v1/models -> 200"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /nope -> 404"), std::string::npos) << log;
}

TEST(InfoApi, CorsPreflightAndHeaders) {
  ServeProcess server({"--cors", "http://app.example"});
  auto c = server.client();
  auto pre = c->Options("/v1/jobs", {{"Origin", "http://app.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  auto get = c->Get("/v1/models", {{"Origin", "http://app.example"}});
  EXPECT_EQ(get->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
}

TEST(InfoApi, GracefulShutdownCancelsQueuedAndReports) {
  ServeProcess server({"--shutdown-grace", "0.2"});
  auto c = server.client();
  const json running = json_of(c->Post("/v1/jobs", R"({"prompt":"r","width":128,"height":128,"steps":150})",
                                       "application/json"));
  const json queued = json_of(c->Post("/v1/jobs", R"({"prompt":"q","width":64,"height":64})", "application/json"));
  wait_for_status(*c, running["id"], "running");
  SseStream stream;
  std::atomic<bool> subscribed{false};
  std::thread watcher = subscribe(server.port(), queued["id"], stream, &subscribed);
  wait_flag(subscribed);  // the subscriber is live before the signal, however slow the machine
  EXPECT_EQ(server.stop(SIGTERM), 0);
  watcher.join();
  ASSERT_FALSE(stream.events.empty());
  EXPECT_EQ(stream.events.back().name, "cancelled");  // subscribers learn the outcome before the server goes
  const std::string log = server.log();
  EXPECT_NE(log.find("SIGTERM; shutting down"), std::string::npos) << log;
  EXPECT_NE(log.find("1 queued job(s) cancelled, 0 running job(s) finished, 1 cancelled"), std::string::npos) << log;
}

TEST(InfoApi, ModelThatCannotLoadEndsTheServerWithTheError) {
  char dir[] = "/tmp/sdpp-bad-model-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  const std::string bad = std::string(dir) + "/broken.safetensors";
  FILE* f = std::fopen(bad.c_str(), "w");
  std::fputs("not a checkpoint", f);
  std::fclose(f);
  try {
    ServeProcess server({}, {bad});
    ADD_FAILURE() << "the server became ready with a broken model";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("exited with status 1"), std::string::npos) << message;
    EXPECT_NE(message.find("error: "), std::string::npos) << message;
  }
  std::remove(bad.c_str());
  rmdir(dir);
}

TEST(InfoApi, UnknownVaeDtypeEndsTheServerNamingTheOption) {
  try {
    ServeProcess server({"--vae-dtype", "f12"});
    ADD_FAILURE() << "the server became ready with --vae-dtype f12";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("error: vae_dtype must be auto, f32, f16 or bf16, got 'f12'"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace sdpp::testing
