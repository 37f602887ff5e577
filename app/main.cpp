// sdpp: one binary for generating images, serving them over HTTP, benchmarking, checking parity and inspecting models.
// Errors a user can cause (bad files, bad options) end as "error: <message>" on stderr and exit status 1.
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "backend/init.h"
#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"Stable Diffusion inference engine and image server", "sdpp"};
  app.require_subcommand(1);
  sdpp::add_info_command(app);
  sdpp::add_generate_command(app);
  sdpp::add_parity_command(app);
  sdpp::add_bench_command(app);
  sdpp::add_serve_command(app);
  try {
    sdpp::init_backends();
    app.parse(argc, argv);  // subcommand callbacks run inside parse()
  } catch (const CLI::ParseError& e) {
    // Also a command's CLI::RuntimeError (e.g. parity cases failed): exit() returns its code and prints nothing.
    return app.exit(e);
  } catch (const sdpp::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
