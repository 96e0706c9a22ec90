"""Every parser through the sandboxed child process, on real and generated files."""

import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from backend.ingest import sandbox
from backend.ingest.parsers import DOCX, EPUB, ODT
from backend.ingest.sandbox import SandboxResult
from backend.settings import get_settings

FILES = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "files"


async def _run(path: Path, mime: str, tmp_path: Path, **settings: object) -> SandboxResult:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    custom = get_settings().model_copy(update=settings) if settings else None
    return await sandbox.run(path, mime, out, custom)


def _thumb_size(tmp_path: Path, name: str = "small.webp") -> tuple[int, int]:
    with Image.open(tmp_path / "out" / name) as im:
        return im.size


async def test_docx_text_tables_and_properties(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Boundary layers"
    document.core_properties.author = "Ada Lovelace"
    document.core_properties.keywords = "aerodynamics; heat transfer"
    document.add_paragraph("The laminar boundary layer separates near the trailing edge.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Mach"
    table.rows[0].cells[1].text = "2.5"
    path = tmp_path / "paper.docx"
    document.save(path)
    result = await _run(path, DOCX, tmp_path)
    assert result.error == ""
    assert "trailing edge" in result.pages[0] and "Mach | 2.5" in result.pages[0]
    assert result.meta["title"] == "Boundary layers"
    assert result.meta["authors"] == ["Ada Lovelace"]
    assert result.meta["subjects"] == ["aerodynamics", "heat transfer"]
    assert result.language == "en"


async def test_html_drops_scripts_and_reads_meta(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Glaciers</title><meta name='author' content='J. Muir'>"
        "<meta name='keywords' content='ice, climate'><style>p{}</style></head>"
        "<body><script>alert('x')</script><p>Glaciers carve valleys over thousands of years "
        "and leave moraines behind them.</p></body></html>"
    )
    result = await _run(path, "text/html", tmp_path)
    assert "carve valleys" in result.pages[0] and "alert" not in result.pages[0]
    assert result.meta["title"] == "Glaciers" and result.meta["authors"] == ["J. Muir"]
    assert result.meta["subjects"] == ["ice", "climate"]


async def test_rtf_and_markdown(tmp_path: Path) -> None:
    rtf = tmp_path / "note.rtf"
    rtf.write_text(r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Wind tunnel notes\par}")
    result = await _run(rtf, "text/rtf", tmp_path)
    assert "Wind tunnel notes" in result.pages[0]
    md = tmp_path / "readme.md"
    md.write_text("# Field guide to mosses\n\nMosses grow on the north side of trees.\n")
    result = await _run(md, "text/plain", tmp_path)
    assert result.meta["title"] == "Field guide to mosses"


@pytest.mark.skipif(not FILES.is_dir(), reason="the shared corpus is not beside the project")
async def test_epub_chapters_metadata_and_cover(tmp_path: Path) -> None:
    result = await _run(FILES / "epubjs" / "alice.epub", EPUB, tmp_path)
    assert result.error == ""
    assert "Alice" in result.meta["title"] and result.meta["authors"]
    assert len(result.pages) > 5 and "rabbit" in " ".join(result.pages).lower()
    assert result.language == "en"
    assert set(result.thumbnails) == {"small", "large"}


@pytest.mark.skipif(not FILES.is_dir(), reason="the shared corpus is not beside the project")
async def test_odt_text_and_embedded_thumbnail(tmp_path: Path) -> None:
    result = await _run(FILES / "py-pdf-sample-files" / "source.odt", ODT, tmp_path)
    assert result.error == "" and "Lorem ipsum" in result.pages[0]
    assert result.thumbnails


@pytest.mark.skipif(not FILES.is_dir(), reason="the shared corpus is not beside the project")
async def test_pdf_pages_metadata_thumbnail_and_language(tmp_path: Path) -> None:
    result = await _run(
        FILES / "py-pdf-sample-files" / "GeoTopo-komprimiert.pdf", "application/pdf", tmp_path
    )
    assert result.error == "" and len(result.pages) == result.meta["page_count"] > 100
    assert result.language == "de"
    width, height = _thumb_size(tmp_path)
    assert width <= 240 and height <= 320 and max(width, height) >= 200


@pytest.mark.skipif(not FILES.is_dir(), reason="the shared corpus is not beside the project")
async def test_an_encrypted_pdf_needs_a_password(tmp_path: Path) -> None:
    result = await _run(
        FILES / "py-pdf-sample-files" / "libreoffice-writer-password.pdf",
        "application/pdf",
        tmp_path,
    )
    assert result.needs_password and result.pages == []
    assert result.error.startswith("The PDF is protected by a password")


@pytest.mark.skipif(not FILES.is_dir(), reason="the shared corpus is not beside the project")
async def test_exif_orientation_cmyk_and_animation_in_thumbnails(tmp_path: Path) -> None:
    pillow = FILES / "pillow"
    result = await _run(pillow / "hopper_orientation_6.jpg", "image/jpeg", tmp_path)
    assert result.meta["exif"]["orientation"] == 6 and result.thumbnails
    sideways = Image.new("RGB", (400, 200), "navy")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° to view"
    sideways.save(tmp_path / "sideways.jpg", exif=exif)
    await _run(tmp_path / "sideways.jpg", "image/jpeg", tmp_path)
    width, height = _thumb_size(tmp_path, "large.webp")
    assert height > width  # stored landscape, shown upright
    result = await _run(pillow / "pil_sample_cmyk.jpg", "image/jpeg", tmp_path)
    with Image.open(tmp_path / "out" / "small.webp") as im:
        assert im.mode == "RGB"
    result = await _run(pillow / "iss634.gif", "image/gif", tmp_path)
    assert result.meta["frames"] > 1 and result.thumbnails


async def test_ocr_reads_text_in_an_image(tmp_path: Path) -> None:
    image = Image.new("L", (1400, 300), 255)
    font = ImageFont.load_default(size=64)
    ImageDraw.Draw(image).text((40, 100), "Hypersonic reentry heating", fill=0, font=font)
    path = tmp_path / "scan.png"
    image.save(path)
    result = await _run(path, "image/png", tmp_path)
    assert "Hypersonic reentry heating" in result.pages[0]


async def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (30 << 20))
    result = await _run(path, DOCX, tmp_path, zip_max_unpacked_bytes=20 << 20)
    assert "decompression bomb" in result.error


async def test_decompression_bomb_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("1", (12000, 12000)).save(path)
    result = await _run(path, "image/png", tmp_path, max_image_pixels=50_000_000)
    assert "decompression bomb" in result.error or "too large" in result.error


async def test_wall_time_limit_stops_a_slow_reader(tmp_path: Path) -> None:
    image = Image.new("L", (3000, 3000), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for row in range(60):
        draw.text((20, 20 + row * 48), "slow words to read " * 8, fill=0, font=font)
    path = tmp_path / "slow.png"
    image.save(path)
    result = await _run(path, "image/png", tmp_path, extract_wall_seconds=1)
    assert result.error == "Reading the file took longer than 1 s."


async def test_memory_limit_ends_in_a_reason(tmp_path: Path) -> None:
    # Children fork from a server holding every parser (~250 MB of address space); this
    # image needs ~240 MB more to decode, past a 400 MB limit.
    path = tmp_path / "large.png"
    Image.new("RGB", (8900, 8900), "white").save(path, compress_level=1)
    result = await _run(path, "image/png", tmp_path, extract_memory_mb=400, ocr_enabled=False)
    assert "memory" in result.error, result


async def test_documents_without_a_picture_get_one_drawn_from_their_text(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("# Harbour notes\n\nThe north mole was rebuilt in 1921.\n" * 5)
    result = await _run(text, "text/plain", tmp_path)
    assert result.error == "" and set(result.thumbnails) == {"small", "large"}
    assert _thumb_size(tmp_path, "large.webp") == (900, 1200)
    assert _thumb_size(tmp_path) == (240, 320)
    with Image.open(tmp_path / "out" / "small.webp") as im:
        # Dark strokes of type on white paper: some pixels are dark, most are white.
        grey = im.convert("L")
        histogram = grey.histogram()
        assert sum(histogram[:100]) > 50 and sum(histogram[200:]) > 0.8 * sum(histogram)
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    (tmp_path / "out" / "small.webp").unlink()
    assert (await _run(empty, "text/plain", tmp_path)).thumbnails == {}  # nothing to draw


async def test_a_heic_photo_is_read_with_its_thumbnail(tmp_path: Path) -> None:
    from pillow_heif import register_heif_opener

    from backend.ingest import sniff

    register_heif_opener()
    photo = tmp_path / "IMG_0042.HEIC"
    Image.new("RGB", (1200, 900), "teal").save(photo, quality=80)
    assert sniff.sniff_file(photo, photo.name) == sniff.Sniffed("image/heic")
    result = await _run(photo, "image/heic", tmp_path)
    assert result.error == "" and result.meta["width"] == 1200
    assert result.meta["format"] == "HEIF"
    assert _thumb_size(tmp_path) == (240, 180)


def test_pdf_annotations_and_filled_form_fields_are_read() -> None:
    from backend.ingest.parsers import parse

    def page(name: str) -> str:
        return parse(FILES / "py-pdf-sample-files" / name, "application/pdf", max_pages=10).pages[0]

    if not FILES.is_dir():
        pytest.skip("the shared corpus is not beside the project")
    notes = page("annotated_pdf.pdf")
    assert notes.endswith(
        "Note: This is a text annotation.\nNote: Highlight comment\nNote (Lucas): Hello world!"
    )
    form = page("libreoffice-form.pdf")
    assert form.endswith("First Name: Alice\nFirst Name_2: Bob")  # empty fields say nothing
    assert "Check" in page("pdflatex-forms.pdf") and ": /Off" not in page("pdflatex-forms.pdf")


@pytest.mark.parametrize(
    "size", [(612, 792), (595.28, 841.89), (842, 595), (468, 680), (612, 1008), (300, 300)]
)
async def test_pdf_pages_are_drawn_exactly_as_wide_as_asked(
    tmp_path: Path, size: tuple[float, float]
) -> None:
    """Letter, A4, landscape, small and legal pages, drawn 900 pixels wide, not 901 (the
    page size times the scale rounds up in PDFium); a page that fits the large preview is
    that preview, stored once."""
    import pypdfium2 as pdfium

    from backend.ingest import thumbnails
    from backend.ingest.parsers.pdf import render_first_page, render_pages

    pdf = pdfium.PdfDocument.new()
    for _ in range(2):
        pdf.new_page(*size)
    path = tmp_path / "pages.pdf"
    pdf.save(path)
    pdf.close()
    assert render_first_page(path, thumbnails.PAGE_WIDTH).width == thumbnails.PAGE_WIDTH
    widths = [im.width for im in render_pages(path, thumbnails.PAGE_WIDTH, 1, 2)]
    assert widths == [thumbnails.PAGE_WIDTH] * 2

    result = await _run(path, "application/pdf", tmp_path)
    assert result.page_images == 1
    page_one = (tmp_path / "out" / "page-0001.webp").read_bytes()
    fits = thumbnails.PAGE_WIDTH * size[1] / size[0] <= thumbnails.LARGE[1]
    assert (page_one == (tmp_path / "out" / "large.webp").read_bytes()) is fits
    assert _thumb_size(tmp_path, "page-0001.webp")[0] == thumbnails.PAGE_WIDTH


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
async def test_words_are_boxed_where_the_page_image_shows_them(tmp_path: Path, turn: int) -> None:
    """The boxes of the marks on a page's image: the words' places on the page as PDFium
    draws it, its /Rotate applied; any case; absent words have none."""
    from PIL import ImageOps

    from backend.ingest.parsers.pdf import render_pages
    from tests.jobs.files import text_pdf

    pdf = tmp_path / "turned.pdf"
    pdf.write_bytes(text_pdf(["Watch 1 kept", "nothing here"], rotate=turn))
    found = await sandbox.find_words(pdf, 1, ["WATCH", "1", "kept", "absent"], tmp_path)
    assert not found.error and len(found.boxes) == 3
    for box in found.boxes:
        assert all(0 <= edge <= 1 for edge in box) and box[0] < box[2] and box[1] < box[3]
    image = next(render_pages(pdf, 900, 1, 1))
    wide, high = image.size
    assert (wide > high) == (turn in (90, 270))
    ink = ImageOps.invert(image.convert("L")).point(lambda v: 255 if v > 60 else 0).getbbox()
    assert ink is not None
    union = (
        min(b[0] for b in found.boxes) * wide,
        min(b[1] for b in found.boxes) * high,
        max(b[2] for b in found.boxes) * wide,
        max(b[3] for b in found.boxes) * high,
    )
    # The three words' boxes together hold the line's ink, and hardly more.
    assert all(abs(u - i) <= 8 for u, i in zip(union, ink, strict=True)), (union, ink)
    # A page without the words, and a page the PDF does not have, have no boxes.
    assert (await sandbox.find_words(pdf, 2, ["kept"], tmp_path)).boxes == []
    assert (await sandbox.find_words(pdf, 3, ["kept"], tmp_path)).boxes == []
