// The web UI's files (web/*), compiled into the binary by src/server/web_assets.cmake so `sdpp serve` needs no
// files beside it and the page loads nothing from elsewhere.
#pragma once
#include <cstddef>
#include <string_view>

namespace sdpp::server {

struct WebAsset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;  // from the extension
  std::string_view data;
};

const WebAsset* web_assets();  // generated
size_t web_asset_count();      // generated

}  // namespace sdpp::server
