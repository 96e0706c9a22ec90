"""E-mail messages (.eml, RFC 5322 with MIME), with Python's `email` package.

What a library wants from a message: who wrote it, to whom, when, about what (the
metadata: author, date, title), its text, and the text of what came with it. So:
- page 1: the headers people read (From, To, Cc, Date, Subject) and the body: the plain
  text part, and the HTML alternative too when it says something the plain one does not;
  each part decoded by its declared charset (or detected, when the label lies);
- one page per attachment that can be read (PDF, Word, text, HTML, images' text by OCR
  ..., with the same parsers and limits as an upload), headed "Attachment: name"; a
  message inside the message (a forward, a digest) is read the same way, one level deep;
- a warning for each part that is not read, and why (an MP3, a PGP-encrypted body).
Broken messages (a missing closing boundary, headers run together, a whole file in
UTF-16) are read as far as they can be, as mail programs do.
"""

import re
import tempfile
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from backend.ingest.parsers.base import Parsed, ParseError, clean_text
from backend.ingest.parsers.encoding import _bom, decode, utf16_without_bom

MAX_MESSAGE_BYTES = 64 << 20
MAX_DEPTH = 2
_WORDS = re.compile(r"\w+", re.U)


def _as_mime_bytes(raw: bytes) -> bytes:
    """A message saved as UTF-16 (with or without a mark) as the bytes a parser expects."""
    codec, skip = _bom(raw)
    if codec.startswith("utf-16") or codec.startswith("utf-32"):
        return raw[skip:].decode(codec, errors="replace").encode("utf-8")
    codec = utf16_without_bom(raw)
    if codec:
        return raw.decode(codec, errors="replace").encode("utf-8")
    return raw


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse: its raw form
        value = msg.get_all(name, [""])[0] if hasattr(msg, "get_all") else ""
    return " ".join(str(value or "").split())


def _people(msg: Message, name: str) -> list[str]:
    try:
        pairs = getaddresses([_header(msg, name)])
    except Exception:
        return []
    return [(n or a).strip() for n, a in pairs if (n or a).strip()]


def _date(msg: Message) -> str:
    raw = _header(msg, "Date")
    if not raw:
        return ""
    try:
        return parsedate_to_datetime(raw).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return ""


_ENCODED_WORD = re.compile(r"=\?([A-Za-z0-9_.:-]{1,40})(?:\*[A-Za-z-]+)?\?[bBqQ]\?")


def _charsets(msg: Message) -> tuple[str, ...]:
    """Every charset the message declares: its parts' and its headers' encoded words."""
    found: list[str] = []
    for part in msg.walk():
        for _, value in part.raw_items() if hasattr(part, "raw_items") else part.items():
            found += _ENCODED_WORD.findall(str(value))
        charset = part.get_content_charset()
        if charset:
            found.append(charset)
    return tuple(dict.fromkeys(c.lower() for c in found))


def _part_text(part: Message, fallbacks: tuple[str, ...] = ()) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode(payload, hint=part.get_content_charset() or "", fallbacks=fallbacks)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORDS.findall(text)}


SIGNATURES = {
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
}


def _walk(part: Message) -> Iterator[Message]:
    """The parts of a message, not descending into the messages it carries."""
    yield part
    if part.is_multipart() and part.get_content_type() != "message/rfc822":
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _walk(sub)


def _body(msg: Message) -> tuple[str, list[Message]]:
    """The message's text, and the parts that are attachments (or inner messages)."""
    charsets = _charsets(msg)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Message] = []
    for part in _walk(msg):
        ctype = part.get_content_type()
        if part is not msg and ctype == "message/rfc822":
            attachments.append(part)  # read as its own message, not as this one's body
        elif part.is_multipart() or ctype in SIGNATURES:
            continue  # a signature is no text (the signed part is read)
        elif _is_attachment(part):
            attachments.append(part)
        elif ctype == "text/plain":
            plain.append(_part_text(part, charsets))
        elif ctype == "text/html":
            html.append(_part_text(part, charsets))
        else:
            attachments.append(part)
    texts = [t for t in plain if t.strip()]
    if html:
        from backend.ingest.parsers.markup import html_text

        known = _words("\n".join(texts))
        for markup in html:
            text, _ = html_text(markup)
            if not texts:  # no plain text: the HTML is the body
                texts.append(text)
                known |= _words(text)
                continue
            # An HTML alternative that says more than the plain one: its lines that hold
            # words the plain text lacks are read too (never the same text twice).
            extra = [line for line in text.splitlines() if _words(line) - known]
            if extra:
                texts.append("\n".join(extra))
                known |= _words(text)
    return "\n\n".join(t.strip() for t in texts), attachments


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or (
        bool(part.get_filename()) and part.get_content_type() not in ("text/plain", "text/html")
    )


def _heading(msg: Message) -> str:
    lines = []
    for name in ("From", "To", "Cc", "Date", "Subject"):
        value = _header(msg, name)
        if value:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _read_attachment(
    part: Message, name: str, limits: dict[str, Any], depth: int
) -> tuple[list[str], list[str]]:
    """(pages, warnings) of one attachment, read with the upload's parsers and limits."""
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            return [], [f"attachment {name}: the message inside cannot be read"]
        if depth >= MAX_DEPTH:
            return [], [f"attachment {name}: a message inside a message inside a message"]
        parsed = _parse_message(inner, limits, depth + 1)
        return parsed.pages, parsed.warnings
    data = part.get_payload(decode=True)
    return read_attached(name, data if isinstance(data, bytes) else b"", limits)


def read_attached(name: str, data: bytes, limits: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(pages, warnings) of a file carried by a message, read as an upload of it would be:
    its type told from its content, its parser and limits."""
    from backend.ingest import sniff
    from backend.ingest.parsers import PARSERS

    if not data:
        return [], [f"attachment {name}: empty"]
    if name.lower().endswith(".pgp-encrypted") and data.strip().startswith(b"Version:"):
        return [], []  # PGP/MIME's control part: no text, the encrypted part says why
    if data.lstrip().startswith(b"-----BEGIN PGP MESSAGE-----"):
        return [], [f"attachment {name} is encrypted (PGP): not read"]
    with tempfile.TemporaryDirectory(prefix="attachment-") as tmp:
        path = Path(tmp) / "part"
        path.write_bytes(data)
        try:
            mime = sniff.identify(path, name)
        except sniff.Damaged as exc:
            return [], [f"attachment {name}: {exc}"]
        if mime not in PARSERS:
            label = sniff.LABELS.get(mime, mime)
            return [], [f"attachment {name} ({label}) is kept in the message but not read"]
        try:
            parsed = PARSERS[mime](path, **limits)
        except ParseError as exc:
            return [], [f"attachment {name}: {exc}"]
    return parsed.pages, [f"attachment {name}: {w}" for w in parsed.warnings]


def _parse_message(msg: Message, limits: dict[str, Any], depth: int = 0) -> Parsed:
    heading, (body, attachments) = _heading(msg), _body(msg)
    warnings: list[str] = []
    if msg.get_content_type() == "multipart/encrypted":
        warnings.append("the message is encrypted (PGP/MIME): only its headers are read")
        attachments = []
    pages = [clean_text("\n\n".join(t for t in (heading, body) if t))]
    max_pages = int(limits.get("max_pages", 5000))
    for number, part in enumerate(attachments, 1):
        is_message = part.get_content_type() == "message/rfc822"
        name = part.get_filename() or ("a message" if is_message else f"part {number}")
        found, said = _read_attachment(part, name, limits, depth)
        warnings += said
        for i, text in enumerate(found):
            if len(pages) >= max_pages:
                warnings.append(f"only the first {max_pages} pages are read")
                return Parsed(pages=pages, warnings=warnings)
            if is_message:  # its own headers head it
                title = "Attached message" if i == 0 else "Attached message (continued)"
            else:
                title = f"Attachment: {name}" + (f" (page {i + 1})" if len(found) > 1 else "")
            pages.append(clean_text(f"{title}\n\n{text}"))
    return Parsed(pages=pages, warnings=warnings)


def parse_eml(path: Path, **limits: Any) -> Parsed:
    with path.open("rb") as fh:
        raw = fh.read(MAX_MESSAGE_BYTES + 1)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ParseError("The message is larger than 64 MB; it is not read.")
    raw = _as_mime_bytes(raw)
    if not raw.strip():
        raise ParseError("The file is empty: it holds no e-mail message.")
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    # A message has an envelope (From, To...) or, saved alone as a MIME entity (an S/MIME
    # signed or encrypted part), at least its MIME header and a multipart body.
    headed = any(msg.get(h) for h in ("From", "To", "Subject", "Date", "Message-ID"))
    if not headed and not (msg.get("MIME-Version") and msg.is_multipart()):
        raise ParseError("The file holds no e-mail message (it has no From, To or Subject).")
    parsed = _parse_message(msg, limits)
    meta: dict[str, Any] = {}
    subject = _header(msg, "Subject")
    if subject:
        meta["title"] = subject[:300]
    authors = _people(msg, "From")
    if authors:
        meta["authors"] = authors
    date = _date(msg)
    if date:
        meta["date"] = date
    elif _header(msg, "Date"):
        parsed.warnings.append(f"the Date header cannot be read ({_header(msg, 'Date')[:60]})")
    parsed.meta = meta
    return parsed


def parse_msg(path: Path, **limits: Any) -> Parsed:
    """An Outlook message (.msg), with extract-msg: the same record, page and attachment
    pages as an .eml."""
    import extract_msg

    try:
        msg = extract_msg.openMsg(str(path), delayAttachments=False)
    except Exception as exc:  # extract-msg raises its own kinds for broken files
        raise ParseError(f"The Outlook message cannot be read ({type(exc).__name__}).") from exc
    try:
        return _outlook(msg, limits, 0)
    finally:
        msg.close()


def _outlook(msg: Any, limits: dict[str, Any], depth: int) -> Parsed:
    heading = [
        f"{label}: {' '.join(str(value).split())}"
        for label, value in (
            ("From", msg.sender),
            ("To", msg.to),
            ("Cc", msg.cc),
            ("Date", msg.date),
            ("Subject", msg.subject),
        )
        if value
    ]
    body = (msg.body or "").strip()
    if not body and msg.htmlBody:
        from backend.ingest.parsers.markup import html_text

        body = html_text(decode(msg.htmlBody))[0]
    pages = [clean_text("\n\n".join(t for t in ("\n".join(heading), body) if t))]
    warnings: list[str] = []
    max_pages = int(limits.get("max_pages", 5000))
    for number, attachment in enumerate(msg.attachments, 1):
        name = getattr(attachment, "longFilename", None) or getattr(attachment, "name", None)
        name = str(name or f"part {number}")
        data = attachment.data
        if isinstance(data, bytes):
            found, said = read_attached(name, data, limits)
            titles = [f"Attachment: {name}"] * len(found)
        elif depth < MAX_DEPTH and hasattr(data, "attachments"):  # an attached message
            inner = _outlook(data, limits, depth + 1)
            found, said = inner.pages, inner.warnings
            titles = ["Attached message"] * len(found)
        else:
            found, said = [], [f"attachment {name} cannot be read"]
            titles = []
        warnings += said
        for title, text in zip(titles, found, strict=True):
            if len(pages) >= max_pages:
                warnings.append(f"only the first {max_pages} pages are read")
                break
            pages.append(clean_text(f"{title}\n\n{text}"))
    meta: dict[str, Any] = {}
    if msg.subject:
        meta["title"] = " ".join(str(msg.subject).split())[:300]
    if msg.sender:
        meta["authors"] = [n for n, _ in [_name_and_address(str(msg.sender))] if n]
    if msg.date:
        meta["date"] = msg.date.date().isoformat()
    return Parsed(pages=pages, meta=meta, warnings=warnings)


def _name_and_address(value: str) -> tuple[str, str]:
    pairs = getaddresses([value])
    name, address = pairs[0] if pairs else ("", "")
    return (name or address).strip(), address
