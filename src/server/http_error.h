// Every error the server answers with: an HTTP status plus {"error": {"code", "message", "field"}} so a client can
// point at the offending input. Handlers throw HttpError; the router turns it into the response.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
struct Response;
}

namespace sdpp::server {

class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string code, const std::string& message, std::string field = {})
      : std::runtime_error(message), status_(status), code_(std::move(code)), field_(std::move(field)) {}

  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }
  HttpError& with_header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

 private:
  int status_;
  std::string code_, field_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

// 400 naming the field: the common case of validation.
inline HttpError bad_field(const std::string& field, const std::string& message, std::string code = "invalid_field") {
  return HttpError(400, std::move(code), message, field);
}

nlohmann::json error_body(const std::string& code, const std::string& message, const std::string& field = {});
void send_error(httplib::Response& res, const HttpError& error);
void send_json(httplib::Response& res, int status, const nlohmann::json& body);

}  // namespace sdpp::server
