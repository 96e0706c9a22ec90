"""PDF: text per page and metadata with pypdfium2 (fast), pypdf as a second opinion."""

import re
from pathlib import Path
from typing import Any

from backend.ingest.parsers.base import (
    PASSWORD_REASON,
    Parsed,
    ParseError,
    PasswordRequired,
    clean_text,
    split_keywords,
    split_people,
)
from backend.ingest.parsers.bidi import logical_order
from backend.ingest.parsers.quality import better, misread, reads_better, unreadable


def _pdf_date(value: str) -> str:
    # "D:20210203123456+01'00'" -> "2021-02-03"
    digits = value[2:] if value.startswith("D:") else value
    if len(digits) >= 8 and digits[:8].isdigit():
        return f"{digits[0:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) >= 4 and digits[:4].isdigit():
        return digits[:4]
    return ""


OCR_DPI = 200
OCR_MAX_PIXELS = 40_000_000


def _numbers(pages: list[int]) -> str:
    return ", ".join(map(str, pages[:20])) + (" ..." if len(pages) > 20 else "")


def _scanned(page: Any) -> bool:
    """Whether one image covers most of the page (a scan, whatever text layer it has): the
    page's objects and those of its forms one level down, read through PDFium's own calls
    (pypdfium2's object wrappers took four times as long, on every page of every PDF)."""
    import ctypes

    import pypdfium2.raw as raw

    width, height = page.get_size()
    need = 0.6 * width * height
    box = [ctypes.c_float() for _ in range(4)]

    def covers(objects: list[Any], depth: int) -> bool:
        for obj in objects:
            kind = raw.FPDFPageObj_GetType(obj)
            if kind == raw.FPDF_PAGEOBJ_IMAGE and raw.FPDFPageObj_GetBounds(obj, *box):
                left, bottom, right, top = (v.value for v in box)
                if (right - left) * (top - bottom) >= need:
                    return True
            elif kind == raw.FPDF_PAGEOBJ_FORM and depth < 2:
                inner = [
                    raw.FPDFFormObj_GetObject(obj, i)
                    for i in range(raw.FPDFFormObj_CountObjects(obj))
                ]
                if covers(inner, depth + 1):
                    return True
        return False

    top = [raw.FPDFPage_GetObject(page.raw, i) for i in range(raw.FPDFPage_CountObjects(page.raw))]
    return covers(top, 1)


def _empty(page: Any) -> bool:
    """Whether nothing is drawn on the page: no OCR can find text there."""
    import pypdfium2.raw as raw

    return bool(raw.FPDFPage_CountObjects(page.raw) == 0)


def _annotated(page: Any) -> bool:
    """Whether the page has an annotation beyond links and pop-ups (a note, a highlight, a
    form field): only then is it read again for them (notes_and_fields, with pypdf, which
    costs about as much as reading the whole PDF's text)."""
    import pypdfium2.raw as raw

    for index in range(raw.FPDFPage_GetAnnotCount(page.raw)):
        annot = raw.FPDFPage_GetAnnot(page.raw, index)
        try:
            if raw.FPDFAnnot_GetSubtype(annot) not in (raw.FPDF_ANNOT_LINK, raw.FPDF_ANNOT_POPUP):
                return True
        finally:
            raw.FPDFPage_CloseAnnot(annot)
    return False


def _ocr_page(page: Any, reader: Any) -> str:
    width, height = page.get_size()
    scale = OCR_DPI / 72
    if width * height * scale * scale > OCR_MAX_PIXELS:
        scale = (OCR_MAX_PIXELS / (width * height)) ** 0.5
    return str(reader.read(page.render(scale=scale, grayscale=True).to_pil()).text)


def parse_pdf(
    path: Path,
    *,
    max_pages: int,
    ocr_enabled: bool = False,
    ocr_languages: str = "",
    ocr_max_pages: int = 0,
    **_: Any,
) -> Parsed:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise PasswordRequired(PASSWORD_REASON.format(what="PDF")) from exc
        return _parse_with_pypdf(path, max_pages, message)
    result = Parsed()
    try:
        count = len(pdf)
        ocred = read_by_ocr = 0
        reader: Any = None
        blank: list[int] = []  # pages without a text layer where OCR found no text
        empty: list[int] = []  # pages with nothing drawn on them, not read by OCR
        garbled: list[int] = []  # text layers of glyph codes, replaced by OCR's reading
        unread: list[int] = []  # the same, that OCR could not read better
        reread: list[int] = []  # scans whose poor OCR layer our OCR read better
        annotated: list[int] = []  # pages with notes or form fields
        if count == 0:
            raise ParseError("The PDF has no pages.")
        if count > max_pages:
            result.warnings.append(f"only the first {max_pages} of {count} pages were read")

        def ocr(page: Any, number: int) -> str:
            """The page read by OCR ("" when OCR failed, which a warning says)."""
            nonlocal reader, ocred
            ocred += 1
            try:
                if reader is None:  # one per document: it learns its language
                    from backend.ingest.parsers.ocr import Reader

                    reader = Reader(ocr_languages)
                return _ocr_page(page, reader)
            except ParseError as exc:
                result.warnings.append(f"page {number}: {exc}")
                return ""

        for index in range(min(count, max_pages)):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_bounded()
                textpage.close()
                can_ocr = ocr_enabled and ocred < ocr_max_pages
                # A text layer that is glyph codes (a broken font map): read by OCR too,
                # and kept only if OCR reads it better.
                if unreadable(text):
                    seen = ocr(page, index + 1) if can_ocr else ""
                    if can_ocr and better(seen, text):
                        text = seen
                        garbled.append(index + 1)
                    else:
                        unread.append(index + 1)
                # A scan with a poor OCR layer (letters, but few real words): read again.
                elif can_ocr and _scanned(page) and misread(text):
                    seen = ocr(page, index + 1)
                    if reads_better(seen, text):
                        text = seen
                        reread.append(index + 1)
                # A page without a text layer is a scan: read it by OCR, within limits;
                # unless nothing at all is drawn on it (no picture, no path, no form).
                elif not text.strip() and can_ocr and _empty(page):
                    empty.append(index + 1)
                elif not text.strip() and can_ocr:
                    text = ocr(page, index + 1)
                    if text.strip():
                        read_by_ocr += 1
                    else:
                        blank.append(index + 1)
                result.pages.append(clean_text(logical_order(text)))
                if _annotated(page):
                    annotated.append(index)
            except pdfium.PdfiumError:
                result.pages.append("")
                result.warnings.append(f"page {index + 1}: text could not be read")
            finally:
                page.close()
        for index, lines in notes_and_fields(path, annotated).items():
            result.pages[index] = clean_text(
                (result.pages[index].rstrip() + "\n\n" + "\n".join(lines)).strip()
            )
        raw: dict[str, str] = {}
        try:
            raw = {k: str(v) for k, v in pdf.get_metadata_dict(skip_empty=True).items()}
        except Exception:
            result.warnings.append("the metadata could not be read")
        result.meta = {
            "title": raw.get("Title", ""),
            "authors": split_people(raw.get("Author", "")),
            "subjects": split_keywords(raw.get("Keywords", "")),
            "description": raw.get("Subject", ""),
            "created": _pdf_date(raw.get("CreationDate", "")),
            "modified": _pdf_date(raw.get("ModDate", "")),
            "producer": raw.get("Producer", ""),
            "page_count": count,
        }
        if read_by_ocr:
            result.warnings.append(f"{read_by_ocr} scanned page(s) read by OCR")
        if garbled:
            result.warnings.append(
                f"{len(garbled)} page(s) whose text layer is unreadable (a broken font map) "
                f"read by OCR instead: {_numbers(garbled)}"
            )
        if reread:
            result.warnings.append(
                f"{len(reread)} scanned page(s) whose text layer was a poor OCR read again "
                f"by OCR: {_numbers(reread)}"
            )
        if unread:
            result.warnings.append(
                f"{len(unread)} page(s) whose text layer looks unreadable (a broken font "
                f"map?), kept as it is: {_numbers(unread)}"
            )
        if blank:
            result.warnings.append(
                f"{len(blank)} page(s) without a text layer where OCR found no text "
                f"(blank or pictures only): {_numbers(blank)}"
            )
        if empty:
            result.warnings.append(f"{len(empty)} page(s) with nothing on them: {_numbers(empty)}")
    finally:
        pdf.close()
    return result


def _scale(page: Any, width: int) -> float:
    """The scale that draws the page `width` pixels wide, not one more: PDFium's bitmap is
    the page's size times the scale rounded up, and 900 / 612 * 612 is 900.0000000000001
    (a 901-pixel page no longer is the large preview, and is encoded twice)."""
    return max(0.05, min(4.0, (width - 0.001) / max(1.0, page.get_width())))


def render_first_page(path: Path, width: int) -> Any:
    """The first page as a PIL image about `width` pixels wide."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        page = pdf[0]
        image = page.render(scale=_scale(page, width)).to_pil()
        page.close()
        return image
    finally:
        pdf.close()


def render_pages(path: Path, width: int, first: int, last: int) -> Any:
    """Pages `first` to `last` (counted from 1, those the PDF has) as PIL images about
    `width` pixels wide, one at a time."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        for index in range(max(0, first - 1), min(last, len(pdf))):
            page = pdf[index]
            image = page.render(scale=_scale(page, width)).to_pil()
            page.close()
            yield image
    finally:
        pdf.close()


MAX_BOXES = 300  # boxes of marked words on one page: past this, the page is all marks


def word_boxes(
    path: Path, page_no: int, words: list[str], ocr: tuple[str, ...] = ()
) -> list[list[float]]:
    """Where `words` (whole words, any case) stand on page `page_no` of a PDF, as it is
    drawn (its crop box, turned by its /Rotate): [left, top, right, bottom] as fractions
    of the drawn page's width and height from its top left corner, one box per line a
    word runs over. A page without a text layer (a scan) is read by OCR in the `ocr`
    languages, as drawn for its page image ([] without them)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        if not 1 <= page_no <= len(pdf):
            return []
        page = pdf[page_no - 1]
        left, bottom, right, top = page.get_cropbox()
        wide, high = max(right - left, 1e-6), max(top - bottom, 1e-6)
        turn = page.get_rotation() % 360
        text = page.get_textpage()
        if text.count_chars() == 0:
            return _scanned_boxes(page, words, ocr) if ocr else []
        boxes: list[list[float]] = []
        for word in dict.fromkeys(w.strip() for w in words if w.strip()):
            searcher = text.search(word, match_case=False, match_whole_word=True)
            while len(boxes) < MAX_BOXES and (found := searcher.get_next()) is not None:
                for i in range(text.count_rects(*found)):
                    x0, y0, x1, y1 = text.get_rect(i)
                    box = (
                        (x0 - left) / wide,
                        (top - y1) / high,
                        (x1 - left) / wide,
                        (top - y0) / high,
                    )
                    boxes.append(_turned(box, turn))
            searcher.close()
        return boxes[:MAX_BOXES]
    finally:
        pdf.close()


def _scanned_boxes(page: Any, words: list[str], languages: tuple[str, ...]) -> list[list[float]]:
    """The words' boxes on a page without a text layer, read by OCR from the page drawn
    as its image is."""
    from backend.ingest.parsers import ocr
    from backend.ingest.thumbnails import PAGE_WIDTH

    image = page.render(scale=_scale(page, PAGE_WIDTH)).to_pil().convert("L")
    wanted = {w.strip().casefold() for w in words if w.strip()}
    wide, high = image.size
    boxes = []
    for word, (x0, y0, x1, y1) in ocr.word_places(image, languages):
        if _WORD_EDGES.sub("", word).casefold() in wanted:
            boxes.append(
                [round(x0 / wide, 4), round(y0 / high, 4), round(x1 / wide, 4), round(y1 / high, 4)]
            )
    return boxes[:MAX_BOXES]


_WORD_EDGES = re.compile(r"^\W+|\W+$")


def _turned(box: tuple[float, float, float, float], turn: int) -> list[float]:
    """A box on the upright page (fractions, from the top left) on the page turned `turn`
    degrees clockwise, as PDFium draws a page with /Rotate."""
    u0, v0, u1, v1 = box
    corners = [(u0, v0), (u1, v1)]
    if turn == 90:
        corners = [(1 - v, u) for u, v in corners]
    elif turn == 180:
        corners = [(1 - u, 1 - v) for u, v in corners]
    elif turn == 270:
        corners = [(v, 1 - u) for u, v in corners]
    (a, b), (c, d) = corners
    edges = (min(a, c), min(b, d), max(a, c), max(b, d))
    return [round(min(1.0, max(0.0, e)), 4) for e in edges]


def _parse_with_pypdf(path: Path, max_pages: int, pdfium_error: str) -> Parsed:
    """PDFium refused the file; pypdf is more lenient with some damaged files."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path), strict=False)
        pages = [clean_text(page.extract_text() or "") for page in reader.pages[:max_pages]]
    except Exception as exc:
        raise ParseError(f"The PDF is damaged and cannot be read ({pdfium_error}; {exc}).") from exc
    return Parsed(
        pages=pages,
        meta={"page_count": len(pages)},
        warnings=["damaged PDF: read by the lenient reader, no thumbnail"],
    )


# Annotations whose Contents are what a person wrote (not links or page furniture).
_NOTE_TYPES = {
    "/Text",
    "/FreeText",
    "/Highlight",
    "/Underline",
    "/StrikeOut",
    "/Squiggly",
    "/Ink",
    "/Square",
    "/Circle",
    "/Polygon",
    "/PolyLine",
    "/Line",
    "/Stamp",
    "/Caret",
    "/FileAttachment",
}


def _field_value(widget: Any) -> str:
    """A filled field's value as words: text as it is, a ticked box as "yes", a choice."""
    value = widget.get("/V")
    if value is None and widget.get("/Parent") is not None:
        value = widget["/Parent"].get_object().get("/V")
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    text = str(value)
    if text.startswith("/"):  # a name: check boxes and radio buttons
        return "" if text == "/Off" else "yes" if text in ("/Yes", "/On") else text[1:]
    return text.strip()


def _field_name(widget: Any) -> str:
    label = widget.get("/TU") or widget.get("/T")
    if label is None and widget.get("/Parent") is not None:
        parent = widget["/Parent"].get_object()
        label = parent.get("/TU") or parent.get("/T")
    return str(label or "").strip()


def notes_and_fields(path: Path, pages: list[int]) -> dict[int, list[str]]:
    """Per page index (of those given), the lines a reader sees beyond the text layer:
    annotations people wrote ("Note: ...") and filled form fields ("Field: value"). Read
    with pypdf; a PDF it cannot read gives nothing (the text layer stands)."""
    from pypdf import PdfReader

    found: dict[int, list[str]] = {}
    if not pages:
        return found
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            return found
        for index in pages:
            page = reader.pages[index]
            lines: list[str] = []
            for ref in page.get("/Annots") or []:
                annot = ref.get_object()
                subtype = str(annot.get("/Subtype", ""))
                if subtype == "/Widget":
                    value, name = _field_value(annot), _field_name(annot)
                    if value:
                        lines.append(f"{name}: {value}" if name else value)
                elif subtype in _NOTE_TYPES:
                    contents = str(annot.get("/Contents") or "").strip()
                    if contents:
                        author = str(annot.get("/T") or "").strip()
                        lines.append(
                            f"Note ({author}): {contents}" if author else f"Note: {contents}"
                        )
            if lines:
                found[index] = lines
    except Exception:  # pypdf cannot read what pdfium could: the text layer stands
        return {}
    return found
