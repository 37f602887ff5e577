// Parsing JSON written by Python's json module, which emits the non-standard literals NaN, Infinity and -Infinity
// (diffusers saves DPMSolverMultistepScheduler's default `lambda_min_clipped` as -Infinity). nlohmann::json rejects
// them; this reads them as the corresponding doubles.
#pragma once
#include <string_view>

#include <nlohmann/json.hpp>

namespace sdpp::schedulers {

// Throws nlohmann::json::parse_error like nlohmann::json::parse for anything else that is not JSON.
nlohmann::json parse_python_json(std::string_view text);

}  // namespace sdpp::schedulers
