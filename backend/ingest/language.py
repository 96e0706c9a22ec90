"""Language of a document's text (ISO 639-1), for stemming and the language facet."""

from functools import lru_cache
from typing import Any

SAMPLE_CHARS = 20_000
MIN_CHARS = 40
MIN_CONFIDENCE = 0.8


@lru_cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(pages: list[str]) -> str:
    """The most likely language, or "" when the text is too short or too mixed to tell."""
    sample = " ".join(" ".join(pages)[:SAMPLE_CHARS].split())
    if len(sample) < MIN_CHARS:
        return ""
    code, confidence = _identifier().classify(sample)
    return str(code) if confidence >= MIN_CONFIDENCE else ""


def warm_up() -> None:
    """Load the model now (in the fork server), not in every child."""
    _identifier()
