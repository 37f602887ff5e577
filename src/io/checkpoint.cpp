#include "io/checkpoint.h"

#include <fstream>

#include "core/error.h"
#include "io/single_file.h"
#include "io/weight_files.h"

namespace sdpp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::NotFound, path.string() + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::BadFile, path.string() + ": not valid JSON: " + e.what());
  }
}

// Parses a component's config.json with `Config::from_json`, naming the file in any error.
template <class Config>
Config read_config(const fs::path& dir) {
  const fs::path path = dir / "config.json";
  const json j = read_json(path);
  try {
    return Config::from_json(j);
  } catch (const Error& e) {
    throw Error(e.code(), path.string() + ": " + e.what());
  }
}

// model_index.json lists components as "name": [library, class]; [null, null] means absent.
std::string listed_class(const json& index, const std::string& name) {
  if (!index.contains(name) || !index[name].is_array() || index[name].size() != 2 || !index[name][1].is_string())
    return "";
  return index[name][1].get<std::string>();
}

fs::path component_dir(const fs::path& root, const std::string& name) {
  const fs::path dir = root / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::NotFound, (root / "model_index.json").string() + " lists '" + name + "' but the folder " +
                                         dir.string() + " does not exist");
  return dir;
}

void expect_class(const fs::path& root, const std::string& name, const std::string& cls,
                  std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (cls == a) return;
  }
  throw Error(ErrorCode::Unsupported, (root / "model_index.json").string() + ": component '" + name + "' is a " +
                                          cls + ", which is not supported");
}

Checkpoint open_diffusers_folder(const fs::path& root) {
  const json index = read_json(root / "model_index.json");
  if (!index.is_object())
    throw Error(ErrorCode::BadFile, (root / "model_index.json").string() + ": expected a JSON object");
  Checkpoint ck;
  ck.path = root;

  if (auto cls = listed_class(index, "unet"); !cls.empty()) {
    expect_class(root, "unet", cls, {"UNet2DConditionModel"});
    const fs::path dir = component_dir(root, "unet");
    ck.unet = Component<UNetConfig>{read_config<UNetConfig>(dir), open_component_weights(dir)};
  }
  if (auto cls = listed_class(index, "vae"); !cls.empty()) {
    expect_class(root, "vae", cls, {"AutoencoderKL"});
    const fs::path dir = component_dir(root, "vae");
    ck.vae = Component<VaeConfig>{read_config<VaeConfig>(dir), open_component_weights(dir)};
  }
  for (const char* name : {"text_encoder", "text_encoder_2"}) {
    const std::string cls = listed_class(index, name);
    if (cls.empty()) continue;
    expect_class(root, name, cls, {"CLIPTextModel", "CLIPTextModelWithProjection"});
    const fs::path dir = component_dir(root, name);
    Component<ClipTextConfig> c{read_config<ClipTextConfig>(dir), open_component_weights(dir)};
    (std::string(name) == "text_encoder" ? ck.text_encoder : ck.text_encoder_2) = std::move(c);
  }
  if (!listed_class(index, "tokenizer").empty()) ck.tokenizer_dir = component_dir(root, "tokenizer");
  if (!listed_class(index, "tokenizer_2").empty()) ck.tokenizer_2_dir = component_dir(root, "tokenizer_2");
  if (!listed_class(index, "scheduler").empty())
    ck.scheduler_config = read_json(component_dir(root, "scheduler") / "scheduler_config.json");

  if (!ck.unet || !ck.text_encoder)
    throw Error(ErrorCode::BadFile, (root / "model_index.json").string() +
                                        ": a Stable Diffusion pipeline needs at least 'unet' and 'text_encoder'");
  // SDXL: two encoders and time-id conditioning; SD 2.x: an OpenCLIP (gelu) encoder; SD 1.x: OpenAI CLIP-L.
  if (ck.text_encoder_2 || ck.unet->config.addition_embed_type == "text_time")
    ck.family = ModelFamily::SDXL;
  else if (ck.text_encoder->config.hidden_act == "gelu")
    ck.family = ModelFamily::SD2;
  else
    ck.family = ModelFamily::SD1;
  return ck;
}

Checkpoint open_taesd_folder(const fs::path& root) {
  Checkpoint ck;
  ck.path = root;
  ck.family = ModelFamily::TAESD;
  ck.taesd = Component<TaesdConfig>{read_config<TaesdConfig>(root), open_component_weights(root)};
  return ck;
}

}  // namespace

Checkpoint open_checkpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorCode::NotFound, path.string() + ": no such file or folder");
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / "model_index.json", ec)) return open_diffusers_folder(path);
    if (fs::exists(path / "config.json", ec)) {
      const json config = read_json(path / "config.json");
      if (config.is_object() && config.contains("_class_name") && config["_class_name"] == "AutoencoderTiny")
        return open_taesd_folder(path);
    }
    throw Error(ErrorCode::BadFile, path.string() + ": not a model folder: expected a diffusers pipeline "
                                                    "(model_index.json) or an AutoencoderTiny (config.json)");
  }
  const std::string ext = path.extension().string();
  if (ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin")
    throw Error(ErrorCode::Unsupported, path.string() + ": PyTorch pickle checkpoints are not supported; convert it "
                                                        "to .safetensors");
  return open_single_file(path);
}

}  // namespace sdpp
