// Where the tests find ../shared/fixtures/tiny: SDPP_FIXTURES when set (CTest sets it; a developer may point it
// elsewhere), else the folder CMake was configured with.
#pragma once
#include <cstdlib>
#include <filesystem>

namespace sdpp::test {

inline std::filesystem::path fixtures_dir() {
  const char* env = std::getenv("SDPP_FIXTURES");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(SDPP_FIXTURES_DIR);
}

}  // namespace sdpp::test
