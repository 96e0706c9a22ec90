"""Languages by ISO 639-1 code, with their English names (for lists, facets and
language:french queries)."""

from functools import cache

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ar": "Arabic",
    "el": "Greek",
    "la": "Latin",
    "sv": "Swedish",
    "no": "Norwegian",
    "da": "Danish",
    "fi": "Finnish",
    "pl": "Polish",
    "tr": "Turkish",
    "cs": "Czech",
    "hu": "Hungarian",
    "ko": "Korean",
}
CODES_BY_NAME = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}


def language_name(code: str) -> str:
    """ "French" for "fr", for any ISO 639 code (langcodes' names, in English); the code
    itself when it names no language."""
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    return _other_language(code)


@cache
def _other_language(code: str) -> str:
    import langcodes

    try:
        found = langcodes.Language.get(code)
    except (ValueError, LookupError):  # (not a language tag at all)
        return code
    if not found.is_valid() or not found.language or found.language == "und":
        return code
    return str(found.display_name())
