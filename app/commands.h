// The sdpp subcommands. Each cmd_<name>.cpp registers one on the root CLI11 app; main.cpp calls them all.
#pragma once

namespace CLI {
class App;
}

namespace sdpp {

void add_info_command(CLI::App& app);      // sdpp info MODEL | --samplers
void add_generate_command(CLI::App& app);  // sdpp generate --model PATH --prompt TEXT ...
void add_parity_command(CLI::App& app);    // sdpp parity --fixtures DIR
void add_bench_command(CLI::App& app);     // sdpp bench --model PATH
void add_serve_command(CLI::App& app);     // sdpp serve --models DIR|FILE...

// --vae-dtype of generate, serve and bench.
inline constexpr const char* kVaeDtypeHelp =
    "auto | f32 | f16 | bf16 (auto: the model dtype, bf16 for SDXL's VAE where that is f16; f32: as A1111's "
    "--no-half-vae)";

}  // namespace sdpp
