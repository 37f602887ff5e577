// Thin layer over httplib::Server: handlers throw HttpError (or anything) and get a JSON error response; known
// paths with the wrong method answer 405 with Allow; unknown ones 404 as JSON; the API key and CORS are applied
// before the body is read, so an unauthorised client cannot make the server read a large upload.
#pragma once
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <httplib.h>

#include "server/server_options.h"

namespace sdpp::server {

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

class Router {
 public:
  Router(httplib::Server& http, const ServerOptions& options);

  void get(const std::string& pattern, Handler handler);
  void post(const std::string& pattern, Handler handler);
  void del(const std::string& pattern, Handler handler);

  static bool needs_api_key(const std::string& path);  // /v1/* and /sdapi/*; the UI, /health, /ready, /metrics are open

 private:
  void remember(const std::string& method, const std::string& pattern);
  std::string allowed_methods(const std::string& path) const;  // "" when no route matches the path at all
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) const;
  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) const;

  httplib::Server& http_;
  const ServerOptions& options_;
  std::vector<std::pair<std::string, std::regex>> routes_;  // (method, pattern)
};

}  // namespace sdpp::server
