// The bad-input matrix against the real `sdpp serve`: every malformed request gets the documented status and
// {error: {code, message, field}}, and the server stays healthy after each. Plus body size (413), API key (401)
// and a full queue (429 + Retry-After).
#include <gtest/gtest.h>

#include "image/image_io.h"
#include "server/base64.h"
#include "serve_process.h"

namespace sdpp::testing {
namespace {

using nlohmann::json;

struct BadRequest {
  std::string name, path, body;
  int status;
  std::string code, field, message;  // message: a substring the error must contain
};

std::string png_b64(int w, int h, int channels) {
  Image img{w, h, channels, std::vector<uint8_t>(size_t(w * h * channels), 128)};
  return server::base64_encode(encode_png(img));
}

std::string with(const json& extra = json::object()) {
  json body = {{"prompt", "x"}, {"width", 64}, {"height", 64}, {"steps", 2}};
  body.update(extra);
  return body.dump();
}

std::vector<BadRequest> matrix() {
  const std::string img64 = png_b64(64, 64, 3);
  const std::string mask32 = png_b64(32, 32, 1);
  const std::string not_image = server::base64_encode("hello, this is plain text and no image at all");
  const std::string huge_header = png_b64(4104, 8, 1);  // small file, too many pixels per side
  const std::string J = "/v1/jobs", T = "/sdapi/v1/txt2img", I = "/sdapi/v1/img2img", O = "/v1/images/generations";
  return {
      {"malformed json", J, R"({"prompt": "x",)", 400, "invalid_json", "", "not valid JSON"},
      {"json not an object", J, "[1, 2]", 400, "invalid_json", "", "must be a JSON object"},
      {"empty body", J, "", 400, "invalid_json", "", "not valid JSON"},
      {"missing prompt", J, R"({"steps": 4})", 400, "missing_field", "prompt", "'prompt' is required"},
      {"prompt wrong type", J, R"({"prompt": 5})", 400, "invalid_field", "prompt", "must be a string, got number"},
      {"steps wrong type", J, with({{"steps", "20"}}), 400, "invalid_field", "steps", "must be an integer, got string"},
      {"width wrong type", J, with({{"width", true}}), 400, "invalid_field", "width", "must be an integer"},
      {"cfg wrong type", J, with({{"cfg_scale", "7"}}), 400, "invalid_field", "cfg_scale", "must be a number"},
      {"unknown field", J, with({{"promt", "typo"}}), 400, "unknown_field", "promt", "unknown field 'promt'"},
      {"unknown sampler", J, with({{"sampler", "warp_drive"}}), 400, "unknown_sampler", "sampler", "available: "},
      {"unknown model", J, with({{"model", "sd99"}}), 400, "unknown_model", "model", "loaded: sd15"},
      {"width not multiple of 8", J, with({{"width", 100}}), 400, "invalid_field", "width", "multiple of 8, got 100"},
      {"height too large", J, with({{"height", 4096}}), 400, "invalid_field", "height", "[64, 2048], got 4096"},
      {"width too small", J, with({{"width", 32}}), 400, "invalid_field", "width", "[64, 2048]"},
      {"steps zero", J, with({{"steps", 0}}), 400, "invalid_field", "steps", "[1, 150], got 0"},
      {"steps too many", J, with({{"steps", 1000}}), 400, "invalid_field", "steps", "[1, 150], got 1000"},
      {"strength above 1", J, with({{"strength", 1.5}}), 400, "invalid_field", "strength", "[0, 1]"},
      {"strength negative", J, with({{"strength", -0.1}}), 400, "invalid_field", "strength", "[0, 1]"},
      {"strength zero", J, with({{"strength", 0}}), 400, "invalid_field", "strength", "(0, 1]"},
      {"cfg too high", J, with({{"cfg_scale", 100}}), 400, "invalid_field", "cfg_scale", "[0, 30]"},
      {"batch zero", J, with({{"batch", 0}}), 400, "invalid_field", "batch", "[1, 8]"},
      {"seed negative", J, with({{"seed", -5}}), 400, "invalid_field", "seed", "or -1 for random"},
      {"seed string", J, with({{"seed", "abc"}}), 400, "invalid_field", "seed", "must be an integer"},
      {"preview_every negative", J, with({{"preview_every", -1}}), 400, "invalid_field", "preview_every", "[0, 150]"},
      {"preview_method unknown", J, with({{"preview_method", "magic"}}), 400, "invalid_field", "preview_method",
       "approx, taesd, full"},
      {"prompt too long", J, with({{"prompt", std::string(20000, 'a')}}), 400, "invalid_field", "prompt",
       "the limit is 16384"},
      {"work over the limit", J, with({{"width", 2048}, {"height", 2048}, {"batch", 8}, {"steps", 150}}), 400,
       "limit_exceeded", "steps", "exceeds the per-request limit"},
      {"invalid base64", J, with({{"init_image", "@@@not base64@@@"}}), 400, "invalid_image", "init_image",
       "not valid base64"},
      {"non-image bytes", J, with({{"init_image", not_image}}), 400, "invalid_image", "init_image",
       "not a readable PNG or JPEG"},
      {"data uri without base64", J, with({{"init_image", "data:image/png,abc"}}), 400, "invalid_image", "init_image",
       "without ';base64,'"},
      {"image too large", J, with({{"init_image", huge_header}}), 400, "invalid_image", "init_image",
       "the limit is 4096"},
      {"mask without image", J, with({{"mask", mask32}}), 400, "invalid_field", "mask", "needs 'init_image'"},
      {"mask size mismatch", J, with({{"init_image", img64}, {"mask", mask32}}), 400, "invalid_field", "mask",
       "is 32x32 but 'init_image' is 64x64"},
      {"sdapi malformed json", T, "{", 400, "invalid_json", "", "not valid JSON"},
      {"sdapi unknown sampler", T, R"({"prompt":"x","sampler_name":"Warp"})", 400, "unknown_sampler", "sampler_name",
       "unknown sampler 'Warp'"},
      {"sdapi width", T, R"({"prompt":"x","width":100})", 400, "invalid_field", "width", "multiple of 8"},
      {"sdapi batch_size", T, R"({"prompt":"x","batch_size":0})", 400, "invalid_field", "batch_size", "[1, 8]"},
      {"sdapi unknown model", T, R"({"prompt":"x","override_settings":{"sd_model_checkpoint":"nope"}})", 400,
       "unknown_model", "override_settings.sd_model_checkpoint", "unknown model 'nope'"},
      {"img2img no images", I, R"({"prompt":"x"})", 400, "missing_field", "init_images", "at least one"},
      {"img2img images not array", I, R"({"prompt":"x","init_images":"abc"})", 400, "invalid_field", "init_images",
       "must be an array of strings"},
      {"img2img strength", I, json{{"init_images", {img64}}, {"denoising_strength", 2}}.dump(), 400, "invalid_field",
       "denoising_strength", "[0, 1]"},
      {"img2img bad image", I, json{{"init_images", {not_image}}}.dump(), 400, "invalid_image", "init_images[0]",
       "not a readable"},
      {"openai missing prompt", O, R"({"n":1})", 400, "missing_field", "prompt", "required"},
      {"openai size format", O, R"({"prompt":"x","size":"big"})", 400, "invalid_field", "size", "WIDTHxHEIGHT"},
      {"openai size multiple", O, R"({"prompt":"x","size":"100x100"})", 400, "invalid_field", "size",
       "multiple of 8"},
      {"openai n", O, R"({"prompt":"x","n":20})", 400, "invalid_field", "n", "[1, 8]"},
      {"openai format", O, R"({"prompt":"x","response_format":"png"})", 400, "invalid_field", "response_format",
       "\"b64_json\" or \"url\""},
      {"openai unknown field", O, R"({"prompt":"x","foo":1})", 400, "unknown_field", "foo", "unknown field 'foo'"},
  };
}

TEST(BadInput, EveryCaseGetsItsStatusCodeFieldAndMessageAndTheServerStaysHealthy) {
  ServeProcess server;
  auto c = server.client();
  for (const BadRequest& b : matrix()) {
    SCOPED_TRACE(b.name);
    auto res = c->Post(b.path, b.body, "application/json");
    ASSERT_TRUE(res) << "no response";
    EXPECT_EQ(res->status, b.status);
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    const json e = json_of(res)["error"];
    EXPECT_EQ(e["code"], b.code);
    EXPECT_EQ(e["field"], b.field.empty() ? json(nullptr) : json(b.field));
    EXPECT_NE(e["message"].get<std::string>().find(b.message), std::string::npos) << e["message"];
    auto health = c->Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
  }
  // Nothing reached the queue.
  EXPECT_NE(c->Get("/metrics")->body.find("sdpp_jobs_submitted_total 0\n"), std::string::npos);
  EXPECT_TRUE(server.alive());
}

TEST(BadInput, BodyOverTheLimitIs413) {
  ServeProcess server({"--max-body-mb", "1"});
  auto c = server.client();
  const std::string big = with({{"init_image", std::string(2 << 20, 'A')}});
  auto res = c->Post("/v1/jobs", big, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  const json e = json_of(res)["error"];
  EXPECT_EQ(e["code"], "payload_too_large");
  EXPECT_NE(e["message"].get<std::string>().find("1048576 bytes"), std::string::npos);
  // What `curl -d` sends by default: the message says how to fix it.
  auto form = c->Post("/v1/jobs", with({{"prompt", std::string(10000, 'a')}}), "application/x-www-form-urlencoded");
  EXPECT_EQ(form->status, 413);
  EXPECT_NE(json_of(form)["error"]["message"].get<std::string>().find("Content-Type: application/json"),
            std::string::npos);
  auto ok = c->Post("/v1/jobs", with(), "application/json");
  EXPECT_EQ(ok->status, 202);
  EXPECT_EQ(c->Get("/health")->status, 200);
}

TEST(BadInput, ApiKeyIsRequiredOnTheApiOnly) {
  ServeProcess server({"--api-key", "s3cret"});
  auto c = server.client();
  auto none = c->Get("/v1/models");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json_of(none)["error"]["code"], "unauthorized");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong = c->Post("/v1/jobs", with(), "application/json");
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(c->Get("/v1/models", {{"Authorization", "Bearer s3cre"}})->status, 401);
  EXPECT_EQ(c->Get("/v1/models", {{"Authorization", "Bearer s3cret!"}})->status, 401);
  EXPECT_EQ(c->Get("/sdapi/v1/sd-models", {{"X-API-Key", "nope"}})->status, 401);
  EXPECT_EQ(c->Get("/v1/models", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(c->Get("/sdapi/v1/sd-models", {{"X-API-Key", "s3cret"}})->status, 200);
  auto posted = c->Post("/v1/jobs", {{"Authorization", "Bearer s3cret"}}, with(), "application/json");
  EXPECT_EQ(posted->status, 202);
  // The page, health and metrics stay open (the page asks for the key itself).
  EXPECT_EQ(c->Get("/")->status, 200);
  EXPECT_EQ(c->Get("/health")->status, 200);
  EXPECT_EQ(c->Get("/ready")->status, 200);
  EXPECT_EQ(c->Get("/metrics")->status, 200);
}

TEST(BadInput, FullQueueIs429WithRetryAfter) {
  ServeProcess server({"--queue-size", "2"});
  auto c = server.client();
  const std::string blocker = R"({"prompt":"b","width":128,"height":128,"steps":150})";
  const json running = json_of(c->Post("/v1/jobs", blocker, "application/json"));
  wait_for_status(*c, running["id"], "running");
  std::vector<std::string> ids = {running["id"]};
  for (int i = 0; i < 2; ++i) ids.push_back(json_of(c->Post("/v1/jobs", with(), "application/json"))["id"]);
  for (const auto& [path, body] : {std::pair<std::string, std::string>{"/v1/jobs", with()},
                                   {"/sdapi/v1/txt2img", with()},
                                   {"/v1/images/generations", R"({"prompt":"x","size":"64x64"})"}}) {
    auto res = c->Post(path, body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429) << path;
    EXPECT_EQ(res->get_header_value("Retry-After"), "5");
    EXPECT_EQ(json_of(res)["error"]["code"], "queue_full");
  }
  for (const std::string& id : ids) c->Delete("/v1/jobs/" + id);
  for (const std::string& id : ids) EXPECT_EQ(wait_for_status(*c, id, "cancelled,succeeded")["status"], "cancelled");
  EXPECT_EQ(c->Post("/v1/jobs", with(), "application/json")->status, 202);
  EXPECT_NE(c->Get("/metrics")->body.find("sdpp_jobs_rejected_total{reason=\"queue_full\"} 3\n"), std::string::npos);
}

}  // namespace
}  // namespace sdpp::testing
