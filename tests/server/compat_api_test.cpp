// AUTOMATIC1111 (/sdapi/v1/*) and OpenAI (/v1/images/generations) request and response shapes against the real
// `sdpp serve`, and the same image from the API as from `sdpp generate` for the same parameters and seed.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "../test_device.h"
#include "image/image_io.h"
#include "server/base64.h"
#include "serve_process.h"

namespace sdpp::testing {
namespace {

using nlohmann::json;

json post(httplib::Client& c, const std::string& path, const json& body, int expect_status = 200) {
  auto res = c.Post(path, body.dump(), "application/json");
  json j = json_of(res);
  EXPECT_EQ(res ? res->status : 0, expect_status) << path << ": " << j.dump().substr(0, 400);
  return j;
}

Image decode_b64_png(const std::string& b64) {
  const std::string png = base64_decode_for_test(b64);
  EXPECT_EQ(png.rfind("\x89PNG", 0), 0u);
  return decode_image(png, "image");
}

TEST(SdapiApi, Txt2ImgShape) {
  ServeProcess server;
  auto c = server.client();
  const json r = post(*c, "/sdapi/v1/txt2img",
                      {{"prompt", "a castle"}, {"negative_prompt", "fog"}, {"sampler_name", "DPM++ 2M"},
                       {"scheduler", "Karras"}, {"steps", 4}, {"cfg_scale", 6.5}, {"seed", 99}, {"width", 64},
                       {"height", 72}, {"batch_size", 2}, {"n_iter", 2}, {"restore_faces", false},
                       {"send_images", true}});
  ASSERT_EQ(r["images"].size(), 4u);
  const Image first = decode_b64_png(r["images"][0]);
  EXPECT_EQ(first.width, 64);
  EXPECT_EQ(first.height, 72);
  EXPECT_EQ(r["parameters"]["prompt"], "a castle");
  EXPECT_EQ(r["parameters"]["sampler_name"], "DPM++ 2M Karras");
  EXPECT_EQ(r["parameters"]["seed"], 99);
  EXPECT_EQ(r["parameters"]["n_iter"], 2);
  ASSERT_TRUE(r["info"].is_string());
  const json info = json::parse(r["info"].get<std::string>());
  EXPECT_EQ(info["seed"], 99);
  EXPECT_EQ(info["all_seeds"], json::array({99, 99, 101, 101}));  // iteration i starts at seed + i * batch_size
  EXPECT_EQ(info["infotexts"].size(), 4u);
  EXPECT_NE(info["infotexts"][0].get<std::string>().find("Sampler: DPM++ 2M"), std::string::npos);
  EXPECT_EQ(info["sd_model_name"], "sd15");
  EXPECT_EQ(info["interrupted"], false);
}

TEST(SdapiApi, Img2ImgAndInpaintShape) {
  ServeProcess server({}, {fixture_models_dir() + "/sd15", fixture_models_dir() + "/sd15_inpaint"});
  auto c = server.client();
  const json t = post(*c, "/sdapi/v1/txt2img", {{"prompt", "src"}, {"steps", 2}, {"width", 64}, {"height", 64}});
  const std::string init = t["images"][0];
  const json i2i = post(*c, "/sdapi/v1/img2img",
                        {{"prompt", "again"}, {"init_images", {init}}, {"denoising_strength", 0.6}, {"steps", 5},
                         {"seed", 5}, {"sampler_name", "Euler a"}});
  ASSERT_EQ(i2i["images"].size(), 1u);
  EXPECT_EQ(decode_b64_png(i2i["images"][0]).width, 64);
  EXPECT_EQ(i2i["parameters"]["denoising_strength"], 0.6f);
  EXPECT_EQ(json::parse(i2i["info"].get<std::string>())["denoising_strength"], 0.6f);

  Image mask{64, 64, 1, std::vector<uint8_t>(64 * 64, 255)};
  const std::string mask_b64 = server::base64_encode(encode_png(mask));
  const json inpaint = post(*c, "/sdapi/v1/img2img",
                            {{"prompt", "fill"}, {"init_images", {"data:image/png;base64," + init}}, {"mask", mask_b64},
                             {"inpainting_mask_invert", 1}, {"steps", 3},
                             {"override_settings", {{"sd_model_checkpoint", "sd15_inpaint"}}}});
  ASSERT_EQ(inpaint["images"].size(), 1u);
  EXPECT_EQ(inpaint["parameters"]["override_settings"]["sd_model_checkpoint"], "sd15_inpaint");
  EXPECT_EQ(json::parse(inpaint["info"].get<std::string>())["sd_model_name"], "sd15_inpaint");
}

TEST(SdapiApi, ListsProgressOptions) {
  ServeProcess server;
  auto c = server.client();
  const json samplers = json_of(c->Get("/sdapi/v1/samplers"));
  ASSERT_TRUE(samplers.is_array());
  bool euler_a = false;
  for (const json& s : samplers) {
    EXPECT_TRUE(s["aliases"].is_array());
    EXPECT_TRUE(s["options"].is_object());
    if (s["name"] == "Euler a") euler_a = s["aliases"][0] == "euler_a";
  }
  EXPECT_TRUE(euler_a);
  const json models = json_of(c->Get("/sdapi/v1/sd-models"));
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["title"], "sd15");
  EXPECT_EQ(models[0]["model_name"], "sd15");
  EXPECT_TRUE(models[0].contains("filename"));
  const json idle = json_of(c->Get("/sdapi/v1/progress"));
  EXPECT_EQ(idle["progress"], 0.0);
  EXPECT_EQ(idle["state"]["job_count"], 0);
  EXPECT_EQ(idle["current_image"], nullptr);
  EXPECT_EQ(json_of(c->Get("/sdapi/v1/options"))["sd_model_checkpoint"], "sd15");
  EXPECT_EQ(c->Post("/sdapi/v1/options", R"({"sd_model_checkpoint":"nope"})", "application/json")->status, 400);

  // While a job runs, progress reports it with the live preview.
  const json job = json_of(c->Post("/v1/jobs", R"({"prompt":"p","width":128,"height":128,"steps":150,"preview_every":1})",
                                   "application/json"));
  json running;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < give_up) {
    running = json_of(c->Get("/sdapi/v1/progress"));
    if (running["state"]["sampling_step"].get<int>() >= 2 && !running["current_image"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(running["progress"].get<double>(), 0.0);
  EXPECT_LT(running["progress"].get<double>(), 1.0);
  EXPECT_EQ(running["state"]["job"], job["id"]);
  EXPECT_GT(running["eta_relative"].get<double>(), 0.0);
  ASSERT_TRUE(running["current_image"].is_string());
  EXPECT_GT(decode_b64_png(running["current_image"]).width, 0);
  EXPECT_EQ(c->Post("/sdapi/v1/interrupt", "", "application/json")->status, 200);
  EXPECT_EQ(wait_for_status(*c, job["id"], "cancelled,succeeded")["status"], "cancelled");
}

TEST(OpenAiApi, ImagesGenerationsShape) {
  ServeProcess server;
  auto c = server.client();
  const json r = post(*c, "/v1/images/generations",
                      {{"prompt", "a fox"}, {"n", 2}, {"size", "64x64"}, {"response_format", "b64_json"},
                       {"quality", "standard"}, {"steps", 3}});
  EXPECT_GT(r["created"].get<int64_t>(), 1700000000);
  ASSERT_EQ(r["data"].size(), 2u);
  for (const json& item : r["data"]) {
    EXPECT_EQ(item["revised_prompt"], "a fox");
    EXPECT_EQ(decode_b64_png(item["b64_json"]).height, 64);
  }
  const json u = post(*c, "/v1/images/generations", {{"prompt", "url"}, {"size", "64x64"}, {"response_format", "url"},
                                                      {"steps", 2}, {"model", "sd15"}});
  ASSERT_EQ(u["data"].size(), 1u);
  const std::string url = u["data"][0]["url"];
  const std::string prefix = "http://127.0.0.1:" + std::to_string(server.port());
  ASSERT_EQ(url.rfind(prefix, 0), 0u) << url;
  auto png = c->Get(url.substr(prefix.size()));
  ASSERT_EQ(png->status, 200);
  EXPECT_EQ(decode_image(png->body, "url").width, 64);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string device_flag() {
  const std::string device = test::test_device();
  return device.empty() ? "" : " --device " + device;
}

TEST(Parity, ApiImageEqualsSdppGenerate) {
  const std::string model = fixture_models_dir() + "/sd15";
  char dir[] = "/tmp/sdpp-generate-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  const std::string out = std::string(dir) + "/cli.png";
  const std::string cmd = std::string(SDPP_BINARY) + " generate --model " + model +
                          " --prompt 'a red bicycle' --negative-prompt 'rust' --width 64 --height 64 --steps 5"
                          " --seed 4242 --sampler euler_a --cfg-scale 6 -o " + out + device_flag() + " > /dev/null 2>&1";
  ASSERT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 0) << cmd;
  const std::string cli_png = read_file(out);
  std::remove(out.c_str());
  rmdir(dir);

  ServeProcess server;
  auto c = server.client();
  const json job = json_of(c->Post("/v1/jobs",
                                   json{{"prompt", "a red bicycle"}, {"negative_prompt", "rust"}, {"width", 64},
                                        {"height", 64}, {"steps", 5}, {"seed", 4242}, {"sampler", "euler_a"},
                                        {"cfg_scale", 6}}
                                       .dump(),
                                   "application/json"));
  const json done = wait_for_status(*c, job["id"], "succeeded,failed");
  ASSERT_EQ(done["status"], "succeeded");
  const std::string api_png = c->Get(done["result"]["images"][0].get<std::string>())->body;
  const Image from_cli = decode_image(cli_png, "cli");
  const Image from_api = decode_image(api_png, "api");
  EXPECT_EQ(from_api.width, from_cli.width);
  EXPECT_EQ(from_api.height, from_cli.height);
  EXPECT_TRUE(from_api.pixels == from_cli.pixels) << "the API image differs from sdpp generate's";
  EXPECT_EQ(read_png_text(api_png).at("parameters"), read_png_text(cli_png).at("parameters"));

  // The A1111 endpoint runs the same engine: same seed and parameters, same pixels.
  const json a1111 = json_of(c->Post("/sdapi/v1/txt2img",
                                     json{{"prompt", "a red bicycle"}, {"negative_prompt", "rust"}, {"width", 64},
                                          {"height", 64}, {"steps", 5}, {"seed", 4242}, {"sampler_name", "Euler a"},
                                          {"cfg_scale", 6}}
                                         .dump(),
                                     "application/json"));
  EXPECT_TRUE(decode_b64_png(a1111["images"][0]).pixels == from_cli.pixels);
}

}  // namespace
}  // namespace sdpp::testing
