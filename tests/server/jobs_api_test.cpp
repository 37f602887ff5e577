// The native job API against the real `sdpp serve` with the tiny sd15 model: the SSE sequence event by event,
// several subscribers, late join, cancellation of queued and running jobs, images and the job document.
#include <gtest/gtest.h>

#include <thread>

#include "image/image_io.h"
#include "server/base64.h"
#include "serve_process.h"

namespace sdpp::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A job that keeps the single worker busy for seconds (150 steps at 128x128), so jobs behind it stay queued.
const json kBlocker = {{"prompt", "blocker"}, {"width", 128}, {"height", 128}, {"steps", 150}, {"preview_every", 0}};

json post_job(httplib::Client& c, const json& body, int expect_status = 202) {
  auto res = c.Post("/v1/jobs", body.dump(), "application/json");
  json j = json_of(res);
  EXPECT_EQ(res ? res->status : 0, expect_status) << j.dump();
  return j;
}

std::vector<std::string> names(const SseStream& s) {
  std::vector<std::string> out;
  for (const SseEvent& e : s.events) out.push_back(e.name);
  return out;
}

Image decode_data_uri(const std::string& uri) {
  const std::string prefix = "data:image/png;base64,";
  EXPECT_EQ(uri.rfind(prefix, 0), 0u);
  return decode_image(base64_decode_for_test(uri.substr(prefix.size())), "preview");
}

TEST(JobsApi, SseSequenceQueuedStartedProgressPreviewsCompleted) {
  ServeProcess server;
  auto c = server.client();
  const json blocker = post_job(*c, kBlocker);
  wait_for_status(*c, blocker["id"], "running");
  const json job = post_job(*c, {{"prompt", "a lighthouse"}, {"width", 64}, {"height", 64}, {"steps", 6},
                                 {"sampler", "euler"}, {"seed", 1234}, {"preview_every", 2}});
  ASSERT_EQ(job["status"], "queued");
  EXPECT_EQ(job["queue_position"], 1);
  EXPECT_EQ(job["seed"], 1234);
  EXPECT_EQ(job["links"]["events"], "/v1/jobs/" + job["id"].get<std::string>() + "/events");

  SseStream stream;
  std::atomic<bool> subscribed{false};
  std::thread reader = subscribe(server.port(), job["id"], stream, &subscribed);
  wait_flag(subscribed);
  EXPECT_EQ(c->Delete("/v1/jobs/" + blocker["id"].get<std::string>())->status, 200);
  reader.join();

  EXPECT_EQ(stream.status, 200);
  const std::vector<SseEvent>& ev = stream.events;
  ASSERT_GE(ev.size(), 10u) << ::testing::PrintToString(names(stream));
  EXPECT_EQ(ev[0].name, "queued");
  EXPECT_EQ(ev[0].data["queue_position"], 1);
  EXPECT_EQ(ev[1].name, "started");
  EXPECT_EQ(ev[1].data["steps"], 6);
  int expected_step = 1;
  std::vector<int> preview_steps;
  std::vector<Image> previews;
  for (size_t i = 2; i + 1 < ev.size(); ++i) {
    EXPECT_GT(ev[i].id, ev[i - 1].id);
    if (ev[i].name == "progress") {
      EXPECT_EQ(ev[i].data["step"], expected_step++);
      EXPECT_EQ(ev[i].data["total"], 6);
      EXPECT_GE(ev[i].data["it_per_s"].get<double>(), 0.0);
      EXPECT_GE(ev[i].data["eta_s"].get<double>(), 0.0);
    } else {
      ASSERT_EQ(ev[i].name, "preview");
      EXPECT_EQ(ev[i - 1].name, "progress");  // a preview follows the progress of its step
      EXPECT_EQ(ev[i].data["step"], ev[i - 1].data["step"]);
      preview_steps.push_back(ev[i].data["step"]);
      previews.push_back(decode_data_uri(ev[i].data["image"]));
    }
  }
  EXPECT_EQ(expected_step, 7);
  EXPECT_EQ(preview_steps, (std::vector<int>{2, 4, 6}));  // every 2 steps (the last step always has one)
  ASSERT_EQ(previews.size(), 3u);
  EXPECT_GT(previews[0].width, 0);
  EXPECT_NE(previews[0].pixels, previews[1].pixels);  // the preview develops
  const SseEvent& done = ev.back();
  ASSERT_EQ(done.name, "completed");
  EXPECT_EQ(done.data["seed"], 1234);
  ASSERT_EQ(done.data["images"].size(), 1u);
  EXPECT_NE(done.data["infotext"].get<std::string>().find("Seed: 1234"), std::string::npos);

  const json status = wait_for_status(*c, job["id"], "succeeded");
  EXPECT_EQ(status["progress"]["step"], 6);
  EXPECT_EQ(status["params"]["sampler"], "euler");
  EXPECT_EQ(status["result"]["images"], done.data["images"]);
  EXPECT_EQ(status["error"], nullptr);
  EXPECT_GT(status["timings"]["total_s"].get<double>(), 0.0);
  EXPECT_GT(status["timings"]["queued_s"].get<double>(), 0.0);
  EXPECT_NE(status["finished_at"], nullptr);

  auto png = c->Get(done.data["images"][0].get<std::string>());
  ASSERT_TRUE(png);
  EXPECT_EQ(png->status, 200);
  EXPECT_EQ(png->get_header_value("Content-Type"), "image/png");
  const Image image = decode_image(png->body, "result");
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 64);
  EXPECT_NE(read_png_text(png->body).at("parameters").find("Seed: 1234"), std::string::npos);
  EXPECT_EQ(c->Get("/v1/jobs/" + job["id"].get<std::string>() + "/images/1.png")->status, 404);
}

TEST(JobsApi, TwoSubscribersSeeTheSameEvents) {
  ServeProcess server;
  auto c = server.client();
  const json blocker = post_job(*c, kBlocker);
  wait_for_status(*c, blocker["id"], "running");
  const json job = post_job(*c, {{"prompt", "two"}, {"width", 64}, {"height", 64}, {"steps", 4}, {"preview_every", 1},
                                 {"sampler", "euler_a"}});
  SseStream a, b;
  std::atomic<bool> a_in{false}, b_in{false};
  std::thread ta = subscribe(server.port(), job["id"], a, &a_in);
  std::thread tb = subscribe(server.port(), job["id"], b, &b_in);
  wait_flag(a_in);
  wait_flag(b_in);
  c->Delete("/v1/jobs/" + blocker["id"].get<std::string>());
  ta.join();
  tb.join();
  const std::vector<std::string> seen = names(a);
  ASSERT_EQ(seen, names(b));
  EXPECT_EQ(a.events.back().name, "completed");
  for (size_t i = 0; i < a.events.size(); ++i) {
    EXPECT_EQ(a.events[i].id, b.events[i].id);
    EXPECT_EQ(a.events[i].data, b.events[i].data);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "preview"), 4);
}

TEST(JobsApi, LateSubscriberFirstGetsTheCurrentState) {
  ServeProcess server({"--event-history", "0"});  // compact as soon as the job ends
  auto c = server.client();
  // Joining a running job: the replay brings it up to date (queued, started, progress so far), then it goes live.
  const json running = post_job(*c, {{"prompt", "late"}, {"width", 128}, {"height", 128}, {"steps", 40},
                                     {"preview_every", 5}, {"sampler", "euler"}});
  std::atomic<bool> got_progress{false};
  std::thread watcher([&] {
    read_sse(server.port(), "/v1/jobs/" + running["id"].get<std::string>() + "/events", [&](const SseEvent& e) {
      if (e.name == "progress" && e.data["step"].get<int>() >= 6) got_progress = true;
      return !got_progress.load();
    });
  });
  watcher.join();
  ASSERT_TRUE(got_progress.load());
  const SseStream late = read_sse(server.port(), "/v1/jobs/" + running["id"].get<std::string>() + "/events");
  ASSERT_GE(late.events.size(), 4u);
  EXPECT_EQ(late.events[0].name, "queued");
  EXPECT_EQ(late.events[1].name, "started");
  EXPECT_EQ(late.events[2].name, "progress");
  EXPECT_EQ(late.events[2].data["step"], 1);  // nothing is lost while the job runs
  EXPECT_EQ(late.events.back().name, "completed");

  // Joining a finished job: the outcome at once, without the step-by-step history or previews.
  const SseStream after = read_sse(server.port(), "/v1/jobs/" + running["id"].get<std::string>() + "/events");
  EXPECT_EQ(names(after), (std::vector<std::string>{"queued", "started", "progress", "completed"}));
  EXPECT_EQ(after.events[2].data["step"], 40);
  EXPECT_EQ(after.events[3].data, late.events.back().data);

  // Last-Event-ID resumes after the given event.
  const SseStream resumed = read_sse(server.port(), "/v1/jobs/" + running["id"].get<std::string>() + "/events", {},
                                     120s, {{"Last-Event-ID", std::to_string(after.events[2].id)}});
  EXPECT_EQ(names(resumed), (std::vector<std::string>{"completed"}));
}

TEST(JobsApi, CancelQueuedJob) {
  ServeProcess server;
  auto c = server.client();
  const json blocker = post_job(*c, kBlocker);
  wait_for_status(*c, blocker["id"], "running");
  const json queued = post_job(*c, {{"prompt", "never runs"}, {"width", 64}, {"height", 64}});
  const json behind = post_job(*c, {{"prompt", "moves up"}, {"width", 64}, {"height", 64}, {"steps", 2}});
  EXPECT_EQ(behind["queue_position"], 2);
  SseStream stream;
  std::atomic<bool> in{false};
  std::thread t = subscribe(server.port(), queued["id"], stream, &in);
  wait_flag(in);
  auto del = c->Delete("/v1/jobs/" + queued["id"].get<std::string>());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(json_of(del)["status"], "cancelled");
  t.join();
  EXPECT_EQ(names(stream), (std::vector<std::string>{"queued", "cancelled"}));
  EXPECT_EQ(wait_for_status(*c, behind["id"], "queued")["queue_position"], 1);
  EXPECT_EQ(c->Delete("/v1/jobs/" + queued["id"].get<std::string>())->status, 409);  // already over
  c->Delete("/v1/jobs/" + blocker["id"].get<std::string>());
  EXPECT_EQ(wait_for_status(*c, behind["id"], "succeeded")["status"], "succeeded");
  EXPECT_EQ(wait_for_status(*c, queued["id"], "cancelled")["started_at"], nullptr);
}

TEST(JobsApi, CancelRunningJobBetweenSteps) {
  ServeProcess server;
  auto c = server.client();
  const json job = post_job(*c, kBlocker);
  int seen_step = 0;
  const SseStream first = read_sse(server.port(), "/v1/jobs/" + job["id"].get<std::string>() + "/events",
                                   [&](const SseEvent& e) {
                                     if (e.name == "progress") seen_step = e.data["step"];
                                     return seen_step < 3;
                                   });
  ASSERT_GE(seen_step, 3);
  auto del = c->Delete("/v1/jobs/" + job["id"].get<std::string>());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(json_of(del)["cancel_requested"], true);
  const json done = wait_for_status(*c, job["id"], "cancelled", 60s);
  EXPECT_LT(done["progress"]["step"].get<int>(), 150);
  EXPECT_EQ(done["result"], nullptr);
  const SseStream after = read_sse(server.port(), "/v1/jobs/" + job["id"].get<std::string>() + "/events");
  EXPECT_EQ(after.events.back().name, "cancelled");
  EXPECT_EQ(c->Get("/v1/jobs/" + job["id"].get<std::string>() + "/images/0.png")->status, 404);
  // The worker is free again.
  const json next = post_job(*c, {{"prompt", "after"}, {"width", 64}, {"height", 64}, {"steps", 2}});
  EXPECT_EQ(wait_for_status(*c, next["id"], "succeeded,failed")["status"], "succeeded");
}

TEST(JobsApi, KeepAlivesWhileQueuedAndUnknownJobs) {
  ServeProcess server;
  auto c = server.client();
  const json blocker = post_job(*c, kBlocker);
  const json queued = post_job(*c, {{"prompt", "waits"}, {"width", 64}, {"height", 64}});
  const auto start = std::chrono::steady_clock::now();
  const SseStream s = read_sse(server.port(), "/v1/jobs/" + queued["id"].get<std::string>() + "/events",
                               [&](const SseEvent&) { return std::chrono::steady_clock::now() - start < 1500ms; },
                               3s);
  EXPECT_GE(s.keepalives, 1);  // --sse-keepalive 0.5 in the harness
  c->Delete("/v1/jobs/" + queued["id"].get<std::string>());
  c->Delete("/v1/jobs/" + blocker["id"].get<std::string>());
  for (const char* path : {"/v1/jobs/0123456789abcdef", "/v1/jobs/nope/events", "/v1/jobs/nope/images/0.png"}) {
    auto res = c->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(json_of(res)["error"]["code"], "job_not_found") << path;
  }
  EXPECT_EQ(c->Delete("/v1/jobs/nope")->status, 404);
}

TEST(JobsApi, BatchImg2ImgAndInpaint) {
  ServeProcess server({}, {fixture_models_dir() + "/sd15", fixture_models_dir() + "/sd15_inpaint"});
  auto c = server.client();
  const json batch = post_job(*c, {{"prompt", "batch"}, {"width", 64}, {"height", 64}, {"steps", 3}, {"batch", 2}});
  const json done = wait_for_status(*c, batch["id"], "succeeded,failed");
  ASSERT_EQ(done["status"], "succeeded") << done.dump();
  ASSERT_EQ(done["result"]["images"].size(), 2u);
  auto png = c->Get(done["result"]["images"][1].get<std::string>());
  ASSERT_EQ(png->status, 200);

  const std::string init = "data:image/png;base64," + server::base64_encode(png->body);
  const json img2img = post_job(*c, {{"prompt", "img2img"}, {"init_image", init}, {"strength", 0.5}, {"steps", 4}});
  EXPECT_EQ(img2img["params"]["mode"], "img2img");
  EXPECT_EQ(img2img["params"]["width"], 64);  // taken from the image
  EXPECT_EQ(wait_for_status(*c, img2img["id"], "succeeded,failed")["status"], "succeeded");

  Image mask{64, 64, 1, std::vector<uint8_t>(64 * 64, 0)};
  for (int y = 16; y < 48; ++y)
    for (int x = 16; x < 48; ++x) mask.pixels[size_t(y * 64 + x)] = 255;
  const json inpaint = post_job(*c, {{"prompt", "inpaint"}, {"model", "sd15_inpaint"}, {"init_image", init},
                                     {"mask", server::base64_encode(encode_png(mask))}, {"steps", 4}});
  EXPECT_EQ(inpaint["params"]["mode"], "inpaint");
  const json inpainted = wait_for_status(*c, inpaint["id"], "succeeded,failed");
  EXPECT_EQ(inpainted["status"], "succeeded") << inpainted["error"].dump();
  EXPECT_EQ(inpainted["params"]["mode"], "inpaint");  // still, after the source images were released
  EXPECT_EQ(inpainted["params"]["strength"], 0.75);
}

}  // namespace
}  // namespace sdpp::testing
