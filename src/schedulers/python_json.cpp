#include "schedulers/python_json.h"

#include <cmath>
#include <limits>
#include <string>

namespace sdpp::schedulers {
namespace {

// Stand-ins that no real config string holds (they start with a NUL character).
const std::string kNaN = std::string(1, '\0') + "NaN";
const std::string kInf = std::string(1, '\0') + "Infinity";
const std::string kNegInf = std::string(1, '\0') + "-Infinity";

void restore(nlohmann::json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == kNaN) j = std::numeric_limits<double>::quiet_NaN();
    else if (s == kInf) j = std::numeric_limits<double>::infinity();
    else if (s == kNegInf) j = -std::numeric_limits<double>::infinity();
  } else if (j.is_structured()) {
    for (auto& item : j) restore(item);
  }
}

}  // namespace

nlohmann::json parse_python_json(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const auto& [literal, stand_in] : {std::pair{std::string_view("-Infinity"), &kNegInf},
                                            std::pair{std::string_view("Infinity"), &kInf},
                                            std::pair{std::string_view("NaN"), &kNaN}}) {
      if (text.substr(i, literal.size()) == literal) {
        out += nlohmann::json(*stand_in).dump();
        i += literal.size() - 1;
        replaced = any = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  nlohmann::json j = nlohmann::json::parse(out);
  if (any) restore(j);
  return j;
}

}  // namespace sdpp::schedulers
