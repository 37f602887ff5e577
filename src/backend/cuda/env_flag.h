// The backend's process-wide switches are environment variables read once where they are used; this is the one test
// they share: whether `name` is set to exactly `value`.
#pragma once
#include <cstdlib>
#include <cstring>

namespace sdpp::cuda {

inline bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

}  // namespace sdpp::cuda
