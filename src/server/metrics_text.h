// /metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once
#include <string>

#include "server/context.h"

namespace sdpp::server {

std::string prometheus_metrics(const ServerContext& ctx);

}  // namespace sdpp::server
