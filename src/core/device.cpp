#include "core/device.h"

#include "core/error.h"

namespace sdpp {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() < 9) {
    int index = 0;
    for (char c : text.substr(5)) {
      if (c < '0' || c > '9') throw Error(ErrorCode::InvalidArgument, "invalid device '" + text + "' (expected cpu, cuda or cuda:N)");
      index = index * 10 + (c - '0');
    }
    return cuda(index);
  }
  throw Error(ErrorCode::InvalidArgument, "invalid device '" + text + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace sdpp
