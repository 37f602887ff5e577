#include "server/http_error.h"

#include <httplib.h>

namespace sdpp::server {

nlohmann::json error_body(const std::string& code, const std::string& message, const std::string& field) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  e["field"] = field.empty() ? nlohmann::json(nullptr) : nlohmann::json(field);
  return {{"error", e}};
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  // Replace invalid UTF-8 (a prompt is user text) instead of throwing while answering.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const HttpError& error) {
  for (const auto& [name, value] : error.headers()) res.set_header(name, value);
  send_json(res, error.status(), error_body(error.code(), error.what(), error.field()));
}

}  // namespace sdpp::server
