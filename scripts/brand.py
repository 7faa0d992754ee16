"""Draw the integration's brand images (our own meter glyph, not the vendor's logo).

scripts/env python scripts/brand.py   → custom_components/iammeter_cloud/brand/
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "custom_components/iammeter_cloud/brand"
BLUE, AMBER, WHITE = (11, 94, 140, 255), (255, 183, 27, 255), (255, 255, 255, 255)
TEXT, DARK_TEXT, LIGHT_BLUE = (
    (33, 37, 41, 255),
    (240, 242, 245, 255),
    (98, 178, 226, 255),
)
S = 1024  # drawing size; scaled down with LANCZOS for smooth edges


def _polar(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    """Point at `deg` (0 = right, counter-clockwise) on a circle."""
    return cx + r * math.cos(math.radians(deg)), cy - r * math.sin(math.radians(deg))


def glyph() -> Image.Image:
    """A rounded square holding a dial: scale, needle and a lightning bolt."""
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, S - 1, S - 1), radius=S * 0.22, fill=BLUE)
    cx, cy, r = S / 2, S * 0.60, S * 0.36
    # The scale: a thick arc over the upper 200 degrees, with ticks inside.
    box = (cx - r, cy - r, cx + r, cy + r)
    d.arc(box, start=170, end=370, fill=WHITE, width=round(S * 0.055))
    for deg in range(-10, 191, 25):
        d.line(
            [_polar(cx, cy, r * 0.70, deg), _polar(cx, cy, r * 0.84, deg)],
            fill=WHITE,
            width=round(S * 0.028),
        )
    # The needle, pointing high on the scale, and its hub.
    tip = _polar(cx, cy, r * 0.80, 50)
    d.line([(cx, cy), tip], fill=AMBER, width=round(S * 0.05))
    hub = S * 0.075
    d.ellipse((cx - hub, cy - hub, cx + hub, cy + hub), fill=AMBER)
    # A lightning bolt under the hub.
    u = S / 100
    bolt = [(52, 70), (44, 84), (50, 84), (46, 96), (58, 80), (52, 80), (56, 70)]
    d.polygon([(x * u, y * u) for x, y in bolt], fill=WHITE)
    return img


def logo(
    big: Image.Image, text: tuple[int, ...], accent: tuple[int, ...]
) -> Image.Image:
    """The glyph and the name, 256 px high."""
    height = 256
    font = ImageFont.load_default(size=round(height * 0.42))
    words = [("IAMMETER", text, 2), (" Cloud", accent, 0)]
    widths = [font.getlength(w) for w, _, _ in words]
    gap = round(height * 0.14)
    logo = Image.new("RGBA", (height + gap + round(sum(widths)) + 8, height))
    logo.paste(big.resize((height, height), Image.Resampling.LANCZOS), (0, 0))
    d = ImageDraw.Draw(logo)
    x = height + gap
    for (word, colour, stroke), width in zip(words, widths, strict=True):
        d.text(
            (x, height / 2),
            word,
            font=font,
            fill=colour,
            anchor="lm",
            stroke_width=stroke,
            stroke_fill=colour,
        )
        x += width
    return logo


def main() -> None:
    """Write icon.png (256), icon@2x.png (512), logo.png and dark_logo.png."""
    OUT.mkdir(parents=True, exist_ok=True)
    big = glyph()
    big.resize((256, 256), Image.Resampling.LANCZOS).save(OUT / "icon.png")
    big.resize((512, 512), Image.Resampling.LANCZOS).save(OUT / "icon@2x.png")
    logo(big, TEXT, BLUE).save(OUT / "logo.png", optimize=True)
    logo(big, DARK_TEXT, LIGHT_BLUE).save(OUT / "dark_logo.png", optimize=True)
    for name in ("icon.png", "icon@2x.png", "logo.png", "dark_logo.png"):
        with Image.open(OUT / name) as im:
            print(f"{OUT / name}: {im.size[0]}x{im.size[1]} {im.mode}")


if __name__ == "__main__":
    main()
