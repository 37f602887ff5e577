// The device of the tests that can run on a GPU as well: SDPP_TEST_DEVICE (e.g. cuda, on the GPU machine), else the
// cpu, which CI has. Empty means "the default", i.e. no --device flag.
#pragma once
#include <cstdlib>
#include <string>

namespace sdpp::test {

inline std::string test_device() {
  const char* device = std::getenv("SDPP_TEST_DEVICE");
  return device ? device : "";
}

}  // namespace sdpp::test
