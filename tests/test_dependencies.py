"""Everything the running app imports is installed by the plain install (no test extras).

The test extras pull in packages (greenlet through playwright, for one) that a plain
`./run.sh` install would lack; this test finds such gaps before a newcomer does.
"""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "library-platform"
# Imported only if present, inside try/except: engineio's client imports requests (and so
# charset_normalizer); rich's pretty-printer (which structlog's console output loads)
# imports attr; ua-parser's loaders import yaml (only to read rules from a YAML file: the
# library uses the precompiled ua-parser-builtins). The test extras bring them.
OPTIONAL = {"requests", "charset_normalizer", "attr", "yaml"}

# Load what each runtime process loads: the web app (with rxconfig) and the worker.
_PROBE = """
import json, sys
import rxconfig, app.app, jobs.worker, backend.launcher, backend.cli
import sqlalchemy.ext.asyncio, psycopg, magic, pypdf
import backend.ingest.sandbox, backend.ingest.parsers, backend.ingest.thumbnails
import pypdfium2, PIL.Image, docx, ebooklib.epub, selectolax.lexbor, striprtf.striprtf
import py3langid.langid, tesserocr, lxml.etree, fontTools
import backend.storage.s3, boto3, botocore
import cairosvg, msoffcrypto, olefile, spellchecker, backend.ingest.office_suite
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def _closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    seen: set[str] = set()
    todo = [(name, extras)]
    while todo:
        dist_name, dist_extras = todo.pop()
        key = re.sub(r"[-_.]+", "-", dist_name).lower()
        if key in seen and not dist_extras:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(dist_name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            env = {"extra": ""}
            wanted = [e for e in dist_extras] or [""]
            if req.marker and not any(req.marker.evaluate({**env, "extra": e}) for e in wanted):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return seen


def test_runtime_imports_come_from_the_plain_install() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    provided = metadata.packages_distributions()
    installed = _closure(PROJECT)
    missing = {}
    for module in modules:
        if module in OPTIONAL:
            continue
        for dist in provided.get(module, []):
            key = re.sub(r"[-_.]+", "-", dist).lower()
            if key not in installed and key != PROJECT:
                missing[module] = dist
    assert missing == {}, f"imported at run time but only installed by extras: {missing}"
