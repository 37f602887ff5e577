// AUTOMATIC1111-compatible endpoints (/sdapi/v1/*): synchronous txt2img/img2img returning base64 PNGs, progress
// of the running job, interrupt, and the sampler/model/option lists clients probe on connect.
#include <algorithm>
#include <list>
#include <mutex>

#include "schedulers/scheduler.h"
#include "server/base64.h"
#include "server/context.h"
#include "server/http_error.h"
#include "server/json_fields.h"
#include "server/router.h"
#include "server/sdapi_request.h"

namespace sdpp::server {

using nlohmann::json;

namespace {

struct SdapiState {
  std::mutex mu;
  std::string model;  // what /sdapi calls use when override_settings names none; POST /sdapi/v1/options sets it
  // The job ids of each /sdapi request in flight: an interrupt ends the whole request (all n_iter jobs), as in A1111.
  std::list<std::vector<std::string>> requests;
};

json info_json(const SdapiRequest& req, const std::vector<engine::JobSnapshot>& jobs, bool interrupted) {
  const GenerationRequest& r = req.jobs.front();
  json seeds = json::array(), infotexts = json::array(), prompts = json::array(), negatives = json::array();
  for (const engine::JobSnapshot& s : jobs) {
    if (!s.result) continue;
    for (size_t i = 0; i < s.result->png.size(); ++i) {
      seeds.push_back(s.result->seed);
      infotexts.push_back(s.result->infotext);
      prompts.push_back(r.prompt);
      negatives.push_back(r.negative_prompt);
    }
  }
  return {{"prompt", r.prompt},
          {"all_prompts", prompts},
          {"negative_prompt", r.negative_prompt},
          {"all_negative_prompts", negatives},
          {"seed", *r.seed},
          {"all_seeds", seeds},
          {"subseed", -1},
          {"all_subseeds", json::array()},
          {"width", r.width},
          {"height", r.height},
          {"sampler_name", r.sampler.empty() ? json(nullptr) : json(sdapi_sampler_name(r.sampler))},
          {"cfg_scale", r.cfg_scale},
          {"steps", r.steps},
          {"batch_size", r.batch},
          {"denoising_strength", r.init_image ? json(r.strength) : json(nullptr)},
          {"sd_model_name", r.model},
          {"clip_skip", r.clip_skip},
          {"infotexts", infotexts},
          {"interrupted", interrupted},
          {"version", "sdpp"}};
}

void generate(ServerContext& ctx, SdapiState& state, bool img2img, const httplib::Request& req,
              httplib::Response& res) {
  require_ready(ctx);
  std::string model;
  {
    std::lock_guard lock(state.mu);
    model = state.model;
  }
  SdapiRequest request = parse_sdapi_request(parse_json_body(req.body), img2img, ctx.catalog, ctx.options.limits, model);
  const auto jobs = submit_or_throw(ctx, request.jobs);
  std::list<std::vector<std::string>>::iterator registered;
  {
    std::vector<std::string> ids;
    for (const auto& job : jobs) ids.push_back(job->id());
    std::lock_guard lock(state.mu);
    registered = state.requests.insert(state.requests.end(), std::move(ids));
  }
  const std::vector<engine::JobSnapshot> done = wait_for_jobs(ctx, jobs);
  {
    std::lock_guard lock(state.mu);
    state.requests.erase(registered);
  }
  json images = json::array();
  bool interrupted = false;
  for (const engine::JobSnapshot& s : done) {
    if (s.state == engine::JobState::Failed)
      throw HttpError(500, s.error_code, "generation failed: " + s.error_message);
    if (s.state == engine::JobState::Cancelled) interrupted = true;
    if (s.result)
      for (const std::string& png : s.result->png) images.push_back(base64_encode(png));
  }
  // As in A1111, an interrupted request still answers 200 with the images finished before the interrupt.
  send_json(res, 200, {{"images", images}, {"parameters", request.parameters},
                       {"info", info_json(request, done, interrupted).dump(-1, ' ', false,
                                                                          json::error_handler_t::replace)}});
}

json progress_json(ServerContext& ctx, bool skip_image) {
  const std::vector<std::shared_ptr<engine::Job>> running = ctx.jobs.running();
  const size_t job_count = running.size() + ctx.jobs.queue_depth();
  json state = {{"skipped", false}, {"interrupted", false}, {"job", ""}, {"job_count", job_count},
                {"job_timestamp", "0"}, {"job_no", 0}, {"sampling_step", 0}, {"sampling_steps", 0}};
  if (running.empty())
    return {{"progress", 0.0}, {"eta_relative", 0.0}, {"state", state}, {"current_image", nullptr},
            {"textinfo", nullptr}};
  const engine::JobSnapshot s = running.front()->snapshot();
  state["job"] = s.id;
  state["interrupted"] = s.cancel_requested;
  state["sampling_step"] = s.step;
  state["sampling_steps"] = s.total;
  const double progress = s.total > 0 ? double(s.step) / s.total : 0.0;
  json image = nullptr;
  if (!skip_image && s.preview_png) image = base64_encode(*s.preview_png);
  return {{"progress", progress}, {"eta_relative", s.eta_s}, {"state", state}, {"current_image", image},
          {"textinfo", nullptr}};
}

}  // namespace

void register_sdapi_routes(Router& router, ServerContext& ctx) {
  auto state = std::make_shared<SdapiState>();
  router.post("/sdapi/v1/txt2img", [&ctx, state](const httplib::Request& req, httplib::Response& res) {
    generate(ctx, *state, false, req, res);
  });
  router.post("/sdapi/v1/img2img", [&ctx, state](const httplib::Request& req, httplib::Response& res) {
    generate(ctx, *state, true, req, res);
  });

  router.get("/sdapi/v1/progress", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string skip = req.get_param_value("skip_current_image");
    send_json(res, 200, progress_json(ctx, skip == "true" || skip == "1"));
  });

  router.post("/sdapi/v1/interrupt", [&ctx, state](const httplib::Request&, httplib::Response& res) {
    for (const auto& job : ctx.jobs.running()) {
      std::vector<std::string> group = {job->id()};
      {
        std::lock_guard lock(state->mu);
        for (const auto& ids : state->requests)
          if (std::find(ids.begin(), ids.end(), job->id()) != ids.end()) group = ids;
      }
      // Waiting iterations first, so none starts when the running one stops.
      for (auto id = group.rbegin(); id != group.rend(); ++id) ctx.jobs.cancel(*id);
    }
    send_json(res, 200, json::object());
  });

  router.get("/sdapi/v1/samplers", [&ctx](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const std::string& name : ctx.catalog.samplers()) {
      json aliases = json::array({name});
      if (const schedulers::SamplerInfo* s = schedulers::find_sampler(name))
        for (size_t i = 1; i < s->aliases.size(); ++i) aliases.push_back(s->aliases[i]);
      out.push_back({{"name", sdapi_sampler_name(name)}, {"aliases", aliases}, {"options", json::object()}});
    }
    send_json(res, 200, out);
  });

  router.get("/sdapi/v1/schedulers", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, json::array({{{"name", "automatic"}, {"label", "Automatic"}, {"aliases", nullptr}},
                                     {{"name", "karras"}, {"label", "Karras"}, {"aliases", nullptr}}}));
  });

  router.get("/sdapi/v1/sd-models", [&ctx](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const ModelInfo& m : ctx.catalog.models())
      out.push_back({{"title", m.name}, {"model_name", m.name}, {"hash", nullptr}, {"sha256", nullptr},
                     {"filename", m.path}, {"config", nullptr}});
    send_json(res, 200, out);
  });

  router.get("/sdapi/v1/options", [&ctx, state](const httplib::Request&, httplib::Response& res) {
    std::string model;
    {
      std::lock_guard lock(state->mu);
      model = state->model;
    }
    if (model.empty())
      if (const auto m = ctx.catalog.find_model("")) model = m->name;
    send_json(res, 200, {{"sd_model_checkpoint", model}, {"CLIP_stop_at_last_layers", 1}});
  });

  router.post("/sdapi/v1/options", [&ctx, state](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_json_body(req.body);
    JsonFields f(body);
    if (const auto model = f.string("sd_model_checkpoint", 256)) {
      if (!ctx.catalog.find_model(*model))
        throw HttpError(400, "unknown_model", "unknown model '" + *model + "'", "sd_model_checkpoint");
      std::lock_guard lock(state->mu);
      state->model = *model;
    }
    send_json(res, 200, nullptr);
  });
}

}  // namespace sdpp::server
