"""Raster images: metadata and EXIF with Pillow, text by OCR (tesseract)."""

import warnings
from pathlib import Path
from typing import Any

from backend.ingest.parsers.base import Parsed, ParseError, clean_text

# Pillow plugins for the accepted types only; nothing else may be opened. HEIF (the
# photos of phones: .heic) through pillow-heif.
FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "GIF", "HEIF")  # MPO opens through JPEG
_EXIF_FIELDS = {
    0x010F: "camera_make",
    0x0110: "camera_model",
    0x0131: "software",
    0x013B: "artist",
    0x8298: "copyright",
    0x010E: "description",
}
_EXIF_IFD = {0x9003: "taken", 0x829A: "exposure_time", 0x829D: "f_number", 0x8827: "iso"}


def harden_pillow(max_pixels: int) -> None:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()  # (idempotent)


def open_image(source: Any) -> Any:
    from PIL import Image, UnidentifiedImageError

    Image.init()  # registers every plugin, so the names in FORMATS resolve
    _register_heif()
    try:
        image = Image.open(source, formats=FORMATS)
        image.load()
        return image
    except Image.DecompressionBombError as exc:
        raise ParseError(f"The image is a decompression bomb ({exc}).") from exc
    except Image.DecompressionBombWarning as exc:
        raise ParseError(f"The image is too large to process safely ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise ParseError("The image cannot be read: its content is not a supported image.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ParseError(f"The image is damaged or truncated ({exc}).") from exc


def _exif(image: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        exif = image.getexif()
    except Exception:
        return out
    for tag, name in _EXIF_FIELDS.items():
        if exif.get(tag):
            out[name] = str(exif[tag]).strip("\x00 ")
    try:
        ifd = exif.get_ifd(0x8769)
        for tag, name in _EXIF_IFD.items():
            if ifd.get(tag) is not None:
                out[name] = str(ifd[tag])
        gps = exif.get_ifd(0x8825)
        if gps:
            out["gps"] = True
    except Exception:
        pass
    if exif.get(0x0112):
        out["orientation"] = int(exif[0x0112])
    return out


def parse_image(
    path: Path,
    *,
    ocr_enabled: bool,
    ocr_languages: str,
    max_pages: int = 5000,
    ocr_max_pages: int = 50,
    **_: Any,
) -> Parsed:
    """An image; a multi-page TIFF (a scanned document, a fax) is a page per frame, each
    read by OCR (within OCR_MAX_PAGES); animations are one picture."""
    image = open_image(path)
    frames = getattr(image, "n_frames", 1)
    meta: dict[str, Any] = {
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "mode": image.mode,
        "frames": frames,
        "exif": _exif(image),
    }
    result = Parsed(meta=meta, cover=image)
    paged = image.format == "TIFF" and frames > 1
    count = min(frames, max_pages) if paged else 1
    if paged and frames > count:
        result.warnings.append(f"only the first {count} of {frames} pages were read")
    reader: Any = None
    for index in range(count):
        text = ""
        if ocr_enabled and index < max(ocr_max_pages, 1):
            try:
                if reader is None:  # one per file: its first pages teach the language
                    from backend.ingest.parsers.ocr import Reader

                    reader = Reader(ocr_languages)
                image.seek(index)
                text = reader.read(image.copy()).text
            except ParseError as exc:
                where = f"page {index + 1}: " if paged else ""
                result.warnings.append(f"{where}no text: {exc}")
            except (OSError, EOFError) as exc:
                result.warnings.append(f"page {index + 1} cannot be read ({exc})")
        result.pages.append(clean_text(text))
    if paged and ocr_enabled and count > max(ocr_max_pages, 1):
        result.warnings.append(f"only the first {ocr_max_pages} pages were read by OCR")
    image.seek(0)
    return result
