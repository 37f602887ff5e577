// scripts/run.sh is the README's command for the main job: it installs, builds through scripts/build.sh and then
// execs the binary. Running it here would install packages, so its exec line is checked against where the build
// really puts the binary (this build's SDPP_BINARY, <build dir>/app/sdpp): a wrong path there once made the README's
// first command fail with "No such file or directory" after a successful build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

namespace fs = std::filesystem;

namespace {

std::string read_script(const char* name) {
  std::ifstream in(fs::path(SDPP_SOURCE_DIR) / "scripts" / name);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(RunScript, ExecsTheBinaryTheBuildMakes) {
  std::smatch exec_line, build_dir;
  const std::string run = read_script("run.sh"), build = read_script("build.sh");
  ASSERT_TRUE(std::regex_search(run, exec_line, std::regex("\nexec (\\S+) \"\\$@\""))) << run;
  ASSERT_TRUE(std::regex_search(build, build_dir, std::regex(" -B (\\S+) "))) << build;
  // The binary's place inside a build directory, as CMake makes it (app/sdpp).
  const fs::path binary = SDPP_BINARY;
  const fs::path inside_build = binary.parent_path().filename() / binary.filename();
  EXPECT_EQ(fs::path(exec_line[1].str()), fs::path(build_dir[1].str()) / inside_build);
  // Where this very build is scripts/build.sh's, the path run.sh execs is the binary the tests run.
  const fs::path script_build = fs::path(SDPP_SOURCE_DIR) / build_dir[1].str();
  if (fs::exists(script_build) && fs::equivalent(script_build, binary.parent_path().parent_path()))
    EXPECT_TRUE(fs::exists(fs::path(SDPP_SOURCE_DIR) / exec_line[1].str()));
}

}  // namespace
