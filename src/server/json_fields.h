// Typed, range-checked reads of a JSON request object. Every failure is a 400 naming the field, the expected type
// and the limit; null counts as absent (clients often send every field). Keys read are remembered so a strict
// API can reject the rest as unknown (a typo such as "promt" must not silently generate something else).
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdpp::server {

// Parses a request body; 400 `invalid_json` with the parser's position when malformed, or when not an object.
nlohmann::json parse_json_body(const std::string& body);

class JsonFields {
 public:
  explicit JsonFields(const nlohmann::json& object) : object_(object) {}

  bool has(const std::string& key);  // present and not null
  std::optional<std::string> string(const std::string& key, size_t max_length = 1u << 20);
  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max);
  std::optional<double> number(const std::string& key, double min, double max);
  std::optional<bool> boolean(const std::string& key);
  std::optional<std::vector<std::string>> string_array(const std::string& key);
  // Seeds: any unsigned 64-bit integer; -1 (AUTOMATIC1111's "random") reads as absent.
  std::optional<uint64_t> seed(const std::string& key);
  void mark_known(const std::string& key) { used_.insert(key); }  // accepted and deliberately ignored
  void reject_unknown() const;  // 400 `unknown_field` for the first key never read

 private:
  const nlohmann::json* get(const std::string& key);

  const nlohmann::json& object_;
  std::set<std::string> used_;
};

}  // namespace sdpp::server
