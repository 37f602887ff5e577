#include "server/json_fields.h"

#include <cmath>
#include <cstdio>

#include "server/http_error.h"

namespace sdpp::server {

namespace {

std::string type_name(const nlohmann::json& v) {
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

HttpError wrong_type(const std::string& key, const char* expected, const nlohmann::json& v) {
  return bad_field(key, "'" + key + "' must be " + expected + ", got " + type_name(v));
}

// "[0, 1]" rather than JSON's "[0.0, 1.0]": limits read as a person writes them.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string range_text(double min, double max) { return "[" + num(min) + ", " + num(max) + "]"; }

}  // namespace

nlohmann::json parse_json_body(const std::string& body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw HttpError(400, "invalid_json", "request body is not valid JSON (byte " + std::to_string(e.byte) + ")");
  }
  if (!j.is_object()) throw HttpError(400, "invalid_json", "request body must be a JSON object, got " + type_name(j));
  return j;
}

const nlohmann::json* JsonFields::get(const std::string& key) {
  used_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(const std::string& key) {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

std::optional<std::string> JsonFields::string(const std::string& key, size_t max_length) {
  const nlohmann::json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(key, "a string", *v);
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max_length)
    throw bad_field(key, "'" + key + "' is " + std::to_string(s.size()) + " bytes, the limit is " +
                             std::to_string(max_length));
  return s;
}

std::optional<int64_t> JsonFields::integer(const std::string& key, int64_t min, int64_t max) {
  const nlohmann::json* v = get(key);
  if (!v) return std::nullopt;
  int64_t value = 0;
  if (v->is_number_integer() || v->is_number_unsigned()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
      throw bad_field(key, "'" + key + "' must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    value = v->get<int64_t>();
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) && std::trunc(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9e15) {
    value = static_cast<int64_t>(v->get<double>());  // 20.0 is an integer to JavaScript clients
  } else {
    throw wrong_type(key, "an integer", *v);
  }
  if (value < min || value > max)
    throw bad_field(key, "'" + key + "' must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                             std::to_string(value));
  return value;
}

std::optional<double> JsonFields::number(const std::string& key, double min, double max) {
  const nlohmann::json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(key, "a number", *v);
  const double value = v->get<double>();
  if (!(value >= min && value <= max))
    throw bad_field(key, "'" + key + "' must be in " + range_text(min, max) + ", got " + num(value));
  return value;
}

std::optional<bool> JsonFields::boolean(const std::string& key) {
  const nlohmann::json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  // AUTOMATIC1111 clients send some flags as 0/1.
  if (v->is_number_integer() && (v->get<int64_t>() == 0 || v->get<int64_t>() == 1)) return v->get<int64_t>() == 1;
  throw wrong_type(key, "a boolean", *v);
}

std::optional<std::vector<std::string>> JsonFields::string_array(const std::string& key) {
  const nlohmann::json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) throw wrong_type(key, "an array of strings", *v);
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const nlohmann::json& item = (*v)[i];
    if (!item.is_string()) throw wrong_type(key + "[" + std::to_string(i) + "]", "a string", item);
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<uint64_t> JsonFields::seed(const std::string& key) {
  const nlohmann::json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer()) {
    const int64_t s = v->get<int64_t>();
    if (s == -1) return std::nullopt;
    if (s >= 0) return static_cast<uint64_t>(s);
  } else if (!v->is_number()) {
    throw wrong_type(key, "an integer", *v);
  } else if (v->get<double>() == -1.0) {
    return std::nullopt;
  } else if (v->get<double>() >= 0 && v->get<double>() < 9e15 && std::trunc(v->get<double>()) == v->get<double>()) {
    return static_cast<uint64_t>(v->get<double>());
  }
  throw bad_field(key, "'" + key + "' must be an integer in [0, 18446744073709551615] or -1 for random");
}

void JsonFields::reject_unknown() const {
  for (const auto& [key, value] : object_.items())
    if (!used_.contains(key)) throw bad_field(key, "unknown field '" + key + "'", "unknown_field");
}

}  // namespace sdpp::server
