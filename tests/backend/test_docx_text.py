"""Everything a reader sees in a DOCX is found: body, tables, text boxes (once), tracked
changes as accepted, ruby, headers and footers, notes, comments, embedded HTML parts."""

import zipfile
from pathlib import Path

from backend.ingest.parsers import DOCX, parse

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
MC = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
LIMITS = {"max_pages": 5000, "max_unpacked": 512 << 20, "max_files": 10_000}
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _p(text: str) -> str:
    return f"<w:p><w:r><w:t xml:space='preserve'>{text}</w:t></w:r></w:p>"


BODY = f"""<w:document {W} {R} {MC}><w:body>
{_p("The harbour survey of 1921.")}
<w:p><w:r><w:t>Kept </w:t></w:r><w:del><w:r><w:delText>struck out </w:delText></w:r></w:del>
<w:ins><w:r><w:t>added later</w:t></w:r></w:ins></w:p>
<w:p><w:r><w:ruby><w:rubyPr/><w:rt><w:r><w:t>とうきょう</w:t></w:r></w:rt>
<w:rubyBase><w:r><w:t>東京</w:t></w:r></w:rubyBase></w:ruby></w:r></w:p>
<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:wsp
 xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:txbx>
<w:txbxContent>{_p("Lighthouse keeper's note in a text box")}</w:txbxContent></wps:txbx>
</wps:wsp></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent>
{_p("Lighthouse keeper's note in a text box")}</w:txbxContent></w:pict></mc:Fallback>
</mc:AlternateContent></w:r><w:r><w:t>Beside the box.</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc>{_p("Depth")}</w:tc><w:tc>{_p("4 fathoms")}</w:tc></w:tr>
<w:tr><w:tc>{_p("Bottom")}</w:tc><w:tc><w:tbl><w:tr><w:tc>{_p("sand")}</w:tc>
<w:tc>{_p("shells")}</w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>
<w:sdt><w:sdtContent>{_p("Inside a content control")}</w:sdtContent></w:sdt>
<w:p><w:r><w:t>A claim</w:t></w:r><w:r><w:footnoteReference w:id="2"/></w:r></w:p>
<w:altChunk r:id="rIdChunk"/>
<w:sectPr><w:headerReference w:type="default" r:id="rIdH1"/>
<w:headerReference w:type="first" r:id="rIdH2"/></w:sectPr>
</w:body></w:document>"""


def _docx(path: Path) -> Path:
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="htm" ContentType="text/html"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
            'Target="word/document.xml"/></Relationships>'
        ),
        "word/_rels/document.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships">'
            f'<Relationship Id="rIdH1" Type="{REL}/header" Target="header1.xml"/>'
            f'<Relationship Id="rIdH2" Type="{REL}/header" Target="header2.xml"/>'
            f'<Relationship Id="rIdF1" Type="{REL}/footer" Target="footer1.xml"/>'
            f'<Relationship Id="rIdFn" Type="{REL}/footnotes" Target="footnotes.xml"/>'
            f'<Relationship Id="rIdEn" Type="{REL}/endnotes" Target="endnotes.xml"/>'
            f'<Relationship Id="rIdCm" Type="{REL}/comments" Target="comments.xml"/>'
            f'<Relationship Id="rIdChunk" Type="{REL}/aFChunk" Target="afchunk.htm"/>'
            f'<Relationship Id="rIdX" Type="{REL}/hyperlink" Target="https://example.org" '
            'TargetMode="External"/></Relationships>'
        ),
        "word/document.xml": BODY,
        "word/header1.xml": f"<w:hdr {W}>{_p('Port Authority archive')}</w:hdr>",
        "word/header2.xml": f"<w:hdr {W}>{_p('Port Authority archive')}</w:hdr>",  # the same
        "word/footer1.xml": f"<w:ftr {W}>{_p('Page footer: confidential')}</w:ftr>",
        "word/footnotes.xml": (
            f"<w:footnotes {W}><w:footnote w:type='separator' w:id='0'>{_p('----')}"
            f"</w:footnote><w:footnote w:id='2'>{_p('Source: tide gauge logbook')}"
            "</w:footnote></w:footnotes>"
        ),
        "word/endnotes.xml": (
            f"<w:endnotes {W}><w:endnote w:id='1'>{_p('Endnote about dredging')}"
            "</w:endnote></w:endnotes>"
        ),
        "word/comments.xml": (
            f"<w:comments {W}><w:comment w:id='0' w:author='Marta'>"
            f"{_p('Check the 1921 figures')}</w:comment></w:comments>"
        ),
        "word/afchunk.htm": (
            "<html><head><meta charset='windows-1252'></head><body>"
            "<p>Pasted from the web: caf\xe9 opening hours</p></body></html>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data.encode("cp1252" if name.endswith(".htm") else "utf-8"))
    return path


def test_everything_a_reader_sees_is_read(tmp_path: Path) -> None:
    (text,) = parse(_docx(tmp_path / "survey.docx"), DOCX, **LIMITS).pages
    lines = text.splitlines()
    assert lines[:3] == ["The harbour survey of 1921.", "Kept added later", "東京 (とうきょう)"]
    assert "struck out" not in text  # a tracked deletion is gone
    assert text.count("Lighthouse keeper's note in a text box") == 1  # not its VML copy
    assert "Beside the box." in lines
    assert "Depth | 4 fathoms" in lines
    assert "Bottom | sand | shells" in lines
    assert "Inside a content control" in lines
    assert "Pasted from the web: café opening hours" in text
    margins = text.split("Headers and footers:\n", 1)[1]
    assert margins.startswith("Port Authority archive\nPage footer: confidential")
    assert text.count("Port Authority archive") == 1
    assert "Footnotes:\nSource: tide gauge logbook" in text and "----" not in text
    assert "Endnotes:\nEndnote about dredging" in text
    assert "Comments:\nMarta: Check the 1921 figures" in text


def test_real_documents_from_another_projects_tests(corpus: Path) -> None:
    office = corpus / "office" / "unstructured"

    def text(name: str) -> str:
        return parse(office / name, DOCX, **LIMITS).pages[0]

    headers = text("docx-hdrftr.docx")
    assert "First header para" in headers and "Table cell1 | Table cell2" in headers
    assert "I should not be included" not in headers  # a merged-away cell, hidden in Word
    shapes = text("docx-shapes.docx")
    assert "<floating-shape>" in shapes and shapes.count("<inline-image1>") == 1
    tables = text("docx-tables.docx")
    assert "a | >b< | c" in tables
    assert "Merged B1-B3" in text("grid_offset_error.docx")  # python-docx crashed here
    breaks = text("page-breaks.docx")
    assert "no-break hyphen here:-and" in breaks
    assert "First page, tab here:\tfollowed by line-break here:\nhere:" in breaks
