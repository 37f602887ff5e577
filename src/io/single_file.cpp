#include "io/single_file.h"

#include "io/config_inference.h"
#include "io/key_map.h"
#include "io/renamed_source.h"
#include "io/safetensors_source.h"

namespace sdpp {

Checkpoint open_single_file(const std::filesystem::path& path) {
  std::shared_ptr<const TensorSource> file = SafetensorsSource::open(path);
  const KeyIndex keys(*file);
  Checkpoint ck;
  ck.path = path;
  ck.single_file = true;
  ck.family = detect_single_file_family(keys);

  auto view = [&](KeyMap map) { return std::make_shared<RenamedSource>(file, std::move(map)); };
  int64_t pooled_dim = 0;
  if (ck.family == ModelFamily::SDXL) {
    ck.text_encoder = Component<ClipTextConfig>{infer_clip_config(keys, ldm::kSdxlClipPrefix),
                                                view(ldm::map_clip(keys, ldm::kSdxlClipPrefix))};
    auto cfg = infer_open_clip_config(keys, ldm::kSdxlOpenClipPrefix, /*with_projection=*/true,
                                      /*drop_last_layer=*/false);
    pooled_dim = cfg.projection_dim;
    ck.text_encoder_2 = Component<ClipTextConfig>{
        cfg, view(ldm::map_open_clip(keys, ldm::kSdxlOpenClipPrefix, cfg.num_hidden_layers, true))};
  } else if (ck.family == ModelFamily::SD2) {
    auto cfg = infer_open_clip_config(keys, ldm::kOpenClipPrefix, /*with_projection=*/false,
                                      /*drop_last_layer=*/true);
    ck.text_encoder = Component<ClipTextConfig>{
        cfg, view(ldm::map_open_clip(keys, ldm::kOpenClipPrefix, cfg.num_hidden_layers, false))};
  } else {
    ck.text_encoder = Component<ClipTextConfig>{infer_clip_config(keys, ldm::kClipPrefix),
                                                view(ldm::map_clip(keys, ldm::kClipPrefix))};
  }

  UNetConfig unet = infer_unet_config(keys, ck.family, pooled_dim);
  ck.unet = Component<UNetConfig>{unet, view(ldm::map_unet(keys, ldm::kUNetPrefix, unet.layers_per_block))};
  // Some checkpoints ship without their VAE (users pair them with a separate one).
  if (keys.has_prefix(ldm::kVaePrefix))
    ck.vae = Component<VaeConfig>{infer_vae_config(keys, ck.family), view(ldm::map_vae(keys, ldm::kVaePrefix))};
  return ck;
}

}  // namespace sdpp
