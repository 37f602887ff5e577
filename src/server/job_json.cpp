#include "server/job_json.h"

#include <ctime>

#include "server/base64.h"

namespace sdpp::server {

using nlohmann::json;

namespace {

const char* mode_name(GenerationMode mode) {
  switch (mode) {
    case GenerationMode::Txt2Img: return "txt2img";
    case GenerationMode::Img2Img: return "img2img";
    case GenerationMode::Inpaint: return "inpaint";
  }
  return "txt2img";
}

json time_or_null(engine::WallClock::time_point t) {
  const std::string s = iso8601(t);
  return s.empty() ? json(nullptr) : json(s);
}

json result_json(const std::string& id, const Result& r) {
  json images = json::array();
  for (size_t i = 0; i < r.png.size(); ++i) images.push_back(image_path(id, i));
  return {{"images", images}, {"seed", r.seed}, {"infotext", r.infotext}};
}

json timings_json(const Timings& t) {
  return {{"text_encode_s", t.text_encode_s}, {"denoise_s", t.denoise_s}, {"decode_s", t.decode_s},
          {"total_s", t.total_s}};
}

}  // namespace

std::string job_path(const std::string& id) { return "/v1/jobs/" + id; }

std::string image_path(const std::string& id, size_t index) {
  return job_path(id) + "/images/" + std::to_string(index) + ".png";
}

std::string png_data_uri(const std::string& png) { return "data:image/png;base64," + base64_encode(png); }

std::string iso8601(engine::WallClock::time_point t) {
  if (t == engine::WallClock::time_point{}) return {};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

json request_json(const GenerationRequest& r, GenerationMode mode) {
  json j = {{"model", r.model},
            {"mode", mode_name(mode)},
            {"prompt", r.prompt},
            {"negative_prompt", r.negative_prompt},
            {"width", r.width},
            {"height", r.height},
            {"steps", r.steps},
            {"cfg_scale", r.cfg_scale},
            {"seed", r.seed ? json(*r.seed) : json(nullptr)},
            {"sampler", r.sampler.empty() ? json(nullptr) : json(r.sampler)},
            {"batch", r.batch},
            {"preview_every", r.preview_every},
            {"preview_method", r.preview_method},
            {"clip_skip", r.clip_skip}};
  if (mode != GenerationMode::Txt2Img) j["strength"] = r.strength;
  return j;
}

json job_links(const std::string& id) {
  return {{"self", job_path(id)}, {"events", job_path(id) + "/events"}, {"cancel", job_path(id)}};
}

json job_json(const engine::JobSnapshot& s) {
  json j = {{"id", s.id},
            {"status", engine::job_state_name(s.state)},
            {"queue_position", s.queue_position > 0 ? json(s.queue_position) : json(nullptr)},
            {"cancel_requested", s.cancel_requested},
            {"progress",
             {{"step", s.step},
              {"total", s.total},
              {"fraction", s.total > 0 ? double(s.step) / s.total : 0.0},
              {"it_per_s", s.it_per_s},
              {"eta_s", s.eta_s}}},
            {"params", request_json(*s.request, s.mode)},
            {"created_at", time_or_null(s.created_at)},
            {"started_at", time_or_null(s.started_at)},
            {"finished_at", time_or_null(s.finished_at)},
            {"links", job_links(s.id)}};
  json timings = {{"queued_s", s.queued_s}, {"run_s", s.run_s}};
  if (s.result) timings.update(timings_json(s.result->timings));
  j["timings"] = timings;
  j["result"] = s.result ? result_json(s.id, *s.result) : json(nullptr);
  j["error"] = s.error_code.empty() ? json(nullptr) : json{{"code", s.error_code}, {"message", s.error_message}};
  j["preview"] = s.preview_png ? json{{"step", s.preview_step}, {"image", png_data_uri(*s.preview_png)}}
                               : json(nullptr);
  return j;
}

json event_json(const std::string& id, const engine::JobEvent& e) {
  using engine::EventType;
  json j = {{"id", id}};
  switch (e.type) {
    case EventType::Queued: j["queue_position"] = e.queue_position; break;
    case EventType::Started: j["steps"] = e.total; break;  // as requested; progress.total counts model calls
    case EventType::Progress:
      j.update({{"step", e.step}, {"total", e.total}, {"it_per_s", e.it_per_s}, {"eta_s", e.eta_s}});
      break;
    case EventType::Preview:
      j.update({{"step", e.step}, {"total", e.total}, {"image", e.preview_png ? png_data_uri(*e.preview_png) : ""}});
      break;
    case EventType::Completed:
      if (e.result) {
        j.update(result_json(id, *e.result));
        j["timings"] = timings_json(e.result->timings);
      }
      break;
    case EventType::Failed: j["error"] = {{"code", e.error_code}, {"message", e.error_message}}; break;
    case EventType::Cancelled: break;
  }
  return j;
}

}  // namespace sdpp::server
