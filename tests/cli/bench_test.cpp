// `sdpp bench` as a user runs it: a real process on the tiny fixture models (cpu), checking that every component's
// median, the whole-image figures and an image's phases are printed as positive numbers, and that bad values end in
// a message naming the option and exit status 1 rather than a crash (a median of no samples, a size the pipeline
// refuses).
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>

#include "cli_support.h"

namespace {

using sdpp::test::model;
using sdpp::test::ProcessResult;
using sdpp::test::run_sdpp;

// The value of the line "<name>   <number> <unit>", or NaN when there is no such line.
double reported(const std::string& output, const std::string& name, const std::string& unit) {
  std::smatch m;
  const std::regex line("(^|\n)" + name + " +([0-9.]+) " + unit + "\\b");
  return std::regex_search(output, m, line) ? std::stod(m[2]) : std::nan("");
}

TEST(BenchCli, PrintsEveryComponentAndWholeImages) {
  for (const char* name : {"sd15", "sdxl"}) {
    SCOPED_TRACE(name);
    const ProcessResult run =
        run_sdpp("bench --model " + model(name) + " --width 64 --height 64 --steps 2 --warmup 1 --repeats 2 "
                 "--e2e-repeats 1 --preview-every 1 --taesd " + model("taesd"));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("size 64x64"), std::string::npos) << run.output;
    const std::pair<const char*, const char*> lines[] = {
        {"first_image", "s"},        {"end_to_end", "ms"},       {"text_encoder", "ms"},
        {"unet_step", "ms"},         {"unet_step_eager", "ms"},  {"unet_batch2", "ms"}, {"vae_decode", "ms"},
        {"vae_decode_eager", "ms"},  {"preview_approx", "ms"},   {"preview_taesd", "ms"}};
    for (const auto& [line, unit] : lines) {
      const double value = reported(run.output, line, unit);
      EXPECT_TRUE(std::isfinite(value) && value > 0.0) << line << " missing or not positive:\n" << run.output;
    }
    EXPECT_NE(run.output.find("(2 steps, CFG, previews every 1"), std::string::npos) << run.output;
    // The one timed image's phases: each positive, at least one UNet call a step, and together within its time.
    std::smatch m;
    const std::regex phases("end_to_end_phases encode ([0-9.]+) ms, denoise ([0-9.]+) ms = prepare ([0-9.]+) ms \\+ "
                            "([0-9]+) UNet calls x ([0-9.]+) ms, decode ([0-9.]+) ms");
    ASSERT_TRUE(std::regex_search(run.output, m, phases)) << run.output;
    const double encode = std::stod(m[1]), denoise = std::stod(m[2]), prepare = std::stod(m[3]);
    const double decode = std::stod(m[6]);
    EXPECT_GT(encode, 0.0);
    EXPECT_GT(decode, 0.0);
    EXPECT_GT(prepare, 0.0);
    EXPECT_LT(prepare, denoise) << run.output;
    EXPECT_GE(std::stoi(m[4]), 2) << run.output;
    EXPECT_NEAR(std::stod(m[5]), (denoise - prepare) / std::stoi(m[4]), 0.01) << run.output;
    EXPECT_LE(encode + denoise + decode, reported(run.output, "end_to_end", "ms") + 0.2) << run.output;
    // The first image's phases: each positive and together within the first image's time; the cpu backend times
    // no choices.
    const std::regex first_phases(
        "first_image_phases encode ([0-9.]+) ms, denoise ([0-9.]+) ms, decode ([0-9.]+) ms; 0 choices timed");
    ASSERT_TRUE(std::regex_search(run.output, m, first_phases)) << run.output;
    double first_sum = 0.0;
    for (int i = 1; i <= 3; ++i) {
      EXPECT_GT(std::stod(m[i]), 0.0) << run.output;
      first_sum += std::stod(m[i]);
    }
    EXPECT_LE(first_sum, reported(run.output, "first_image", "s") * 1e3 + 2.0) << run.output;
  }
}

TEST(BenchCli, SkipE2eTimesComponentsOnly) {
  const ProcessResult run = run_sdpp("bench --model " + model("sd15") +
                                     " --width 64 --height 64 --warmup 0 --repeats 1 --skip-e2e");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(std::isnan(reported(run.output, "end_to_end", "ms"))) << run.output;
  EXPECT_TRUE(std::isnan(reported(run.output, "first_image", "s"))) << run.output;
  EXPECT_GT(reported(run.output, "unet_step", "ms"), 0.0) << run.output;
}

TEST(BenchCli, BadValuesFailWithMessageAndExitCode) {
  const std::string sd15 = "bench --model " + model("sd15") + " ";
  const struct {
    std::string args;
    const char* message;
  } cases[] = {
      {sd15 + "--repeats 0", "--repeats: must be between 1 and 10000, got 0"},
      {sd15 + "--warmup -1", "--warmup: must be between 0 and 1000, got -1"},
      {sd15 + "--e2e-repeats 0", "--e2e-repeats: must be between 1 and 1000, got 0"},
      {sd15 + "--steps 0", "--steps: must be between 1 and 150, got 0"},
      {sd15 + "--preview-every -2", "--preview-every: must be between 0 and 150, got -2"},
      {sd15 + "--width 100 --height 64", "--width: must be a multiple of 8, got 100"},
      {sd15 + "--width 64 --height 4096", "--height: must be between 64 and 2048, got 4096"},
      {sd15 + "--dtype f8", "--dtype must be auto, f32, f16 or bf16, got 'f8'"},
      {sd15 + "--vae-dtype i8", "--vae-dtype must be auto, f32, f16 or bf16, got 'i8'"},
      {"bench --model /nonexistent/model", "/nonexistent/model"},
  };
  for (const auto& bad : cases) {
    const ProcessResult run = run_sdpp(bad.args);
    EXPECT_EQ(run.exit_code, 1) << bad.args << "\n" << run.output;
    EXPECT_NE(run.output.find("error: "), std::string::npos) << bad.args << "\n" << run.output;
    EXPECT_NE(run.output.find(bad.message), std::string::npos) << bad.args << "\n" << run.output;
  }
}

}  // namespace
