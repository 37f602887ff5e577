// Shared by the CLI tests: the sdpp binary run as a user runs it, and the tiny fixture models' paths.
#pragma once
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

#include "../fixtures_dir.h"

namespace sdpp::test {

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// Runs the sdpp binary with `args` (already shell-quoted where needed).
inline ProcessResult run_sdpp(const std::string& args) {
  const std::string command = std::string(SDPP_BINARY) + " " + args + " 2>&1";
  ProcessResult run;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

inline std::string model(const char* name) { return (fixtures_dir() / "models" / name).string(); }

}  // namespace sdpp::test
