"""Thumbnails: a small one for result lists and a larger preview, as WebP."""

import io
from pathlib import Path
from typing import Any

SMALL = (240, 320)
LARGE = (900, 1200)


def _prepare(image: Any) -> Any:
    from PIL import Image, ImageOps

    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animations and multi-page TIFFs: the first frame
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode == "I;16" or image.mode.startswith("I"):
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")  # CMYK, palette, 16-bit and grey become RGB


def make(cover: Any, outdir: Path) -> dict[str, str]:
    """Write small.webp and large.webp from a PIL image or encoded image bytes."""
    from backend.ingest.parsers.image import open_image

    if isinstance(cover, bytes | bytearray):
        cover = open_image(io.BytesIO(cover))
    image = _prepare(cover)
    written = {}
    for name, box in (("large", LARGE), ("small", SMALL)):
        copy = image.copy()
        copy.thumbnail(box, reducing_gap=3.0)
        target = outdir / f"{name}.webp"
        copy.save(target, "WEBP", quality=82, method=4)
        written[name] = target.name
    return written


PAGE_WIDTH = 900
PAGE_IMAGES = 30  # pages of a PDF shown as images on its page (the text has them all)


def page_images(pages: Any, outdir: Path) -> int:
    """Write page-0001.webp, … from PIL images; returns how many."""
    count = 0
    for count, image in enumerate(pages, start=1):
        _prepare(image).save(outdir / f"page-{count:04d}.webp", "WEBP", quality=75, method=4)
    return count
