"""Languages by ISO 639-1 code, with their English names (for lists, facets and
language:french queries)."""

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
    """ "French" for "fr"; the code itself when it has no name here."""
    return LANGUAGE_NAMES.get(code, code)
