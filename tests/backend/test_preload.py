"""The sandbox's fork server imports every library a parser needs (backend.ingest.preload):
a library imported in the child instead costs every file of its kind the import again."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"

# Reads one file of each kind the way a sandbox child does (sniff, parse, language, page
# images and thumbnail), after the preload, and prints the installed packages it imported.
CHILD = """
import json, sys, sysconfig
from pathlib import Path
sys.path.insert(0, {root!r})
import backend.ingest.preload
from backend.ingest import language, sniff, thumbnails
from backend.ingest.parsers import ParseError, bidi, parse, quality
from backend.ingest.parsers.pdf import render_first_page, render_pages

site = sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]
def installed():
    return {{
        name.split(".")[0]
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", "") or "").startswith(site)
    }}

before, kinds = installed(), {{}}
for path in map(Path, json.loads(sys.argv[1])):
    found = sniff.sniff_file(path, path.name)
    if found.error:
        continue
    kinds[found.mime_type] = path.name
    try:
        parsed = parse(path, found.mime_type, max_pages=50, max_unpacked=10**9,
                       max_files=10_000, ocr_enabled=False, ocr_languages="", ocr_max_pages=0)
    except ParseError:
        continue
    language.detect(parsed.pages)
    if found.mime_type == "application/pdf":
        thumbnails.page_images(render_pages(path, 300, 1, 2), Path(sys.argv[2]))
        render_first_page(path, 300)
lists = quality.dictionary.cache_info().misses
bidi.logical_order("\u062d\u0628\u064a\u0628\u064a \u05e9\u05dc\u05d5\u05dd")  # Arabic, Hebrew
lists = quality.dictionary.cache_info().misses - lists
print(json.dumps({{"kinds": kinds, "imported": sorted(installed() - before), "lists": lists}}))
"""


def _one_of_each_kind() -> list[Path]:
    folders = [ROOT / "tests" / "fixtures", CORPUS / "files", CORPUS / "office" / "unstructured"]
    chosen: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix and not path.name.startswith("locked"):
                chosen.setdefault(path.suffix.lower(), path)
    return list(chosen.values())


def test_children_import_no_library_the_fork_server_did_not(tmp_path: Path) -> None:
    files = _one_of_each_kind()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD.format(root=str(ROOT)),
            json.dumps(list(map(str, files))),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    # The files read cover the registry's main kinds, so the check means something.
    for mime in (
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/epub+zip",
        "text/html",
        "text/rtf",
        "message/rfc822",
        "image/svg+xml",
        "image/jpeg",
    ):
        assert mime in found["kinds"], f"no {mime} file was read"
    assert found["imported"] == [], (
        f"parsers imported {found['imported']} in the child: add them to "
        "backend.ingest.preload.LIBRARIES"
    )
    # Putting right-to-left text in order needs no word list the fork server did not load.
    assert found["lists"] == 0


# A script that asks the sandbox to draw a page; each import of it (as the parent's
# __main__, or again in a child) adds a line to the marker file.
SCRIPT = """
import asyncio, os, sys
from pathlib import Path
sys.path.insert(0, {root!r})
with open(sys.argv[1], "a") as marker:
    marker.write(f"{{os.getpid()}}\\n")
if __name__ == "__main__":
    from backend.ingest import sandbox
    from tests.jobs.files import text_pdf
    out = Path(sys.argv[2])
    (out / "one.pdf").write_bytes(text_pdf(["a page"]))
    result = asyncio.run(sandbox.draw(out / "one.pdf", 1, 1, out))
    print(result.page_images, result.error)
"""


def test_sandbox_children_do_not_import_their_parents_main_module(tmp_path: Path) -> None:
    script, marker = tmp_path / "asker.py", tmp_path / "imports"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    out = subprocess.run(
        [sys.executable, str(script), str(marker), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["1"]  # the page was drawn, without error
    assert len(marker.read_text().split()) == 1  # by a child that did not run the script
