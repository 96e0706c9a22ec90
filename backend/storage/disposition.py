from urllib.parse import quote


def content_disposition(filename: str) -> str:
    """An attachment header whose name survives any characters (RFC 6266 / 5987)."""
    ascii_name = (
        "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
        or "download"
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
