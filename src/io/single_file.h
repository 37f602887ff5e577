// A single-file checkpoint (one .safetensors with LDM / SGM key names, as A1111, ComfyUI and CivitAI ship them)
// opened as a Checkpoint: family detected, configs inferred from shapes, each component a renamed view of the file.
#pragma once
#include <filesystem>

#include "io/checkpoint.h"

namespace sdpp {

Checkpoint open_single_file(const std::filesystem::path& path);

}  // namespace sdpp
