"""Bytes to text, the way a browser and Apache Tika do it, in this order:

1. a byte-order mark (UTF-8, UTF-16 and UTF-32, either order);
2. the charset the document declares: an HTML `<meta charset>` or `http-equiv`, an XML
   declaration's `encoding`, or the one its container gave (an e-mail part's header);
   a label Python does not know, or one the bytes contradict, is passed over;
3. strict UTF-8, which almost never decodes text in another encoding by accident;
4. detection (charset-normalizer) over the start of the text: Hebrew in windows-1255,
   Russian in KOI8-R or windows-1251, Japanese in Shift_JIS, Chinese in GB18030;
5. windows-1252, which decodes every byte.
HTML declares windows-1252 for "iso-8859-1" and "ascii" (the WHATWG rule): so do we.
"""

import codecs
import re

from charset_normalizer import from_bytes

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_XML = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})["']""", re.I)
# The WHATWG Encoding Standard's labels that mean another encoding than Python's.
WHATWG = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "unicode": "utf-16",
    "utf-16": "utf-16",
}
DETECT_BYTES = 256 * 1024


def codec_of(label: str) -> str:
    """Python's codec for a charset label, or "" when it names none."""
    name = label.strip().strip("\"'").lower()
    name = WHATWG.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def declared(raw: bytes) -> str:
    """The charset an HTML or XML document names near its start ("" when none)."""
    head = raw[:4096]
    found = _XML.search(head) or _META.search(head)
    return found.group(1).decode("ascii", "replace") if found else ""


def _bom(raw: bytes) -> tuple[str, int]:
    for bom, codec in BOMS:
        if raw.startswith(bom):
            return codec, len(bom)
    return "", 0


def utf16_without_bom(raw: bytes) -> str:
    """UTF-16 text without a mark: every other byte zero in mostly-Latin text."""
    sample = raw[:4096]
    if len(sample) < 8:
        return ""
    evens, odds = sample[0::2], sample[1::2]
    if odds.count(0) > len(odds) * 0.4 and evens.count(0) < len(evens) * 0.05:
        return "utf-16-le"
    if evens.count(0) > len(evens) * 0.4 and odds.count(0) < len(odds) * 0.05:
        return "utf-16-be"
    return ""


def detect(raw: bytes) -> str:
    """charset-normalizer's best guess for the start of the bytes ("" when none)."""
    matches = list(from_bytes(raw[:DETECT_BYTES]))
    if not matches:
        return ""
    # charset-normalizer ranks by "chaos" first; single-byte Latin codecs often tie there
    # (windows-1250 and -1252 both decode French without a stray symbol), and then the
    # one whose letters make more sense in a language wins: é in "été", not č in "trčs".
    least = min(m.chaos for m in matches)
    near = [m for m in matches if m.chaos <= least + 0.01]
    best = max(near, key=lambda m: (round(m.coherence, 3), m.encoding == "cp1252"))
    return codec_of(best.encoding)


SHORT = 1024


def decode(raw: bytes, hint: str = "", fallbacks: tuple[str, ...] = ()) -> str:
    """The text of `raw`; `hint` is a charset its container declared (an e-mail part's
    header); `fallbacks`, charsets declared elsewhere in the container (the message's other
    parts and headers), are tried before detection on a short text, where detection is a
    guess from too few letters."""
    codec, skip = _bom(raw)
    if codec:
        return raw[skip:].decode(codec, errors="replace")
    for label in (hint, declared(raw)):
        codec = codec_of(label) if label else ""
        if codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
            codec = utf16_without_bom(raw) or ""  # a declared UTF-16 says nothing of order
        if codec:
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                pass  # the label lies; the bytes decide below
    codec = utf16_without_bom(raw)
    if codec:
        return raw.decode(codec, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if len(raw) < SHORT:
        for label in fallbacks:
            codec = codec_of(label)
            if codec and not codec.startswith("utf"):
                try:
                    return raw.decode(codec)
                except UnicodeDecodeError:
                    continue
    codec = detect(raw)
    if codec:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            return raw.decode(codec, errors="replace")
    return raw.decode("cp1252", errors="replace")
