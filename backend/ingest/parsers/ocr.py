"""OCR in the languages installed, the script found first.

tesseract reads a page well only in the language it is told, and reads a page turned on
its side as noise. So, for each image:
0. it is read upright in English (or the Latin language the document's first pages
   showed); when tesseract is confident of that reading (mean word confidence CONFIDENT or
   more) the page is done, in one pass, as a bare tesseract run would do it; when that
   reading finds (almost) nothing, the image holds no text (a photo, a blank page);
1. otherwise, orientation and script detection (tesseract's OSD, `--psm 0`): the page is turned
   upright, and its script (Latin, Cyrillic, Arabic, Han, Japanese...) chosen;
2. the page is read in the installed languages of that script (all of them for Latin:
   English first, then French, German, Spanish, Italian, Portuguese...), limited by
   OCR_LANGUAGES when it is set;
3. a page OSD cannot judge (too little text on it: a label, a line of Chinese, a column
   of vertical Japanese) is read in English; when tesseract is not confident of that
   reading (mean word confidence below CONFIDENT), it is read once in each other allowed
   script's language, and the one tesseract is most confident of, by a clear margin,
   wins; when English gives nothing at all, it is read in all the others at once;
4. lines tesseract doubts in the reading kept are cut out and judged by OSD on their own:
   when they are of another installed script (a few lines of Korean on an English page),
   the page is read again with that script's language first, and that reading is kept
   when tesseract is surer of it.
tesseract runs in the process (tesserocr), bound by the sandbox's time and memory limits;
an image too large for tesseract is scaled down rather than refused.
"""

import contextlib
import functools
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from typing import Any

from backend.ingest.parsers.base import ParseError

# tesseract's OpenMP threads fight each other when pages are read side by side (a worker
# runs several jobs at once): one thread per run reads a page 2-5x faster on this machine.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# tesseract's OSD script names -> the traineddata languages that read that script.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "Latin": ("eng", "fra", "deu", "spa", "ita", "por", "nld", "pol", "ces", "swe", "tur"),
    "Cyrillic": ("rus", "ukr", "bul", "srp"),
    "Arabic": ("ara", "fas", "urd"),
    "Han": ("chi_sim", "chi_tra"),
    "HanS": ("chi_sim",),
    "HanT": ("chi_tra",),
    "Japanese": ("jpn", "jpn_vert"),
    "Katakana": ("jpn",),
    "Hiragana": ("jpn",),
    "Hangul": ("kor",),
    "Korean": ("kor",),
    "Greek": ("ell",),
    "Hebrew": ("heb",),
    "Devanagari": ("hin",),
    "Thai": ("tha",),
}
# tesseract refuses images larger than this many pixels on a side (and they are slow).
MAX_SIDE = 32_000
MAX_PIXELS = 40_000_000
# tesseract puts a space between Chinese or Japanese characters, which are written without
# them (Korean, which spaces its words, is left alone): "日 本 語" is "日本語".
_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_GAP = re.compile(f"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")
FEW_CHARS = 20  # fewer characters than this: a photo's noise, not a reading to trust
CONFIDENT = 60.0  # tesseract's mean word confidence (0-100) of a reading it got right
MARGIN = 15.0  # how much surer another language's reading must be to replace English's


@dataclass(frozen=True)
class Reading:
    text: str
    languages: str  # "eng+fra", the languages it was read in
    script: str  # what OSD said, "" when it could not tell
    rotated: int  # degrees turned to make it upright


@functools.lru_cache(maxsize=1)
def _tessdata() -> tuple[str, tuple[str, ...]]:
    """Where the system's tesseract keeps its models, and which it has: asked of the
    `tesseract` command once (Debian's `tesseract-ocr-*` packages install them)."""
    try:
        listed = subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ParseError("OCR is not installed on this server (tesseract).") from exc
    lines = (listed.stdout or listed.stderr).splitlines()
    folder = re.search(r'"(.+?)"', lines[0]) if lines else None
    if listed.returncode != 0 or folder is None:
        raise ParseError("OCR is not installed on this server (tesseract).")
    return folder.group(1), tuple(line.strip() for line in lines[1:] if line.strip())


@functools.lru_cache(maxsize=1)
def installed() -> tuple[str, ...]:
    return tuple(sorted(set(_tessdata()[1]) - {"osd", "equ"}))


def allowed(setting: str) -> tuple[str, ...]:
    """The installed languages OCR_LANGUAGES allows ("" or "auto": all of them)."""
    have = installed()
    wanted = [w for w in re.split(r"[+,\s]+", setting.strip()) if w and w != "auto"]
    return tuple(w for w in wanted if w in have) if wanted else have


def _fit(image: Any) -> Any:
    """Grey, upright by EXIF, and within tesseract's size limits."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image).convert("L")
    width, height = image.size
    scale = min(1.0, MAX_SIDE / max(width, height), (MAX_PIXELS / max(width * height, 1)) ** 0.5)
    if scale < 1.0:
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    return image


# tesseract runs in this process (tesserocr), each language's model loaded once: the
# sandbox's fork server loads English and OSD before any child exists, so a page costs
# its reading, not a process start, a model load and two temporary image files (about
# 90 ms a small image). The sandbox's time and memory limits bound every reading.
_APIS: dict[str, Any] = {}
_LOCK = threading.Lock()  # one reading at a time per model (tests read from threads)


def _api(languages: str) -> Any:
    """The tesseract instance for `languages` ("eng+fra", or "osd" for page analysis)."""
    import tesserocr

    api = _APIS.get(languages)
    if api is None:
        psm = tesserocr.PSM.OSD_ONLY if languages == "osd" else tesserocr.PSM.AUTO
        try:
            api = tesserocr.PyTessBaseAPI(path=_tessdata()[0], lang=languages, psm=psm)
        except RuntimeError as exc:
            raise ParseError(f"OCR could not load its {languages} model ({exc}).") from exc
        _APIS[languages] = api
    return api


def _osd(image: Any, sure: float = 1.0) -> tuple[str, int]:
    """(script, degrees to turn clockwise) or ("", 0) when OSD cannot tell; a script
    named with a confidence below `sure` counts as not told."""
    api = _api("osd")
    with _LOCK:
        api.SetImage(image)
        found = api.DetectOrientationScript()
        api.Clear()
    if not found:
        return "", 0  # too few characters: a photo, a page with a word or two
    confidence = float(found.get("script_conf", 0) or 0)
    script = str(found.get("script_name", "")) if confidence >= sure else ""
    # tesseract's orientation is how far the page is turned; upright is the other way.
    return script, (360 - int(found.get("orient_deg", 0) or 0)) % 360


def _read_lines(
    image: Any, languages: tuple[str, ...]
) -> tuple[str, float, list[tuple[int, int, int, int]]]:
    """The text, tesseract's mean confidence in its words (0-100), and the boxes of the lines
    it doubts (confidence below CONFIDENT): where a page may hold words of another script
    than the one it was read in."""
    import tesserocr

    api = _api("+".join(languages))
    level = tesserocr.RIL.TEXTLINE
    doubtful: list[tuple[int, int, int, int]] = []
    with _LOCK:
        api.SetImage(image)
        text = api.GetUTF8Text()
        scores = [c for c in api.AllWordConfidences() if c >= 0]
        iterator = api.GetIterator()
        if iterator is not None:
            for line in tesserocr.iterate_level(iterator, level):
                try:
                    words = (line.GetUTF8Text(level) or "").strip()
                except RuntimeError:  # tesserocr's word for a line without text
                    continue
                box = line.BoundingBox(level)
                if box and len(words) >= 3 and line.Confidence(level) < CONFIDENT:
                    doubtful.append(tuple(box))
        api.Clear()
    mean = sum(scores) / len(scores) if scores else 0.0
    return _CJK_GAP.sub("", str(text)), mean, doubtful


def _collage(image: Any, boxes: list[tuple[int, int, int, int]]) -> Any:
    """The lines in `boxes` cut out of the page and stacked on a white page of their own,
    so that OSD judges their script alone."""
    from PIL import Image

    pad = 12
    crops = [image.crop(box) for box in boxes]
    width = max(c.width for c in crops) + 2 * pad
    height = sum(c.height + pad for c in crops) + pad
    sheet = Image.new("L", (width, height), 255)
    top = pad
    for crop in crops:
        sheet.paste(crop, (pad, top))
        top += crop.height + pad
    return sheet


# py3langid's codes -> tesseract's, for the Latin-script languages worth telling apart.
LATIN_LANGUAGES = {
    "en": "eng",
    "fr": "fra",
    "de": "deu",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "pl": "pol",
    "cs": "ces",
    "sv": "swe",
    "tr": "tur",
}
# py3langid's codes -> tesseract's, for every script the library reads.
OCR_CODES = {
    **LATIN_LANGUAGES,
    "ru": "rus",
    "uk": "ukr",
    "bg": "bul",
    "sr": "srp",
    "ar": "ara",
    "fa": "fas",
    "ur": "urd",
    "zh": "chi_sim",
    "ja": "jpn",
    "ko": "kor",
    "el": "ell",
    "he": "heb",
    "hi": "hin",
    "th": "tha",
}


def languages_for(language: str, setting: str = "") -> tuple[str, ...]:
    """The tesseract language that reads a document found to be in `language` (py3langid's
    code), among those allowed; English (or the first allowed) otherwise; () without
    tesseract."""
    try:
        have = allowed(setting)
    except ParseError:
        return ()
    code = OCR_CODES.get(language, "")
    if code in have:
        return (code,)
    return ("eng",) if "eng" in have else have[:1]


def _read_by(script: str) -> set[str]:
    """The languages that read `script` (Japanese's read Chinese characters too)."""
    family = set(SCRIPTS.get(script, ()))
    return family | set(SCRIPTS["Japanese"]) if script in ("Han", "HanS", "HanT") else family


# The first word of a letter's Unicode name -> its script's name in SCRIPTS.
_LETTER_SCRIPTS = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "ARABIC": "Arabic",
    "HANGUL": "Hangul",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "CJK": "Han",
    "GREEK": "Greek",
    "HEBREW": "Hebrew",
    "DEVANAGARI": "Devanagari",
    "THAI": "Thai",
}


def languages_for_words(words: list[str], language: str, setting: str = "") -> tuple[str, ...]:
    """languages_for(language), preceded by a language of each other script `words` are
    written in: marked words on a page that mixes scripts are read in their own."""
    import unicodedata

    base = languages_for(language, setting)
    if not base:
        return base
    have = allowed(setting)
    extra: list[str] = []
    for word in words:
        letter = next((c for c in word if c.isalpha()), "")
        name = unicodedata.name(letter, "") if letter else ""
        script = _LETTER_SCRIPTS.get(name.split(" ")[0], "")
        if _read_by(script) & {*base, *extra}:
            continue  # a script already read
        extra += [lang for lang in SCRIPTS.get(script, ()) if lang in have][:1]
    return (*extra, *base)


def word_places(image: Any, languages: tuple[str, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Each word tesseract reads on the image, with its box (left, top, right, bottom) in
    the image's pixels."""
    import tesserocr

    api = _api("+".join(languages))
    level = tesserocr.RIL.WORD
    found: list[tuple[str, tuple[int, ...]]] = []
    with _LOCK:
        api.SetImage(image)
        api.Recognize()
        for word in tesserocr.iterate_level(api.GetIterator(), level):
            text, box = word.GetUTF8Text(level), word.BoundingBox(level)
            if text and box:
                found.append((str(text), tuple(box)))
        api.Clear()
    return found


OSD_SIDE = 1600  # OSD reads the page's layout, not its words: a smaller copy is enough
COLLAGE_LINES = 40  # of the doubted lines, OSD judges the first this many
DECIDE_CHARS = 200


class Reader:
    """OCR for one document: the languages allowed, and what its first pages taught (the
    language of each script met), so that later pages are read once, in that language."""

    def __init__(self, setting: str = "") -> None:
        self.languages = allowed(setting)
        if not self.languages:
            raise ParseError(
                f"none of the OCR languages asked for ({setting}) is installed "
                f"(installed: {', '.join(installed()) or 'none'})"
            )
        self.chosen: dict[str, tuple[str, ...]] = {}
        # This page's readings so far, by languages: the image read (upright or not), the
        # mean confidence and the lines tesseract doubted.
        self._readings: dict[str, tuple[Any, float, list[tuple[int, int, int, int]]]] = {}

    def read(self, image: Any) -> Reading:
        self._readings = {}
        return self._other_script_lines(self._read_page(image))

    def _scored(self, image: Any, languages: tuple[str, ...]) -> tuple[str, float]:
        text, score, doubtful = _read_lines(image, languages)
        self._readings["+".join(languages)] = (image, score, doubtful)
        return text, score

    def _text(self, image: Any, languages: tuple[str, ...]) -> str:
        return self._scored(image, languages)[0]

    def _other_script_lines(self, reading: Reading) -> Reading:
        """A page read in one script may hold lines in another (English with a few lines
        of Korean or Russian): tesseract doubts those lines. OSD judges them alone; when it
        finds another installed script, the page is read again in both, and that reading
        is kept when tesseract is surer of it."""
        image, score, doubtful = self._readings.get(reading.languages, (None, 0.0, []))
        if image is None or not doubtful or "osd" not in _with_osd():
            return reading
        # A few lines give OSD little to judge by: any script it names is tried, since the
        # new reading is kept only if tesseract is surer of it.
        script, _ = _osd(_collage(image, doubtful[:COLLAGE_LINES]), sure=0.0)
        read_in = reading.languages.split("+")
        if not script or _read_by(script) & set(read_in):
            return reading  # the doubted lines are of the script read: poor print, not another
        extra = [lang for lang in SCRIPTS.get(script, ()) if lang in self.languages][:1]
        if not extra:
            return reading
        # The other script's language first: tesseract then keeps Korean or Chinese words
        # whole, where after English it spaces them syllable by syllable.
        both = (*extra, *read_in)
        text, both_score = self._scored(image, both)
        if both_score <= score:
            return reading
        return Reading(text, "+".join(both), reading.script, reading.rotated)

    def _read_page(self, image: Any) -> Reading:
        image = _fit(image)
        latin = [lang for lang in self.languages if lang in SCRIPTS["Latin"]]
        upright = self.chosen.get("Latin") or (("eng",) if "eng" in latin else tuple(latin[:1]))
        first: tuple[str, float] | None = None
        if upright:
            first = self._scored(image, upright)
            if len(first[0].strip()) < FEW_CHARS:  # a photo, a blank page: no text to find
                return Reading(first[0], "+".join(upright), "", 0)
            if first[1] >= CONFIDENT:
                return self._latin_language(image, first[0], upright, "Latin", 0, latin)
        script, rotate = self._orientation(image)
        if rotate:
            first = None  # read again, turned upright
            image = image.rotate(-rotate, expand=True)  # OSD's rotate: degrees clockwise
        if script in self.chosen:
            langs = self.chosen[script]
            if first is not None and langs == upright:  # read so already, upright
                return Reading(first[0], "+".join(langs), script, rotate)
            return Reading(self._text(image, langs), "+".join(langs), script, rotate)
        for_script = tuple(lang for lang in SCRIPTS.get(script, ()) if lang in self.languages)
        if script and script != "Latin" and for_script:
            self.chosen[script] = for_script[:1]
            return Reading(self._text(image, for_script[:1]), for_script[0], script, rotate)
        return self._latin_or_unknown(image, script, rotate, first)

    def _orientation(self, image: Any) -> tuple[str, int]:
        if "osd" not in _with_osd():
            return "", 0
        scale = min(1.0, OSD_SIDE / max(image.size))
        small = (
            image
            if scale >= 1.0
            else image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
        )
        return _osd(small)

    def _latin_or_unknown(
        self, image: Any, script: str, rotate: int, known: tuple[str, float] | None
    ) -> Reading:
        """Latin script (or none found): read it as English (`known`: that reading, when
        the upright page was read already), and, when tesseract is unsure and OSD could not
        tell the script, in the other scripts' languages; then tell the language from the
        words, and read it again in that language when it is another installed one."""
        latin = [lang for lang in self.languages if lang in SCRIPTS["Latin"]]
        first = self.chosen.get("Latin") or (("eng",) if "eng" in latin else tuple(latin[:1]))
        if known is None and first:
            known = self._scored(image, first)
        text, english = known if known else ("", 0.0)
        if not text.strip() and not script:
            # Nothing in Latin: the other scripts allowed, all at once.
            others = tuple(lang for lang in self.languages if lang not in latin)
            if others:
                return Reading(self._text(image, others), "+".join(others), script, rotate)
            return Reading(text, "+".join(first), script, rotate)
        if not script and len(text.strip()) >= FEW_CHARS:
            other = self._surer_script(image, english, latin)
            if other:
                return Reading(self._text(image, other), "+".join(other), script, rotate)
        return self._latin_language(image, text, first, script, rotate, latin)

    def _latin_language(
        self,
        image: Any,
        text: str,
        first: tuple[str, ...],
        script: str,
        rotate: int,
        latin: list[str],
    ) -> Reading:
        """A Latin-script reading: in the language its words are in, read again in it when
        that is another installed one; a page long enough to tell sets it for the rest."""
        from backend.ingest.language import detect

        found = LATIN_LANGUAGES.get(detect([text]), "") if len(text) >= DECIDE_CHARS else ""
        if found and found in latin and found not in first:
            better: tuple[str, ...] = (found,)
            text = self._text(image, better)
        else:
            better = first
        if len(text) >= DECIDE_CHARS and script:
            self.chosen[script] = better
        return Reading(text, "+".join(better), script, rotate)

    def _surer_script(self, image: Any, english: float, latin: list[str]) -> tuple[str, ...]:
        """For a page OSD could not judge: another script's language that tesseract is
        clearly surer of than of its English reading (`english`), or () to keep English."""
        candidates = [lang for lang in self.languages if lang not in latin]
        if not candidates or english >= CONFIDENT:
            return ()
        best, score = max(
            ((lang, self._scored(image, (lang,))[1]) for lang in candidates), key=lambda x: x[1]
        )
        return (best,) if score >= english + MARGIN else ()


def read(image: Any, setting: str = "") -> Reading:
    """The text of one image (raises ParseError)."""
    return Reader(setting).read(image)


def _with_osd() -> tuple[str, ...]:
    try:
        return _tessdata()[1]
    except ParseError:
        return ()


def warm_up() -> None:
    """In the sandbox's fork server: tesseract's languages asked, and the models most
    pages need (English, and OSD's) loaded, once for every child."""
    with contextlib.suppress(ParseError):
        if "eng" in installed():
            _api("eng")
        if "osd" in _with_osd():
            _api("osd")
