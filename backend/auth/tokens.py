import hashlib
import secrets

# The cookie that carries the session token, read by the pages and by the REST API.
SESSION_COOKIE = "library_session"


def new_token() -> str:
    """A 256-bit random token, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
