#!/usr/bin/python3
"""Writes tests/image/data/: small images and PIL's results for them, the reference for tests/image.

Needs Pillow (Debian: python3-pil); the outputs are committed, so the tests themselves need nothing.
    /usr/bin/python3 scripts/gen_image_test_data.py
"""
import os

from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "image", "data")


def pattern(width, height, mode):
    """Deterministic, high-frequency content so every filter tap matters."""
    img = Image.new(mode, (width, height))
    px = img.load()
    for y in range(height):
        for x in range(width):
            r = (x * 37 + y * 11) % 256
            g = (x * x + 3 * y * y) % 256
            b = 255 if (x // 3 + y // 2) % 2 else 0
            a = (x * 255) // max(width - 1, 1) if (y % 4) else 255
            if mode == "RGB":
                px[x, y] = (r, g, b)
            elif mode == "RGBA":
                px[x, y] = (r, g, b, a)
            else:
                px[x, y] = (r + b) // 2
    return img


def main():
    os.makedirs(OUT, exist_ok=True)
    for mode in ("RGB", "RGBA", "L"):
        src = pattern(37, 23, mode)
        src.save(os.path.join(OUT, f"src_{mode.lower()}.png"))
        for w, h in ((16, 16), (80, 48), (37, 9), (100, 23), (5, 61)):
            src.resize((w, h), resample=Image.LANCZOS).save(os.path.join(OUT, f"lanczos_{mode.lower()}_{w}x{h}.png"))
    # JPEG decoding: the file as PIL writes it, and the pixels PIL decodes from it.
    for mode in ("RGB", "L", "CMYK"):
        src = pattern(37, 23, "RGB")
        if mode != "RGB":
            src = src.convert(mode)
        path = os.path.join(OUT, f"photo_{mode.lower()}.jpg")
        src.save(path, quality=85)
        decoded = Image.open(path)
        decoded.convert("RGB" if mode == "CMYK" else mode).save(os.path.join(OUT, f"photo_{mode.lower()}_decoded.png"))
    # Grayscale conversion of an RGB image (mask path).
    pattern(37, 23, "RGB").convert("L").save(os.path.join(OUT, "gray_of_src_rgb.png"))


if __name__ == "__main__":
    main()
