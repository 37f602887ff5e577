#!/usr/bin/env python3
"""Times diffusers on a diffusers folder (the same one `sdpp bench --model` reads), fp16 on CUDA: the peer numbers.

    python3 bench/peers.py --model /tmp/sd15-random [--width 512 --height 512 --steps 20] [--budget-s 400]

Components, as `sdpp bench` times them: text encoder (prompt + empty negative, CFG pair), one UNet step on the CFG
batch (batch 2), VAE decode of one latent, and end to end (text encode, N steps with CFG, decode, PIL image).
UNet / VAE use CUDA events around each call (median after warm-up); the text encoder and end to end use the wall
clock with a device synchronisation, since their host work (tokenising, scheduler, image conversion) is part of
what a user waits for. Then, while --budget-s allows, torch.compile (mode reduce-overhead, channels_last) of the
UNet step (and of the end-to-end run with that UNet). Prints a table; --json writes the numbers.
"""
import argparse
import json
import statistics
import time

import torch
from diffusers import DiffusionPipeline

PROMPT = "a photograph of an astronaut riding a horse"


def event_median(fn, warmup, iters):
    """Median milliseconds of fn() between CUDA events, each call started on an idle device."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def wall_median(fn, warmup, iters):
    """Median milliseconds of fn() plus a device synchronisation, by the wall clock."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


class Bench:
    def __init__(self, a):
        self.a = a
        self.t0 = time.time()
        self.rows = {}  # name -> (ms, note)
        t = time.time()
        self.pipe = DiffusionPipeline.from_pretrained(a.model, torch_dtype=torch.float16).to("cuda")
        self.pipe.set_progress_bar_config(disable=True)
        torch.cuda.synchronize()
        self.load_s = time.time() - t
        self.sdxl = hasattr(self.pipe, "text_encoder_2")
        self.guidance = 5.0 if self.sdxl else 7.5
        unet = self.pipe.unet
        f = self.pipe.vae_scale_factor
        self.h, self.w = a.height // f, a.width // f
        g = torch.Generator("cuda").manual_seed(0)
        self.latents = torch.randn(2, unet.config.in_channels, self.h, self.w, generator=g, device="cuda",
                                   dtype=torch.float16)
        # The pipeline passes the timestep as an element of scheduler.timesteps: same dtype/device here, so a
        # compiled UNet sees the calls it will see inside the pipeline.
        self.pipe.scheduler.set_timesteps(a.steps, device="cuda")
        self.timestep = self.pipe.scheduler.timesteps[a.steps // 2]
        self.context = None
        self.added = None

    def left(self):
        return self.a.budget_s - (time.time() - self.t0)

    def record(self, name, ms, note=""):
        self.rows[name] = (ms, note)
        print(f"{name:<34} {ms:10.3f} ms  {note}", flush=True)

    def encode(self):
        return self.pipe.encode_prompt(prompt=PROMPT, device="cuda", num_images_per_prompt=1,
                                       do_classifier_free_guidance=True, negative_prompt="")

    def text(self):
        out = None

        def run():
            nonlocal out
            out = self.encode()

        self.record("text_encoder", wall_median(run, 2, self.a.repeats), "(prompt + negative: CFG pair)")
        if self.sdxl:
            prompt, negative, pooled, negative_pooled = out
            self.added = {"text_embeds": torch.cat([negative_pooled, pooled]),
                          "time_ids": torch.tensor([[self.a.height, self.a.width, 0, 0, self.a.height, self.a.width]] * 2,
                                                   device="cuda", dtype=torch.float16)}
        else:
            prompt, negative = out
        self.context = torch.cat([negative, prompt])

    def unet_call(self, unet):
        return unet(self.latents, self.timestep, encoder_hidden_states=self.context, timestep_cond=None,
                    cross_attention_kwargs=None, added_cond_kwargs=self.added, return_dict=False)[0]

    def unet(self, name, unet, note):
        self.record(name, event_median(lambda: self.unet_call(unet), 3, self.a.iters), note)

    def vae(self):
        vae = self.pipe.vae
        z = self.latents[:1] / vae.config.scaling_factor
        self.record("vae_decode", event_median(lambda: vae.decode(z, return_dict=False)[0], 2, self.a.repeats),
                    f"(1x{self.a.height}x{self.a.width}, fp16)")

    def e2e(self, name, note):
        g = torch.Generator("cuda")

        def run():
            g.manual_seed(0)
            self.pipe(PROMPT, negative_prompt="", height=self.a.height, width=self.a.width,
                      num_inference_steps=self.a.steps, guidance_scale=self.guidance, generator=g, output_type="pil")

        self.record(name, wall_median(run, 1, self.a.e2e_repeats), note)

    def compiled(self):
        unet = self.pipe.unet.to(memory_format=torch.channels_last)
        compiled = torch.compile(unet, mode="reduce-overhead", fullgraph=True)
        t = time.time()
        self.unet_call(compiled)
        torch.cuda.synchronize()
        compile_s = time.time() - t
        self.unet("unet_step torch.compile", compiled, f"(reduce-overhead, channels_last; first call {compile_s:.0f} s)")
        if self.left() < self.a.e2e_need_s:
            print(f"peers: {self.left():.0f} s left: end to end with the compiled UNet skipped", flush=True)
            return
        self.pipe.unet = compiled
        t = time.time()
        self.e2e("end_to_end torch.compile unet", "(compiled UNet; 1 warm-up image, its recompiles excluded)")
        print(f"peers: end to end with the compiled UNet took {time.time() - t:.0f} s in all", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="diffusers folder")
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--iters", type=int, default=30, help="timed UNet steps")
    p.add_argument("--repeats", type=int, default=20, help="timed text encodes / VAE decodes")
    p.add_argument("--e2e-repeats", type=int, default=3)
    p.add_argument("--budget-s", type=float, default=1e9, help="skip torch.compile work that would not fit")
    p.add_argument("--compile-need-s", type=float, default=150, help="time torch.compile of the UNet is given")
    p.add_argument("--e2e-need-s", type=float, default=90, help="time the compiled end-to-end run is given")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--json", help="write the numbers here")
    a = p.parse_args()

    b = Bench(a)
    import diffusers
    import transformers
    print(f"peers: diffusers {diffusers.__version__}, transformers {transformers.__version__}, torch "
          f"{torch.__version__}, {torch.cuda.get_device_name()}; {a.model} ({'SDXL' if b.sdxl else 'SD'}) "
          f"loaded in {b.load_s:.1f} s; {a.width}x{a.height}, {a.steps} steps, CFG {b.guidance}", flush=True)
    with torch.no_grad():
        b.text()
        b.unet("unet_step eager", b.pipe.unet, f"(batch 2, {b.h}x{b.w} latent, median of {a.iters})")
        b.vae()
    b.e2e("end_to_end eager", f"({a.steps} steps, CFG, text encode + decode + PIL, median of {a.e2e_repeats})")
    if a.no_compile:
        pass
    elif b.left() < a.compile_need_s:
        print(f"peers: {b.left():.0f} s left: torch.compile skipped", flush=True)
    else:
        try:
            with torch.no_grad():
                b.compiled()
        except Exception as e:  # a compiler failure is a result to report, not a reason to lose the table
            print(f"peers: torch.compile failed: {e!r}"[:2000], flush=True)

    print("\n| diffusers | ms |\n| --- | --- |")
    for name, (ms, note) in b.rows.items():
        print(f"| {name} {note} | {ms:.3f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "load_s": b.load_s, "rows": {k: v[0] for k, v in b.rows.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
