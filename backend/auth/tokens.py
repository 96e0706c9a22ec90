import hashlib
import secrets

# The HttpOnly cookie that carries the session token, set only by the server
# (backend.api.session) and read by the websocket handshake and the REST API.
SESSION_COOKIE = "library_session"
# The HttpOnly cookie that marks a browser which has logged into an account before
# (backend.auth.devices): its failures do not share the strangers' login delay.
DEVICE_COOKIE = "library_device"


def new_token() -> str:
    """A 256-bit random token, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
