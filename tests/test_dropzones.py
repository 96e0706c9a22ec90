"""Every drop zone is components.dropzone.drop_zone: a page that built its own rx.upload
would look and answer otherwise (no highlight while files are dragged over it)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MADE_HERE = ROOT / "components" / "dropzone.py"


def test_no_page_builds_a_drop_zone_of_its_own() -> None:
    own = []
    for folder in ("app", "components", "state"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == MADE_HERE:
                continue
            for n, line in enumerate(path.read_text().splitlines(), start=1):
                if re.search(r"\brx\.upload\s*\(|\bUpload\.create\s*\(|\bupload\.root\b", line):
                    own.append(f"{path.relative_to(ROOT)}:{n}")
    assert own == []
    assert "drag_active_style" in MADE_HERE.read_text()
