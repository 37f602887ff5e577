// The process-wide switches are environment variables read once where they are used; this is the one test they
// share: whether `name` is set to exactly `value`. A switch that is on unless set to 0 reads !env_is(name, "0").
#pragma once
#include <cstdlib>
#include <cstring>

namespace sdpp {

inline bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

}  // namespace sdpp
