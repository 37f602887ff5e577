// `sdpp info` end to end through the built binary (skipped when the app has not been built: test_io does not
// depend on the app target, see tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "io_test_util.h"

namespace sdpp {
namespace {

std::string binary() {
  if (const char* env = std::getenv("SDPP_BINARY")) return env;
  return SDPP_BINARY;
}

// Runs `sdpp <args>` and returns stdout+stderr; `status` gets the exit code.
std::string run_sdpp(const std::string& args, int* status) {
  const std::string cmd = "'" + binary() + "' " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int raw = pclose(pipe);
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

class CmdInfo : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(binary())) GTEST_SKIP() << "sdpp binary not built: " << binary();
  }
  std::string models() const { return (test::fixtures_dir() / "models").string(); }
};

TEST_F(CmdInfo, DescribesASingleFileCheckpoint) {
  int status = -1;
  const std::string out = run_sdpp("info '" + models() + "/sdxl.safetensors'", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("layout:  single file"), std::string::npos) << out;
  EXPECT_NE(out.find("family:  sdxl"), std::string::npos) << out;
  EXPECT_NE(out.find("text_encoder_2:"), std::string::npos) << out;
  EXPECT_NE(out.find("[1, 1, 2]"), std::string::npos) << out;  // transformer_layers_per_block, from shapes
  EXPECT_NE(out.find("F16 618"), std::string::npos) << out;    // unet tensors by dtype
}

TEST_F(CmdInfo, DescribesADiffusersFolder) {
  int status = -1;
  const std::string out = run_sdpp("info '" + models() + "/sd15_inpaint'", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("layout:  diffusers folder"), std::string::npos) << out;
  EXPECT_NE(out.find("family:  sd15"), std::string::npos) << out;
  EXPECT_NE(out.find("9 / 4 (inpainting)"), std::string::npos) << out;
  EXPECT_NE(out.find("sd15_inpaint/tokenizer"), std::string::npos) << out;
}

TEST_F(CmdInfo, BadInputIsAnErrorLineAndExitOne) {
  int status = -1;
  std::string out = run_sdpp("info /nonexistent/model", &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(out.rfind("error: /nonexistent/model", 0), 0u) << out;
  test::TempDir dir;
  test::write_bytes(dir / "x.safetensors", "short");
  out = run_sdpp("info '" + (dir / "x.safetensors").string() + "'", &status);
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("error: "), std::string::npos) << out;
  EXPECT_NE(out.find("shorter than the 8-byte"), std::string::npos) << out;
}

}  // namespace
}  // namespace sdpp
