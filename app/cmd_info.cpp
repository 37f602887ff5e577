// `sdpp info MODEL`: what a checkpoint is, as the loader sees it — layout, family, each component's configuration,
// weight dtypes and parameter counts, tokenizer folders. `sdpp info --samplers` lists the sampler names.
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "schedulers/scheduler.h"

namespace sdpp {
namespace {

template <class T>
std::string list(const std::vector<T>& values) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
  s << "]";
  return s.str();
}

std::string number(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(v));
  return buf;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string human(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2fB", double(n) / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1fM", double(n) / 1e6);
  else if (n >= 1000) std::snprintf(buf, sizeof buf, "%.1fK", double(n) / 1e3);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

// "686 tensors, 1,234,567 parameters (1.2M), F16 686"
std::string weights_summary(const TensorSource& source) {
  std::map<std::string, int> dtypes;
  int64_t params = 0;
  size_t tensors = 0;
  for (const auto& key : source.keys()) {
    auto info = source.info(key);
    if (!info) continue;
    ++tensors;
    params += shape_numel(info->shape);
    ++dtypes[info->stored_dtype.empty() ? dtype_name(info->dtype) : info->stored_dtype];
  }
  std::string out = std::to_string(tensors) + " tensors, " + thousands(params) + " parameters (" + human(params) + ")";
  for (const auto& [name, count] : dtypes) out += ", " + name + " " + std::to_string(count);
  return out;
}

void line(const std::string& label, const std::string& value) {
  std::printf("  %-30s %s\n", (label + ":").c_str(), value.c_str());
}

void print_unet(const UNetConfig& c) {
  line("in / out channels", std::to_string(c.in_channels) + " / " + std::to_string(c.out_channels) +
                                (c.in_channels == 9 ? " (inpainting)" : ""));
  line("block_out_channels", list(c.block_out_channels));
  line("down_block_types", list(c.down_block_types));
  line("up_block_types", list(c.up_block_types));
  line("mid_block_type", c.mid_block_type.empty() ? "none" : c.mid_block_type);
  line("layers_per_block", std::to_string(c.layers_per_block));
  line("num_attention_heads", list(c.num_attention_heads));
  line("transformer_layers_per_block", list(c.transformer_layers_per_block));
  line("cross_attention_dim", std::to_string(c.cross_attention_dim));
  line("use_linear_projection", yes_no(c.use_linear_projection));
  line("upcast_attention", yes_no(c.upcast_attention));
  if (!c.addition_embed_type.empty())
    line("addition_embed_type", c.addition_embed_type + " (time embed " + std::to_string(c.addition_time_embed_dim) +
                                    ", input " + std::to_string(c.projection_class_embeddings_input_dim) + ")");
  if (c.time_cond_proj_dim > 0) line("time_cond_proj_dim", std::to_string(c.time_cond_proj_dim));
  line("sample_size", std::to_string(c.sample_size));
}

void print_vae(const VaeConfig& c) {
  line("block_out_channels", list(c.block_out_channels));
  line("layers_per_block", std::to_string(c.layers_per_block));
  line("latent_channels", std::to_string(c.latent_channels));
  line("scaling_factor", number(c.scaling_factor));
  if (c.shift_factor != 0.0f) line("shift_factor", number(c.shift_factor));
  line("force_upcast", yes_no(c.force_upcast));
}

void print_clip(const ClipTextConfig& c) {
  line("hidden_size", std::to_string(c.hidden_size));
  line("layers / heads", std::to_string(c.num_hidden_layers) + " / " + std::to_string(c.num_attention_heads));
  line("intermediate_size", std::to_string(c.intermediate_size));
  line("vocab / positions", std::to_string(c.vocab_size) + " / " + std::to_string(c.max_position_embeddings));
  line("hidden_act", c.hidden_act);
  line("projection", c.with_projection ? std::to_string(c.projection_dim) : "none");
}

void print_taesd(const TaesdConfig& c) {
  line("encoder_block_out_channels", list(c.encoder_block_out_channels));
  line("decoder_block_out_channels", list(c.decoder_block_out_channels));
  line("latent_channels", std::to_string(c.latent_channels));
}

template <class Config, class Print>
void print_component(const char* name, const std::optional<Component<Config>>& component, Print print) {
  if (!component) return;
  std::printf("%s:\n", name);
  print(component->config);
  line("weights", weights_summary(*component->weights));
  line("file", component->weights->describe());
}

void run_info(const std::string& model) {
  const Checkpoint ck = open_checkpoint(model);
  std::printf("path:    %s\n", ck.path.string().c_str());
  std::printf("layout:  %s\n", ck.single_file ? "single file" : ck.taesd ? "AutoencoderTiny folder" : "diffusers folder");
  std::printf("family:  %s\n", family_name(ck.family));
  print_component("unet", ck.unet, print_unet);
  print_component("vae", ck.vae, print_vae);
  print_component("text_encoder", ck.text_encoder, print_clip);
  print_component("text_encoder_2", ck.text_encoder_2, print_clip);
  print_component("taesd", ck.taesd, print_taesd);
  if (ck.family != ModelFamily::TAESD) {
    const char* none = ck.single_file ? "(none in a single file: pass --tokenizer)" : "(none)";
    std::printf("tokenizer:    %s\n", ck.tokenizer_dir.empty() ? none : ck.tokenizer_dir.string().c_str());
    if (ck.text_encoder_2)
      std::printf("tokenizer_2:  %s\n", ck.tokenizer_2_dir.empty() ? none : ck.tokenizer_2_dir.string().c_str());
    const auto& sc = ck.scheduler_config;
    const std::string scheduler = sc.is_object() && sc.contains("_class_name") && sc["_class_name"].is_string()
                                      ? sc["_class_name"].get<std::string>()
                                      : "(family default)";
    std::printf("scheduler:    %s\n", scheduler.c_str());
  }
}

void run_samplers() {
  for (const auto& s : schedulers::list_samplers()) {
    std::string aliases;
    for (const auto& a : s.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
    std::printf("%-18s %-34s %s\n", s.name.c_str(), s.class_name.c_str(), aliases.c_str());
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a model (diffusers folder or single-file .safetensors) or list samplers");
  auto model = std::make_shared<std::string>();
  auto samplers = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "Diffusers folder, single-file .safetensors checkpoint or AutoencoderTiny folder");
  cmd->add_flag("--samplers", *samplers, "List the sampler names --sampler accepts");
  cmd->callback([model, samplers] {
    if (*samplers) return run_samplers();
    if (model->empty()) throw Error(ErrorCode::InvalidArgument, "info: give a MODEL path (or --samplers)");
    run_info(*model);
  });
}

}  // namespace sdpp
