#!/usr/bin/env python3
"""ON THE GPU MACHINE, diffusers sources on PYTHONPATH: reference cases for a FULL-SIZE checkpoint, in the fixture
manifest's format (../shared/fixtures/README.md), so that `sdpp parity` checks sdpp's text encoder, UNet and VAE at
the real SD 1.5 widths and depths (issue 4: "a full-size SD 1.5 UNet and VAE on the random-weight checkpoint against
diffusers float32, rel L2 <= 1e-2 in fp16"). The tiny fixtures keep the architectures but not the widths (head dim
40 at 4096 tokens, 1280 channels at 8x8, the 512x512 VAE), which are where the GPU kernels take other paths.

    python3 scripts/device/full_size_fixtures.py --checkpoint /tmp/peers/sd15 --out /tmp/full_size
    sdpp parity --fixtures /tmp/full_size --device cuda --dtype f16 --min-rel-l2 1e-2

The checkpoint is a diffusers folder (bench/make_random_checkpoint.py writes one). The references are computed on the
GPU in float32 from the checkpoint's own (fp16) weight values, with TF32 off in matmuls and convolutions, so they
stand for exact float32 arithmetic; each case's tol_rel_l2 (1e-4) is the f32 bar, and `--min-rel-l2 1e-2` gives
reduced precision issue 4's bar. The UNet's conditioning is the text encoder's own output for a real prompt and an
empty negative prompt (the CFG batch of 2), so activations have the scale a generation gives them.
"""
import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import CLIPTextModel, CLIPTokenizer

from diffusers import AutoencoderKL, UNet2DConditionModel

PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="diffusers folder of an SD 1.x checkpoint")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--latent", type=int, default=64, help="latent side (64: 512x512 images)")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    start = time.time()
    device = "cuda"
    (a.out / "cases").mkdir(parents=True, exist_ok=True)
    (a.out / "models").mkdir(exist_ok=True)
    link = a.out / "models" / "sd15"
    if not link.exists():
        link.symlink_to(a.checkpoint.resolve())
    g = torch.Generator().manual_seed(20261205)
    cases = []

    def add(name, kind, tensors, inputs, outputs, **extra):
        save_file({k: v.detach().float().contiguous().cpu() if v.is_floating_point() else v.contiguous().cpu()
                   for k, v in tensors.items()}, a.out / "cases" / f"{name}.safetensors")
        cases.append(dict(name=name, kind=kind, model="sd15", file=f"cases/{name}.safetensors", inputs=inputs,
                          outputs=outputs, tol_rel_l2=1e-4, **extra))

    with torch.no_grad():
        tokenizer = CLIPTokenizer.from_pretrained(str(a.checkpoint / "tokenizer"))
        ids = tokenizer([PROMPT, ""], padding="max_length", max_length=77, truncation=True,
                        return_tensors="pt").input_ids
        encoder = CLIPTextModel.from_pretrained(str(a.checkpoint / "text_encoder"), torch_dtype=torch.float32).to(device)
        text = encoder(ids.to(device))
        context = text.last_hidden_state
        add("full_sd15_text_encoder", "text_encoder", {"input_ids": ids, "last_hidden_state": context,
                                                          "pooler_output": text.pooler_output},
            ["input_ids"], ["last_hidden_state", "pooler_output"], component="text_encoder")
        del encoder

        unet = UNet2DConditionModel.from_pretrained(str(a.checkpoint / "unet"), torch_dtype=torch.float32).to(device)
        for t in (999, 500.0, 1):
            x = torch.randn(2, 4, a.latent, a.latent, generator=g)
            out = unet(x.to(device), t, encoder_hidden_states=context).sample
            name = f"full_sd15_unet_{a.latent}x{a.latent}_t{str(t).replace('.', 'p')}"
            add(name, "unet", {"sample": x, "timestep": torch.tensor([float(t)]), "encoder_hidden_states": context,
                               "out": out}, ["sample", "timestep", "encoder_hidden_states"], ["out"])
        del unet

        vae = AutoencoderKL.from_pretrained(str(a.checkpoint / "vae"), torch_dtype=torch.float32).to(device)
        z = torch.randn(1, 4, a.latent, a.latent, generator=g)
        add("full_sd15_vae_decode", "vae_decode", {"latents": z, "image": vae.decode(z.to(device)).sample},
            ["latents"], ["image"], note="raw decoder: no scaling_factor applied")
        image = torch.rand(1, 3, a.latent * 8, a.latent * 8, generator=g) * 2 - 1
        posterior = vae.encode(image.to(device)).latent_dist
        add("full_sd15_vae_encode", "vae_encode", {"image": image, "mean": posterior.mean,
                                                   "logvar": posterior.logvar},
            ["image"], ["mean", "logvar"], note="raw encoder moments: no scaling_factor applied")

    manifest = {"format": 1, "set": "full-size", "models": {"sd15": {"path": "models/sd15", "family": "sd15"}},
                "cases": cases}
    (a.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"full_size_fixtures: {len(cases)} cases in {a.out} ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
