"""Thumbnails: a small one for result lists and a larger preview, as WebP."""

import functools
import io
from pathlib import Path
from typing import Any

SMALL = (240, 320)
LARGE = (900, 1280)  # an A4 or Letter page 900 px wide fits whole: it is also its page image


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
# Pages of a PDF drawn as images at ingest: the first, which is also its cover. The others
# are drawn when a reader first opens them (backend.ingest.pages), and kept.
PAGE_IMAGES = 1


def same_as_large(page: Any, made: dict[str, str]) -> bool:
    """Whether make() wrote this page image as the large preview without shrinking it."""
    return "large" in made and page.width <= LARGE[0] and page.height <= LARGE[1]


def page_images(pages: Any, outdir: Path, first: int = 1) -> int:
    """Write page-NNNN.webp from PIL images of pages `first`, `first` + 1, …; returns how
    many."""
    count = 0
    for count, image in enumerate(pages, start=1):
        # WebP's method 2 encodes a page twice as fast as method 4, for files 2 % larger.
        name = f"page-{first + count - 1:04d}.webp"
        _prepare(image).save(outdir / name, "WEBP", quality=75, method=2)
    return count


FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian's fonts-dejavu-core
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
TEXT_PAGE = (900, 1200)  # a page's proportions (3:4), within the large preview
MARGIN = 70


@functools.lru_cache(maxsize=4)
def _font(size: int) -> Any:
    from PIL import ImageFont

    for path in FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def warm_up() -> None:
    """Load Pillow's format plugins and the fonts now (in the sandbox's fork server), not
    in every child: about 150 ms a document otherwise."""
    from PIL import ExifTags, Image, ImageDraw, ImageOps  # noqa: F401

    Image.init()
    _font(40)
    _font(24)


def text_page(text: str, title: str = "") -> Any:
    """A picture of a document that has none: its first page of text drawn on white
    paper (the title in bold type above), for documents whose format carries no image
    (Word, e-mail, HTML, text, RTF, spreadsheets)."""
    from PIL import Image, ImageDraw

    width, height = TEXT_PAGE
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    y = MARGIN
    usable = width - 2 * MARGIN
    for words, font, gap in ((title, _font(40), 18), (text, _font(24), 8)):
        for line in _wrap(
            draw, " ".join(words.split()) if font.size == 40 else words, font, usable
        ):
            if y + font.size > height - MARGIN:
                return page
            draw.text((MARGIN, y), line, font=font, fill=(40, 40, 40))
            y += font.size + gap
        if words.strip():
            y += font.size  # a blank line after the title
    return page


def _wrap(draw: Any, text: str, font: Any, width: int) -> list[str]:
    """Lines no wider than `width`, broken between words (or inside a word too long)."""
    lines: list[str] = []
    for paragraph in text.splitlines()[:200]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=font) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while draw.textlength(word, font=font) > width and len(word) > 1:
                cut = len(word)
                while cut > 1 and draw.textlength(word[:cut], font=font) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
        if len(lines) > 80:
            break
    return lines
