"""Text for XML documents (OAI-PMH, feeds): characters XML 1.0 cannot hold go."""


def clean(value: str) -> str:
    """`value` without the characters XML 1.0 cannot hold (control characters in an
    extracted title, or in the words of a search a feed is made of); lxml refuses them."""
    return "".join(
        ch
        for ch in value
        if ch in "\t\n\r"
        or ("\x20" <= ch <= "\ud7ff")
        or ("\ue000" <= ch <= "\ufffd")
        or ch >= "\U00010000"
    )
