// OpenAI-compatible POST /v1/images/generations: {prompt, n, size "WxH", response_format "b64_json" | "url",
// model?} -> {created, data: [{b64_json | url, revised_prompt}]}. sdpp extensions: negative_prompt, steps,
// cfg_scale, seed, sampler. OpenAI's quality/style/user are accepted and ignored; other fields are rejected.
#include <ctime>

#include "server/base64.h"
#include "server/context.h"
#include "server/http_error.h"
#include "server/job_json.h"
#include "server/json_fields.h"
#include "server/request_validation.h"
#include "server/router.h"

namespace sdpp::server {

using nlohmann::json;

namespace {

std::pair<int, int> parse_size(const std::string& size) {
  int w = 0, h = 0;
  char tail = 0;
  if (std::sscanf(size.c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w <= 0 || h <= 0)
    throw bad_field("size", "'size' must be \"WIDTHxHEIGHT\" such as \"512x512\", got '" + size + "'");
  return {w, h};
}

}  // namespace

void register_openai_routes(Router& router, ServerContext& ctx) {
  router.post("/v1/images/generations", [&ctx](const httplib::Request& req, httplib::Response& res) {
    require_ready(ctx);
    const json body = parse_json_body(req.body);
    const RequestLimits& limits = ctx.options.limits;
    JsonFields f(body);
    GenerationRequest r;
    const auto prompt = f.string("prompt", limits.max_prompt_bytes);
    if (!prompt) throw bad_field("prompt", "'prompt' is required (a string)", "missing_field");
    r.prompt = *prompt;
    r.batch = static_cast<int>(f.integer("n", 1, limits.max_batch).value_or(1));
    if (const auto size = f.string("size", 32)) {
      std::tie(r.width, r.height) = parse_size(*size);
      if (r.width > limits.max_side || r.height > limits.max_side || r.width < limits.min_side ||
          r.height < limits.min_side)
        throw bad_field("size", "'size' sides must be in [" + std::to_string(limits.min_side) + ", " +
                                    std::to_string(limits.max_side) + "], got '" + *size + "'");
    }
    const std::string format = f.string("response_format", 16).value_or("b64_json");
    if (format != "b64_json" && format != "url")
      throw bad_field("response_format", "'response_format' must be \"b64_json\" or \"url\", got '" + format + "'");
    r.model = f.string("model", 256).value_or("");
    r.negative_prompt = f.string("negative_prompt", limits.max_prompt_bytes).value_or("");
    r.steps = static_cast<int>(f.integer("steps", 1, limits.max_steps).value_or(0));
    r.cfg_scale = static_cast<float>(f.number("cfg_scale", 0.0, 30.0).value_or(-1.0));
    r.seed = f.seed("seed");
    r.sampler = f.string("sampler", 64).value_or("");
    for (const char* ignored : {"quality", "style", "user"}) f.mark_known(ignored);
    f.reject_unknown();
    FieldNames names;
    names.width = names.height = "size";
    names.batch = "n";
    complete_request(r, ctx.catalog, limits, names);
    r.preview_every = 0;  // nobody watches a synchronous call's previews

    std::vector<GenerationRequest> one;
    one.push_back(r);
    const auto jobs = submit_or_throw(ctx, std::move(one));
    const engine::JobSnapshot s = wait_for_jobs(ctx, jobs).front();
    if (s.state == engine::JobState::Failed) throw HttpError(500, s.error_code, "generation failed: " + s.error_message);
    if (s.state == engine::JobState::Cancelled) throw HttpError(409, "cancelled", "the generation was cancelled");
    json data = json::array();
    const std::string host = req.get_header_value("Host");
    for (size_t i = 0; i < s.result->png.size(); ++i) {
      json item = {{"revised_prompt", r.prompt}};
      if (format == "b64_json")
        item["b64_json"] = base64_encode(s.result->png[i]);
      else
        item["url"] = "http://" + host + image_path(s.id, i);
      data.push_back(item);
    }
    send_json(res, 200, {{"created", static_cast<int64_t>(std::time(nullptr))}, {"data", data}});
  });
}

}  // namespace sdpp::server
