// GET / and every embedded web UI file.
#include "server/static_files.h"

#include "server/context.h"
#include "server/router.h"

namespace sdpp::server {

namespace {

std::string regex_escape(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Handler serve(const WebAsset& asset) {
  return [&asset](const httplib::Request&, httplib::Response& res) {
    // Revalidated on every load so a rebuilt binary's UI is picked up at once; the files are small.
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(asset.data.data(), asset.data.size(), std::string(asset.content_type));
  };
}

}  // namespace

void register_static_routes(Router& router) {
  for (size_t i = 0; i < web_asset_count(); ++i) {
    const WebAsset& asset = web_assets()[i];
    router.get(regex_escape(asset.path), serve(asset));
    if (asset.path == "/index.html") router.get("/", serve(asset));
  }
}

}  // namespace sdpp::server
