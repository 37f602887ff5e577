#!/usr/bin/env python3
"""Writes a full-size Stable Diffusion checkpoint with random (seeded) weights as a diffusers folder, in fp16.

The architectures are the published SD 1.5 / SDXL configurations, built with diffusers + transformers, so the key
names and config.json files are exactly what real checkpoints carry; only the weights are random. Speed measured on
such a folder is the speed of the real model (no kernel depends on the values), which lets any machine with the
libraries reproduce the peer comparison without downloading gigabytes of weights.

    python3 bench/make_random_checkpoint.py --arch sd15 --vocab CLIP_VOCAB_DIR --out /tmp/sd15-random

CLIP_VOCAB_DIR holds vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json of openai/clip-vit-large-
patch14 (the tokenizer is data, not weights; it is copied into tokenizer/ and tokenizer_2/).
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from diffusers import (AutoencoderKL, EulerDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

# Scheduler settings shared by SD 1.x and SDXL model cards.
SCHEDULER_COMMON = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                        steps_offset=1)

SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280),
                 down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                   "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                 cross_attention_dim=768, attention_head_dim=8)

SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280),
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
                 use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816)


def vae_config(sample_size, scaling_factor, force_upcast):
    return dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
                block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, sample_size=sample_size, scaling_factor=scaling_factor,
                force_upcast=force_upcast)


# openai/clip-vit-large-patch14 text tower (SD 1.x, SDXL's first encoder).
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768, bos_token_id=0, eos_token_id=2,
              pad_token_id=1)
# laion/CLIP-ViT-bigG-14 text tower (SDXL's second encoder).
CLIP_BIGG = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                 num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280,
                 bos_token_id=0, eos_token_id=2, pad_token_id=1)


def build(factory, seed, device):
    """Random init on the GPU (seconds instead of a minute on CPU), handed back in fp16 on the CPU for saving."""
    torch.manual_seed(seed)
    with torch.device(device):
        module = factory()
    return module.to("cpu", torch.float16).eval()


def copy_vocab(vocab, folder, pad_token=None):
    """The tokenizer files exactly as the model card ships them (transformers may save only tokenizer.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"):
        shutil.copy(vocab / name, folder / name)
    if pad_token:  # SDXL's second tokenizer pads with "!" (its open_clip origin)
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            cfg = json.loads((folder / name).read_text())
            cfg["pad_token"] = pad_token
            (folder / name).write_text(json.dumps(cfg))


def hub_text_keys(folder):
    """Hub CLIP text encoders (SD 1.x, SDXL) name every tensor text_model.* (+ text_projection.weight). transformers
    >= 5.6 builds a bare CLIPTextModel without the text_model submodule and may save its keys without that prefix;
    restore the layout the published checkpoints have, which is what loaders of real models read."""
    from safetensors.torch import load_file, save_file
    keep = lambda k: k.startswith("text_model.") or k == "text_projection.weight"
    for path in sorted(folder.glob("*.safetensors")):
        tensors = load_file(path)
        moved = sum(not keep(k) for k in tensors)
        if moved:
            save_file({k if keep(k) else "text_model." + k: v for k, v in tensors.items()}, path, metadata={"format": "pt"})
        print(f"make_random_checkpoint: {folder.name}/{path.name}: {len(tensors)} tensors, {moved} given the "
              f"text_model. prefix (first key was {next(iter(sorted(tensors)))})")


def make(arch, vocab, out, seed, device):
    tokenizer = CLIPTokenizer.from_pretrained(vocab)
    if arch == "sd15":
        pipe = StableDiffusionPipeline(
            vae=build(lambda: AutoencoderKL(**vae_config(512, 0.18215, True)), seed + 1, device),
            text_encoder=build(lambda: CLIPTextModel(CLIPTextConfig(**CLIP_L)), seed + 2, device),
            tokenizer=tokenizer,
            unet=build(lambda: UNet2DConditionModel(**SD15_UNET), seed, device),
            scheduler=PNDMScheduler(**SCHEDULER_COMMON, skip_prk_steps=True, set_alpha_to_one=False),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    else:
        pipe = StableDiffusionXLPipeline(
            vae=build(lambda: AutoencoderKL(**vae_config(1024, 0.13025, True)), seed + 1, device),
            text_encoder=build(lambda: CLIPTextModel(CLIPTextConfig(**CLIP_L)), seed + 2, device),
            text_encoder_2=build(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG)), seed + 3, device),
            tokenizer=tokenizer, tokenizer_2=tokenizer,
            unet=build(lambda: UNet2DConditionModel(**SDXL_UNET), seed, device),
            scheduler=EulerDiscreteScheduler(**SCHEDULER_COMMON, timestep_spacing="leading",
                                             interpolation_type="linear"))
    pipe.save_pretrained(out, safe_serialization=True)
    copy_vocab(vocab, out / "tokenizer")
    hub_text_keys(out / "text_encoder")
    if arch == "sdxl":
        copy_vocab(vocab, out / "tokenizer_2", pad_token="!")
        hub_text_keys(out / "text_encoder_2")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["sd15", "sdxl"], default="sd15")
    p.add_argument("--vocab", type=Path, required=True, help="CLIP tokenizer folder (vocab.json, merges.txt, ...)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="where to initialise")
    a = p.parse_args()
    start = time.time()
    make(a.arch, a.vocab, a.out, a.seed, a.device)
    size = sum(f.stat().st_size for f in a.out.rglob("*") if f.is_file())
    print(f"make_random_checkpoint: {a.arch} -> {a.out} ({size / 2**30:.2f} GiB, {time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
