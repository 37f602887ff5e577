#include "server/catalog.h"

#include <algorithm>

namespace sdpp::server {

void Catalog::set(std::vector<ModelInfo> models, std::vector<std::string> samplers) {
  std::lock_guard lock(mu_);
  models_ = std::move(models);
  samplers_ = std::move(samplers);
}

bool Catalog::ready() const {
  std::lock_guard lock(mu_);
  return !models_.empty();
}

std::vector<ModelInfo> Catalog::models() const {
  std::lock_guard lock(mu_);
  return models_;
}

std::vector<std::string> Catalog::samplers() const {
  std::lock_guard lock(mu_);
  return samplers_;
}

std::optional<ModelInfo> Catalog::find_model(const std::string& name) const {
  std::lock_guard lock(mu_);
  if (models_.empty()) return std::nullopt;
  if (name.empty()) return models_.front();
  for (const ModelInfo& m : models_)
    if (m.name == name) return m;
  return std::nullopt;
}

bool Catalog::has_sampler(const std::string& name) const {
  std::lock_guard lock(mu_);
  return std::find(samplers_.begin(), samplers_.end(), name) != samplers_.end();
}

}  // namespace sdpp::server
