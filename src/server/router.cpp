#include "server/router.h"

#include <cstdlib>
#include <exception>

#include "server/http_error.h"

namespace sdpp::server {

namespace {

// Constant time over the key's length: the check must not leak how many leading characters were right.
bool same_secret(const std::string& presented, const std::string& key) {
  if (presented.size() != key.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(presented[i] ^ key[i]);
  return diff == 0;
}

std::string presented_key(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  const std::string bearer = "Bearer ";
  if (auth.compare(0, bearer.size(), bearer) == 0) return auth.substr(bearer.size());
  return req.get_header_value("X-API-Key");
}

Handler guarded(Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const HttpError& e) {
      send_error(res, e);
    } catch (const std::bad_alloc&) {
      send_error(res, HttpError(503, "out_of_memory", "the server ran out of memory handling this request"));
    } catch (const std::exception& e) {
      send_error(res, HttpError(500, "internal", std::string("internal error: ") + e.what()));
    }
  };
}

}  // namespace

Router::Router(httplib::Server& http, const ServerOptions& options) : http_(http), options_(options) {
  http_.set_pre_routing_handler(
      httplib::Server::HandlerWithResponse([this](const auto& req, auto& res) { return pre_route(req, res); }));
  http_.set_error_handler(
      httplib::Server::HandlerWithResponse([this](const auto& req, auto& res) { return on_error(req, res); }));
  if (!options_.cors_origin.empty()) {
    http_.set_default_headers({{"Access-Control-Allow-Origin", options_.cors_origin},
                               {"Access-Control-Expose-Headers", "Location, Retry-After"},
                               {"Vary", "Origin"}});
  }
}

bool Router::needs_api_key(const std::string& path) {
  return path.rfind("/v1/", 0) == 0 || path.rfind("/sdapi/", 0) == 0;
}

void Router::remember(const std::string& method, const std::string& pattern) {
  routes_.emplace_back(method, std::regex(pattern));
}

void Router::get(const std::string& pattern, Handler handler) {
  remember("GET", pattern);
  http_.Get(pattern, guarded(std::move(handler)));
}

void Router::post(const std::string& pattern, Handler handler) {
  remember("POST", pattern);
  http_.Post(pattern, guarded(std::move(handler)));
}

void Router::del(const std::string& pattern, Handler handler) {
  remember("DELETE", pattern);
  http_.Delete(pattern, guarded(std::move(handler)));
}

std::string Router::allowed_methods(const std::string& path) const {
  std::string allow;
  for (const auto& [method, pattern] : routes_)
    if (std::regex_match(path, pattern) && allow.find(method) == std::string::npos)
      allow += (allow.empty() ? "" : ", ") + method;
  return allow;
}

httplib::Server::HandlerResponse Router::pre_route(const httplib::Request& req, httplib::Response& res) const {
  using R = httplib::Server::HandlerResponse;
  if (req.method == "OPTIONS" && !options_.cors_origin.empty()) {
    // CORS preflight: browsers send no credentials with it, so it is answered before the key check.
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type, Last-Event-ID");
    res.set_header("Access-Control-Max-Age", "600");
    return R::Handled;
  }
  if (!options_.api_key.empty() && needs_api_key(req.path) && !same_secret(presented_key(req), options_.api_key)) {
    const bool missing = presented_key(req).empty();
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, HttpError(401, "unauthorized",
                              missing ? "this server needs an API key: send 'Authorization: Bearer KEY'"
                                      : "the API key is not valid"));
    return R::Handled;
  }
  return R::Unhandled;
}

httplib::Server::HandlerResponse Router::on_error(const httplib::Request& req, httplib::Response& res) const {
  using R = httplib::Server::HandlerResponse;
  if (!res.body.empty()) return R::Unhandled;  // a handler already wrote its error document
  if (res.status == 404) {
    const std::string allow = allowed_methods(req.path);
    if (!allow.empty()) {
      res.set_header("Allow", allow);
      send_error(res, HttpError(405, "method_not_allowed", req.method + " is not allowed on " + req.path +
                                                               "; allowed: " + allow));
    } else {
      send_error(res, HttpError(404, "not_found", "no such endpoint: " + req.method + " " + req.path));
    }
  } else if (res.status == 413) {
    // httplib caps form-encoded bodies at 8 KiB whatever the limit; `curl -d` sends that type unless told otherwise.
    const bool form = req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
    const size_t length = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
    send_error(res, form && length <= options_.max_body_bytes
                        ? HttpError(413, "payload_too_large",
                                    "bodies sent as application/x-www-form-urlencoded are limited to 8192 bytes; "
                                    "send the JSON with 'Content-Type: application/json'")
                        : HttpError(413, "payload_too_large", "request body exceeds the limit of " +
                                                                  std::to_string(options_.max_body_bytes) + " bytes"));
  } else {
    send_error(res, HttpError(res.status, "bad_request", "the request could not be read (HTTP " +
                                                             std::to_string(res.status) + ")"));
  }
  return R::Handled;
}

}  // namespace sdpp::server
