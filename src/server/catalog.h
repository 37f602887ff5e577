// What the loaded engines offer: models and sampler names. Empty until `sdpp serve` has loaded its models, which
// is what /ready reports; requests are validated against it before they are queued.
#pragma once
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sdpp/engine.h"

namespace sdpp::server {

class Catalog {
 public:
  void set(std::vector<ModelInfo> models, std::vector<std::string> samplers);
  bool ready() const;
  std::vector<ModelInfo> models() const;
  std::vector<std::string> samplers() const;
  std::optional<ModelInfo> find_model(const std::string& name) const;  // "" = the default (first) model
  bool has_sampler(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::vector<ModelInfo> models_;
  std::vector<std::string> samplers_;
};

}  // namespace sdpp::server
