"""What every parser returns, and the typed reason it gives up with."""

import unicodedata
from dataclasses import dataclass, field
from typing import Any

# Private-use characters mark highlights in snippets; none may come from a document.
# Control characters (bar tab and line ends) are no text either.
_MARKERS = str.maketrans(
    {
        "\ue000": " ",
        "\ue001": " ",
        **{chr(c): " " for c in [*range(0, 9), 11, 12, *range(14, 32), 127]},
    }
)


class ParseError(Exception):
    """The file cannot be read; the message is shown to the librarian as the reason."""


PASSWORD_REASON = (
    "The {what} is protected by a password, so its text cannot be read and it is not "
    "published. Upload a copy saved without the password as a new version."
)


class PasswordRequired(ParseError):
    """The file is locked by a password: it ends "needs a password", not "ready" empty."""


@dataclass
class Parsed:
    pages: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # First page (PDF), the image itself, or an EPUB cover, for the thumbnails.
    cover: Any = None


def clean_text(text: str) -> str:
    # NFKC folds ligatures ("ﬁ" -> "fi") so the words can be found.
    return unicodedata.normalize("NFKC", text).translate(_MARKERS)


def clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Strip empty values and fold text values, so the metadata is safe to show and index."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, str):
            value = " ".join(clean_text(value).split())[:2000]
        elif isinstance(value, list):
            value = [" ".join(clean_text(str(v)).split())[:500] for v in value if str(v).strip()]
        if value not in ("", None, [], {}):
            out[key] = value
    return out


def split_people(value: str) -> list[str]:
    for sep in (";", " and ", "&"):
        if sep in value:
            return [p.strip() for p in value.split(sep) if p.strip()]
    return [value.strip()] if value.strip() else []


def split_keywords(value: str) -> list[str]:
    sep = ";" if ";" in value else ","
    return [k.strip() for k in value.split(sep) if k.strip()]
