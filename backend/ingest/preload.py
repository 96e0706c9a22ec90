"""Imported once by the sandbox's fork server, so every child starts warm (no re-imports)."""

import gc
import importlib

import backend.ingest.language as language
import backend.ingest.parsers  # noqa: F401  (the registry: every parser module)
import backend.ingest.thumbnails as thumbnails
from backend.ingest.parsers import bidi, ocr, quality

# The libraries the parsers import when they first read a file of their kind. The parser
# modules import them inside their functions (so the web process, which only sniffs, never
# pays for them); here they are imported once for every child, which otherwise imported
# them again for each file (pypdf alone cost a PDF 75 ms). tests/backend/test_preload.py
# reads a file of every kind after this module and fails when a parser needs a library
# that is not on the list.
LIBRARIES = (
    "bs4",
    "cairosvg",
    "docx",
    "ebooklib.epub",
    "extract_msg",
    "lxml.etree",
    "lxml.html",
    "msoffcrypto",
    "pillow_heif",
    "pypdf",
    "pypdfium2",
    "selectolax.lexbor",
    "spellchecker",
    "striprtf.striprtf",
    "tesserocr",
)
for name in LIBRARIES:
    importlib.import_module(name)

language.warm_up()
thumbnails.warm_up()
ocr.warm_up()
# English's word list (150 ms to load), used to judge the OCR layer of scanned PDF pages,
# and Arabic's and Persian's, which put every page with right-to-left letters in logical
# order (parsers.bidi): loaded in each child, they cost such a page 150-300 ms. Other
# languages' lists load in the child that first needs one (12 of them take 230 MB).
for words in ("en", *bidi.ARABIC_SCRIPT):
    quality.dictionary(words)

# Everything imported above lives as long as the fork server: out of the collector's sight,
# so a child's first collection does not walk (and copy, page by page) the whole heap.
gc.collect()
gc.freeze()
