"""What a drop zone shows while its files are sent: a row per file, its share of the bytes
the browser reports sent, then whether the server has stored it; and, before anything is
sent, what the server will refuse for its size."""

from typing import Any

from backend.settings import get_settings
from backend.storage.service import human_size


def expected_files(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per file the browser is about to send, from its name and size."""
    rows = []
    for f in files:
        size = max(int(f.get("size") or 0), 0)
        rows.append(
            {
                "name": str(f.get("name") or "file"),
                "size": size,
                "percent": 0,
                "label": f"waiting · {human_size(size)}",
                "done": False,
            }
        )
    return rows


def too_large(rows: list[dict[str, Any]]) -> str:
    """Say at once, before anything is sent, what the server will refuse for its size."""
    settings = get_settings()
    big = [r["name"] for r in rows if r["size"] > settings.max_upload_bytes]
    if big:
        return (
            f"{', '.join(big)}: larger than the limit of "
            f"{human_size(settings.max_upload_bytes)} for one file."
        )
    if sum(r["size"] for r in rows) > settings.upload_request_cap:
        return (
            f"These files come to more than {human_size(settings.upload_request_cap)} "
            "together; drop fewer at a time."
        )
    return ""


def share_progress(rows: list[dict[str, Any]], loaded: int, total: int) -> list[dict[str, Any]]:
    """Split the browser's bytes-sent figure for the whole request among its files.

    The files travel one after another in the request body, each behind a few hundred
    bytes of multipart headers, so file i has been sent as far as `loaded` reaches past
    the files before it. The headers are shared out evenly.
    """
    if not rows:
        return rows
    overhead = max(total - sum(r["size"] for r in rows), 0) / len(rows)
    start = 0.0
    out = []
    for r in rows:
        span = r["size"] + overhead
        sent = min(max(loaded - start, 0.0), span)
        start += span
        row = dict(r)
        if not r["done"]:
            row["percent"] = 100 if span <= 0 else int(100 * sent / span)
            if row["percent"] >= 100:
                row["label"] = f"sent · {human_size(r['size'])}, storing"
            elif sent > 0:
                row["label"] = f"{human_size(int(sent))} of {human_size(r['size'])}"
        out.append(row)
    return out


def mark_received(
    rows: list[dict[str, Any]], index: int, name: str, received: int
) -> list[dict[str, Any]]:
    """The server has stored file `index` whole: its row says so."""
    row = {"name": name, "size": received, "percent": 100, "done": True}
    row["label"] = f"received · {human_size(received)}"
    if 0 <= index < len(rows):
        return [row if i == index else r for i, r in enumerate(rows)]
    return [*rows, row]  # the browser did not name it (no drop event): still show it
